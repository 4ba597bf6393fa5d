"""The calibrated parameter set and its posterior draws (``calibration/calibrated.yaml``).

``calibrated.yaml`` is a scenario ``parameter_set`` (its ``parameters`` mapping holds the posterior
medians of the calibrated parameters; :func:`sim.parameters.load_parameter_file` reads it) and it
also carries the final ABC-SMC population (``posterior``: names, weights, draws) so that a run can
sample parameter sets from the posterior (``--parameter-uncertainty``) with
:func:`posterior_parameter_sets`.

The assumptions the calibration does not calibrate (``calibration/assumption_priors.yaml``: no-programme
levels, the unstructured ramp-up's shape, the experienced wave's inherited delivery, the stress and
supervision effects) are drawn from their documented priors alongside, so that a run with
``--parameter-uncertainty`` carries what we do not know about them too.

Random streams (both a function of the run's root seed and the *draw key* only, never of workers or
chunking): the posterior row of draw key ``j`` comes from ``SeedSequence([seed, POSTERIOR_TAG],
spawn_key=(j,))`` (one uniform, weighted inverse CDF); the assumptions of draw key ``j`` from
``SeedSequence([seed, ASSUMPTION_TAG], spawn_key=(j,))`` (one uniform per assumption, in file order,
through the prior's inverse CDF). Replication ``r`` uses draw key ``r // reps_per_draw``: 1 for
``run`` (every replication its own draw), K for ``compare --reps-per-draw K`` (K replications with
different random numbers per draw: the nested design of :mod:`sim.uncertainty`). Neither tag is
used by the model's streams (``sim.streams``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..parameters import ModelParameters
from ..priors import ParameterPrior, parse_prior
from ..yaml_unique import safe_load_unique

CALIBRATED_FILE = Path(__file__).resolve().parents[2] / "calibration" / "calibrated.yaml"
ASSUMPTION_PRIORS_FILE = CALIBRATED_FILE.parent / "assumption_priors.yaml"
CALIBRATION_PRIORS_FILE = CALIBRATED_FILE.parent / "priors.yaml"
POSTERIOR_TAG = 0x9057_E1  # entropy tag of the posterior-draw stream (never used by the model's streams)
ASSUMPTION_TAG = 0xA55_0E  # entropy tag of the assumption-draw stream (never used by the model's streams)


@dataclass(frozen=True)
class Posterior:
    names: tuple[str, ...]
    weights: np.ndarray  # (N,), sums to 1
    draws: np.ndarray  # (N, d)
    point: dict[str, float]


def load_posterior(path: Path | str = CALIBRATED_FILE) -> Posterior:
    with open(path, encoding="utf-8") as fh:
        doc = safe_load_unique(fh, fast=True) or {}
    post = doc.get("posterior")
    if not isinstance(post, dict):
        raise ValueError(f"{path}: no 'posterior' mapping (names, weights, draws)")
    names = tuple(post["names"])
    w = np.asarray(post["weights"], dtype=float)
    x = np.asarray(post["draws"], dtype=float)
    if x.shape != (len(w), len(names)):
        raise ValueError(f"{path}: posterior draws have shape {x.shape}, expected ({len(w)}, {len(names)})")
    return Posterior(names, w / w.sum(), x, dict(doc.get("parameters", {})))


AssumptionPrior = ParameterPrior  # an unidentified assumption's prior (``source``: its rationale, "why")


def load_assumption_priors(
    path: Path | str = ASSUMPTION_PRIORS_FILE, base: ModelParameters | None = None
) -> tuple[AssumptionPrior, ...]:
    """The priors of ``calibration/assumption_priors.yaml``, validated against the field bounds of
    :class:`~sim.parameters.ModelParameters` (``ValueError`` naming the file and field)."""
    base = base or ModelParameters()
    with open(path, encoding="utf-8") as fh:
        doc = safe_load_unique(fh, fast=True) or {}
    params = doc.get("parameters") if isinstance(doc, dict) else None
    if not isinstance(params, dict) or not params:
        raise ValueError(f"{path}: expected a non-empty 'parameters' mapping")
    return tuple(
        parse_prior(n, r, f"{path}: parameters.{n}", base, source_key="why", real_only=True) for n, r in params.items()
    )


def assumption_draw(priors: Sequence[AssumptionPrior], seed: int, key: int) -> dict[str, float]:
    """The assumptions of draw key ``key`` of a run with root ``seed``: one uniform per prior (in
    order) from the assumption stream, through the prior's inverse CDF."""
    rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([int(seed), ASSUMPTION_TAG], spawn_key=(int(key),)))
    )
    u = rng.random(len(priors))
    return {p.name: float(p.ppf(u[i])) for i, p in enumerate(priors)}


