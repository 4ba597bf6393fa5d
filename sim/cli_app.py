"""The command-line application: ``python cli.py COMMAND`` (or the ``peer-support-sim`` script).

Errors take one path: commands raise (a :class:`CommandError`, or the packages' own one-line errors:
``ScenarioError``, ``RunnerError``, ``DestinationError``, ``DatasetError``, ``CalibrationError``,
``PowerError``; or an ``OSError`` while writing) and :meth:`App.__call__` prints ``error: ONE LINE`` to
stderr and exits with code 2 (130 after Ctrl-C). typer's own usage errors (a bad flag or value) get
the same one line and exit code 2. Every folder a command writes goes through :mod:`sim.outputs`
(refuse a folder the tool did not write unless ``--force``, lock, build beside and move into place).
"""

from __future__ import annotations

import re
import shutil
import sys
import warnings
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.main import get_command

from . import __version__
from .scenario import MAX_REPLICATIONS

EXIT_USAGE = 2  # bad input, refused destination, failed write
EXIT_INTERRUPTED = 130  # Ctrl-C


class CommandError(Exception):
    """A user-facing failure of a command: one line and an exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_USAGE) -> CommandError:
    """The error to raise for a one-line failure (``raise fail("--x: ...")``)."""
    return CommandError(message, code)


def _user_error_types() -> tuple[type[BaseException], ...]:
    """The packages' one-line error types (only those of modules already imported: an error can come
    only from a module that ran)."""
    names = {
        "sim.scenario": "ScenarioError",
        "sim.runner": "RunnerError",
        "sim.outputs": "DestinationError",
        "sim.analysis.io": "DatasetError",
        "sim.calibration.cli": "CalibrationError",
        "sim.power": "PowerError",
    }
    return tuple(getattr(sys.modules[m], n) for m, n in names.items() if m in sys.modules)


_CLICK_VALUE = re.compile(r"^Invalid value for '([^']+)'(?: / '[^']+')*: ")


def _error_line(exc: BaseException) -> tuple[str, int] | None:
    """``(message, exit code)`` for an error a user can act on; ``None`` for a bug (traceback)."""
    try:  # recent typer vendors click as typer._click
        from typer._click.exceptions import ClickException
    except ImportError:  # pragma: no cover - typer on the click package
        from click.exceptions import ClickException

    if isinstance(exc, CommandError):
        return str(exc), exc.code
    if isinstance(exc, ClickException):
        msg = _CLICK_VALUE.sub(r"\1: ", exc.format_message())
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            msg += f" (see '{ctx.command_path} --help')"
        return msg, EXIT_USAGE
    if isinstance(exc, (KeyboardInterrupt, typer.Abort)):
        return "interrupted; nothing was written", EXIT_INTERRUPTED
    if isinstance(exc, _user_error_types()):
        return str(exc), EXIT_USAGE
    if isinstance(exc, OSError):
        from .outputs import describe_os_error

        return describe_os_error(exc), EXIT_USAGE
    return None


class App(typer.Typer):
    """A Typer app whose every error ends as one line on stderr (see the module docstring)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("prog_name", _program_name())
        try:
            rc = get_command(self)(*args, standalone_mode=False, **kwargs)
        except BaseException as exc:
            if isinstance(exc, SystemExit):
                raise
            if type(exc).__name__ == "NoArgsIsHelpError":  # no command given: the help, as click shows it
                exc.show()  # type: ignore[attr-defined]
                sys.exit(EXIT_USAGE)
            line = _error_line(exc)
            if line is None:
                raise
            typer.echo(f"error: {' '.join(line[0].split())}", err=True)
            sys.exit(line[1])
        if rc == EXIT_INTERRUPTED:  # typer turns Ctrl-C into this exit code
            typer.echo("error: interrupted; nothing was written", err=True)
        sys.exit(rc if isinstance(rc, int) else 0)


