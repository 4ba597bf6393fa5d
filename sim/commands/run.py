"""``python cli.py run``: a scenario's replications, their tables, the analysis and the planning report."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from ..reporting.run_summary import print_run_summary
from .common import (
    EXIT_INTERRUPTED,
    Force,
    Quiet,
    Scheduler,
    Seed,
    Workers,
    command_line,
    fail,
    load,
    out_option,
    replications,
)

FRAMES_FOR_FIGURES_MAX_REPS = 200  # up to this many replications, the analysis also gets the datasets back


def _analysis_hooks() -> tuple[Any, Any]:
    """``(per-chunk hook, write_analysis)``: the hook is ``sim.analysis.report_chunk`` plus the planner's
    tables (:func:`sim.planning.hooks.analysis_and_planning`)."""
    from ..analysis import write_analysis
    from ..planning.hooks import analysis_and_planning

    return analysis_and_planning, write_analysis


def posterior_draws(sc: Any, seed: int | None, reps_per_draw: int = 1) -> Any:
    """Per-replication parameter draws (``--parameter-uncertainty``): the posterior of the scenario's
    ``parameter_set`` and the unidentified assumptions from calibration/assumption_priors.yaml."""
    if not sc.parameter_set:
        raise fail(
            f"{sc.source_path}: parameter_set: --parameter-uncertainty needs a parameter_set with posterior "
            "draws, such as ../calibration/calibrated.yaml"
        )
    from ..calibration.posterior import PosteriorDraws

    path = Path(sc.source_path or ".").parent / sc.parameter_set
    try:
        return PosteriorDraws(sc.parameters, sc.seed if seed is None else seed, path, reps_per_draw=reps_per_draw)
    except (OSError, ValueError, KeyError) as exc:
        raise fail(f"{path}: posterior: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def _warn_if_auto_unsolved(auto: Any) -> None:
    """One stderr line when --reps auto used its whole budget (also with -q, where no summary is printed)."""
    if auto is not None and not auto.solved:
        pct = f"{100 * auto.precision:g}%"
        typer.echo(
            f"warning: --reps auto: precision ±{pct} not reached within {auto.budget:,} replications (--max-reps); "
            f"results use all {auto.chosen:,}",
            err=True,
        )


def run(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file, e.g. scenarios/later_wave.yaml")],
    reps: Annotated[
        str | None,
        typer.Option(
            "--reps",
            help="replications: a number, or 'auto' (Hoad-Robinson-Davies, see --precision); default: the scenario's",
        ),
    ] = None,
    seed: Seed = None,
    out: Annotated[Path | None, out_option("outputs/<scenario file stem>")] = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="reuse the finished chunks of an interrupted run of the same scenario"),
    ] = False,
    force: Force = False,
    precision: Annotated[
        float, typer.Option("--precision", help="--reps auto: relative 95% CI half-width of the key outputs")
    ] = 0.05,
    max_reps: Annotated[int, typer.Option("--max-reps", help="--reps auto: most replications to try")] = 10_000,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            "--chunk-size",
            min=1,
            help="replications per task (default: four tasks per worker, 25-250 each; the CSVs and the analysis "
            "are the same bytes with any chunking)",
        ),
    ] = None,
    analysis: Annotated[
        bool,
        typer.Option(
            "--analysis/--no-analysis", help="also write the statistical analysis (tests.csv, tables/, report.md)"
        ),
    ] = True,
    table_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="table files: csv, or parquet (typed and compressed, for large runs; analyze reads both)",
        ),
    ] = "csv",
    parameter_uncertainty: Annotated[
        bool,
        typer.Option(
            "--parameter-uncertainty",
            help="each replication uses its own draw from the posterior of the scenario's parameter_set "
            "(calibration) and of the unidentified assumptions (calibration/assumption_priors.yaml)",
        ),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Run a scenario's replications; write providers/consumers/caregivers/sessions/communities/staff/training CSVs and
    manifest.json."""
    from ..outputs import DestinationError, check_destination, destination_lock

    sc = load(scenario)
    n: Any
    if reps is None:
        n = sc.replications
    elif reps.strip().lower() == "auto":
        n = "auto"
    else:
        try:
            n = replications(int(reps))
        except ValueError:
            raise fail(f"--reps: expected a whole number or 'auto', got {reps!r}") from None
    if not 0 < precision < 1:
        raise fail(f"--precision: must be between 0 and 1 (e.g. 0.05 for ±5%), got {precision}")
    if table_format not in ("csv", "parquet"):
        raise fail(f"--format: expected csv or parquet, got {table_format!r}")
    replications(max_reps, "--max-reps", least=3)
    out_dir = out if out is not None else Path("outputs") / scenario.stem
    check_destination(out_dir, force=force)

    from ..runner import PrecisionNotReached, finished_chunks, run_to_directory, work_dir_for

    draws = posterior_draws(sc, seed) if parameter_uncertainty else None
    hooks = _analysis_hooks() if analysis else None
    try:
        with warnings.catch_warnings():  # said below in one line, not as a Python warning with its source line
            warnings.simplefilter("ignore", PrecisionNotReached)
            result = run_to_directory(
                sc,
                out_dir,
                replications=n,
                seed=seed,
                workers=workers,
                scheduler=scheduler,
                chunk_size=chunk_size,
                resume=resume,
                discard_work=force,
                precision=precision,
                max_replications=max_reps,
                post=hooks[0] if hooks else None,
                finalize=_report_writer(sc, hooks[1]) if hooks else None,
                progress=not quiet,
                command=command_line(),
                parameters_for=draws,
                table_format=table_format,
            )
    except KeyboardInterrupt:
        work = work_dir_for(out_dir)
        if not finished_chunks(work):
            with suppress(DestinationError, OSError), destination_lock(out_dir):  # not another run's folder
                shutil.rmtree(work, ignore_errors=True)
            raise fail("interrupted; nothing was written", EXIT_INTERRUPTED) from None
        raise fail(
            f"interrupted; finished chunks are kept in {work}: add --resume to continue", EXIT_INTERRUPTED
        ) from None
    _warn_if_auto_unsolved(result.auto)
    if not quiet:
        print_run_summary(result, sc, out_dir)


