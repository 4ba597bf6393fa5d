"""``python cli.py sensitivity``: Sobol' indices of the planner outputs (``sim/sensitivity.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import Force, Quiet, Scheduler, Seed, Workers, command_line, load, out_option


def sensitivity(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file, e.g. scenarios/paper_study.yaml")],
    n: Annotated[
        int, typer.Option("--n", help="base sample size N of the Saltelli design, a power of 2: N(2D+2) sets")
    ] = 64,
    reps_per_point: Annotated[
        int, typer.Option("--reps-per-point", help="replications per parameter set (common random numbers)")
    ] = 2,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec",
            help="YAML of parameters: {NAME: {dist: uniform|normal, low, high[, mean, sd]}} and optional "
            "outputs: [...] (default: calibrated parameters over their posterior 95% interval, those not "
            "identified over their prior)",
        ),
    ] = None,
    seed: Seed = None,
    out: Annotated[Path | None, out_option("outputs/<scenario file stem>_sensitivity")] = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Global sensitivity: Sobol' indices (SALib) of the planner outputs over parameter ranges; write
    sobol.csv, outputs.csv, samples.csv, spec.yaml, report.md and sensitivity.png."""
    import time

    from .. import sensitivity as sa
    from ..outputs import claim, write_folder
    from ..sensitivity_report import print_summary, write_sensitivity

    sc = load(scenario)
    sp = sa.load_spec(spec, sc.parameters) if spec is not None else sa.default_spec(base=sc.parameters)
    sa.check_design(n, reps_per_point, len(sp.factors))
    out_dir = out if out is not None else Path("outputs") / f"{scenario.stem}_sensitivity"
    t0 = time.perf_counter()
    with claim(out_dir, force=force):
        res = sa.run_sensitivity(
            sc, sp, n, reps_per_point, seed, workers=workers, scheduler=scheduler, progress=not quiet
        )
        write_folder(out_dir, lambda tmp: write_sensitivity(res, tmp, sp), force=force, command=command_line())
    if not quiet:
        print_summary(res, out_dir, time.perf_counter() - t0)