app = App(no_args_is_help=True, add_completion=False, rich_markup_mode=None)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"peer-support-sim {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the package version and exit"),
    ] = False,
) -> None:
    """peer-support-sim: a SimPy model of a community peer-support service (Fan et al. 2019)."""


def _program_name() -> str:
    name = Path(sys.argv[0]).name
    return "cli.py" if name in ("cli.py", "__main__.py") else name


def _command_line() -> str:
    return " ".join([_program_name(), *sys.argv[1:]])


# --- shared options ---------------------------------------------------------------------------
def _workers_option(help_text: str) -> Any:
    """``--workers`` (at least 1; typer's usage error otherwise), with the command's own help text."""
    return Annotated[int | None, typer.Option("--workers", min=1, help=help_text)]


Workers = _workers_option("local worker processes (default: all cores; 1 = in-process)")
Scheduler = Annotated[
    str | None, typer.Option("--scheduler", help="address of a Dask scheduler, e.g. tcp://10.0.0.5:8786")
]
Seed = Annotated[int | None, typer.Option("--seed", min=0, help="root seed (default: the scenario's)")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar or summary")]
Force = Annotated[
    bool,
    typer.Option(
        "--force",
        help="replace an existing --out folder that this tool did not write (and, for run, discard the finished "
        "chunks of an interrupted run)",
    ),
]


def _out_option(default: str) -> Any:
    return typer.Option(
        "--out",
        help=f"output folder (default: {default}); an existing folder not written by this tool is refused "
        "unless --force",
    )


def _replications(value: int, option: str = "--reps", least: int = 1) -> int:
    """A replication count within ``least .. MAX_REPLICATIONS`` (the scenario's ceiling)."""
    if not least <= value <= MAX_REPLICATIONS:
        raise fail(f"{option}: must be between {least} and {MAX_REPLICATIONS:,}, got {value}")
    return value


def _load(path: Path) -> Any:
    from .scenario import load_scenario

    return load_scenario(path)


# --- run ------------------------------------------------------------------------------------
FRAMES_FOR_FIGURES_MAX_REPS = 200  # up to this many replications, the analysis also gets the datasets back


def _analysis_hooks() -> tuple[Any, Any] | None:
    """``(per-chunk hook, write_analysis)``: the hook is ``sim.analysis.report_chunk`` plus the planner's
    tables (:func:`sim.planning.hooks.analysis_and_planning`), when ``sim.analysis`` provides them."""
    try:
        from . import analysis
        from .planning.hooks import analysis_and_planning
    except ImportError:
        return None
    chunk_fn = getattr(analysis, "report_chunk", None)
    write_fn = getattr(analysis, "write_analysis", None)
    return (analysis_and_planning, write_fn) if callable(chunk_fn) and callable(write_fn) else None


def _print_run_summary(result: Any, scenario: Any, out_dir: Path) -> None:
    """The printed summary of a run: a headline, three tables (sessions, retention, satisfaction) beside
    the paper's figures, and the run's speed."""
    from rich.console import Console

    from .runner import run_summary_rows

    con = Console()
    con.print(_summary_headline(result, scenario))
    rows = run_summary_rows(result.summary)
    con.print(_sessions_table(rows["sessions"], scenario))
    from .planning.paper import is_paper_study

    paper = is_paper_study(scenario)  # the paper's figures only beside the paper's own study
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


def _table(title: str, columns: tuple[str, ...], left: tuple[str, ...]) -> Any:
    from rich.table import Table

    t = Table(title=title)
    for c in columns:
        t.add_column(c, justify="left" if c in left else "right")
    return t


def _paper_column(columns: tuple[str, ...], paper_study: bool) -> tuple[str, ...]:
    """The console table's columns: the last, "paper", only beside the paper's own study."""
    return columns if paper_study else columns[:-1]


def _sessions_table(rows: list[dict[str, Any]], scenario: Any) -> Any:
    from . import instruments as ins
    from .planning.paper import is_paper_study

    paper_study = is_paper_study(scenario)
    t = _table(
        "Sessions delivered before follow-up (mean per replication, 95% of replications within)",
        _paper_column(("wave", "held", "range", "cancelled", "paper"), paper_study),
        ("wave",),
    )
    paper_waves = paper_study and set(scenario.waves) == {"initial", "later"}
    for r in rows:
        paper = str(ins.PAPER_SESSIONS_TOTAL) if r["wave"] == "total" and paper_waves else ""
        cells = (r["wave"], f"{r['mean']:.1f}", f"{r['lo']:.0f}-{r['hi']:.0f}", f"{r['cancelled']:.1f}", paper)
        t.add_row(*_paper_column(cells, paper_study))
    return t


def _retention_table(rows: list[dict[str, Any]], paper_study: bool = True) -> Any:
    from . import instruments as ins

    t = _table(
        "Retention: completed the follow-up evaluation (mean per replication)",
        _paper_column(("role", "wave", "still enrolled", "evaluated", "share", "paper"), paper_study),
        ("role", "wave"),
    )
    for r in rows:
        p = ins.PAPER_RETENTION.get((r["role"], r["wave"])) if paper_study else None
        paper = f"{p[0]}/{p[1]} ({p[0] / p[1]:.0%})" if p else ""
        evaluated = f"{r['evaluated']:.1f}/{r['recruited']:.0f}"
        cells = (r["role"], r["wave"], f"{r['retained']:.1f}", evaluated, f"{r['share']:.0%}", paper)
        t.add_row(*_paper_column(cells, paper_study))
    return t


def _satisfaction_table(rows: list[dict[str, Any]], paper_study: bool = True) -> Any:
    t = _table(
        "Satisfaction headline (share of those evaluated)",
        _paper_column(("role", "item", "simulated", "paper"), paper_study),
        ("role", "item"),
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
    from . import instruments as ins

    out: dict[tuple[str, str], tuple[int, int]] = {}
    for role, items in (("provider", ins.PROVIDER_SATISFACTION), ("consumer", ins.CONSUMER_SATISFACTION)):
        by_column = {it.column: it for it in items}
        for label, column in (("satisfied overall", "sat_overall"), ("willing to continue", "willing_continue")):
            it = by_column.get(column)
            if it is not None and it.paper_count is not None and it.paper_n is not None:
                out[(role, label)] = (it.paper_count, it.paper_n)
    return out


def _posterior_draws(sc: Any, seed: int | None, reps_per_draw: int = 1) -> Any:
    """Per-replication parameter draws (``--parameter-uncertainty``): the posterior of the scenario's
    ``parameter_set`` and the unidentified assumptions from calibration/assumption_priors.yaml."""
    if not sc.parameter_set:
        raise fail(
            f"{sc.source_path}: parameter_set: --parameter-uncertainty needs a parameter_set with posterior "
            "draws, such as ../calibration/calibrated.yaml"
        )
    from .calibration.posterior import PosteriorDraws

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


@app.command()
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
    out: Annotated[Path | None, _out_option("outputs/<scenario file stem>")] = None,
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
    from .outputs import DestinationError, check_destination, destination_lock

    sc = _load(scenario)
    n: Any
    if reps is None:
        n = sc.replications
    elif reps.strip().lower() == "auto":
        n = "auto"
    else:
        try:
            n = _replications(int(reps))
        except ValueError:
            raise fail(f"--reps: expected a whole number or 'auto', got {reps!r}") from None
    if not 0 < precision < 1:
        raise fail(f"--precision: must be between 0 and 1 (e.g. 0.05 for ±5%), got {precision}")
    if table_format not in ("csv", "parquet"):
        raise fail(f"--format: expected csv or parquet, got {table_format!r}")
    _replications(max_reps, "--max-reps", least=3)
    out_dir = out if out is not None else Path("outputs") / scenario.stem
    check_destination(out_dir, force=force)

    from .runner import PrecisionNotReached, finished_chunks, run_to_directory, work_dir_for

    draws = _posterior_draws(sc, seed) if parameter_uncertainty else None
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
                command=_command_line(),
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
        _print_run_summary(result, sc, out_dir)


def _report_writer(sc: Any, write_analysis: Callable[..., None]) -> Callable[[Path, Any], None]:
    """``finalize`` for the runner: the analysis report from the per-chunk tables (streamed); for a scenario
    that is not the paper's study, report.md opens with the planning summary (:mod:`sim.reporting.planning`)
    and the paper-style analysis, without the paper's figures, becomes its appendix."""
    from .forked import in_child
    from .planning.paper import is_paper_study

    paper = is_paper_study(sc)

    def write_report(tmp_out: Path, result: Any) -> None:
        frames = None
        if result.replications <= FRAMES_FOR_FIGURES_MAX_REPS:  # answer-distribution figure; cheap when small
            from .analysis import read_directory

            frames = read_directory(tmp_out)
        ex = result.extras  # per-chunk tables, streamed by write_analysis (memory flat in the replications)
        tests = (lambda: ex.iter("tests")) if "tests" in ex.names else None
        cells = (lambda: ex.iter("cells")) if "cells" in ex.names else None
        planning = None
        if "planning_monthly" in ex.names:
            from .reporting.planning import write_planning

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
    from .reporting import pyplot

    pyplot()


# --- analyze ------------------------------------------------------------------------------------
@app.command()
def analyze(
    directory: Annotated[
        Path,
        typer.Argument(
            help="folder with providers, consumers, caregivers (sessions optional) as .csv or .parquet files"
        ),
    ],
    out: Annotated[Path | None, _out_option("DIRECTORY: the results are added beside the data")] = None,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="continuous/Likert test: t (paper's rule: Welch if Levene p<0.05), student, welch, mwu",
        ),
    ] = "t",
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="replace files this tool did not write (in DIRECTORY, or an existing --out folder)"
        ),
    ] = False,
    scenario: Annotated[
        Path | None,
        typer.Option(
            "--scenario",
            help="the scenario YAML the data were simulated from: the report is then run's (the planning summary "
            "first for a scenario that is not the paper's study); default: the one DIRECTORY/manifest.json names, "
            "if unchanged since the run",
        ),
    ] = None,
) -> None:
    """Analyse evaluation data in the documented CSV format (docs/data_dictionary.md) with the paper's
    statistics; write tests.csv, test_summary.csv, tables/, report.md and figures/ (and, for data that
    ``run`` simulated from a scenario, its planning/ tables and summary, as ``run`` does)."""
    from .analysis import analyze_directory, read_directory
    from .outputs import claim, write_folder
    from .planning.paper import is_paper_study

    if method not in ("t", "student", "welch", "mwu"):
        raise fail(f"--method: expected t, student, welch or mwu, got {method!r}")
    sc = _load(scenario) if scenario is not None else _scenario_of_run(directory)
    if scenario is not None:
        _check_communities(sc, scenario, directory)
    paper = sc is None or is_paper_study(sc)
    in_place = out is None or (out.exists() and directory.exists() and out.resolve() == directory.resolve())
    dest = directory if in_place else out
    assert dest is not None

    def write(tmp: Path) -> None:
        frames = read_directory(directory)  # read once: the planning tables use the same people and sessions
        name = sc.name if sc else None
        analyze_directory(directory, tmp, method=method, with_paper=paper, scenario_name=name, frames=frames)
        if sc is not None:
            from .reporting.planning import write_planning_of_folder

            if not write_planning_of_folder(directory, tmp, sc, paper, frames):
                typer.echo(f"note: {directory} lacks tables that run writes: no planning summary", err=True)

    with claim(dest, force=force, merge=in_place, option="DIRECTORY" if in_place else "--out"):
        write_folder(dest, write, force=force, merge=in_place, command=_command_line())
    typer.echo(f"analysis written to {dest}")


