"""Global sensitivity of the planner outputs: Sobol indices (SALib) over parameter ranges.

Which parameter drives which output? A *spec* names model parameters (fields of
:class:`~sim.parameters.ModelParameters`, or ``field.key`` for an entry of a dict-valued field such as
``consumer_item_base.ben_mood``) with a distribution each: ``uniform(low, high)`` or ``normal(mean, sd)``
truncated to ``[low, high]`` (the format of ``calibration/priors.yaml``). The default spec
(:func:`default_spec`) takes the calibration's results: each calibrated parameter varies over its
posterior 95% interval (``calibration/parameters.csv``), except those the calibration report lists as
*not identified* (posterior 95% interval less than 10% narrower than the prior's, ``calibration/report.md``),
which vary over their prior (``calibration/priors.yaml``): the data say nothing more about them.

Design (Saltelli 2010, as implemented by ``SALib.sample.sobol`` / ``SALib.analyze.sobol``): a scrambled
Sobol' sequence of N base points gives N(2D+2) parameter sets for D parameters; each set runs
``reps`` replications through :mod:`sim.runner`'s in-memory map (process pool or Dask; the runner owns
seeds), with common random numbers: replication k of every parameter set uses the same seed and
replication number, so two sets differ only through their parameters. An output's value at a set
is its mean over those replications; S1 (first order) and ST (total, interactions included) come
with 95% bootstrap intervals. Outputs per replication come from the runner's
:func:`~sim.runner.replication_summary` / :func:`~sim.runner.key_outputs` and the comparison's
:func:`~sim.compare.planner_outputs` (:func:`outputs_table`). Presentation lives in
:mod:`sim.sensitivity_report`.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .compare import OUTPUTS as PLANNER_OUTPUTS
from .compare import planner_outputs
from .parameters import DEFAULT_PARAMETERS, ModelParameters
from .priors import ParameterPrior, PriorError, parse_prior
from .priors import parameter_changes as _changes
from .runner import key_outputs, replication_summary
from .scenario import read_yaml_file
from .yaml_unique import safe_load_unique

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION_DIR = ROOT / "calibration"

#: Output name -> label: the comparison's planner outputs, the runner's key outputs and provider quits.
OUTPUT_LABELS: dict[str, str] = {
    **{k: label for k, (label, _) in PLANNER_OUTPUTS.items()},
    "consumer_retention": "Consumers still enrolled at follow-up (share of recruited)",
    "provider_retention": "Providers still in the role at follow-up (share of recruited)",
    "provider_satisfied": "Evaluated providers satisfied overall (share)",
    "provider_quits": "Providers who quit before follow-up (count)",
}
DEFAULT_OUTPUTS = (
    "sessions_held",
    "consumer_retention",
    "consumer_mood_benefit",
    "consumer_satisfied",
    "provider_quits",
)

NOT_IDENTIFIED_NARROWING = 0.10  # calibration/report.md: "Not identified (under 10% narrower ...)"
MIN_N, MAX_N = 4, 4096  # base sample size: a power of 2 (Sobol' sequence balance) within these bounds
MAX_RUNS = 2_000_000  # replications a study may ask for (N(2D+2) x reps)
NUM_RESAMPLES = 200  # bootstrap resamples of SALib's confidence intervals
SOBOL_TAG = 0x50B0_1  # entropy tag of the design and bootstrap streams (never used by the model)


class SpecError(ValueError):
    """A bad spec or option; ``str()`` is one line naming the file and field."""


# ---------------------------------------------------------------------------------------------
# Spec: parameters with distributions, and the outputs to analyse
# ---------------------------------------------------------------------------------------------
Factor = ParameterPrior  # one varied parameter (``source``: where its range comes from, for the report)


@dataclass(frozen=True)
class Spec:
    factors: tuple[Factor, ...]
    outputs: tuple[str, ...] = DEFAULT_OUTPUTS
    source: str = ""

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.factors]

    def to_dict(self) -> dict[str, Any]:
        """The spec as a ``--spec`` file would give it (the resolved ranges of a run)."""
        params: dict[str, Any] = {}
        for f in self.factors:
            d: dict[str, Any] = {"dist": f.dist}
            if f.dist == "normal":
                d.update(mean=f.mean, sd=f.sd)
            d.update(low=f.low, high=f.high)  # this key order: the spec files written so far
            if f.source:
                d["source"] = f.source
            params[f.name] = d
        return {"parameters": params, "outputs": list(self.outputs)}


def parse_factor(name: Any, raw: Any, where: str, base: ModelParameters = DEFAULT_PARAMETERS) -> Factor:
    """Validate one ``parameters:`` entry of a spec (:func:`sim.priors.parse_prior`; ``where`` names
    the file and field in errors)."""
    try:
        return parse_prior(name, raw, where, base, source_key="source")
    except PriorError as exc:
        raise SpecError(str(exc)) from None


def parse_outputs(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return DEFAULT_OUTPUTS
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        raise SpecError(f"{where}: expected a non-empty list of output names")
    for x in raw:
        if x not in OUTPUT_LABELS:
            raise SpecError(f"{where}: unknown output {x!r}; expected one of {', '.join(OUTPUT_LABELS)}")
    if len(set(raw)) != len(raw):
        raise SpecError(f"{where}: an output is listed twice")
    return tuple(raw)


def load_spec(path: Path | str, base: ModelParameters = DEFAULT_PARAMETERS) -> Spec:
    """Read a spec file: ``parameters: {NAME: {dist, low, high[, mean, sd]}}`` and optionally ``outputs: [...]``."""
    path = Path(path)
    # yaml.safe_load with duplicate keys refused; a missing, unreadable, binary or malformed file is one line
    doc, _ = read_yaml_file(path, SpecError, "spec")
    if not isinstance(doc, dict):
        raise SpecError(f"{path}: expected a mapping with 'parameters' (and optionally 'outputs')")
    extra = sorted(set(map(str, doc)) - {"parameters", "outputs", "description"})
    if extra:
        raise SpecError(f"{path}: unknown key {extra[0]!r}; expected parameters, outputs, description")
    params = doc.get("parameters")
    if not isinstance(params, dict) or not params:
        raise SpecError(f"{path}: parameters: expected a non-empty mapping of parameter name -> distribution")
    factors = tuple(parse_factor(n, r, f"{path}: parameters.{n}", base) for n, r in params.items())
    factors = tuple(f if f.source else dataclasses.replace(f, source=f"spec {path.name}") for f in factors)
    return Spec(factors, parse_outputs(doc.get("outputs"), f"{path}: outputs"), str(path))


def _pct(x: Any) -> str:
    return f"{round(100 * float(x)) + 0}%"  # + 0: no "-0%"


def default_spec(calibration_dir: Path | str = CALIBRATION_DIR, base: ModelParameters = DEFAULT_PARAMETERS) -> Spec:
    """The calibrated parameters over their posterior 95% intervals (``parameters.csv``), except the
    ones not identified (narrowing under 10%), which vary over their prior (``priors.yaml``)."""
    d = Path(calibration_dir)
    table_path, priors_path = d / "parameters.csv", d / "priors.yaml"
    try:
        table = pd.read_csv(table_path)
        priors = (safe_load_unique(priors_path.read_text(encoding="utf-8"), fast=True) or {}).get("parameters", {})
    except (OSError, yaml.YAMLError, pd.errors.ParserError) as exc:
        raise SpecError(f"{d}: cannot read the calibration results ({type(exc).__name__}); give --spec FILE") from None
    missing = {"parameter", "post_lo", "post_hi", "narrowing"} - set(table.columns)
    if missing:
        raise SpecError(f"{table_path}: missing column {sorted(missing)[0]!r}")
    factors = []
    for r in table.itertuples():
        name = str(r.parameter)
        if float(r.narrowing) < NOT_IDENTIFIED_NARROWING:
            if name not in priors:
                raise SpecError(
                    f"{priors_path}: parameters.{name}: no prior for a parameter the calibration did not identify"
                )
            f = parse_factor(name, priors[name], f"{priors_path}: parameters.{name}", base)
            src = f"prior (not identified: posterior 95% interval {_pct(r.narrowing)} narrower than the prior's)"
        else:
            raw = {"dist": "uniform", "low": float(r.post_lo), "high": float(r.post_hi)}
            f = parse_factor(name, raw, f"{table_path}: {name}", base)
            src = f"posterior 95% interval ({_pct(r.narrowing)} narrower than the prior's)"
        factors.append(dataclasses.replace(f, source=src))
    if not factors:
        raise SpecError(f"{table_path}: no calibrated parameters; give --spec FILE")
    shown = table_path.relative_to(ROOT) if table_path.is_relative_to(ROOT) else table_path
    return Spec(tuple(factors), DEFAULT_OUTPUTS, f"{shown} and {priors_path.name}")


def check_design(n: int, reps: int, n_factors: int) -> int:
    """The number of replications a study needs; :class:`SpecError` if ``n`` or ``reps`` is unusable."""
    if n < MIN_N or n > MAX_N or n & (n - 1):
        raise SpecError(f"--n: must be a power of 2 between {MIN_N} and {MAX_N} (Sobol' sequence), got {n}")
    if reps < 1:
        raise SpecError(f"--reps-per-point: must be at least 1, got {reps}")
    runs = n * (2 * n_factors + 2) * reps
    if runs > MAX_RUNS:
        raise SpecError(
            f"--n {n} x (2 x {n_factors} parameters + 2) x --reps-per-point {reps} = {runs:,} replications; "
            f"at most {MAX_RUNS:,}"
        )
    return runs


# ---------------------------------------------------------------------------------------------
# Sobol' design and indices (SALib)
# ---------------------------------------------------------------------------------------------
def salib_problem(factors: Sequence[Factor]) -> dict[str, Any]:
    """SALib's problem: ``unif`` [low, high] or ``truncnorm`` [low, high, mean, sd] per factor."""
    dists, bounds = [], []
    for f in factors:
        if f.dist == "normal":
            dists.append("truncnorm")
            bounds.append([f.low, f.high, f.mean, f.sd])
        else:
            dists.append("unif")
            bounds.append([f.low, f.high])
    return {"num_vars": len(factors), "names": [f.name for f in factors], "bounds": bounds, "dists": dists}


