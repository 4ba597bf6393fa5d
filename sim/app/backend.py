"""The app's one door into the library: every import of ``sim`` (scenario validation, runner,
comparison, power, analysis) is here, behind small functions the pages and figures call.

Safety rules kept here (README, "Web app for planners"):

- uploads are at most :data:`MAX_UPLOAD_BYTES`, read with ``yaml.safe_load`` and validated with the
  scenario schema (:func:`sim.scenario.scenario_from_dict`); a ``parameter_set`` must name a file
  inside this repository; errors are :class:`AppInputError`, one line naming the file and field;
- replications per request are capped at :func:`max_replications` (``PEER_SUPPORT_APP_MAX_REPS``,
  default 500; ``python cli.py app --max-reps N`` sets it);
- every run writes only into its own temporary folder (:func:`new_run_folder`), never to a path
  from the browser;
- simulations run in worker processes (:func:`_pool`, ``PEER_SUPPORT_APP_WORKERS``, default up to 2),
  so one user's run leaves the server free to serve other pages.
"""

from __future__ import annotations

import atexit
import functools
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .. import instruments as ins
from ..compare import OUTPUTS, CompareOptions, compare_scenarios, planner_outputs, summarise
from ..parameters import DEFAULT_PARAMETERS, ModelParameters, load_parameter_file
from ..planning import costs as planning_costs
from ..planning import resources as planning_resources
from ..planning.cost_spec import DEFAULT_COSTS, CostSpec
from ..runner import ReplicationPool, RunnerError, map_chunks, run_to_directory
from ..scenario import DAYS_PER_MONTH, Scenario, ScenarioError, scenario_from_dict
from ..yaml_unique import safe_load_unique
from . import summaries

REPO_ROOT = Path(__file__).resolve().parents[2]
SCENARIO_DIR = REPO_ROOT / "scenarios"
#: Largest scenario upload accepted, bytes (the shipped scenarios are under 2 kB).
MAX_UPLOAD_BYTES = 200_000
DEFAULT_MAX_REPS = 500
RUN_FOLDER_PREFIX = "peer-support-app-"

#: Parameters a planner would touch on the Scenario page (units and sources: sim/parameters.py).
PLANNER_PARAMETERS = (
    "training_days",
    "weekly_timetable_prob",
    "attendance_mean",
    "consumer_dropout_hazard_per_month",
    "provider_leave_hazard_per_month",
    "provider_quit_hazard_per_month",
    "supervision_rate_per_month",
    "plan_review_mean_days",
    "venue_unavailable_prob",
)

#: Parameter sets offered on the Scenario page: label -> ``parameter_set`` (relative to scenarios/).
PARAMETER_SETS: dict[str, str | None] = {
    "calibrated (calibration/calibrated.yaml)": "../calibration/calibrated.yaml",
    "model defaults (sim/parameters.py)": None,
}

#: 0/1 interview items shown on the Run page: table -> columns (Tables 2-4 of the paper).
ANSWER_ITEMS: dict[str, list[str]] = {
    "consumers": ["sat_overall", "willing_continue", *[it.column for it in ins.CONSUMER_BENEFITS]],
    "providers": ["sat_overall", "willing_continue", "stressful"],
}


class AppInputError(ValueError):
    """Bad input from the browser; ``str()`` is one line naming the file (or form) and the field."""


# --- limits -------------------------------------------------------------------------------------
def max_replications() -> int:
    """Replications allowed per request: ``PEER_SUPPORT_APP_MAX_REPS`` or 500."""
    try:
        return max(1, int(os.environ.get("PEER_SUPPORT_APP_MAX_REPS", DEFAULT_MAX_REPS)))
    except ValueError:
        return DEFAULT_MAX_REPS


def check_replications(n: Any, what: str = "replications") -> int:
    """``n`` as an int within 1..:func:`max_replications`, else :class:`AppInputError`."""
    cap = max_replications()
    try:
        k = int(n)
    except (TypeError, ValueError):
        raise AppInputError(f"{what}: expected a whole number, got {n!r}") from None
    if not 1 <= k <= cap:
        raise AppInputError(f"{what}: must be between 1 and {cap} (the app's cap, PEER_SUPPORT_APP_MAX_REPS), got {k}")
    return k


def workers() -> int:
    """Worker processes of the app's pool: ``PEER_SUPPORT_APP_WORKERS`` or min(2, cores)."""
    try:
        return max(1, int(os.environ["PEER_SUPPORT_APP_WORKERS"]))
    except (KeyError, ValueError):
        return max(1, min(2, os.cpu_count() or 1))


