"""The planner's report: the planning summary that opens ``report.md`` for any scenario that is not the
paper's study, its figures (``figures/planning_*.png``) and tables (``planning/*.csv``).

Everything is aggregated by wave and by setting (never one line per community), so the figures stay
readable at 200 communities. The statistics come from :mod:`sim.planning.tables` and
:mod:`sim.planning.summary`; this module only lays them out. A table the run did not produce (an older
model without open caseloads, say) gives a sentence saying what is not available instead of a figure.

``report.md`` of a non-paper scenario: the planning summary, then the paper-style analysis
(:mod:`sim.analysis.report`) as an appendix with its headings one level down and without the paper's
figures (they describe a different study). The paper's own study (:func:`sim.planning.paper.is_paper_study`)
keeps the paper-style report as it is. The figures are drawn by :mod:`sim.reporting.planning_figures`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..planning.summary import PERCENTILE_REPS_MAX, PlanningAccumulator, PlanningSummary, total_summary
from ..planning.tables import CANCEL_REASONS, planning_chunk
from ..scenario import DAYS_PER_MONTH
from .figures import figure_dir
from .markdown import fmt_num, join_blocks, md_table
from .planning_figures import CAUSE_TEXT, FIGURES, figure_costs
from .tables import write_csv

APPENDIX_TITLE = "Appendix: the paper's analyses applied to this scenario"
WEEKS_PER_MONTH = DAYS_PER_MONTH / 7


# --- numbers -------------------------------------------------------------------------------------
def _total(ts: pd.DataFrame, column: str) -> tuple[float, float, float] | None:
    r = ts[ts["column"] == column]
    if not len(r):
        return None
    x = r.iloc[0]
    return float(x["mean"]), float(x["q025"]), float(x["q975"])


def _cell(v: tuple[float, float, float] | None, nd: int = 0, single: bool = False) -> str:
    if v is None:
        return "not available"
    m, lo, hi = v
    if single or not np.isfinite(lo):
        return _plain(m, nd)
    return f"{_plain(m, nd)} [{_plain(lo, nd)}–{_plain(hi, nd)}]"


def _plain(x: float, nd: int = 0) -> str:
    """A number with thousands separators and ``nd`` decimals (never scientific notation)."""
    return "–" if x is None or not np.isfinite(x) else f"{x:,.{nd}f}"


def _ratio(totals: pd.DataFrame, a: str, b: str) -> tuple[float, float, float] | None:
    if a not in totals.columns or b not in totals.columns:
        return None
    r = totals[a] / totals[b].where(totals[b] > 0)
    r = r.dropna()
    if not len(r):
        return None
    return float(r.mean()), float(r.quantile(0.025)), float(r.quantile(0.975))


# --- sections ------------------------------------------------------------------------------------
def _intro(s: PlanningSummary, scenario: Any) -> list[str]:
    comms = scenario.expanded_communities()
    waves = list(scenario.waves)
    by_wave = []
    for w in waves:
        cs = [c for c in comms if c.wave == w]
        if not cs:
            continue
        starts = sorted({c.start_month for c in cs})
        settings = sorted({c.setting for c in cs})
        start = f"month {starts[0]:g}" if len(starts) == 1 else f"months {starts[0]:g}–{starts[-1]:g}"
        by_wave.append(
            [w, len(cs), start, ", ".join(settings), sum(c.providers for c in cs), sum(c.consumers for c in cs)]
        )
    single = s.replications == 1
    what = (
        "one replication"
        if single
        else f"{s.replications:,} replications: mean [2.5%–97.5% of replications], i.e. 95% of replications fall "
        "within the brackets"
    )
    L = [
        f"# Planning report: {scenario.name}\n",
        (scenario.description.strip() + "\n") if getattr(scenario, "description", "") else "",
        f"{len(comms)} communities in {len(waves)} waves over {scenario.horizon:g} months; {what}. "
        "Months count from the scenario's month 0. Figures aggregate by wave and setting. "
        f"The paper-style analysis of the same run is in the appendix ([{APPENDIX_TITLE}](#appendix)).\n",
        md_table(
            ["Wave", "Communities", "Start", "Setting", "Providers (founding)", "Consumers (first enrolled)"], by_wave
        ),
    ]
    if not single and s.percentile_reps < s.replications:
        L.append(
            f"Monthly bands: 2.5–97.5% percentiles over the first {s.percentile_reps:,} replications; means over all "
            f"{s.replications:,}.\n"
        )
    return L


def _glance(s: PlanningSummary, cost_rows: list[list[str]], no_programme: float | None = None) -> list[str]:
    """The whole run at a glance. ``no_programme``: the scenario's ``benefit_no_programme_prob``, the
    share of evaluated consumers who say they benefited even with no session (docs/outcome_chain.md),
    shown under the benefit so that a reader sees how much of it the sessions delivered."""
    ts = total_summary(s.totals)
    t = s.totals
    one = s.replications == 1

    def row(label: str, col: str, nd: int = 0) -> list[str]:
        return [label, _cell(_total(ts, col), nd, one)]

    rows = [
        row("Sessions held", "sessions_held"),
        row("Sessions cancelled", "sessions_cancelled"),
        ["Share of sessions cancelled", _pct(_ratio(t, "sessions_cancelled", "sessions_due"), one)],
        row("Attendances (consumer visits to held sessions)", "attendances"),
        # with an open caseload, joining is counted over the whole run (caseload.csv); the people tables
        # describe each community's people at its follow-up evaluation
        row("Consumers who joined a group (over the run)", "started")
        if "started" in t.columns
        else row("Consumers enrolled", "consumers_enrolled"),
        row("Consumers served by follow-up (attended at least one session)", "consumers_served"),
        row("Consumers retained at follow-up (still in the programme)", "consumers_retained"),
        row("Consumers reporting a benefit at follow-up (better mood, Table 3)", "consumers_benefit"),
    ]
    if no_programme is not None and "consumers_evaluated" in t.columns:
        expected = t["consumers_evaluated"].astype(float) * no_programme
        rows.append(
            [
                f"… of whom expected to say so with no session at all ({100 * no_programme:.0f}% of those evaluated: "
                "the no-programme level, docs/outcome_chain.md)",
                _cell(
                    (float(expected.mean()), float(expected.quantile(0.025)), float(expected.quantile(0.975))), 1, one
                ),
            ]
        )
    optional = [
        ("Consumers referred", "referred", 0),
        ("Waiting list at its peak", "waiting_peak", 0),
        ("Waiting list at the end", "waiting_end", 0),
        ("Consumers graduated", "graduated", 0),
        ("Consumers dropped out", "dropped_out", 0),
        ("Providers recruited", "providers_recruited", 0),
        ("Providers trained (founding providers and replacements)", "trained", 0),
        ("Providers who quit", "quit", 0),
        ("Providers in post at the end", "in_post_end", 0),
        ("Training cohorts of replacements (staff pipeline)", "pipeline_cohorts", 0),
        ("Mean training lead time of a trainee (wait + course), days", "training_lead_days", 1),
    ]
    rows += [row(label, col, nd) for label, col, nd in optional if col in t.columns]
    wait = _ratio(t, "wait_days_total", "started")
    if wait is not None:
        rows.append(["Mean wait from referral to a group place, days", _cell(wait, 1, one)])
    rows += cost_rows
    return ["## Planning summary\n", "### At a glance (whole run)\n", md_table(["Figure", "Value"], rows)]


def _pct(v: tuple[float, float, float] | None, single: bool) -> str:
    if v is None:
        return "not available"
    m, lo, hi = (100 * x for x in v)
    return f"{m:.1f}%" if single else f"{m:.1f}% [{lo:.1f}–{hi:.1f}%]"


YEAR_COLUMNS = [
    ("sessions_held", "Sessions held", "flow"),
    ("sessions_cancelled", "Cancelled", "flow"),
    ("referred", "Referred", "flow"),
    ("enrolled", "Enrolled (year end)", "stock"),
    ("waiting", "Waiting (year end)", "stock"),
    ("in_post", "Providers in post (year end)", "stock"),
    ("in_training", "In training (year end)", "stock"),
    ("trained", "Trained", "flow"),
    ("quit", "Quit", "flow"),
    ("communities_in_service", "Communities in service (year end)", "stock"),
]


def _by_year(s: PlanningSummary) -> list[str]:
    """District means per year: flows summed over the year's months, stocks at its last month."""
    cols = [(c, label, kind) for c, label, kind in YEAR_COLUMNS if s.has(c)]
    d = s.monthly[(s.monthly["scope"] == "district")]
    if not len(d):
        return []
    last = int(d["month"].max())
    rows = []
    for y in range(last // 12 + 1):
        lo, hi = 12 * y, min(12 * y + 11, last)
        row = [f"{y + 1} (months {lo}–{hi})"]
        for c, _, kind in cols:
            x = d[(d["column"] == c) & (d["month"] >= lo) & (d["month"] <= hi)]
            v = x["mean"].sum() if kind == "flow" else x.loc[x["month"] == hi, "mean"].sum()
            row.append(_plain(float(v), 0 if kind == "flow" else 1))
        rows.append(row)
    return [
        "### Year by year (district, mean over replications)\n",
        md_table(["Year", *(label for _, label, _ in cols)], rows),
    ]


def _bottlenecks(s: PlanningSummary) -> list[str]:
    t = s.totals
    causes = [c for c in (*CANCEL_REASONS, "other") if f"lost_{c}" in t.columns]
    if not causes:
        return ["### Bottlenecks\n", "Not available: this run has no session log.\n"]
    lost_all = t["sessions_cancelled"].sum() if "sessions_cancelled" in t.columns else 0.0
    due = t["sessions_due"].sum() if "sessions_due" in t.columns else 0.0
    ranked = sorted(causes, key=lambda c: -float(t[f"lost_{c}"].mean()))
    one = s.replications == 1
    rows = []
    for i, c in enumerate(ranked, 1):
        x = t[f"lost_{c}"]
        if x.sum() == 0 and c in ("other", "rescheduled"):
            continue
        v = (float(x.mean()), float(x.quantile(0.025)), float(x.quantile(0.975)))
        share_lost = 100 * x.sum() / lost_all if lost_all else float("nan")
        share_due = 100 * x.sum() / due if due else float("nan")
        rows.append(
            [str(i), CAUSE_TEXT.get(c, c), _cell(v, 1, one), f"{fmt_num(share_lost, 1)}%", f"{fmt_num(share_due, 1)}%"]
        )
    top = CAUSE_TEXT.get(ranked[0], ranked[0]) if lost_all else "nothing: no session was lost"
    return [
        "### Bottlenecks: what cancels sessions\n",
        f"The constraint that cancels most sessions: **{top}**. Ranked by sessions lost over the run "
        "(a session is lost when it is still blocked after its postponements; `sessions.csv`, column "
        "`cancel_reason`).\n",
        md_table(["Rank", "Cause", "Sessions lost", "Share of lost", "Share of sessions due"], rows),
    ]


def _utilisation(s: PlanningSummary, scenario: Any) -> list[str]:
    L = ["### Utilisation of the capacity-limited resources\n"]
    rows = []
    if s.has("doctor_busy_days"):
        for scope in ("district", "setting"):
            for g in s.groups(scope):
                u = _mean_ratio(s, "doctor_busy_days", "doctor_service_days", scope, g)
                if u is not None:
                    rows.append([f"Community doctors ({g if scope != 'district' else 'district'})", f"{100 * u:.1f}%"])
    trainer = _trainer_utilisation(s, scenario)
    if trainer is not None:
        rows.append(["Trainers (half-days used / half-days available)", f"{100 * trainer:.1f}%"])
    places = _places_filled(s, scenario)
    if places is not None:
        rows.append(["Group places filled (enrolled / places offered by available providers)", f"{100 * places:.1f}%"])
    if not rows:
        return [*L, "Not available: this run has no resource table (`resources.csv`).\n"]
    return [*L, "Mean over the months communities are in service.\n", md_table(["Resource", "Utilisation"], rows)]


def _mean_ratio(s: PlanningSummary, num: str, den: str, scope: str, group: str) -> float | None:
    a, b = s.series(num, scope), s.series(den, scope)
    a, b = a[a["group"] == group]["mean"].sum(), b[b["group"] == group]["mean"].sum()
    return float(a / b) if b > 0 else None


def _trainer_utilisation(s: PlanningSummary, scenario: Any) -> float | None:
    """Trainer half-days the staff pipeline's cohorts used over the run (``training.csv``, kind
    ``pipeline``) / half-days the scenario's training teams offer over its months (``trainers`` x
    ``half_days_per_week``)."""
    sp = getattr(scenario, "staff_pipeline", None)
    if sp is None or "pipeline_trainer_half_days" not in s.totals.columns:
        return None
    cap = float(getattr(sp, "trainers", 0)) * float(getattr(sp, "half_days_per_week", 0)) * WEEKS_PER_MONTH
    months = float(scenario.horizon)
    used = float(s.totals["pipeline_trainer_half_days"].mean())
    return used / (cap * months) if cap > 0 and months > 0 else None


def _places_filled(s: PlanningSummary, scenario: Any) -> float | None:
    cl = getattr(scenario, "caseload", None)
    if cl is None or not (s.has("enrolled") and s.has("in_post")):
        return None
    per = float(getattr(cl, "consumers_per_provider", 0) or 0)
    places = (s.series("in_post")["mean"] - (s.series("on_leave")["mean"] if s.has("on_leave") else 0)) * per
    enrolled = s.series("enrolled")["mean"]
    return float(enrolled.sum() / places.sum()) if places.sum() > 0 else None


def _img(figs: dict[str, str | None], key: str, missing: str) -> str:
    f = figs.get(key)
    return f"![{key}](figures/{f})\n" if f else f"Not available: {missing}.\n"


# --- costs ---------------------------------------------------------------------------------------
def _cost_spec(scenario: Any) -> tuple[Any, bool] | None:
    """The scenario's unit costs and whether they are its own (else the illustrative defaults); None
    when this version computes no costs."""
    try:
        from ..planning.cost_spec import DEFAULT_COSTS
    except ImportError:
        return None
    spec = getattr(scenario, "costs", None)
    return (spec, True) if spec is not None else (DEFAULT_COSTS, False)


def _costs(s: PlanningSummary, scenario: Any) -> tuple[list[str], list[list[str]], Any]:
    """The costs section, the cost rows of the at-a-glance table, and the priced per-replication costs
    (``sim.planning.costs``: resource use times the scenario's ``costs:`` unit costs)."""
    found = _cost_spec(scenario)
    if found is None or s.cost_quantities is None:
        return ["### Costs\n", "Not available: this version computes no costs (`sim/planning/costs.py`).\n"], [], None
    from ..planning.costs import cost_summary
    from ..planning.summary import priced

    spec, own = found
    per_rep = priced(s.cost_quantities, spec)
    table = cost_summary(per_rep, spec)
    cur = spec.currency

    def money(m: float, lo: float, hi: float) -> str:
        one = s.replications == 1 or not np.isfinite(lo)
        return f"{_plain(m)} {cur}" if one else f"{_plain(m)} [{_plain(lo)}–{_plain(hi)}] {cur}"

    rows = []
    for _measure, label, m, lo, hi, c in table.itertuples(index=False):
        value = money(m, lo, hi) if c else _cell((m, lo, hi), 0, s.replications == 1)
        rows.append([label, value])
    where = (
        "the scenario's `costs:` section"
        if own
        else "the illustrative default unit costs (ASSUMPTION: the scenario has no `costs:` section; "
        "`sim/planning/cost_spec.py`)"
    )
    prices = ", ".join(f"{k.replace('_', ' ')} {_plain(float(getattr(spec, k)), 0)}" for k in _PRICE_FIELDS)
    text = [
        "### Costs\n",
        f"Ingredients: resource use simulated here times unit costs from {where}, in {cur} "
        f"({getattr(spec, 'price_year', '')} prices): {prices}. Over the whole run; mean [95% CI of the mean]; "
        "the cost per unit of effect is the ratio of the means.\n",
        md_table(["Cost", "Value"], rows),
    ]
    ci = "" if s.replications == 1 else ", mean [95% CI of the mean]"
    glance = [
        [f"Total cost ({cur}{ci})", _money_row(table, "total_cost", s)],
        [f"Cost per consumer served ({cur}{ci})", _money_row(table, "cost_per_consumers_served", s)],
        [f"Cost per consumer retained ({cur}{ci})", _money_row(table, "cost_per_consumers_retained", s)],
    ]
    return text, glance, spec


_PRICE_FIELDS = ("provider_session", "doctor_hour", "trainer_half_day", "venue_hour", "coordinator_month")


def _money_row(table: pd.DataFrame, measure: str, s: PlanningSummary) -> str:
    r = table[table["measure"] == measure]
    if not len(r):
        return "not available"
    m, lo, hi = (float(r.iloc[0][k]) for k in ("mean", "ci_low", "ci_high"))
    return _plain(m) if s.replications == 1 or not np.isfinite(lo) else f"{_plain(m)} [{_plain(lo)}–{_plain(hi)}]"


def _no_programme_level(scenario: Any) -> float | None:
    p = getattr(scenario, "parameters", None)
    return float(p.benefit_no_programme_prob) if p is not None else None


# --- the report ------------------------------------------------------------------------------------
def planning_markdown(s: PlanningSummary, scenario: Any, figs: dict[str, str | None]) -> str:
    """The planning summary (markdown) of a non-paper scenario."""
    cost_text, cost_rows, _ = _costs(s, scenario)
    blocks = [
        *_intro(s, scenario),
        *_glance(s, cost_rows, _no_programme_level(scenario)),
        *_by_year(s),
        "### Sessions per month\n",
        _img(figs, "sessions", "this run has no session log"),
        "### Caseload and waiting list\n",
        _img(figs, "caseload", "this run has no caseload table (`caseload.csv`)"),
        "### Staff: in post, in training, on leave\n",
        _img(figs, "staff", "this run has no staff table (`staff.csv`)"),
        *_utilisation(s, scenario),
        _img(figs, "utilisation", "no doctor utilisation in this run (`resources.csv`)")
        if s.has("doctor_busy_days")
        else "",
        *_bottlenecks(s),
        _img(figs, "bottlenecks", "no session was lost"),
        *cost_text,
        _img(figs, "costs", "no costs in this run") if s.cost_quantities is not None else "",
        "Tables behind this summary: `planning/monthly.csv` (per scope, group, month and figure: mean, 95% CI "
        "of the mean, 2.5–97.5% of replications), `planning/totals.csv` (one row per replication) and, with "
        "costs, `planning/costs.csv` (one row per replication: cost by category, total, effects, cost per "
        "effect).\n",
    ]
    return join_blocks(blocks)


def appendix(analysis_md: str) -> str:
    """The paper-style analysis as an appendix: its title replaced, its headings one level down."""
    out = [f'<a id="appendix"></a>\n\n## {APPENDIX_TITLE}\n']
    lines = analysis_md.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    out += [("#" + ln) if ln.startswith("#") else ln for ln in lines]
    return "\n".join(out) + "\n"


def write_planning(
    out_dir: Path | str,
    scenario: Any,
    monthly: Iterable[pd.DataFrame] | Callable[[], Iterable[pd.DataFrame]],
    totals: Iterable[pd.DataFrame] | Callable[[], Iterable[pd.DataFrame]],
    paper: bool,
    costs: Iterable[pd.DataFrame] | Callable[[], Iterable[pd.DataFrame]] = (),
) -> PlanningSummary:
    """Accumulate the planning chunks (streamed), write ``planning/monthly.csv`` and ``planning/totals.csv``;
    for a non-paper scenario also the planning figures and ``report.md`` = planning summary + the
    existing (paper-style) ``report.md`` as an appendix."""
    out = Path(out_dir)
    acc = PlanningAccumulator()
    acc.add_chunks(
        monthly() if callable(monthly) else monthly,
        totals() if callable(totals) else totals,
        costs() if callable(costs) else costs,
    )
    s = acc.result()
    pdir = out / "planning"
    pdir.mkdir(parents=True, exist_ok=True)
    write_csv(s.monthly, pdir / "monthly.csv", "%.6g")
    write_csv(s.totals, pdir / "totals.csv", "%.6g")
    found = _cost_spec(scenario)
    if s.cost_quantities is not None and found is not None:
        from ..planning.summary import priced

        write_csv(priced(s.cost_quantities, found[0]), pdir / "costs.csv", "%.6g")
    if paper:
        return s
    d = figure_dir(out)
    figs = {k: f(d, s) for k, f in FIGURES.items()}
    figs["costs"] = figure_costs(d, s, found[0] if found is not None and s.cost_quantities is not None else None)
    report = out / "report.md"
    analysis = report.read_text(encoding="utf-8") if report.exists() else ""
    text = planning_markdown(s, scenario, figs) + ("\n" + appendix(analysis) if analysis else "")
    report.write_text(text, encoding="utf-8")
    return s


def write_planning_of_folder(
    in_dir: Path | str, out_dir: Path | str, scenario: Any, paper: bool, read: dict[str, pd.DataFrame] | None = None
) -> bool:
    """:func:`write_planning` from the tables of a folder ``run`` wrote (``cli.py analyze``): the planning
    tables computed from ``TABLE.csv`` (or ``.parquet``), as the run computed them from its replications
    (the same figures, to the precision of the CSV files). ``read``: tables already read (the analysis's,
    :func:`sim.analysis.read_directory`), not read again. False, writing nothing, when the folder lacks a
    table they need (evaluation data that ``run`` did not write)."""
    from ..datasets import TABLES

    d = Path(in_dir)
    frames: dict[str, pd.DataFrame] = {}
    for t in TABLES:
        if read is not None and t in read:
            frames[t] = read[t]
        elif (d / f"{t}.csv").is_file():
            frames[t] = pd.read_csv(d / f"{t}.csv")
        elif (d / f"{t}.parquet").is_file():
            frames[t] = pd.read_parquet(d / f"{t}.parquet")
        else:
            return False
    chunk = planning_chunk(frames)
    costs = [chunk["planning_costs"]] if "planning_costs" in chunk else []
    write_planning(out_dir, scenario, [chunk["planning_monthly"]], [chunk["planning_totals"]], paper, costs)
    return True


__all__ = [
    "APPENDIX_TITLE",
    "PERCENTILE_REPS_MAX",
    "appendix",
    "planning_markdown",
    "write_planning",
    "write_planning_of_folder",
]
