"""The summary ``python cli.py run`` prints: a headline, three tables beside the paper's figures, the run's speed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .console import console, rich_table


def print_run_summary(result: Any, scenario: Any, out_dir: Path) -> None:
    """The printed summary of a run: a headline, three tables (sessions, retention, satisfaction) beside
    the paper's figures, and the run's speed."""
    from ..runner import run_summary_rows

    con = console()
    con.print(_summary_headline(result, scenario))
    rows = run_summary_rows(result.summary)
    from ..planning.paper import is_paper_study

    paper = is_paper_study(scenario)  # the paper's figures only beside the paper's own study
    con.print(_sessions_table(rows["sessions"], scenario, paper))
    con.print(_retention_table(rows["retention"], paper))
    con.print(_satisfaction_table(rows["satisfaction"], paper))
    ev = sum(result.events)
    n = max(result.replications, 1)
    con.print(
        f"SimPy events: {ev:,} ({ev / n:,.0f} per replication); wall time {result.wall_time:.1f} s "
        f"({result.replications / max(result.wall_time, 1e-9):.1f} reps/s on {result.backend}); "
        f"written to [bold]{out_dir}[/bold]"
    )


def _summary_headline(result: Any, scenario: Any) -> str:
    auto = result.auto
    head = f"[bold]{scenario.name}[/bold]: {result.replications} replications, seed {result.seed}"
    if auto is None:
        return head
    if not auto.solved:
        return head + f" ([yellow]--reps auto: precision ±{auto.precision:.0%} not reached; budget used[/yellow])"
    hw = ", ".join(f"{k} ±{v:.1%}" for k, v in auto.relative_half_widths.items())
    return head + f" (chosen by --reps auto at ±{auto.precision:.0%}: {hw})"


def _paper_column(columns: tuple[str, ...], paper_study: bool) -> tuple[str, ...]:
    """The console table's columns: the last, "paper", only beside the paper's own study."""
    return columns if paper_study else columns[:-1]


def _sessions_table(rows: list[dict[str, Any]], scenario: Any, paper_study: bool) -> Any:
    from .. import instruments as ins

    t = rich_table(
        "Sessions delivered before follow-up (mean per replication, 95% of replications within)",
        _paper_column(("wave", "held", "range", "cancelled", "paper"), paper_study),
        left=("wave",),
    )
    paper_waves = paper_study and set(scenario.waves) == {"initial", "later"}
    for r in rows:
        paper = str(ins.PAPER_SESSIONS_TOTAL) if r["wave"] == "total" and paper_waves else ""
        cells = (r["wave"], f"{r['mean']:.1f}", f"{r['lo']:.0f}-{r['hi']:.0f}", f"{r['cancelled']:.1f}", paper)
        t.add_row(*_paper_column(cells, paper_study))
    return t


def _retention_table(rows: list[dict[str, Any]], paper_study: bool = True) -> Any:
    from .. import instruments as ins

    t = rich_table(
        "Retention: completed the follow-up evaluation (mean per replication)",
        _paper_column(("role", "wave", "still enrolled", "evaluated", "share", "paper"), paper_study),
        left=("role", "wave"),
    )
    for r in rows:
        p = ins.PAPER_RETENTION.get((r["role"], r["wave"])) if paper_study else None
        paper = f"{p[0]}/{p[1]} ({p[0] / p[1]:.0%})" if p else ""
        evaluated = f"{r['evaluated']:.1f}/{r['recruited']:.0f}"
        cells = (r["role"], r["wave"], f"{r['retained']:.1f}", evaluated, f"{r['share']:.0%}", paper)
        t.add_row(*_paper_column(cells, paper_study))
    return t


def _satisfaction_table(rows: list[dict[str, Any]], paper_study: bool = True) -> Any:
    t = rich_table(
        "Satisfaction headline (share of those evaluated)",
        _paper_column(("role", "item", "simulated", "paper"), paper_study),
        left=("role", "item"),
    )
    paper_items = _paper_headline() if paper_study else {}
    for r in rows:
        p = paper_items.get((r["role"], r["item"]))
        paper = f"{p[0]}/{p[1]} ({p[0] / p[1]:.1%})" if p else ""
        cells = (r["role"], r["item"], f"{r['share']:.1%} of {r['evaluated']:.1f}", paper)
        t.add_row(*_paper_column(cells, paper_study))
    return t


def _paper_headline() -> dict[tuple[str, str], tuple[int, int]]:
    """The paper's satisfied-overall and willing-to-continue counts per role (Tables 2 and 4), from
    :mod:`sim.instruments`."""
    from .. import instruments as ins

    out: dict[tuple[str, str], tuple[int, int]] = {}
    for role, items in (("provider", ins.PROVIDER_SATISFACTION), ("consumer", ins.CONSUMER_SATISFACTION)):
        by_column = {it.column: it for it in items}
        for label, column in (("satisfied overall", "sat_overall"), ("willing to continue", "willing_continue")):
            it = by_column.get(column)
            if it is not None and it.paper_count is not None and it.paper_n is not None:
                out[(role, label)] = (it.paper_count, it.paper_n)
    return out
