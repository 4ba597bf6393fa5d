"""``python cli.py calibrate``: the typer command; its body is ``sim/calibration/cli.py``."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path
from typing import Annotated

import typer

from .common import Force, Quiet, Scheduler, Workers, command_line, fail, replications

CALIBRATION_OUT = Path("outputs") / "calibration"  # not calibration/, which the shipped scenarios read


def _calibration_folder(folder: Path) -> bool:
    """A folder a calibration wrote: ours by marker or manifest, or holding a ``calibrated.yaml`` with
    the model-sources hash the calibration records (the committed ``calibration/``)."""
    from ..outputs import written_by_us

    if written_by_us(folder):
        return True
    with suppress(OSError):
        return "model_sources_sha256:" in (folder / "calibrated.yaml").read_text(encoding="utf-8")
    return False


def calibrate(
    budget: Annotated[
        int,
        typer.Option(
            "--budget", help="most simulated studies ABC-SMC may run (the predictive checks add 2 x --ppc-reps)"
        ),
    ] = 90_000,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            min=0,
            help="root seed: the same seed, budget and population give the same posterior on any number of workers",
        ),
    ] = 20191114,
    workers: Workers = None,
    scheduler: Scheduler = None,
    population: Annotated[int, typer.Option("--population", help="particles per ABC-SMC generation")] = 400,
    ppc_reps: Annotated[
        int,
        typer.Option("--ppc-reps", help="replications of each predictive check (posterior draws; calibrated point)"),
    ] = 1000,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="output folder; the shipped scenarios read calibration/, so updating it needs --out calibration "
            "(targets.yaml and priors.yaml are always read from calibration/)",
        ),
    ] = CALIBRATION_OUT,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Calibrate the model to the paper's figures (ABC-SMC); write posterior.csv, calibrated.yaml, fit.csv,
    report.md, figures/."""
    import importlib.util

    from ..outputs import claim, write_marker

    if importlib.util.find_spec("pyabc") is None:
        raise fail("calibrate needs pyabc: pip install -e '.[calibrate]'")
    replications(ppc_reps, "--ppc-reps", least=20)
    from ..calibration.cli import calibrate as _calibrate

    fresh = not out.exists() or (out.is_dir() and not any(out.iterdir()))
    with claim(out, force=force, ours=_calibration_folder):
        _calibrate(budget, seed, workers, scheduler, population, out, ppc_reps, quiet)
        if fresh:
            write_marker(out, command_line())
