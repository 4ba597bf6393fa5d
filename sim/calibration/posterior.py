"""The calibrated parameter set and its posterior draws (``calibration/calibrated.yaml``).

``calibrated.yaml`` is a scenario ``parameter_set`` (its ``parameters`` mapping holds the posterior
medians of the calibrated parameters; :func:`sim.parameters.load_parameter_file` reads it) and it
also carries the final ABC-SMC population (``posterior``: names, weights, draws) so that a run can
sample parameter sets from the posterior (``--parameter-uncertainty``) with
:func:`posterior_parameter_sets`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..parameters import ModelParameters

CALIBRATED_FILE = Path(__file__).resolve().parents[2] / "calibration" / "calibrated.yaml"
POSTERIOR_TAG = 0x9057_E1  # entropy tag of the posterior-draw stream (never used by the model's streams)


@dataclass(frozen=True)
class Posterior:
    names: tuple[str, ...]
    weights: np.ndarray  # (N,), sums to 1
    draws: np.ndarray  # (N, d)
    point: dict[str, float]


def load_posterior(path: Path | str = CALIBRATED_FILE) -> Posterior:
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    post = doc.get("posterior")
    if not isinstance(post, dict):
        raise ValueError(f"{path}: no 'posterior' mapping (names, weights, draws)")
    names = tuple(post["names"])
    w = np.asarray(post["weights"], dtype=float)
    x = np.asarray(post["draws"], dtype=float)
    if x.shape != (len(w), len(names)):
        raise ValueError(f"{path}: posterior draws have shape {x.shape}, expected ({len(w)}, {len(names)})")
    return Posterior(names, w / w.sum(), x, dict(doc.get("parameters", {})))


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
    """One parameter set per replication, each a weighted draw from the calibration posterior
    applied on top of ``base`` (the scenario's parameters). Pass the result as the runner's
    ``parameters_per_rep`` so that outputs carry parameter uncertainty as well as stochastic noise."""
    from .core import parameters_from_vector

    post = load_posterior(path)
    reps = range(int(replications)) if isinstance(replications, (int, np.integer)) else replications
    cache: dict[int, ModelParameters] = {}
    out = []
    for r in reps:
        i = draw_index(post, seed, int(r))
        if i not in cache:
            cache[i] = parameters_from_vector(base, list(post.names), post.draws[i])
        out.append(cache[i])
    return out


class PosteriorDraws:
    """Replication -> parameter set: the weighted posterior draw :func:`draw_index` picks for that
    replication, applied on top of ``base``. A picklable function of (seed, replication) only, for
    the runner's ``parameters_for`` (``cli.py run --parameter-uncertainty``)."""

    def __init__(self, base: ModelParameters, seed: int, path: Path | str = CALIBRATED_FILE):
        import hashlib

        self.base, self.seed, self.path = base, int(seed), Path(path)
        self.posterior = load_posterior(self.path)
        self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()
        self._cache: dict[int, ModelParameters] = {}

    def __call__(self, replication: int) -> ModelParameters:
        from .core import parameters_from_vector

        i = draw_index(self.posterior, self.seed, int(replication))
        if i not in self._cache:
            self._cache[i] = parameters_from_vector(self.base, list(self.posterior.names), self.posterior.draws[i])
        return self._cache[i]


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
