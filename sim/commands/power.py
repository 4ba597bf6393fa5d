"""``python cli.py power``: the typer command; its body is ``sim/power/commands.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .common import (
    EXIT_INTERRUPTED,
    Force,
    Scheduler,
    Seed,
    Workers,
    command_line,
    fail,
    out_option,
    replications,
)

MAX_TRIALS = 1_000_000  # simulated trials per cluster count: Monte Carlo SE of a power below 0.0005


def power(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="DESIGN_OR_SCENARIO",
            help="design YAML (designs/*.yaml); or, with --outcome, a scenario YAML whose communities stand for "
            "the peer-support arm of a parallel cluster trial",
        ),
    ],
    outcome: Annotated[
        str | None,
        typer.Option("--outcome", help="scenario mode: consumer item, e.g. ben_mood, sat_overall, sat_punctuality"),
    ] = None,
    control_rate: Annotated[
        float | None, typer.Option("--control-rate", help="scenario mode: usual-care rate of a binary item, e.g. 0.35")
    ] = None,
    control_mean: Annotated[
        float | None, typer.Option("--control-mean", help="scenario mode: usual-care mean of a 1-5 item, e.g. 3.2")
    ] = None,
    reps: Annotated[
        int | None, typer.Option("--reps", help="replications simulated for the inputs (default 200)")
    ] = None,
    clusters: Annotated[
        str | None,
        typer.Option(
            "--clusters",
            help="comma-separated; scenario mode: communities per arm (default 2,4,6,8,10,15,20); "
            "design mode: total communities, the points of the power curve",
        ),
    ] = None,
    alpha: Annotated[float | None, typer.Option("--alpha", help="two-sided significance level (default 0.05)")] = None,
    trials: Annotated[
        int | None,
        typer.Option("--trials", min=1, max=MAX_TRIALS, help="simulated trials per point (default 2000 / design's)"),
    ] = None,
    seed: Seed = None,
    out: Annotated[Path | None, out_option("outputs/<file stem>_power")] = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    force: Force = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="design mode: reuse the finished trials of an interrupted run")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar or tables")] = False,
) -> None:
    """Power of the next trial with inputs from the simulation. DESIGN.yaml: any design (parallel, with
    baseline, stepped-wedge, individual; report.md, power.csv, figures). SCENARIO.yaml --outcome ...: the
    parallel cluster trial (power.csv, design_inputs.csv, report.md, power.png)."""
    from .. import power as pw
    from ..outputs import claim

    control = None
    if outcome is not None:
        control = _control_value(pw, outcome, control_rate, control_mean)
    elif control_rate is not None or control_mean is not None:
        raise fail("--control-rate/--control-mean: only with --outcome (a design file names its outcomes)")
    if reps is not None:
        replications(reps)
    out_dir = out if out is not None else Path("outputs") / f"{file.stem}_power"
    try:
        opts = pw.check_power_options(
            outcome, control, reps, clusters, alpha, trials, seed, design_mode=outcome is None
        )
        with claim(out_dir, force=force):
            kw = {
                "workers": workers,
                "scheduler": scheduler,
                "quiet": quiet,
                "force": force,
                "command": command_line(),
            }
            if outcome is None:
                pw.run_design_command(file, out_dir, opts, resume=resume, **kw)
            else:
                pw.run_scenario_command(file, out_dir, opts, **kw)
    except KeyboardInterrupt:  # the shared path's line, and what a resume can reuse
        raise fail(
            "interrupted; nothing was written" + (" (finished trials kept for --resume)" if outcome is None else ""),
            EXIT_INTERRUPTED,
        ) from None


def _control_value(pw: Any, outcome: str, rate: float | None, mean: float | None) -> float:
    """The usual-care value: ``--control-rate`` for a binary outcome, ``--control-mean`` for a 1-5 item."""
    if outcome not in pw.OUTCOMES:
        raise fail(f"--outcome: unknown outcome {outcome!r}; expected one of: {', '.join(pw.OUTCOMES)}")
    kind = pw.OUTCOMES[outcome][1]
    option = "--control-rate" if kind == "binary" else "--control-mean"
    given = {k: v for k, v in (("--control-rate", rate), ("--control-mean", mean)) if v is not None}
    if list(given) != [option]:
        raise fail(f"{option}: {outcome} is {kind}: give its usual-care value with {option} (and only that option)")
    control = given[option]
    lo, hi = (0.0, 1.0) if kind == "binary" else pw.LIKERT_RANGE
    if not lo < control < hi:
        raise fail(
            f"{option}: {outcome} is {kind}: expected a value strictly between {lo:g} and {hi:g}, got {control:g}"
        )
    return control
