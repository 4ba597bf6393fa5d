"""The command-line application: ``python cli.py COMMAND`` (or the ``peer-support-sim`` script)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.callback()
def main() -> None:
    """peer-support-sim: a SimPy model of a community peer-support service (Fan et al. 2019)."""


# --- shared helpers -------------------------------------------------------------------------
def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error to stderr and return the Exit to raise (no traceback)."""
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    return typer.Exit(code)


def _command_line() -> str:
    return " ".join(
        ["cli.py" if Path(sys.argv[0]).name in ("cli.py", "__main__.py") else Path(sys.argv[0]).name, *sys.argv[1:]]
    )


# --- run ------------------------------------------------------------------------------------
FRAMES_FOR_FIGURES_MAX_REPS = 200  # up to this many replications, the analysis also gets the datasets back


def _analysis_hooks() -> tuple[Any, Any] | None:
    """``(analyze_chunk, write_analysis)`` from ``sim.analysis`` when it provides them."""
    try:
        from . import analysis
    except ImportError:
        return None
    chunk_fn = getattr(analysis, "analyze_chunk", None)
    write_fn = getattr(analysis, "write_analysis", None)
    return (chunk_fn, write_fn) if callable(chunk_fn) and callable(write_fn) else None


def _print_run_summary(result: Any, scenario: Any, out_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from . import instruments as ins
    from .runner import run_summary_rows

    con = Console()
    auto = result.auto
    head = f"[bold]{scenario.name}[/bold]: {result.replications} replications, seed {result.seed}"
    if auto is not None:
        hw = ", ".join(f"{k} ±{v:.1%}" for k, v in auto.relative_half_widths.items())
        head += (
            f" (chosen by --reps auto at ±{auto.precision:.0%}: {hw})"
            if auto.solved
            else f" ([yellow]--reps auto: precision ±{auto.precision:.0%} not reached; budget used[/yellow])"
        )
    con.print(head)
    rows = run_summary_rows(result.summary)
    n = max(result.replications, 1)

    t = Table(title="Sessions delivered before follow-up (mean per replication, 95% of replications within)")
    for c in ("wave", "held", "range", "cancelled", "paper"):
        t.add_column(c, justify="left" if c == "wave" else "right")
    for r in rows["sessions"]:
        paper = (
            str(ins.PAPER_SESSIONS_TOTAL)
            if r["wave"] == "total" and set(scenario.waves) == {"initial", "later"}
            else ""
        )
        t.add_row(r["wave"], f"{r['mean']:.1f}", f"{r['lo']:.0f}-{r['hi']:.0f}", f"{r['cancelled']:.1f}", paper)
    con.print(t)

    t = Table(title="Retention: completed the follow-up evaluation (mean per replication)")
    for c in ("role", "wave", "still enrolled", "evaluated", "share", "paper"):
        t.add_column(c, justify="left" if c in ("role", "wave") else "right")
    for r in rows["retention"]:
        p = ins.PAPER_RETENTION.get((r["role"], r["wave"]))
        paper = f"{p[0]}/{p[1]} ({p[0] / p[1]:.0%})" if p else ""
        t.add_row(
            r["role"],
            r["wave"],
            f"{r['retained']:.1f}",
            f"{r['evaluated']:.1f}/{r['recruited']:.0f}",
            f"{r['share']:.0%}",
            paper,
        )
    con.print(t)

    t = Table(title="Satisfaction headline (share of those evaluated)")
    for c in ("role", "item", "simulated", "paper"):
        t.add_column(c, justify="left" if c in ("role", "item") else "right")
    paper_items = {
        ("provider", "satisfied overall"): (12, 12),
        ("provider", "willing to continue"): (11, 12),
        ("consumer", "satisfied overall"): (39, 42),
        ("consumer", "willing to continue"): (36, 42),
    }
    for r in rows["satisfaction"]:
        p = paper_items.get((r["role"], r["item"]))
        t.add_row(
            r["role"],
            r["item"],
            f"{r['share']:.1%} of {r['evaluated']:.1f}",
            f"{p[0]}/{p[1]} ({p[0] / p[1]:.1%})" if p else "",
        )
    con.print(t)
    ev = sum(result.events)
    con.print(
        f"SimPy events: {ev:,} ({ev / n:,.0f} per replication); wall time {result.wall_time:.1f} s "
        f"({result.replications / max(result.wall_time, 1e-9):.1f} reps/s on {result.backend}); "
        f"written to [bold]{out_dir}[/bold]"
    )


def _posterior_draws(sc: Any, seed: int | None) -> Any:
    """Per-replication posterior draws from the scenario's ``parameter_set`` (``--parameter-uncertainty``)."""
    if not sc.parameter_set:
        raise fail(
            f"{sc.source_path}: parameter_set: --parameter-uncertainty needs a parameter_set with posterior "
            "draws, such as ../calibration/calibrated.yaml"
        )
    from .calibration.posterior import PosteriorDraws

    path = Path(sc.source_path or ".").parent / sc.parameter_set
    try:
        return PosteriorDraws(sc.parameters, sc.seed if seed is None else seed, path)
    except (OSError, ValueError, KeyError) as exc:
        raise fail(f"{path}: posterior: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


@app.command()
def run(
    scenario: Path = typer.Argument(..., help="scenario YAML file, e.g. scenarios/later_wave.yaml"),
    reps: str | None = typer.Option(
        None,
        "--reps",
        help="replications: a number, or 'auto' (Hoad-Robinson-Davies, see --precision); default: the scenario's",
    ),
    seed: int | None = typer.Option(None, "--seed", help="root seed (default: the scenario's)"),
    out: Path | None = typer.Option(None, "--out", help="output folder (default: outputs/<scenario file stem>)"),
    workers: int | None = typer.Option(
        None, "--workers", help="local worker processes (default: all cores; 1 = in-process)"
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="address of a Dask scheduler, e.g. tcp://10.0.0.5:8786"
    ),
    resume: bool = typer.Option(
        False, "--resume", help="reuse the finished chunks of an interrupted run of the same scenario"
    ),
    precision: float = typer.Option(
        0.05, "--precision", help="--reps auto: relative 95%% CI half-width of the key outputs"
    ),
    max_reps: int = typer.Option(10_000, "--max-reps", help="--reps auto: most replications to try"),
    chunk_size: int | None = typer.Option(
        None, "--chunk-size", help="replications per task (default: fixed by the count; never changes results)"
    ),
    analysis: bool = typer.Option(
        True, "--analysis/--no-analysis", help="also write the statistical analysis (tests.csv, tables/, report.md)"
    ),
    parameter_uncertainty: bool = typer.Option(
        False,
        "--parameter-uncertainty",
        help="each replication uses its own draw from the posterior of the scenario's parameter_set (calibration)",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar or summary"),
) -> None:
    """Run a scenario's replications; write providers/consumers/caregivers/sessions/communities CSVs and "
    "manifest.json."""
    from .scenario import ScenarioError, load_scenario

    try:
        sc = load_scenario(scenario)
    except ScenarioError as exc:
        raise fail(str(exc)) from None
    n: Any
    if reps is None:
        n = sc.replications
    elif reps.strip().lower() == "auto":
        n = "auto"
    else:
        try:
            n = int(reps)
        except ValueError:
            raise fail(f"--reps: expected a whole number or 'auto', got {reps!r}") from None
        if n < 1:
            raise fail(f"--reps: must be at least 1, got {n}")
    if seed is not None and seed < 0:
        raise fail(f"--seed: must be 0 or more, got {seed}")
    if workers is not None and workers < 1:
        raise fail(f"--workers: must be at least 1, got {workers}")
    if chunk_size is not None and chunk_size < 1:
        raise fail(f"--chunk-size: must be at least 1, got {chunk_size}")
    if not 0 < precision < 1:
        raise fail(f"--precision: must be between 0 and 1 (e.g. 0.05 for ±5%), got {precision}")
    if max_reps < 3:
        raise fail(f"--max-reps: must be at least 3, got {max_reps}")
    out_dir = out if out is not None else Path("outputs") / scenario.stem
    if out_dir.exists() and not out_dir.is_dir():
        raise fail(f"--out: {out_dir} exists and is not a folder")

    from .runner import RunnerError, run_to_directory, work_dir_for

    draws = _posterior_draws(sc, seed) if parameter_uncertainty else None
    hooks = _analysis_hooks() if analysis else None
    finalize: Any = None
    if hooks is not None:
        write_analysis = hooks[1]

        def write_report(tmp_out: Path, result: Any) -> None:
            frames = None
            if result.replications <= FRAMES_FOR_FIGURES_MAX_REPS:  # answer-distribution figure; cheap when small
                from .analysis import read_directory

                frames = read_directory(tmp_out)
            ex = result.extras  # per-chunk tables, streamed by write_analysis (memory flat in the replications)
            tests = (lambda: ex.iter("tests")) if "tests" in ex.names else None
            cells = (lambda: ex.iter("cells")) if "cells" in ex.names else None
            write_analysis(tmp_out, tests, cells, frames, sc.name)

        finalize = write_report
    try:
        result = run_to_directory(
            sc,
            out_dir,
            replications=n,
            seed=seed,
            workers=workers,
            scheduler=scheduler,
            chunk_size=chunk_size,
            resume=resume,
            precision=precision,
            max_replications=max_reps,
            post=hooks[0] if hooks else None,
            finalize=finalize,
            progress=not quiet,
            command=_command_line(),
            parameters_for=draws,
        )
    except RunnerError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail(
            f"interrupted; finished chunks are kept in {work_dir_for(out_dir)}: add --resume to continue", 130
        ) from None
    if not quiet:
        _print_run_summary(result, sc, out_dir)


# --- analyze (issue 3) ----------------------------------------------------------------------
@app.command()
def analyze(
    directory: Path = typer.Argument(
        ..., help="folder with providers.csv, consumers.csv, caregivers.csv (sessions.csv optional)"
    ),
    out: Path | None = typer.Option(None, "--out", help="output folder (default: DIRECTORY)"),
    method: str = typer.Option(
        "t", "--method", help="continuous/Likert test: t (paper's rule: Welch if Levene p<0.05), student, welch, mwu"
    ),
) -> None:
    """Analyse evaluation data in the documented CSV format (docs/data_dictionary.md) with the paper's
    statistics; write tests.csv, test_summary.csv, tables/, report.md and figures/."""
    from .analysis import DatasetError, analyze_directory

    if method not in ("t", "student", "welch", "mwu"):
        raise fail(f"--method: expected t, student, welch or mwu, got {method!r}")
    try:
        out_dir = analyze_directory(directory, out, method=method)  # type: ignore[arg-type]
    except DatasetError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"analysis written to {out_dir}")


# --- calibrate (issue 5) --------------------------------------------------------------------
@app.command()
def calibrate(
    budget: int = typer.Option(
        90_000, "--budget", help="most simulated studies ABC-SMC may run (the predictive checks add 2 x --ppc-reps)"
    ),
    seed: int = typer.Option(
        20191114,
        "--seed",
        help="root seed: the same seed, budget and population give the same posterior on any number of workers",
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="local worker processes (default: all cores; 1 = in-process)"
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="address of a Dask scheduler, e.g. tcp://10.0.0.5:8786"
    ),
    population: int = typer.Option(400, "--population", help="particles per ABC-SMC generation"),
    ppc_reps: int = typer.Option(
        1000, "--ppc-reps", help="replications of each predictive check (posterior draws; calibrated point)"
    ),
    out: Path = typer.Option(
        Path("calibration"), "--out", help="output folder (targets.yaml and priors.yaml are read from calibration/)"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar or summary"),
) -> None:
    """Calibrate the model to the paper's figures (ABC-SMC); write posterior.csv, calibrated.yaml, fit.csv, "
    "report.md, figures/."""
    import importlib.util

    if importlib.util.find_spec("pyabc") is None:
        raise fail("calibrate needs pyabc: pip install -e '.[calibrate]'")
    from .calibration.cli import CalibrationError
    from .calibration.cli import calibrate as _calibrate

    try:
        _calibrate(budget, seed, workers, scheduler, population, out, ppc_reps, quiet)
    except CalibrationError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; nothing was written", 130) from None


# --- power ----------------------------------------------------------------------------------
@app.command()
def power(
    scenario: Path = typer.Argument(..., help="scenario YAML file whose communities stand for the peer-support arm"),
    outcome: str = typer.Option(
        ..., "--outcome", help="consumer item, e.g. ben_mood, sat_overall, willing_continue, sat_punctuality"
    ),
    control_rate: float = typer.Option(
        ..., "--control-rate", "--control-mean", help="usual-care rate (binary item) or mean (1-5 item)"
    ),
    reps: int = typer.Option(200, "--reps", help="replications simulated for the design inputs"),
    clusters: str = typer.Option("2,4,6,8,10,15,20", "--clusters", help="communities per arm, comma-separated"),
    alpha: float = typer.Option(0.05, "--alpha", help="two-sided significance level"),
    trials: int = typer.Option(2000, "--trials", help="simulated trials per cluster count"),
    seed: int | None = typer.Option(None, "--seed", help="root seed (default: the scenario's)"),
    out: Path | None = typer.Option(None, "--out", help="output folder (default: outputs/<scenario file stem>_power)"),
    workers: int | None = typer.Option(
        None, "--workers", help="local worker processes (default: all cores; 1 = in-process)"
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="address of a Dask scheduler, e.g. tcp://10.0.0.5:8786"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar or tables"),
) -> None:
    """Power of a future cluster-randomised trial (communities: peer support vs usual care) with attrition
    and clustering from the simulation; write power.csv, design_inputs.csv, report.md and power.png."""
    from . import power as pw
    from .runner import RunnerError
    from .scenario import ScenarioError, load_scenario

    if outcome not in pw.OUTCOMES:
        raise fail(f"--outcome: unknown outcome {outcome!r}; expected one of: {', '.join(pw.OUTCOMES)}")
    kind = pw.OUTCOMES[outcome][1]
    lo, hi = (0.0, 1.0) if kind == "binary" else pw.LIKERT_RANGE
    if not lo < control_rate < hi:
        raise fail(
            f"--control-rate: {outcome} is {kind}: expected a value strictly between {lo:g} and {hi:g}, got "
            f"{control_rate:g}"
        )
    try:
        ks = sorted({int(x) for x in clusters.split(",") if x.strip()})
    except ValueError:
        raise fail(f"--clusters: expected comma-separated whole numbers, got {clusters!r}") from None
    if not ks or ks[0] < 2:
        raise fail(f"--clusters: need at least one count, each at least 2, got {clusters!r}")
    if not 0 < alpha < 1:
        raise fail(f"--alpha: must be between 0 and 1, got {alpha:g}")
    if reps < 1:
        raise fail(f"--reps: must be at least 1, got {reps}")
    if trials < 1:
        raise fail(f"--trials: must be at least 1, got {trials}")
    if seed is not None and seed < 0:
        raise fail(f"--seed: must be 0 or more, got {seed}")
    if workers is not None and workers < 1:
        raise fail(f"--workers: must be at least 1, got {workers}")
    try:
        sc = load_scenario(scenario)
    except ScenarioError as exc:
        raise fail(str(exc)) from None
    out_dir = out if out is not None else Path("outputs") / f"{scenario.stem}_power"
    if out_dir.exists() and not out_dir.is_dir():
        raise fail(f"--out: {out_dir} exists and is not a folder")
    try:
        design = pw.simulate_design(sc, reps, seed, workers=workers, scheduler=scheduler, progress=not quiet)
        table = pw.power_table(design, outcome, control_rate, ks, alpha=alpha, trials=trials, seed=seed)
        needed = pw.needed_clusters(design, outcome, control_rate, alpha)
        pw.write_power_dir(out_dir, design, table, outcome, control_rate, alpha, reps, needed)
    except pw.PowerError as exc:
        raise fail(f"{outcome}: {exc}") from None
    except RunnerError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; nothing was written", 130) from None
    if not quiet:
        pw.print_power(design, table, outcome, control_rate, needed, out_dir)


@app.command()
def compare(
    scenarios: list[Path] = typer.Argument(..., help="two or more scenario YAML files; the first is the baseline"),
    reps: int = typer.Option(100, "--reps", help="replications of each scenario"),
    seed: int | None = typer.Option(None, "--seed", help="root seed shared by all scenarios (default: the baseline's)"),
    out: Path | None = typer.Option(None, "--out", help="output folder (default: outputs/compare_<first>_vs_<others>)"),
    workers: int | None = typer.Option(
        None, "--workers", help="local worker processes (default: all cores; 1 = in-process)"
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="address of a Dask scheduler, e.g. tcp://10.0.0.5:8786"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar or table"),
) -> None:
    """Compare scale-up scenarios with common random numbers: paired differences from the first
    scenario with 95% CIs; write comparison.csv, per_replication.csv, report.md and comparison.png."""
    from .compare import OUTPUTS, compare_scenarios, write_comparison
    from .outputs import write_folder
    from .runner import RunnerError
    from .scenario import ScenarioError, load_scenario

    if len(scenarios) < 2:
        raise fail("compare: give at least two scenario files (the first is the baseline)")
    if reps < 2:
        raise fail(f"--reps: must be at least 2 for a confidence interval, got {reps}")
    if workers is not None and workers < 1:
        raise fail(f"--workers: must be at least 1, got {workers}")
    if seed is not None and seed < 0:
        raise fail(f"--seed: must be 0 or more, got {seed}")
    try:
        loaded = [load_scenario(p) for p in scenarios]
    except ScenarioError as exc:
        raise fail(str(exc)) from None
    names = [s.name for s in loaded]
    if len(set(names)) != len(names):
        raise fail(f"compare: scenario names must differ (the 'name' field), got {names}")
    out_dir = out if out is not None else Path("outputs") / ("compare_" + "_vs_".join(p.stem for p in scenarios))
    try:
        comp = compare_scenarios(loaded, reps, seed, workers=workers, scheduler=scheduler, progress=not quiet)
        write_folder(out_dir, lambda tmp: write_comparison(comp, tmp))
    except RunnerError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; nothing was written", 130) from None
    if quiet:
        return
    from rich.console import Console
    from rich.table import Table

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
            cells.append(
                f"[{colour}]{r['difference']:+.3g} [{r['diff_ci_low']:+.3g}, {r['diff_ci_high']:+.3g}][/{colour}]"
            )
        t.add_row(label, *cells)
    Console().print(t)
    Console().print(f"written to {out_dir}")


# --- recovery: the calibration's parameter-recovery check (body in sim/calibration/cli.py) ---
from .calibration.cli import recovery as _recovery  # noqa: E402

app.command("recovery")(_recovery)