def _check_communities(sc: Any, file: Path, directory: Path) -> None:
    """``--scenario`` must be the one the data were simulated from: the same communities as
    ``directory/communities.csv`` (when there is one)."""
    import pandas as pd

    table = directory / "communities.csv"
    if not table.is_file():
        return
    try:
        found = set(pd.read_csv(table, usecols=["community"], dtype=str)["community"].dropna())
    except (ValueError, OSError, pd.errors.ParserError):
        return  # not run's table: the analysis reports what is wrong with the data it needs
    expected = {c.name for c in sc.expanded_communities()}
    if found != expected:
        raise fail(
            f"--scenario {file}: not the scenario of {directory}: {len(found ^ expected)} communities differ "
            f"from {table} (e.g. {sorted(found ^ expected)[0]!r})"
        )


def _scenario_of_run(directory: Path) -> Any:
    """The scenario ``directory/manifest.json`` (written by ``run``) names, when its file is unchanged since
    the run (the SHA-256 the manifest and the loaded scenario carry); None otherwise (evaluation data of a
    programme, or a scenario since edited, moved or no longer valid: a note says so)."""
    import json

    from .scenario import ScenarioError, load_scenario

    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        file, digest = manifest.get("scenario_file"), manifest.get("scenario_sha256")
    except (OSError, ValueError, AttributeError):
        return None  # no manifest of a run here
    if not isinstance(file, str) or not isinstance(digest, str):
        return None
    try:
        sc = load_scenario(file)
    except ScenarioError:
        sc = None
    if sc is None or sc.source_sha256 != digest:
        typer.echo(
            f"note: {directory / 'manifest.json'}: scenario {file} not found or changed since the run; "
            "the paper-style analysis only (--scenario FILE for run's report)",
            err=True,
        )
        return None
    typer.echo(f"scenario: {file} (named in {directory / 'manifest.json'})")
    return sc


