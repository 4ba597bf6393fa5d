"""``python -m sim.calibration.validation [lowo] [--reps R] [--calibration-dir DIR] [--out DIR] ...``

Without a subcommand: the falsification table (``falsification.csv``, ``falsification_figures.csv``,
``falsification.png``),
leave-one-wave-out (``lowo.csv``; ``--no-lowo`` keeps an earlier one) and ``section.md``. ``lowo``:
leave-one-wave-out only (and ``section.md``). Outputs are built in a temporary folder and moved
into ``--out`` (default: DIR/validation); only these files are written. Deterministic given ``--seed``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

from ..core import CALIBRATION_DIR, Problem
from .falsification import calibrated_point, falsification, plot_distances
from .lowo import LowoSettings, lowo
from .sections import section_from_files

FILES = ("falsification.csv", "falsification_figures.csv", "falsification.png", "lowo.csv", "section.md")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m sim.calibration.validation", description=__doc__.splitlines()[0])
    ap.add_argument("command", nargs="?", choices=["all", "lowo"], default="all")
    ap.add_argument("--reps", type=int, default=1000, help="replications per parameter set (falsification)")
    ap.add_argument("--calibration-dir", type=Path, default=CALIBRATION_DIR, help="calibrated.yaml and fit.csv")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: CALIBRATION_DIR/validation)")
    ap.add_argument("--sobol", type=Path, default=None, help="a sobol.csv of `python cli.py sensitivity`")
    ap.add_argument("--seed", type=int, default=20191114)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--no-lowo", action="store_true", help="skip leave-one-wave-out (keep an earlier lowo.csv)")
    ap.add_argument("--lowo-population", type=int, default=LowoSettings.population)
    ap.add_argument("--lowo-budget", type=int, default=LowoSettings.budget)
    ap.add_argument("--lowo-predictive", type=int, default=LowoSettings.predictive)
    return ap


def _fail(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)
    raise SystemExit(2)


def _check(args: argparse.Namespace) -> None:
    for name in ("reps", "lowo_population", "lowo_budget", "lowo_predictive"):
        if getattr(args, name) < 2:
            _fail(f"--{name.replace('_', '-')}: must be at least 2, got {getattr(args, name)}")
    for f in ("calibrated.yaml", "fit.csv"):
        if not (args.calibration_dir / f).is_file():
            _fail(f"{args.calibration_dir / f}: file not found (--calibration-dir)")
    if args.sobol is not None and not args.sobol.is_file():
        _fail(f"{args.sobol}: file not found (--sobol)")
    if args.lowo_budget < args.lowo_population:
        _fail(f"--lowo-budget: {args.lowo_budget} is below --lowo-population {args.lowo_population}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _check(args)
    out = args.out or args.calibration_dir / "validation"
    from ...runner import ReplicationPool

    try:
        problem = Problem.default()
        point = calibrated_point(problem, args.calibration_dir / "calibrated.yaml")
    except (OSError, ValueError) as e:
        _fail(str(e).splitlines()[0])
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".validation-", dir=out))
    try:
        with ReplicationPool(workers=args.workers) as pool:
            if args.command == "all":
                table, figs, dists = falsification(problem, point, args.reps, args.seed, pool=pool, progress=True)
                table.to_csv(tmp / "falsification.csv", index=False, float_format="%.6g")
                figs.to_csv(tmp / "falsification_figures.csv", index=False, float_format="%.6g")
                plot_distances(table, dists, tmp / "falsification.png")
            if args.command == "lowo" or not args.no_lowo:
                settings = LowoSettings(args.lowo_population, args.lowo_budget, args.lowo_predictive, seed=args.seed)
                lowo(problem, settings, pool=pool, progress=True).to_csv(
                    tmp / "lowo.csv", index=False, float_format="%.6g"
                )
        for f in FILES[:-1]:  # move the finished tables first, so section.md sees them with the kept ones
            if (tmp / f).is_file():
                os.replace(tmp / f, out / f)
        lines = section_from_files(args.calibration_dir, out, args.sobol)
        (tmp / "section.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp / "section.md", out / "section.md")
    except OSError as e:
        _fail(f"{out}: cannot write ({e.strerror or e})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {out}: " + ", ".join(f for f in FILES if (out / f).is_file()))
    print(
        pd.read_csv(out / "falsification.csv").to_string(index=False) if (out / "falsification.csv").is_file() else ""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
