"""``python cli.py compare``: scale-up scenarios compared with common random numbers (``sim/compare.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .common import Force, Scheduler, Workers, command_line, fail, load, out_option, replications
from .run import posterior_draws


def compare(
    scenarios: Annotated[list[Path], typer.Argument(help="two or more scenario YAML files; the first is the baseline")],
    reps: Annotated[int, typer.Option("--reps", help="replications of each scenario")] = 100,
    seed: Annotated[
        int | None,
        typer.Option("--seed", min=0, help="root seed shared by all scenarios (default: the baseline's)"),
    ] = None,
    out: Annotated[Path | None, out_option("outputs/compare_<first>_vs_<others>")] = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    force: Force = False,
    parameter_uncertainty: Annotated[
        bool,
        typer.Option(
            "--parameter-uncertainty",
            help="replication r uses the same parameter draw (posterior and unidentified assumptions) in every "
            "scenario; report how much of each difference comes from parameter uncertainty vs chance",
        ),
    ] = False,
    reps_per_draw: Annotated[
        int,
        typer.Option(
            "--reps-per-draw", help="--parameter-uncertainty: replications per parameter draw (--reps / K draws)"
        ),
    ] = 4,
    effect: Annotated[
        str,
        typer.Option(
            "--effect",
            help="effect of the cost-effectiveness section: consumers_retained, consumers_served, "
            "consumers_benefit (better mood at follow-up) or sessions_held",
        ),
    ] = "consumers_retained",
    wtp_max: Annotated[
        float | None,
        typer.Option("--wtp-max", help="top of the willingness-to-pay axis per unit of effect (default: 3x baseline)"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar or table")] = False,
) -> None:
    """Compare scale-up scenarios with common random numbers: paired differences from the first
    scenario with 95% CIs; write comparison.csv, per_replication.csv, report.md and comparison.png
    (with --parameter-uncertainty also the parameter/chance split and uncertainty.png)."""
    from ..compare import CompareOptions, compare_scenarios, currency_of
    from ..outputs import claim, write_folder
    from ..reporting.compare import write_comparison

    _check_compare_options(effect, wtp_max, len(scenarios), reps, reps_per_draw if parameter_uncertainty else None)
    loaded = [load(p) for p in scenarios]
    names = [s.name for s in loaded]
    if len(set(names)) != len(names):
        raise fail(f"compare: scenario names must differ (the 'name' field), got {names}")
    try:
        currency_of(loaded)
    except ValueError as exc:
        raise fail(f"{scenarios[-1]}: {exc}") from None
    out_dir = out if out is not None else Path("outputs") / ("compare_" + "_vs_".join(p.stem for p in scenarios))
    root = loaded[0].seed if seed is None else seed
    draws = [posterior_draws(sc, root, reps_per_draw) for sc in loaded] if parameter_uncertainty else None
    options = CompareOptions(workers, scheduler, progress=not quiet, effect=effect, wtp_max=wtp_max)
    with claim(out_dir, force=force):
        if draws is None:
            comp = compare_scenarios(loaded, reps, seed, options)
            write_folder(out_dir, lambda tmp: write_comparison(comp, tmp), force=force, command=command_line())
        else:
            comp = _compare_uncertain(loaded, draws, reps, root, out_dir, force, options)
    if not quiet:
        _print_comparison(comp, names, reps, out_dir)


def _check_compare_options(effect: str, wtp_max: float | None, n_scenarios: int, reps: int, k: int | None) -> None:
    """compare's flags, before any scenario is read (``k``: --reps-per-draw with --parameter-uncertainty)."""
    from ..compare import EFFECTS

    if effect not in EFFECTS:
        raise fail(f"--effect: expected one of {', '.join(EFFECTS)}, got {effect!r}")
    if wtp_max is not None and not (0 < wtp_max < 1e15):
        raise fail(f"--wtp-max: expected a positive number, got {wtp_max:g}")
    if n_scenarios < 2:
        raise fail("compare: give at least two scenario files (the first is the baseline)")
    replications(reps, least=2)
    if k is not None:
        _check_reps_per_draw(reps, k)


def _check_reps_per_draw(reps: int, k: int) -> None:
    if k < 2 or reps % k or reps < 2 * k:
        raise fail(f"--reps-per-draw: must be at least 2 and divide --reps ({reps}) into at least two draws, got {k}")


def _compare_uncertain(
    loaded: list[Any], draws: list[Any], reps: int, root: int, out_dir: Path, force: bool, options: Any
) -> Any:
    """``compare --parameter-uncertainty``: the nested design and its split (:mod:`sim.uncertainty`),
    written beside the usual comparison files (``options``: a :class:`sim.compare.CompareOptions`)."""
    from ..outputs import write_folder
    from ..reporting.compare import write_comparison
    from ..uncertainty import compare_with_parameter_uncertainty, write_uncertainty

    comp = compare_with_parameter_uncertainty(loaded, draws, reps, root, options)

    def write(tmp: Path) -> None:
        write_comparison(comp, tmp)
        write_uncertainty(comp, tmp)

    write_folder(out_dir, write, force=force, command=command_line())
    return comp


def _print_comparison(comp: Any, names: list[str], reps: int, out_dir: Path) -> None:
    from ..compare import OUTPUTS
    from ..reporting import console, rich_table
    from ..reporting.compare import cost_effectiveness_sentences, difference_text

    con = console()
    tab = comp.table
    cols = ("output", *names[1:])

    def row(n: str, col: str) -> Any:
        return tab[(tab["scenario"] == n) & (tab["output"] == col)].iloc[0]

    def coloured(r: Any) -> str:
        colour = {"better": "green", "worse": "red"}.get(r["verdict"], "white")
        return f"[{colour}]{difference_text(r)}[/{colour}]"

    title = f"Difference from {names[0]} (mean over {reps} paired replications, 95% CI)"
    diffs = [(label, *(coloured(row(n, col)) for n in names[1:])) for col, (label, _) in OUTPUTS.items()]
    con.print(rich_table(title, cols, diffs, left=("output",)))
    if "share_parameter" in tab.columns:
        title = "Share of each difference's spread from parameter uncertainty (rest: chance)"
        shares = [
            (label, *(f"{x:.0%}" if x == x else "-" for x in (row(n, col)["share_parameter"] for n in names[1:])))
            for col, (label, _) in OUTPUTS.items()
        ]
        con.print(rich_table(title, cols, shares, left=("output",)))
    for line in cost_effectiveness_sentences(comp):
        con.print(line, highlight=False)
    con.print(f"written to {out_dir}")
