"""Calibration problem: targets, priors, distance, and the simulator bridge to runner + analysis.

The simulator is run at the study's own sizes (``scenarios/paper_study.yaml``: 32 and 22
consumers, 7 and 6 providers, four communities) through :mod:`sim.runner` (parallel, reproducible)
and each replication is summarised by :func:`sim.analysis.summaries.paper_summaries`, exactly as
the paper summarised its data. One simulated replication is one simulated study, so the sampling
noise of a 54-person study is in the simulation and is not added a second time.

Distance. For target j with observed value y_j and sampling SE s_j (``targets.yaml``; counts use
the Jeffreys-corrected binomial SE), z_j = (x_j - y_j)/s_j and the distance is the root mean square
of z over the targets in the distance. A target is in the distance when it *identifies* a calibrated
parameter (``targets.IDENTIFIES``: it pins the parameter down beyond the fixed item base rates);
the rest are checked in the posterior predictive (``fit.csv``) but do not steer the search. In a
trial with all 57 targets that merely *inform* a calibrated parameter in the distance, the dozens of
items whose pooled level the fixed base rates set drowned the informative figures in noise (an
informative miss of z = 3 moved the distance by less than half the noise SD) and the posterior
hardly narrowed. A summary the
simulation cannot produce (e.g. no provider left to answer in a wave) counts as ``NAN_Z``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ..parameters import ModelParameters
from ..priors import parse_prior
from ..scenario import Scenario
from ..yaml_unique import safe_load_unique
from .abc import ABCResult, Prior, abc_smc
from .targets import TARGETS_FILE, Target, load_targets

ROOT = Path(__file__).resolve().parents[2]
CALIBRATION_DIR = ROOT / "calibration"
PRIORS_FILE = CALIBRATION_DIR / "priors.yaml"
PAPER_SCENARIO = ROOT / "scenarios" / "paper_study.yaml"

NAN_Z = 5.0


@dataclass
class CalibrationSettings:
    """Options of ``python cli.py calibrate`` (budget and sizes in simulated studies)."""

    budget: int = 90_000
    seed: int = 20191114
    population: int = 400
    workers: int | None = None
    scheduler: str | None = None
    ppc_replications: int = 1000
    max_generations: int = 20
    min_acceptance_rate: float = 0.015
    out: Path = CALIBRATION_DIR


def load_priors(path: Path = PRIORS_FILE) -> dict[str, dict[str, Any]]:
    """The calibrated parameters' priors as written in ``priors.yaml`` (``dist``, ``low``, ``high``,
    ``mean``, ``sd``, ``why``), each entry checked by :func:`sim.priors.parse_prior` (a real-valued
    field; the support valid values of it)."""
    with open(path, encoding="utf-8") as fh:
        doc = safe_load_unique(fh, fast=True)
    specs = doc["parameters"]
    for name, s in specs.items():
        parse_prior(name, s, f"{path}: parameters.{name}", source_key="why", real_only=True)
    return specs


def in_distance(target: Target, calibrated: set[str]) -> bool:
    return target.se is not None and bool(set(target.identifies) & calibrated)


@dataclass
class Problem:
    """Everything the calibration needs, in a picklable bundle."""

    targets: list[Target]
    prior_specs: dict[str, dict[str, Any]]
    scenario: Scenario
    base: ModelParameters

    def __post_init__(self) -> None:
        self.prior = Prior(self.prior_specs)
        self.names = list(self.prior_specs)
        cal = set(self.names)
        self.ids = [t.id for t in self.targets]
        self.observed = np.array([t.value for t in self.targets], dtype=float)
        self.se = np.array([t.se if t.se is not None else np.nan for t in self.targets], dtype=float)
        self.use = np.array([in_distance(t, cal) for t in self.targets])

    @classmethod
    def default(
        cls, scenario_path: Path = PAPER_SCENARIO, targets_path: Path = TARGETS_FILE, priors_path: Path = PRIORS_FILE
    ) -> Problem:
        scen = calibration_scenario(scenario_path)
        return cls(load_targets(targets_path), load_priors(priors_path), scen, scen.parameters)

    def parameters_for(self, theta: np.ndarray) -> ModelParameters:
        return parameters_from_vector(self.base, self.names, theta)

    def z_scores(self, summaries: np.ndarray) -> np.ndarray:
        s = np.atleast_2d(summaries)[:, self.use]
        z = (s - self.observed[self.use]) / self.se[self.use]
        return np.where(np.isfinite(z), z, NAN_Z)

    def distance(self, summaries: np.ndarray) -> np.ndarray:
        z = self.z_scores(summaries)
        return np.sqrt(np.mean(z * z, axis=1))


def calibration_scenario(path: Path = PAPER_SCENARIO) -> Scenario:
    """The study design to calibrate: the scenario file without its ``parameter_set`` (the shipped
    scenarios point at ``calibrated.yaml``; a calibration starts again from the documented defaults
    of ``sim/parameters.py``, so it never depends on an earlier calibration)."""

    from ..scenario import ScenarioError, scenario_from_dict

    try:
        raw = Path(path).read_bytes()
    except OSError:
        raise ScenarioError(f"{path}: file not found") from None
    data = safe_load_unique(raw)
    if isinstance(data, dict):
        data.pop("parameter_set", None)
    return scenario_from_dict(data, path, base_dir=Path(path).parent)


def parameters_from_vector(base: ModelParameters, names: list[str], theta) -> ModelParameters:
    changes: dict[str, Any] = {}
    for name, v in zip(names, theta, strict=False):
        fld = ModelParameters.model_fields[name]
        changes[name] = round(float(v)) if fld.annotation is int else float(v)
    return base.replace(**changes)


# --------------------------------------------------------------------------------------------
# Summaries: the analysis module's per-replication paper summaries -> one column per target
# --------------------------------------------------------------------------------------------
def target_frame(summaries: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """Pick (and, for count targets, divide into proportions) the target columns of the analysis
    module's per-replication summaries; see :data:`SUMMARY_COLUMNS`."""
    from .mapping import target_values

    return target_values(summaries, ids)