def _stream_seeds(seed: int) -> tuple[int, int]:
    """(design, bootstrap) seeds derived from the root seed; both non-zero (SALib ignores a seed of 0)."""
    a, b = np.random.SeedSequence([int(seed), SOBOL_TAG]).generate_state(2)
    return int(a) | 1, int(b) | 1


def design(factors: Sequence[Factor], n: int, seed: int) -> np.ndarray:
    """The Saltelli design: N(2D+2) rows, one column per factor (``SALib.sample.sobol``)."""
    from SALib.sample import sobol as saltelli

    return saltelli.sample(salib_problem(factors), n, calc_second_order=True, seed=_stream_seeds(seed)[0])


@dataclass
class SobolResult:
    factors: tuple[Factor, ...]
    outputs: tuple[str, ...]
    n: int
    X: np.ndarray  # (points, D) parameter values
    Y_reps: np.ndarray  # (points, reps, outputs) per-replication outputs
    table: pd.DataFrame  # output, parameter, S1, S1_conf, ST, ST_conf
    summary: pd.DataFrame  # output, mean, sd, noise_share, status
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def means(self) -> np.ndarray:
        """(points, outputs): each output's mean over a set's replications (what the indices analyse)."""
        return _point_means(self.Y_reps)


def _point_means(Y_reps: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN points stay NaN
        return np.nanmean(Y_reps, axis=1)


def sobol_indices(
    factors: Sequence[Factor], outputs: Sequence[str], Y_reps: np.ndarray, seed: int, num_resamples: int = NUM_RESAMPLES
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """S1, ST and their 95% bootstrap half-widths per output x factor (``SALib.analyze.sobol``), and per
    output its mean, SD and the share of its variance over the design that is replication noise
    (:func:`noise_share`)."""
    from SALib.analyze import sobol as sobol_analyze

    problem = salib_problem(factors)
    Y = _point_means(Y_reps)
    rows, summary = [], []
    for k, out in enumerate(outputs):
        y = Y[:, k]
        res = None
        if not np.all(np.isfinite(y)):
            status = f"not analysed: no value at {int((~np.isfinite(y)).sum())} of {len(y)} points"
        elif np.var(y) == 0:
            status = "not analysed: the same value at every point"
        else:
            status = "ok"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res = sobol_analyze.analyze(
                    problem, y, calc_second_order=True, num_resamples=num_resamples, conf_level=0.95,
                    seed=_stream_seeds(seed)[1],
                )  # fmt: skip
        for j, f in enumerate(factors):
            vals = {c: float(res[c][j]) if res is not None else math.nan for c in ("S1", "S1_conf", "ST", "ST_conf")}
            rows.append({"output": out, "parameter": f.name, **vals})
        noise = noise_share(Y_reps[:, :, k]) if status == "ok" else math.nan
        finite = y[np.isfinite(y)]
        summary.append(
            {
                "output": out,
                "label": OUTPUT_LABELS.get(out, out),
                "mean": float(finite.mean()) if len(finite) else math.nan,
                "sd": float(finite.std(ddof=1)) if len(finite) > 1 else math.nan,
                "noise_share": noise,
                "status": status,
            }
        )
    return pd.DataFrame(rows), pd.DataFrame(summary)


def noise_share(y_reps: np.ndarray) -> float:
    """Share of the variance of the point means over the design that is replication noise, for one
    output (``y_reps``: points x reps; NaN with one replication). With common random numbers the
    noise is not independent of the parameters, so it is measured between replications: over the
    points, two replications covary by the signal's variance c, one replication varies by v, and the
    mean of R replications carries noise variance (v - c) / R on top of c."""
    y = y_reps[np.all(np.isfinite(y_reps), axis=1)]
    R = y.shape[1]
    if R < 2 or len(y) < 3:
        return math.nan
    cov = np.cov(y, rowvar=False)
    v = float(np.mean(np.diag(cov)))
    c = float((cov.sum() - np.trace(cov)) / (R * (R - 1)))
    total = c + (v - c) / R
    if total <= 0:
        return math.nan
    return float(min(max((v - c) / R / total, 0.0), 1.0))


Evaluator = Callable[[np.ndarray], np.ndarray]  # (points, D) -> (points, reps, outputs)


def sobol_study(
    factors: Sequence[Factor],
    outputs: Sequence[str],
    evaluate: Evaluator,
    n: int,
    seed: int,
    num_resamples: int = NUM_RESAMPLES,
    meta: dict[str, Any] | None = None,
) -> SobolResult:
    """Design -> ``evaluate`` -> indices: the pipeline of every study (model or test function)."""
    X = design(factors, n, seed)
    Y_reps = np.asarray(evaluate(X), dtype=float)
    if Y_reps.ndim != 3 or Y_reps.shape[0] != len(X) or Y_reps.shape[2] != len(outputs):
        raise ValueError(f"evaluate returned shape {Y_reps.shape}; expected ({len(X)}, reps, {len(outputs)})")
    table, summary = sobol_indices(factors, outputs, Y_reps, seed, num_resamples)
    return SobolResult(tuple(factors), tuple(outputs), n, X, Y_reps, table, summary, dict(meta or {}))


# ---------------------------------------------------------------------------------------------
# The model as an evaluator: parameter sets -> runner (common random numbers) -> outputs
# ---------------------------------------------------------------------------------------------
def parameter_sets(base: ModelParameters, factors: Sequence[Factor], X: np.ndarray) -> list[ModelParameters]:
    """One validated parameter set per design row, the factors applied on top of ``base``."""
    out = []
    for row in X:
        changes: dict[str, Any] = {}
        for f, v in zip(factors, row, strict=True):
            for k, val in _changes(f.name, float(v)).items():
                changes[k] = {**changes[k], **val} if isinstance(val, dict) and k in changes else val
        out.append(base.replace(**changes))
    return out


def outputs_table(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every output of :data:`OUTPUT_LABELS` per replication (index: replication), from one chunk's
    tables: :func:`~sim.compare.planner_outputs`, :func:`~sim.runner.key_outputs` of
    :func:`~sim.runner.replication_summary`, and provider quits (recruited - retained, all waves)."""
    po = planner_outputs(frames).set_index("replication")
    summary = replication_summary(frames)
    ko = key_outputs(summary)
    per_rep = summary.groupby("replication", sort=True).sum(numeric_only=True)
    out = po.join(ko[["consumer_retention", "provider_retention", "provider_satisfied"]], how="outer")
    quits = per_rep.get("providers_recruited", 0) - per_rep.get("providers_retained", 0)
    out["provider_quits"] = pd.Series(quits, index=per_rep.index, dtype=float)
    return out[list(OUTPUT_LABELS)].astype(float)


def _relabel(result: Any, position: int) -> Any:
    """A copy of a ``ReplicationResult`` whose rows carry ``position`` as their replication number."""
    cols = {
        t: ({**c, "replication": [position] * len(c["replication"])} if "replication" in c else c)
        for t, c in result.columns.items()
    }
    return dataclasses.replace(result, replication=position, columns=cols)


def chunk_outputs(results: Sequence[Any]) -> pd.DataFrame:
    """Runs in a runner worker on a chunk's results, in item order (``pass_frames=False``). Adapter:
    items of one chunk repeat replication numbers (common random numbers across parameter sets), so
    each result is relabelled with its position before :func:`~sim.datasets.to_frames`; then one
    :func:`outputs_table` call serves the whole chunk. One row per result, in item order."""
    from .datasets import to_frames

    frames = to_frames([_relabel(r, i) for i, r in enumerate(results)])
    return outputs_table(frames).reindex(range(len(results))).reset_index(drop=True)


@dataclass
class ModelEvaluator:
    """``X -> (points, reps, outputs)`` through :func:`sim.runner.map_replications`: parameter set i,
    replication k runs as replication k of root seed ``seed`` (the same for every set)."""

    scenario: Any
    factors: tuple[Factor, ...]
    outputs: tuple[str, ...]
    reps: int
    seed: int
    pool: Any = None
    workers: int | None = None
    scheduler: str | None = None
    progress: bool = False
    chunk_size: int | None = None

    def __call__(self, X: np.ndarray) -> np.ndarray:
        from .runner import map_replications

        sets = parameter_sets(self.scenario.parameters, self.factors, X)
        per_rep = [p for p in sets for _ in range(self.reps)]
        reps = [k for _ in sets for k in range(self.reps)]
        df = map_replications(
            chunk_outputs,
            self.scenario,
            reps,
            seed=self.seed,
            parameters_per_rep=per_rep,
            pass_frames=False,
            pool=self.pool,
            workers=self.workers,
            scheduler=self.scheduler,
            progress=self.progress,
            chunk_size=self.chunk_size,
        )
        return df[list(self.outputs)].to_numpy(dtype=float).reshape(len(sets), self.reps, len(self.outputs))


def run_sensitivity(
    scenario: Any,
    spec: Spec,
    n: int,
    reps: int,
    seed: int | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    pool: Any = None,
    progress: bool = False,
    chunk_size: int | None = None,
    num_resamples: int = NUM_RESAMPLES,
) -> SobolResult:
    """Sobol indices of ``spec.outputs`` over ``spec.factors`` for ``scenario`` (see the module docstring)."""
    runs = check_design(n, reps, len(spec.factors))
    s = int(scenario.seed if seed is None else seed)
    evaluate = ModelEvaluator(
        scenario, spec.factors, spec.outputs, reps, s, pool, workers, scheduler, progress, chunk_size
    )
    meta = {
        "scenario": scenario.name,
        "scenario_file": getattr(scenario, "source_path", None),
        "seed": s,
        "n": n,
        "reps_per_point": reps,
        "points": n * (2 * len(spec.factors) + 2),
        "replications": runs,
        "spec": spec.source,
        "num_resamples": num_resamples,
    }
    return sobol_study(spec.factors, spec.outputs, evaluate, n, s, num_resamples, meta)
