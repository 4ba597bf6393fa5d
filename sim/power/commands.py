"""What ``cli.py power`` calls (the command itself only parses and maps errors): option checks, the design
mode (``DESIGN.yaml``) and the scenario mode (``SCENARIO.yaml --outcome ... --control-rate ...``, the
parallel cluster trial of :mod:`.inputs` / :mod:`.resample`). Every bad input raises :class:`PowerError` or
:class:`DesignError` with a one-line message naming the option or the file and field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .common import LIKERT_RANGE, MAX_CLUSTERS, OUTCOMES, PowerError

SCENARIO_DEFAULTS = {"reps": 200, "clusters": "2,4,6,8,10,15,20", "alpha": 0.05, "trials": 2000}


@dataclass(frozen=True)
class PowerOptions:
    outcome: str | None
    control: float | None
    reps: int | None
    clusters: tuple[int, ...] | None
    alpha: float | None
    trials: int | None
    seed: int | None


def parse_clusters(text: str, low: int = 2) -> tuple[int, ...]:
    """``"2,4,6"`` -> (2, 4, 6): whole numbers between ``low`` and :data:`MAX_CLUSTERS`, sorted, unique."""
    try:
        ks = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise PowerError(f"--clusters: expected comma-separated whole numbers, got {text!r}") from None
    if not ks or ks[0] < low or ks[-1] > MAX_CLUSTERS:
        raise PowerError(f"--clusters: need at least one count, each between {low} and {MAX_CLUSTERS}, got {text!r}")
    return tuple(ks)


def _scenario_defaults(outcome, control, reps, trials, alpha, clusters):
    """Scenario mode: the outcome and usual-care level are required; the other options have defaults."""
    if outcome not in OUTCOMES:
        raise PowerError(f"--outcome: unknown outcome {outcome!r}; expected one of: {', '.join(OUTCOMES)}")
    if control is None:
        raise PowerError("--control-rate: required with --outcome (the usual-care rate or mean)")
    kind = OUTCOMES[outcome][1]
    lo, hi = (0.0, 1.0) if kind == "binary" else LIKERT_RANGE
    if not lo < control < hi:
        raise PowerError(
            f"--control-rate: {outcome} is {kind}: expected a value strictly between {lo:g} and {hi:g}, got {control:g}"
        )
    d = SCENARIO_DEFAULTS
    return (
        d["reps"] if reps is None else reps,
        d["trials"] if trials is None else trials,
        d["alpha"] if alpha is None else alpha,
        d["clusters"] if clusters is None else clusters,
    )


def check_power_options(outcome, control, reps, clusters, alpha, trials, seed, *, design_mode: bool) -> PowerOptions:
    if not design_mode:
        reps, trials, alpha, clusters = _scenario_defaults(outcome, control, reps, trials, alpha, clusters)
    ks = parse_clusters(clusters) if clusters is not None else None
    if alpha is not None and not 0 < alpha < 1:
        raise PowerError(f"--alpha: must be between 0 and 1, got {alpha:g}")
    # --reps, --trials, --seed and --workers: checked by the command's options (sim/commands/power.py)
    return PowerOptions(outcome, control, reps, ks, alpha, trials, seed)


def run_scenario_command(
    file: Path,
    out_dir: Path,
    o: PowerOptions,
    *,
    workers,
    scheduler,
    quiet: bool,
    force: bool = False,
    command: str = "",
) -> None:
    """The parallel cluster trial from a scenario (the original ``cli.py power SCENARIO --outcome ...``)."""
    from ..scenario import ScenarioError, load_scenario
    from .inputs import simulate_design
    from .parallel_report import needed_clusters, print_power, write_power_dir
    from .resample import power_table

    try:
        sc = load_scenario(file)
    except ScenarioError as exc:
        raise PowerError(str(exc)) from None
    assert o.outcome is not None and o.control is not None and o.clusters is not None
    try:
        design = simulate_design(sc, o.reps, o.seed, workers=workers, scheduler=scheduler, progress=not quiet)
        table = power_table(design, o.outcome, o.control, o.clusters, alpha=o.alpha, trials=o.trials, seed=o.seed)
        needed = needed_clusters(design, o.outcome, o.control, o.alpha)
        write_power_dir(
            out_dir, design, table, o.outcome, o.control, o.alpha, o.reps, needed, force=force, command=command
        )
    except PowerError as exc:
        raise PowerError(f"{o.outcome}: {exc}") from None
    if not quiet:
        print_power(design, table, o.outcome, o.control, needed, out_dir)


def run_design_command(
    file: Path,
    out_dir: Path,
    o: PowerOptions,
    *,
    workers,
    scheduler,
    resume: bool,
    quiet: bool,
    force: bool = False,
    command: str = "",
) -> None:
    """A design file: evaluate (resumable), write the outputs all-or-nothing, print the summary."""
    from ..outputs import write_folder
    from .report import print_result, write_report
    from .run import evaluate_design, finish
    from .schema import DesignError, Search, load_design

    design = load_design(file)
    upd: dict = {}
    if o.reps is not None:
        upd["replications"] = o.reps
    if o.alpha is not None:
        upd["alpha"] = o.alpha
    if o.seed is not None:
        upd["seed"] = o.seed
    if o.trials is not None:
        upd["trials"] = o.trials
    if o.clusters is not None:
        if design.type == "individual":
            raise PowerError("--clusters: an individual design has no clusters")
        upd["search"] = Search(
            clusters=list(o.clusters), cluster_sizes=design.search.cluster_sizes if design.search else None
        )
    if upd:
        from .schema import design_from_dict

        data = {
            **design.model_dump(),
            **{k: (v.model_dump() if hasattr(v, "model_dump") else v) for k, v in upd.items()},
        }
        try:
            design = design_from_dict(data, file).model_copy(
                update={"source_path": design.source_path, "source_sha256": design.source_sha256}
            )
        except DesignError as exc:
            raise PowerError(str(exc).replace(f"{file}: ", f"{file} (with the command-line options): ", 1)) from None
    result = evaluate_design(design, out_dir, workers=workers, scheduler=scheduler, progress=not quiet, resume=resume)
    write_folder(out_dir, lambda tmp: write_report(tmp, result, command), force=force, command=command)
    finish(out_dir)
    if not quiet:
        print_result(result, out_dir)