def summarise_frames(frames: dict[str, pd.DataFrame], ids: tuple[str, ...]) -> pd.DataFrame:
    """Runs inside a runner worker: frames of a chunk -> one row per replication, one column per target."""
    from ..analysis.summaries import paper_summaries

    s = paper_summaries(frames)
    return target_frame(s, list(ids)).reset_index(drop=True)


class RunnerSimulator:
    """``simulate(thetas, replications) -> summaries`` for :func:`abc_smc`, through ``sim.runner``."""

    def __init__(self, problem: Problem, pool, seed: int, chunk_size: int | None = None):
        self.problem, self.pool, self.seed, self.chunk_size = problem, pool, int(seed), chunk_size
        self.fn = functools.partial(summarise_frames, ids=tuple(problem.ids))

    def run(self, params: list[ModelParameters], replications: list[int]) -> pd.DataFrame:
        from ..runner import map_replications

        return map_replications(
            self.fn,
            self.problem.scenario,
            replications,
            seed=self.seed,
            parameters_per_rep=params,
            pool=self.pool,
            chunk_size=self.chunk_size,
        )

    def __call__(self, thetas: np.ndarray, replications: np.ndarray) -> np.ndarray:
        params = [self.problem.parameters_for(th) for th in thetas]
        df = self.run(params, [int(r) for r in replications])
        return df[self.problem.ids].to_numpy(dtype=float)


# --------------------------------------------------------------------------------------------
# The driver: ABC-SMC on a problem through the runner, and predictive studies from its posterior
# --------------------------------------------------------------------------------------------
class ABCOptions(Protocol):
    """The ABC-SMC settings :func:`fit_abc` reads (:class:`CalibrationSettings`, the validation's
    ``LowoSettings`` and :class:`ABCSettings` have them)."""

    population: int
    budget: int
    seed: int
    max_generations: int
    min_acceptance_rate: float


@dataclass(frozen=True)
class ABCSettings:
    """:class:`ABCOptions` on their own (the parameter-recovery fits)."""

    population: int
    budget: int
    seed: int
    max_generations: int = 20
    min_acceptance_rate: float = 0.01


@dataclass
class Fit:
    """A finished ABC-SMC fit and the simulator it ran on (same problem, pool and simulation seed)."""

    simulate: RunnerSimulator
    result: ABCResult

    def predictive(self, n: int, entropy: Sequence[int], first_replication: int) -> np.ndarray:
        """``n`` simulated studies, each at a particle of the final population drawn by weight (from
        ``SeedSequence(entropy)``), simulated as replications ``first_replication, ...`` of the
        simulation seed: the posterior predictive (parameter uncertainty and sampling noise)."""
        g = self.result.posterior
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(entropy))))
        idx = rng.choice(len(g.weights), size=n, p=g.weights)
        return self.simulate(g.theta[idx], first_replication + np.arange(n))


def fit_abc(
    problem: Problem, pool: Any, settings: ABCOptions, progress: Callable[[dict], None] | None = None, label: str = ""
) -> Fit:
    """ABC-SMC (:func:`sim.calibration.abc.abc_smc`) of ``problem`` through the runner ``pool``, the
    simulation and the proposals both seeded by ``settings.seed``. ``RuntimeError`` (its message
    starting with ``label``) when not even the prior generation fits into the budget."""
    sim = RunnerSimulator(problem, pool, seed=settings.seed)
    result = abc_smc(
        sim,
        problem.distance,
        problem.prior,
        population_size=settings.population,
        seed=settings.seed,
        budget=settings.budget,
        max_generations=settings.max_generations,
        min_acceptance_rate=settings.min_acceptance_rate,
        progress=progress,
    )
    if not result.generations:
        raise RuntimeError(f"{label}: no population within the budget ({result.stop_reason}); raise the budget")
    return Fit(sim, result)