# --- scenarios ----------------------------------------------------------------------------------
def shipped_scenarios() -> dict[str, str]:
    """The shipped scenario files (``scenarios/*.yaml``): stem -> YAML text."""
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(SCENARIO_DIR.glob("*.yaml"))}


def parse_yaml(raw: bytes | str, label: str) -> dict[str, Any]:
    """Read an uploaded scenario: size-limited, ``yaml.safe_load`` only (nothing is evaluated)."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_UPLOAD_BYTES:
        raise AppInputError(f"{label}: file is {size:,} bytes; the limit is {MAX_UPLOAD_BYTES:,}")
    try:
        data = safe_load_unique(raw)  # yaml.safe_load, duplicate keys refused (as cli.py run)
    except yaml.YAMLError as exc:  # the one-line form of sim.scenario.load_scenario
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(top level)"
        raise AppInputError(
            f"{label}: {where}: malformed YAML: {getattr(exc, 'problem', None) or 'unreadable'}"
        ) from None
    if not isinstance(data, dict):
        raise AppInputError(f"{label}: (top level): expected a mapping of scenario fields")
    return data


def _check_parameter_set(data: dict[str, Any], label: str) -> None:
    pset = data.get("parameter_set")
    if pset is None:
        return
    if not isinstance(pset, str):
        raise AppInputError(f"{label}: parameter_set: expected a file path")
    path = (SCENARIO_DIR / pset).resolve()
    if not path.is_relative_to(REPO_ROOT) or path.suffix not in (".yaml", ".yml") or not path.is_file():
        raise AppInputError(
            f"{label}: parameter_set: must name a parameter file inside this repository "
            f"(relative to scenarios/, e.g. ../calibration/calibrated.yaml), got {pset!r}"
        )


@functools.lru_cache(maxsize=8)
def _parameter_file(path: str, mtime_ns: int) -> dict[str, Any]:
    """A parameter file's ``parameters`` (read once per version: calibrated.yaml takes ~0.8 s to parse)."""
    return load_parameter_file(Path(path))


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` then ``over``, dict-valued parameters merged as ``ModelParameters.replace`` merges them."""
    out = dict(base)
    for k, v in over.items():
        out[k] = {**out[k], **v} if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def validate(data: dict[str, Any], label: str = "scenario") -> Scenario:
    """Validate a scenario mapping as ``cli.py run`` does (a ``parameter_set`` is read relative to
    ``scenarios/``, as for a shipped file); :class:`AppInputError` with the CLI's one-line message.

    The parameter file is read once and merged here (defaults < parameter_set < parameters, as
    :func:`sim.scenario.scenario_from_dict` merges them), so that editing a form stays fast."""
    if not isinstance(data, dict):
        raise AppInputError(f"{label}: (top level): expected a mapping of scenario fields")
    _check_parameter_set(data, label)
    pset = data.get("parameter_set")
    over = data.get("parameters") or {}
    if pset is not None and isinstance(over, dict):
        path = (SCENARIO_DIR / pset).resolve()
        try:
            base = _parameter_file(str(path), path.stat().st_mtime_ns)
        except (OSError, yaml.YAMLError, ValueError) as exc:
            raise AppInputError(f"{label}: parameter_set: {pset}: {str(exc).splitlines()[0]}") from None
        data = {k: v for k, v in data.items() if k != "parameter_set"} | {"parameters": _merged(base, over)}
    try:
        sc = scenario_from_dict(data, label, base_dir=SCENARIO_DIR)
    except ScenarioError as exc:
        raise AppInputError(str(exc)) from None
    return sc.model_copy(update={"parameter_set": pset}) if pset is not None else sc


def validate_text(text: bytes | str, label: str) -> tuple[dict[str, Any], Scenario]:
    """:func:`parse_yaml` then :func:`validate`: the mapping and the validated scenario."""
    data = parse_yaml(text, label)
    return data, validate(data, label)


def renamed(scenario: Scenario, name: str) -> Scenario:
    """The same scenario under another name (compare needs distinct names)."""
    return scenario.model_copy(update={"name": name})


def base_parameter_values(parameter_set: str | None) -> dict[str, Any]:
    """Model parameters before a scenario's own overrides: defaults, then ``parameter_set``."""
    sc = validate(
        {
            "name": "x",
            "waves": {"w": {"follow_up_months": 1}},
            "communities": [{"name": "c", "wave": "w", "scheduling": "structured", "providers": 2, "consumers": 1}],
            **({"parameter_set": parameter_set} if parameter_set else {}),
        },
        "parameter_set",
    )
    return sc.parameters.model_dump(mode="json")


def parameter_description(name: str) -> str:
    """The unit and source of a model parameter (its description in sim/parameters.py)."""
    return ModelParameters.model_fields[name].description or ""


def to_yaml(data: dict[str, Any], label: str = "scenario") -> str:
    """A scenario YAML that ``python cli.py run FILE`` accepts unchanged from any folder: validated
    first, the ``parameter_set`` resolved and inlined with the overrides into ``parameters`` (only
    values that differ from sim/parameters.py's defaults), so the file stands alone."""
    sc = validate(data, label)
    out = {k: v for k, v in data.items() if k not in ("parameter_set", "parameters")}
    default = DEFAULT_PARAMETERS.model_dump(mode="json")
    params = {k: v for k, v in sc.parameters.model_dump(mode="json").items() if v != default[k]}
    if params:
        out["parameters"] = params
    head = "# Written by the peer-support-sim web app (python cli.py app). Run: python cli.py run THIS_FILE\n"
    if data.get("parameter_set"):
        head += f"# parameters: {data['parameter_set']} (relative to scenarios/) and the app's changes, inlined\n"
    return head + yaml.safe_dump(out, sort_keys=False, allow_unicode=True, width=110)


# --- the shared worker pool and run folders --------------------------------------------------------
_POOL: dict[str, ReplicationPool] = {}  # "pool" -> the server's one pool, started on first use
_POOL_LOCK = threading.Lock()


def _pool() -> ReplicationPool:
    """One process pool for the whole server (sessions' runs share it; started on first use)."""
    with _POOL_LOCK:
        if "pool" not in _POOL:
            _POOL["pool"] = ReplicationPool(workers=workers())
            atexit.register(_POOL["pool"].close)
        return _POOL["pool"]


def _reset_pool(failed: ReplicationPool) -> None:
    """Replace the shared pool after ``failed`` (the pool a run was given) broke: only if it is still the
    shared one, so a session whose run failed late does not stop the new pool of another session."""
    with _POOL_LOCK:
        if _POOL.get("pool") is failed:
            _POOL.pop("pool").abort()


def new_run_folder() -> Path:
    """A fresh temporary folder for one run's files (removed at exit or by :func:`discard_run_folder`)."""
    path = Path(tempfile.mkdtemp(prefix=RUN_FOLDER_PREFIX))
    atexit.register(shutil.rmtree, path, True)
    return path


def discard_run_folder(path: Path | str | None) -> None:
    """Remove a folder made by :func:`new_run_folder` (anything else is left alone)."""
    if path is None:
        return
    p = Path(path)
    if p.parent == Path(tempfile.gettempdir()) and p.name.startswith(RUN_FOLDER_PREFIX):
        shutil.rmtree(p, ignore_errors=True)


# --- run ------------------------------------------------------------------------------------------
#: The per-replication tables of a run (RunResults fields), each built per chunk by :func:`_chunk_tables`.
RUN_TABLES = ("key", "monthly", "enrolled", "answers", "caseload", "staff", "lost", "costs")


@dataclass
class RunResults:
    """Per-replication planner tables of a run (all replications so far); summaries only, never rows of
    the datasets, so memory grows with replications x months, not with people or sessions."""

    scenario: str
    seed: int
    replications: int  # requested
    key: pd.DataFrame  # sim.compare.planner_outputs: one row per replication
    monthly: pd.DataFrame  # summaries.sessions_per_month
    enrolled: pd.DataFrame  # summaries.enrolled_per_month
    answers: pd.DataFrame  # summaries.answer_shares
    done: int = 0
    wall_time: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    caseload: pd.DataFrame = field(default_factory=pd.DataFrame)  # caseload.csv over communities, by month
    staff: pd.DataFrame = field(default_factory=pd.DataFrame)  # staff.csv over communities, by month
    lost: pd.DataFrame = field(default_factory=pd.DataFrame)  # sim.planning.resources.lost_by_cause
    costs: pd.DataFrame = field(default_factory=pd.DataFrame)  # sim.planning.costs.cost_per_replication
    cost_spec: CostSpec = DEFAULT_COSTS  # the scenario's costs: (illustrative defaults when absent)


def _chunk_tables(frames: dict[str, pd.DataFrame], cost_spec: CostSpec | None = None) -> dict[str, pd.DataFrame]:
    """Runs in the workers: a chunk's frames -> the app's per-replication tables (:data:`RUN_TABLES`)."""
    return {
        "key": planner_outputs(frames, cost_spec),
        "monthly": summaries.sessions_per_month(frames, DAYS_PER_MONTH),
        "enrolled": summaries.enrolled_per_month(frames, DAYS_PER_MONTH),
        "answers": summaries.answer_shares(frames, ANSWER_ITEMS),
        "caseload": summaries.over_communities(frames, "caseload", summaries.CASELOAD_COLUMNS),
        "staff": summaries.over_communities(frames, "staff", summaries.STAFF_COLUMNS),
        "lost": planning_resources.lost_by_cause(frames),
        "costs": planning_costs.cost_per_replication(frames, cost_spec),
    }


def item_labels() -> dict[str, str]:
    """Column -> the interview item's wording (sim/instruments.py), for figure labels."""
    out = {it.column: it.label for it in (*ins.CONSUMER_SATISFACTION, *ins.CONSUMER_BENEFITS)}
    for c in ins.OTHERS_BENEFIT_COLUMNS:  # Table 3, "perceived benefit from others perspective"
        out[c] = f"Benefit seen by {out[c].lower()}"
    out.update(
        {
            "sat_overall": "Satisfied overall",
            "stressful": "Role is stressful",
            "willing_continue": "Willing to continue",
        }
    )
    return out


def run(
    scenario: Scenario,
    replications: int,
    seed: int | None = None,
    progress_cb: Callable[[RunResults], None] | None = None,
) -> RunResults:
    """Run ``replications`` of ``scenario`` (root ``seed``, default the scenario's) in batches on the
    shared pool; ``progress_cb(results_so_far)`` after each batch, so the first figure shows early.
    Replication ``r`` gives the same numbers whatever the batching (seeds are keyed by ``r``)."""
    n = check_replications(replications)
    s = int(scenario.seed if seed is None else seed)
    pool = _pool()
    batch = max(2 * pool.workers, math.ceil(n / 10))
    chunk = max(1, math.ceil(batch / pool.workers))
    spec = scenario.costs or DEFAULT_COSTS
    fn = functools.partial(_chunk_tables, cost_spec=spec)
    parts: dict[str, list[pd.DataFrame]] = {k: [] for k in RUN_TABLES}
    empty = {k: pd.DataFrame() for k in RUN_TABLES}
    res = RunResults(scenario.name, s, n, **empty, labels=item_labels(), cost_spec=spec)
    t0 = time.perf_counter()
    for a in range(0, n, batch):
        reps = list(range(a, min(n, a + batch)))
        try:
            chunks = map_chunks(fn, scenario, reps, s, pool=pool, chunk_size=chunk)
        except BrokenProcessPool:
            _reset_pool(pool)
            raise AppInputError("run: a worker process failed; please run again") from None
        except RunnerError as exc:
            raise AppInputError(f"run: {exc}") from None
        for _, tables in chunks:
            for k, df in tables.items():
                parts[k].append(df)
        res = RunResults(
            scenario.name,
            s,
            n,
            **{k: pd.concat(parts[k], ignore_index=True) for k in RUN_TABLES},
            done=reps[-1] + 1,
            wall_time=time.perf_counter() - t0,
            labels=res.labels,
            cost_spec=spec,
        )
        if progress_cb is not None:
            progress_cb(res)
    return res


def bottleneck_table(results: RunResults) -> pd.DataFrame:
    """The bottleneck ranking of a run (:func:`sim.planning.resources.bottlenecks`): sessions lost per
    cause per replication, most first, with 95% intervals over replications."""
    return planning_resources.bottlenecks(results.lost)


def cost_table(results: RunResults) -> pd.DataFrame:
    """Costs of a run (:func:`sim.planning.costs.cost_summary`): each category, the total, the effects and
    the cost per session held / consumer served / retained / reporting a benefit, with 95% intervals."""
    return planning_costs.cost_summary(results.costs, results.cost_spec)


def cost_categories() -> dict[str, str]:
    """Cost categories: column of :func:`sim.planning.costs.cost_per_replication` -> label."""
    return dict(planning_costs.CATEGORIES)


def output_labels() -> dict[str, tuple[str, bool]]:
    """The planner outputs of sim/compare.py: column -> (label, higher is better)."""
    return dict(OUTPUTS)


def key_table(results: RunResults) -> pd.DataFrame:
    """Mean and 95% CI of each planner output over the replications (sim.compare.summarise)."""
    per_rep = results.key.assign(scenario=results.scenario)
    return summarise([results.scenario], per_rep)[["output", "label", "mean", "ci_low", "ci_high", "n"]]


def _write_report(tmp_out: Path, result: Any, name: str) -> None:
    """The analysis files of a stored run, as ``cli.py run`` writes them (sim.analysis.write_analysis)."""
    from ..analysis import read_directory, write_analysis

    ex = result.extras
    tests = (lambda: ex.iter("tests")) if "tests" in ex.names else None
    cells = (lambda: ex.iter("cells")) if "cells" in ex.names else None
    frames = read_directory(tmp_out) if result.replications <= 200 else None
    write_analysis(tmp_out, tests, cells, frames, name)


def outputs_zip(scenario: Scenario, replications: int, seed: int | None, folder: Path) -> Path:
    """The full outputs of ``cli.py run`` (datasets, manifest, analysis, report, figures) written by
    :func:`sim.runner.run_to_directory` into ``folder`` (a :func:`new_run_folder`), zipped; returns
    the zip's path."""
    from ..analysis import report_chunk

    n = check_replications(replications)
    out = Path(folder) / scenario.name
    pool = _pool()
    try:
        run_to_directory(
            scenario,
            out,
            replications=n,
            seed=seed,
            pool=pool,
            post=report_chunk,
            finalize=lambda tmp, r: _write_report(tmp, r, scenario.name),
            command="python cli.py app",
        )
    except BrokenProcessPool:
        _reset_pool(pool)
        raise AppInputError("outputs: a worker process failed; please try again") from None
    except RunnerError as exc:
        raise AppInputError(f"outputs: {exc}") from None
    return Path(shutil.make_archive(str(out), "zip", root_dir=out.parent, base_dir=out.name))


# --- compare --------------------------------------------------------------------------------------
@dataclass
class ComparisonResult:
    names: list[str]
    per_replication: pd.DataFrame
    table: pd.DataFrame  # sim.compare.summarise
    replications: int
    seed: int


def compare(scenarios: list[Scenario], replications: int, seed: int | None = None) -> ComparisonResult:
    """:func:`sim.compare.compare_scenarios`: the first scenario is the baseline; common random numbers."""
    n = check_replications(replications)
    if n < 2:
        raise AppInputError("compare: replications must be at least 2 for a confidence interval")
    if len(scenarios) < 2:
        raise AppInputError("compare: choose at least two scenarios (the first is the baseline)")
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise AppInputError(f"compare: scenario names must differ (the 'name' field), got {names}")
    s = int(scenarios[0].seed if seed is None else seed)
    try:
        comp = compare_scenarios(scenarios, n, s, CompareOptions(workers=workers()))
    except RunnerError as exc:
        raise AppInputError(f"compare: {exc}") from None
    return ComparisonResult(comp.names, comp.per_replication, comp.table, n, s)


# --- trial power ----------------------------------------------------------------------------------
@dataclass
class PowerResult:
    outcome: str
    control: float
    alpha: float
    design: pd.DataFrame  # one row per outcome (sim.power.reduce_design)
    table: pd.DataFrame  # sim.power.power_table
    needed: dict[str, Any]


def power_outcomes() -> dict[str, tuple[str, str]]:
    """Consumer outcomes a trial could compare: column -> (label, "binary" or "continuous")."""
    from .. import power as pw

    return dict(pw.OUTCOMES)


def likert_range() -> tuple[float, float]:
    from .. import power as pw

    return pw.LIKERT_RANGE


def power(
    scenario: Scenario,
    outcome: str,
    control: float,
    clusters: list[int],
    replications: int,
    *,
    alpha: float = 0.05,
    trials: int = 1000,
    seed: int | None = None,
) -> PowerResult:
    """What ``cli.py power`` computes (sim.power: simulate_design, power_table, needed_clusters)."""
    from .. import power as pw

    n = check_replications(replications)
    if outcome not in pw.OUTCOMES:
        raise AppInputError(f"outcome: unknown outcome {outcome!r}")
    kind = pw.OUTCOMES[outcome][1]
    lo, hi = (0.0, 1.0) if kind == "binary" else pw.LIKERT_RANGE
    if not lo < control < hi:
        raise AppInputError(f"usual-care value: {outcome} is {kind}: expected strictly between {lo:g} and {hi:g}")
    if not clusters or min(clusters) < 2:
        raise AppInputError("communities per arm: need at least one count, each at least 2")
    if not 0 < alpha < 1:
        raise AppInputError(f"alpha: must be between 0 and 1, got {alpha:g}")
    try:
        design = pw.simulate_design(scenario, n, seed, workers=workers())
        table = pw.power_table(design, outcome, control, sorted(set(clusters)), alpha=alpha, trials=trials, seed=seed)
        needed = pw.needed_clusters(design, outcome, control, alpha)
    except pw.PowerError as exc:
        raise AppInputError(f"{outcome}: {exc}") from None
    except RunnerError as exc:
        raise AppInputError(f"power: {exc}") from None
    return PowerResult(outcome, control, alpha, design.table, table, needed)