def _report_writer(sc: Any, write_analysis: Callable[..., None]) -> Callable[[Path, Any], None]:
    """``finalize`` for the runner: the analysis report from the per-chunk tables (streamed); for a scenario
    that is not the paper's study, report.md opens with the planning summary (:mod:`sim.reporting.planning`)
    and the paper-style analysis, without the paper's figures, becomes its appendix."""
    from ..forked import in_child
    from ..planning.paper import is_paper_study

    paper = is_paper_study(sc)

    def write_report(tmp_out: Path, result: Any) -> None:
        frames = None
        if result.replications <= FRAMES_FOR_FIGURES_MAX_REPS:  # answer-distribution figure; cheap when small
            from ..analysis import read_directory

            frames = read_directory(tmp_out)
        ex = result.extras  # per-chunk tables, streamed by write_analysis (memory flat in the replications)
        tests = (lambda: ex.iter("tests")) if "tests" in ex.names else None
        cells = (lambda: ex.iter("cells")) if "cells" in ex.names else None
        planning = None
        if "planning_monthly" in ex.names:
            from ..reporting.planning import write_planning

            monthly, totals = (lambda: ex.iter("planning_monthly")), (lambda: ex.iter("planning_totals"))
            costs = (lambda: ex.iter("planning_costs")) if "planning_costs" in ex.names else ()
            planning = partial(write_planning, tmp_out, sc, monthly, totals, paper, costs)
        # the paper's study: the planning tables do not touch report.md, so a forked child writes them
        # while this process writes the analysis (one core would otherwise sit idle); it sends back
        # nothing (the summary it returns is not needed here, and pickling it cost a third of a second)
        child = in_child(lambda: planning() and None) if planning is not None and paper else None
        write_analysis(tmp_out, tests, cells, frames, sc.name, with_paper=paper)
        if child is not None:
            child.join()
        elif planning is not None:
            planning()  # after report.md: the planning summary opens it

    write_report.warm_up = _warm_up_figures  # type: ignore[attr-defined]  # the runner calls it mid-run
    # it reads the assembled tables only for the answer-distribution figure (small runs)
    write_report.needs_tables = lambda replications: replications <= FRAMES_FOR_FIGURES_MAX_REPS  # type: ignore[attr-defined]
    return write_report


def _warm_up_figures() -> None:
    """Import the plotting library (about half a second) while the runner's workers simulate."""
    from ..reporting import pyplot

    pyplot()