# --- calibrate ----------------------------------------------------------------------------------
CALIBRATION_OUT = Path("outputs") / "calibration"  # not calibration/, which the shipped scenarios read


def _calibration_folder(folder: Path) -> bool:
    """A folder a calibration wrote: ours by marker or manifest, or holding a ``calibrated.yaml`` with
    the model-sources hash the calibration records (the committed ``calibration/``)."""
    from .outputs import written_by_us

    if written_by_us(folder):
        return True
    with suppress(OSError):
        return "model_sources_sha256:" in (folder / "calibrated.yaml").read_text(encoding="utf-8")
    return False


@app.command()
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

    from .outputs import claim, write_marker

    if importlib.util.find_spec("pyabc") is None:
        raise fail("calibrate needs pyabc: pip install -e '.[calibrate]'")
    _replications(ppc_reps, "--ppc-reps", least=20)
    from .calibration.cli import calibrate as _calibrate

    fresh = not out.exists() or (out.is_dir() and not any(out.iterdir()))
    with claim(out, force=force, ours=_calibration_folder):
        _calibrate(budget, seed, workers, scheduler, population, out, ppc_reps, quiet)
        if fresh:
            write_marker(out, _command_line())


# --- power --------------------------------------------------------------------------------------
MAX_TRIALS = 1_000_000  # simulated trials per cluster count: Monte Carlo SE of a power below 0.0005