def draw_index(posterior: Posterior, seed: int, replication: int) -> int:
    """Index of the posterior draw used by replication ``replication`` of a run with root ``seed``:
    a function of (seed, replication) only, so it never depends on workers or chunking."""
    rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([int(seed), POSTERIOR_TAG], spawn_key=(int(replication),)))
    )
    cdf = np.cumsum(posterior.weights)
    return min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), len(cdf) - 1)


def posterior_parameter_sets(
    base: ModelParameters,
    replications: int | Sequence[int],
    seed: int,
    path: Path | str = CALIBRATED_FILE,
) -> list[ModelParameters]:
    """One parameter set per replication, as :class:`PosteriorDraws` gives it (a weighted posterior
    draw plus the unidentified assumptions from their priors, on top of ``base``). Pass the result as
    the runner's ``parameters_per_rep`` so that outputs carry parameter uncertainty as well as noise."""
    draws = PosteriorDraws(base, seed, path)
    reps = range(int(replications)) if isinstance(replications, (int, np.integer)) else replications
    return [draws(int(r)) for r in reps]


class PosteriorDraws:
    """Replication -> parameter set: the weighted posterior draw :func:`draw_index` picks for the
    replication's draw key (``replication // reps_per_draw``), plus the unidentified assumptions
    drawn from their priors (``assumptions``: ``calibration/assumption_priors.yaml``; ``None`` keeps
    them at the scenario's values), applied on top of ``base``. A picklable function of (seed,
    replication) only, for the runner's ``parameters_for`` (``cli.py run --parameter-uncertainty``).
    An assumption the posterior carries is taken from the posterior; a calibrated parameter
    (``calibration/priors.yaml``) that the posterior file does not carry (one written before that
    parameter was calibrated) is drawn from its calibration prior, after the assumptions.

    ``sha256`` (recorded in the run's manifest as ``parameter_draws_sha256``) covers the posterior
    file, the assumption priors file and ``reps_per_draw``; ``drawn`` names every parameter drawn."""

    def __init__(
        self,
        base: ModelParameters,
        seed: int,
        path: Path | str = CALIBRATED_FILE,
        assumptions: Path | str | None = ASSUMPTION_PRIORS_FILE,
        reps_per_draw: int = 1,
    ):
        import hashlib

        if int(reps_per_draw) < 1:
            raise ValueError(f"reps_per_draw must be at least 1, got {reps_per_draw}")
        self.base, self.seed, self.path = base, int(seed), Path(path)
        self.reps_per_draw = int(reps_per_draw)
        self.posterior = load_posterior(self.path)
        h = hashlib.sha256(self.path.read_bytes())
        self.priors: tuple[AssumptionPrior, ...] = ()
        if assumptions is not None:
            priors = load_assumption_priors(assumptions, base)
            h.update(b"\0assumptions\0" + Path(assumptions).read_bytes())
            if CALIBRATION_PRIORS_FILE.is_file():
                priors += load_assumption_priors(CALIBRATION_PRIORS_FILE, base)
                h.update(b"\0calibration priors\0" + CALIBRATION_PRIORS_FILE.read_bytes())
            seen = set(self.posterior.names)
            self.priors = tuple(p for p in priors if not (p.name in seen or seen.add(p.name)))
        if self.reps_per_draw != 1:
            h.update(f"\0reps_per_draw={self.reps_per_draw}".encode())
        self.sha256 = h.hexdigest()
        self.drawn = tuple(self.posterior.names) + tuple(p.name for p in self.priors)
        self._cache: dict[int, ModelParameters] = {}

    def draw_key(self, replication: int) -> int:
        return int(replication) // self.reps_per_draw

    def values(self, replication: int) -> dict[str, float]:
        """The drawn parameters of ``replication`` (name -> value)."""
        key = self.draw_key(replication)
        i = draw_index(self.posterior, self.seed, key)
        out = dict(zip(self.posterior.names, map(float, self.posterior.draws[i]), strict=True))
        out.update(assumption_draw(self.priors, self.seed, key))
        return out

    def __call__(self, replication: int) -> ModelParameters:
        from .core import parameters_from_vector

        key = self.draw_key(replication)
        if key not in self._cache:
            v = self.values(replication)
            self._cache[key] = parameters_from_vector(self.base, list(v), list(v.values()))
        return self._cache[key]


def weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    from pyabc.weighted_statistics import weighted_quantile

    return float(weighted_quantile(x, w, alpha=0.5))


def calibrated_document(
    names: list[str], theta: np.ndarray, weights: np.ndarray, meta: dict[str, Any]
) -> dict[str, Any]:
    point = {n: float(f"{weighted_median(theta[:, k], weights):.6g}") for k, n in enumerate(names)}
    return {
        **meta,
        "parameters": point,
        "posterior": {
            "names": list(names),
            "weights": [float(f"{w:.6g}") for w in weights],
            "draws": [[float(f"{v:.6g}") for v in row] for row in theta],
        },
    }
