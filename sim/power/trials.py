"""Simulated trials of any design (statistics only): data are drawn from the analysis model of
:mod:`.stepped` with the process inputs (sizes, attrition, ramp-up, ICC), then analysed by :mod:`.fits`.

Data-generating model of one outcome in one trial (cross-sectional samples of consumers in every measured
cluster-period, Hussey & Hughes 2007; ASSUMPTION: a cohort design would add within-person correlation,
which this plan does not model):

- cluster size ``n_i``: gamma with mean ``m`` and coefficient of variation ``cv`` (rounded, at least 1;
  exactly ``m`` when ``cv = 0``); consumers measured in period ``j``: ``Binomial(n_i, retention_j)``
  (attrition by period), a cell with nobody measured is missing;
- the treatment effect in a cell is ``effect * F_ij`` with ``F`` from :func:`.stepped.lagged_effect`
  (implementation lag in the first period after crossover); a secular trend ``trend * j`` on top;
- continuous: cluster-period mean ``control + trend j + effect F_ij + a_i + e_ij``, ``a_i ~ N(0, icc sd^2)``,
  ``e_ij ~ N(0, (1 - icc) sd^2 / n_ij)``;
- binary: consumer answers ``Bernoulli(p_ij)``, ``p_ij = control + trend j + effect F_ij + u_i`` clipped to
  [0.001, 0.999], ``u_i ~ N(0, icc pbar (1 - pbar))`` with ``pbar`` the mean of the arms' rates (the ICC on
  the proportion scale, as estimated from the simulation).

Every trial has its own stream, ``SeedSequence(seed, spawn_key=(TRIAL_STREAM, outcome, I, round(1000 m),
null, trial))``: results do not depend on chunking or workers, and a point's draws are shared with the
same trial at another effect size (common random numbers: smooth power curves).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import fits
from .stepped import lagged_effect

#: Stream id of the trial draws (see the module docstring).
TRIAL_STREAM = 7302
ANALYSES = ("cluster_t", "mixed", "gee", "individual_t")


@dataclass(frozen=True)
class TrialSpec:
    """One point to simulate: a schedule and one outcome's inputs (all per cluster-period unless said)."""

    X: np.ndarray  # clusters x periods: 1 peer support, 0 usual care, NaN not measured
    kind: str  # "binary" or "continuous"
    control: float  # usual-care rate or mean (user input)
    effect: float  # intervention minus control, full effect
    sd: float = 1.0  # continuous: individual SD
    icc: float = 0.0
    m: float = 10.0  # consumers per cluster (before attrition)
    cv: float = 0.0  # coefficient of variation of cluster sizes
    retention: tuple[float, ...] = ()  # share measured in each period (default all 1)
    lag: float = 1.0  # share of the effect in the first period under peer support
    trend: float = 0.0  # secular trend per period, outcome scale
    analyses: tuple[str, ...] = ("mixed",)
    outcome_index: int = 0
    individual: bool = False  # individually randomised: X has one period, rows are the two arms
    per_arm: int = 0  # individually randomised: consumers recruited per arm
    extra: dict = field(default_factory=dict)

    def key(self, null: bool, trial: int) -> tuple[int, ...]:
        n_cl = self.per_arm if self.individual else self.X.shape[0]
        return (TRIAL_STREAM, self.outcome_index, int(n_cl), round(self.m * 1000), int(null), int(trial))


def _sizes(spec: TrialSpec, rng: np.random.Generator) -> np.ndarray:
    n_cl, T = spec.X.shape
    if spec.cv > 0:
        k = 1.0 / spec.cv**2
        n_i = np.maximum(np.rint(rng.gamma(k, spec.m / k, size=n_cl)), 1).astype(np.int64)
    else:
        n_i = np.full(n_cl, max(round(spec.m), 1), dtype=np.int64)
    ret = np.asarray(spec.retention if spec.retention else (1.0,) * T, dtype=float)
    n = rng.binomial(n_i[:, None], np.broadcast_to(ret, (n_cl, T)))
    return np.where(np.isfinite(spec.X), n, 0)


def draw_trial(spec: TrialSpec, effect: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One trial's cluster-period sizes ``n``, means and (binary) counts of yes answers (``I x T``)."""
    X = spec.X
    n_cl, T = X.shape
    n = _sizes(spec, rng)
    F = np.nan_to_num(lagged_effect(X, spec.lag))
    base = spec.control + spec.trend * np.arange(T)[None, :] + effect * F
    with np.errstate(all="ignore"):
        if spec.kind == "continuous":
            a = rng.normal(0.0, np.sqrt(spec.icc) * spec.sd, size=(n_cl, 1))
            e = rng.standard_normal((n_cl, T)) * spec.sd * np.sqrt((1 - spec.icc) / np.maximum(n, 1))
            means = np.where(n > 0, base + a + e, np.nan)
            return n, means, np.full((n_cl, T), np.nan)
        pbar = spec.control + spec.effect / 2
        u = rng.normal(0.0, np.sqrt(spec.icc * pbar * (1 - pbar)), size=(n_cl, 1))
        p = np.clip(base + u, 0.001, 0.999)
        yes = rng.binomial(n, p)
        return n, np.where(n > 0, yes / np.maximum(n, 1), np.nan), yes.astype(float)


def _individual_trial(spec: TrialSpec, effect: float, rng: np.random.Generator) -> fits.Fit:
    keep = spec.retention[-1] if spec.retention else 1.0
    n1, n0 = rng.binomial(spec.per_arm, keep, size=2)
    if spec.kind == "continuous":
        y1 = rng.normal(spec.control + effect, spec.sd, n1)
        y0 = rng.normal(spec.control, spec.sd, n0)
    else:
        y1 = (rng.random(n1) < spec.control + effect).astype(float)
        y0 = (rng.random(n0) < spec.control).astype(float)
    return fits.individual_t(y1, y0)


def analyse(spec: TrialSpec, n: np.ndarray, means: np.ndarray, yes: np.ndarray) -> dict[str, fits.Fit]:
    X = np.where(np.isfinite(spec.X), spec.X, np.nan)
    out: dict[str, fits.Fit] = {}
    for a in spec.analyses:
        if a == "cluster_t":
            out[a] = fits.cluster_t(means, X)
        elif a == "mixed":
            out[a] = fits.mixed(means, X)
        elif a == "gee":
            out[a] = fits.gee(yes, n, X)
    return out


def simulate_trials(spec: TrialSpec, effect: float, trials: range, seed: int, null: bool = False) -> pd.DataFrame:
    """Simulate and analyse ``trials`` (a range of trial numbers) at ``effect`` (0 under the null). One row
    per trial and analysis: ``outcome_index``, ``null``, ``trial``, ``analysis``, ``estimate``, ``se``, ``p``,
    ``status``."""
    rows = []
    for t in trials:
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=spec.key(null, t))))
        if spec.individual:
            res = {"individual_t": _individual_trial(spec, effect, rng)}
        else:
            res = analyse(spec, *draw_trial(spec, effect, rng))
        for a, (est, se, p, status) in res.items():
            rows.append((spec.outcome_index, null, t, a, est, se, p, status))
    return pd.DataFrame(rows, columns=["outcome_index", "null", "trial", "analysis", "estimate", "se", "p", "status"])
