"""``python cli.py validate [lowo] [--reps R] [--calibration-dir DIR] [--out DIR] ...`` (also
``python -m sim.calibration.validation ...``).

Without a subcommand: the falsification table (``falsification.csv``, ``falsification_figures.csv``,
``falsification.png``),
leave-one-wave-out (``lowo.csv``; ``--no-lowo`` keeps an earlier one) and ``section.md``. ``lowo``:
leave-one-wave-out only (and ``section.md``). Outputs are built in a temporary folder and moved
into ``--out`` (default: DIR/validation); only these files are written. Deterministic given ``--seed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from ...commands.common import App, Workers, fail
from ...outputs import atomic_write_bytes, describe_os_error, merge_files_into_place, staged
from ..core import CALIBRATION_DIR, Problem
from .falsification import calibrated_point, falsification, plot_distances
from .lowo import LowoSettings, lowo
from .sections import section_from_files

FILES = ("falsification.csv", "falsification_figures.csv", "falsification.png", "lowo.csv", "section.md")


@dataclass(frozen=True)
class ValidateOptions:
    """The options of :func:`validate` (see its help)."""

    command: str
    reps: int
    calibration_dir: Path
    out: Path | None
    sobol: Path | None
    seed: int
    workers: int | None
    no_lowo: bool
    lowo_population: int
    lowo_budget: int
    lowo_predictive: int


def _check(args: ValidateOptions) -> None:
    if args.command not in ("all", "lowo"):
        raise fail(f"COMMAND: expected all or lowo, got {args.command!r}")
    for name in ("reps", "lowo_population", "lowo_budget", "lowo_predictive"):
        if getattr(args, name) < 2:
            raise fail(f"--{name.replace('_', '-')}: must be at least 2, got {getattr(args, name)}")
    for f in ("calibrated.yaml", "fit.csv"):
        if not (args.calibration_dir / f).is_file():
            raise fail(f"{args.calibration_dir / f}: file not found (--calibration-dir)")
    if args.sobol is not None and not args.sobol.is_file():
        raise fail(f"{args.sobol}: file not found (--sobol)")
    if args.lowo_budget < args.lowo_population:
        raise fail(f"--lowo-budget: {args.lowo_budget} is below --lowo-population {args.lowo_population}")


def validate(
    command: Annotated[str, typer.Argument(help="all (falsification and leave-one-wave-out) or lowo")] = "all",
    reps: Annotated[int, typer.Option("--reps", help="replications per parameter set (falsification)")] = 1000,
    calibration_dir: Annotated[
        Path, typer.Option("--calibration-dir", help="calibrated.yaml and fit.csv")
    ] = CALIBRATION_DIR,
    out: Annotated[
        Path | None, typer.Option("--out", help="output folder (default: CALIBRATION_DIR/validation)")
    ] = None,
    sobol: Annotated[Path | None, typer.Option("--sobol", help="a sobol.csv of `python cli.py sensitivity`")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="root seed")] = 20191114,
    workers: Workers = None,
    no_lowo: Annotated[
        bool, typer.Option("--no-lowo", help="skip leave-one-wave-out (keep an earlier lowo.csv)")
    ] = False,
    lowo_population: Annotated[int, typer.Option("--lowo-population")] = LowoSettings.population,
    lowo_budget: Annotated[int, typer.Option("--lowo-budget")] = LowoSettings.budget,
    lowo_predictive: Annotated[int, typer.Option("--lowo-predictive")] = LowoSettings.predictive,
) -> None:
    """Validate the calibration: falsification table, leave-one-wave-out and the report section."""
    _run(
        ValidateOptions(
            command=command,
            reps=reps,
            calibration_dir=calibration_dir,
            out=out,
            sobol=sobol,
            seed=seed,
            workers=workers,
            no_lowo=no_lowo,
            lowo_population=lowo_population,
            lowo_budget=lowo_budget,
            lowo_predictive=lowo_predictive,
        )
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.calibration.validation ARGV`` (the same command as ``python cli.py validate``)."""
    cmd = App(add_completion=False, rich_markup_mode=None)
    cmd.command()(validate)
    try:
        cmd(argv, prog_name="python -m sim.calibration.validation")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 0
    return 0


def _run(args: ValidateOptions) -> None:
    _check(args)
    out = args.out or args.calibration_dir / "validation"
    try:
        problem = Problem.default()
        point = calibrated_point(problem, args.calibration_dir / "calibrated.yaml")
    except (OSError, ValueError) as e:
        raise fail(str(e).splitlines()[0]) from None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        # the tables are moved in first (kept ones stay), so that section.md reads them with the new ones
        with staged(out, commit=merge_files_into_place) as tmp:
            tmp.mkdir()
            _write_tables(args, problem, point, tmp)
        lines = section_from_files(args.calibration_dir, out, args.sobol)
        atomic_write_bytes(out / "section.md", ("\n".join(lines) + "\n").encode("utf-8"))
    except OSError as e:
        raise fail(describe_os_error(e, out)) from None
    print(f"wrote {out}: " + ", ".join(f for f in FILES if (out / f).is_file()))
    print(
        pd.read_csv(out / "falsification.csv").to_string(index=False) if (out / "falsification.csv").is_file() else ""
    )


def _write_tables(args: ValidateOptions, problem: Problem, point: Any, tmp: Path) -> None:
    """The falsification table and figure and (unless ``--no-lowo``) the leave-one-wave-out table, in ``tmp``."""
    from ...runner import ReplicationPool

    with ReplicationPool(workers=args.workers) as pool:
        if args.command == "all":
            table, figs, dists = falsification(problem, point, args.reps, args.seed, pool=pool, progress=True)
            table.to_csv(tmp / "falsification.csv", index=False, float_format="%.6g")
            figs.to_csv(tmp / "falsification_figures.csv", index=False, float_format="%.6g")
            plot_distances(table, dists, tmp / "falsification.png")
        if args.command == "lowo" or not args.no_lowo:
            settings = LowoSettings(args.lowo_population, args.lowo_budget, args.lowo_predictive, seed=args.seed)
            lowo(problem, settings, pool=pool, progress=True).to_csv(tmp / "lowo.csv", index=False, float_format="%.6g")