@app.command()
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
    out: Annotated[Path | None, _out_option("outputs/<file stem>_power")] = None,
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
    from . import power as pw
    from .outputs import claim
    from .runner import RunnerError

    control = None
    if outcome is not None:
        control = _control_value(pw, outcome, control_rate, control_mean)
    elif control_rate is not None or control_mean is not None:
        raise fail("--control-rate/--control-mean: only with --outcome (a design file names its outcomes)")
    if reps is not None:
        _replications(reps)
    out_dir = out if out is not None else Path("outputs") / f"{file.stem}_power"
    try:
        opts = pw.check_power_options(
            outcome, control, reps, clusters, alpha, trials, seed, workers, design_mode=outcome is None
        )
        with claim(out_dir, force=force):
            kw = {
                "workers": workers,
                "scheduler": scheduler,
                "quiet": quiet,
                "force": force,
                "command": _command_line(),
            }
            if outcome is None:
                pw.run_design_command(file, out_dir, opts, resume=resume, **kw)
            else:
                pw.run_scenario_command(file, out_dir, opts, **kw)
    except (pw.PowerError, pw.DesignError, RunnerError) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail(
            "interrupted; nothing was written" + (" (finished trials kept for --resume)" if outcome is None else ""),
            130,
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


# --- compare ------------------------------------------------------------------------------------
@app.command()
def compare(
    scenarios: Annotated[list[Path], typer.Argument(help="two or more scenario YAML files; the first is the baseline")],
    reps: Annotated[int, typer.Option("--reps", help="replications of each scenario")] = 100,
    seed: Annotated[
        int | None,
        typer.Option("--seed", min=0, help="root seed shared by all scenarios (default: the baseline's)"),
    ] = None,
    out: Annotated[Path | None, _out_option("outputs/compare_<first>_vs_<others>")] = None,
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
    from .compare import CompareOptions, compare_scenarios, currency_of, write_comparison
    from .outputs import claim, write_folder

    _check_compare_options(effect, wtp_max, len(scenarios), reps, reps_per_draw if parameter_uncertainty else None)
    loaded = [_load(p) for p in scenarios]
    names = [s.name for s in loaded]
    if len(set(names)) != len(names):
        raise fail(f"compare: scenario names must differ (the 'name' field), got {names}")
    try:
        currency_of(loaded)
    except ValueError as exc:
        raise fail(f"{scenarios[-1]}: {exc}") from None
    out_dir = out if out is not None else Path("outputs") / ("compare_" + "_vs_".join(p.stem for p in scenarios))
    root = loaded[0].seed if seed is None else seed
    draws = [_posterior_draws(sc, root, reps_per_draw) for sc in loaded] if parameter_uncertainty else None
    options = CompareOptions(workers, scheduler, progress=not quiet, effect=effect, wtp_max=wtp_max)
    with claim(out_dir, force=force):
        if draws is None:
            comp = compare_scenarios(loaded, reps, seed, options)
            write_folder(out_dir, lambda tmp: write_comparison(comp, tmp), force=force, command=_command_line())
        else:
            comp = _compare_uncertain(loaded, draws, reps, root, out_dir, force, options)
    if not quiet:
        _print_comparison(comp, names, reps, out_dir)


def _check_compare_options(effect: str, wtp_max: float | None, n_scenarios: int, reps: int, k: int | None) -> None:
    """compare's flags, before any scenario is read (``k``: --reps-per-draw with --parameter-uncertainty)."""
    from .compare import EFFECTS

    if effect not in EFFECTS:
        raise fail(f"--effect: expected one of {', '.join(EFFECTS)}, got {effect!r}")
    if wtp_max is not None and not (0 < wtp_max < 1e15):
        raise fail(f"--wtp-max: expected a positive number, got {wtp_max:g}")
    if n_scenarios < 2:
        raise fail("compare: give at least two scenario files (the first is the baseline)")
    _replications(reps, least=2)
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
    from .compare import write_comparison
    from .outputs import write_folder
    from .uncertainty import compare_with_parameter_uncertainty, write_uncertainty

    comp = compare_with_parameter_uncertainty(loaded, draws, reps, root, options)

    def write(tmp: Path) -> None:
        write_comparison(comp, tmp)
        write_uncertainty(comp, tmp)

    write_folder(out_dir, write, force=force, command=_command_line())
    return comp


def _print_comparison(comp: Any, names: list[str], reps: int, out_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from .compare import OUTPUTS, difference_text

    t = Table(title=f"Difference from {names[0]} (mean over {reps} paired replications, 95% CI)")
    t.add_column("output")
    for n in names[1:]:
        t.add_column(n, justify="right")
    tab = comp.table
    for col, (label, _) in OUTPUTS.items():
        cells = []
        for n in names[1:]:
            r = tab[(tab["scenario"] == n) & (tab["output"] == col)].iloc[0]
            colour = {"better": "green", "worse": "red"}.get(r["verdict"], "white")
            cells.append(f"[{colour}]{difference_text(r)}[/{colour}]")
        t.add_row(label, *cells)
    Console().print(t)
    if "share_parameter" in tab.columns:
        u = Table(title="Share of each difference's spread from parameter uncertainty (rest: chance)")
        u.add_column("output")
        for n in names[1:]:
            u.add_column(n, justify="right")
        for col, (label, _) in OUTPUTS.items():
            rows = [tab[(tab["scenario"] == n) & (tab["output"] == col)].iloc[0] for n in names[1:]]
            shares = [r["share_parameter"] for r in rows]
            u.add_row(label, *(f"{x:.0%}" if x == x else "-" for x in shares))
        Console().print(u)
    from .compare import cost_effectiveness_sentences

    for line in cost_effectiveness_sentences(comp):
        Console().print(line, highlight=False)
    Console().print(f"written to {out_dir}")


# --- sensitivity ----------------------------------------------------------------------------
@app.command()
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
    out: Annotated[Path | None, _out_option("outputs/<scenario file stem>_sensitivity")] = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Global sensitivity: Sobol' indices (SALib) of the planner outputs over parameter ranges; write
    sobol.csv, outputs.csv, samples.csv, spec.yaml, report.md and sensitivity.png."""
    import time

    from . import sensitivity as sa
    from .outputs import claim, write_folder
    from .sensitivity_report import print_summary, write_sensitivity

    sc = _load(scenario)
    try:
        sp = sa.load_spec(spec, sc.parameters) if spec is not None else sa.default_spec(base=sc.parameters)
        sa.check_design(n, reps_per_point, len(sp.factors))
    except sa.SpecError as exc:
        raise fail(str(exc)) from None
    out_dir = out if out is not None else Path("outputs") / f"{scenario.stem}_sensitivity"
    t0 = time.perf_counter()
    with claim(out_dir, force=force):
        res = sa.run_sensitivity(
            sc, sp, n, reps_per_point, seed, workers=workers, scheduler=scheduler, progress=not quiet
        )
        write_folder(out_dir, lambda tmp: write_sensitivity(res, tmp, sp), force=force, command=_command_line())
    if not quiet:
        print_summary(res, out_dir, time.perf_counter() - t0)


# --- app (the planners' web app, sim/app/) -------------------------------------------------------
@app.command("app")
def web_app(
    port: int = typer.Option(8501, "--port", help="port to listen on"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (default: this machine only)"),
    max_reps: int | None = typer.Option(
        None, "--max-reps", min=1, help="replications allowed per request (default 500)"
    ),
    workers: _workers_option("worker processes shared by all users (default 2)") = None,
) -> None:
    """Start the planners' web app (Streamlit) and print its address; Ctrl-C stops it."""
    from .app.launch import serve

    if not 0 < port < 65536:
        raise fail(f"--port: expected 1-65535, got {port}")
    raise typer.Exit(serve(port, host, max_reps, workers))


# --- recovery: the calibration's parameter-recovery check (body in sim/calibration/cli.py) ---
from .calibration.cli import recovery as _recovery  # noqa: E402

app.command("recovery")(_recovery)

# --- validate: the calibration's validation (body in sim/calibration/validation/command.py) ---
from .calibration.validation.command import validate as _validate  # noqa: E402

app.command("validate")(_validate)
