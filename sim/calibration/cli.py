"""The body of ``python cli.py calibrate`` (the typer command in ``sim/commands/calibrate.py`` only forwards)
and the ``python cli.py recovery`` command (registered in ``sim/cli_app.py``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from ..commands.common import Workers


class CalibrationError(ValueError):
    """A user-facing problem; ``str()`` is one line."""


def check_abc_options(budget: int, population: int, out: Path) -> None:
    """``--population`` (at least 20 particles), ``--budget`` (at least three generations' worth) and
    ``--out`` (a folder, or nothing yet) of ``calibrate`` and ``recovery``."""
    if population < 20:
        raise CalibrationError(f"--population: must be at least 20, got {population}")
    if budget < 3 * population:
        raise CalibrationError(f"--budget: must be at least 3 x --population ({3 * population}), got {budget}")
    if out.exists() and not out.is_dir():
        raise CalibrationError(f"--out: {out} exists and is not a folder")


def calibrate(
    budget: int,
    seed: int,
    workers: int | None,
    scheduler: str | None,
    population: int,
    out: Path,
    ppc_reps: int,
    quiet: bool = False,
) -> dict[str, Any]:
    check_abc_options(budget, population, out)  # --seed, --workers and --ppc-reps: checked by the command's options

    from ..scenario import ScenarioError
    from .core import Problem
    from .run import CalibrationSettings, run_calibration

    try:
        problem = Problem.default()
    except (ScenarioError, OSError, ValueError, KeyError) as exc:
        raise CalibrationError(f"calibration inputs: {str(exc).splitlines()[0]}") from None
    settings = CalibrationSettings(
        budget=budget,
        seed=seed,
        population=population,
        workers=workers,
        scheduler=scheduler,
        ppc_replications=ppc_reps,
        out=out,
    )
    bar = _Bar(enabled=not quiet, budget=budget)
    try:
        summary = run_calibration(settings, problem, progress=bar.update)
    except RuntimeError as exc:
        raise CalibrationError(str(exc).splitlines()[0]) from None
    finally:
        bar.close()
    if not quiet:
        from ..reporting import console

        console().print(
            f"[bold]calibrated[/bold] {len(problem.names)} parameters on {summary['targets']} targets: "
            f"{summary['generations']} generations, {summary['simulations']:,} simulated studies, "
            f"final epsilon {summary['epsilon']:.3f} ({summary['stop_reason']}); "
            f"{summary['inside']}/{summary['targets']} targets inside their 95% posterior-predictive interval "
            f"({summary['inside_point']}/{summary['targets']} at the calibrated point); "
            f"{summary['wall_seconds'] / 60:.1f} min; written to [bold]{summary['out']}[/bold]"
        )
    return summary


class _Bar:
    """A rich progress bar over the simulation budget, with the generation, epsilon and acceptances."""

    def __init__(self, enabled: bool, budget: int):
        self._p = None
        if not enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from ..reporting import console

        self._p = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("sims"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console(stderr=True),
        )
        self._p.start()
        self._task = self._p.add_task("ABC-SMC", total=budget, info="generation 0 (prior)")
        self._t0 = time.perf_counter()

    def update(self, info: dict) -> None:
        if self._p is None:
            return
        if "stage" in info:
            self._p.update(self._task, description=info["stage"], info=f"{info.get('replications', '')} replications")
            return
        eps = info["epsilon"]
        rate = info["simulations"] / max(time.perf_counter() - self._t0, 1e-9)
        self._p.update(
            self._task,
            completed=info["simulations"],
            info=(
                f"gen {info['generation']}  eps {'inf' if eps == float('inf') else f'{eps:.3f}'}  "
                f"accepted {info['accepted']}/{info['population']}  {rate:.0f} sims/s"
            ),
        )

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None


def recovery(
    cases: int = typer.Option(5, "--cases", min=1, help="known parameter sets to recover (each one simulated study)"),
    budget: int = typer.Option(6000, "--budget", help="simulated studies per recovery calibration"),
    population: int = typer.Option(200, "--population", help="ABC-SMC population size"),
    seed: int = typer.Option(7, "--seed", min=0, help="root seed"),
    workers: Workers = None,
    out: Path = typer.Option(Path("calibration"), "--out", help="folder with calibrated.yaml; recovery.* written here"),
) -> None:
    """Parameter recovery: calibrate studies simulated from known parameters, report interval coverage."""
    check_abc_options(budget, population, out)
    from .recovery import run_recovery

    df = run_recovery(cases, budget, population, seed, workers, out)
    typer.echo(f"coverage {df['inside'].mean():.0%} over {len(df)} intervals; written to {out}/recovery.md")
