"""Rollout schedules and their analytic variance (statistics only).

A schedule is an ``I x T`` array ``X`` over clusters (communities) and periods: 1 = the community
receives peer support in that period, 0 = usual care, NaN = not measured (incomplete and batched
designs). The analysis model is Hussey & Hughes' (2007, Contemp Clin Trials 28:182) for cluster-period
means,

    ybar_ij = beta_j + theta X_ij + a_i + e_ij,   a_i ~ N(0, tau2),   e_ij ~ N(0, sigma2_ij),

with fixed period effects ``beta_j``, a random cluster intercept and ``sigma2_ij = sigma_e^2 / n_ij``
for ``n_ij`` consumers measured in cluster ``i`` in period ``j``. :func:`gls_variance` gives the variance
of the generalised-least-squares estimate of ``theta`` for any schedule (missing cells and unequal
cluster-period sizes included), the route Kasza et al. (2022, Stat Med, doi 10.1002/sim.9438) take for
incomplete and batched designs; :func:`hussey_hughes_variance` is the closed form for complete designs
with equal sizes, to which it reduces. Parallel designs are special cases: one period (cluster means),
or a baseline period with everyone under usual care.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

from .common import PowerError


# ---------------------------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------------------------
def split_evenly(total: int, groups: int) -> list[int]:
    """``total`` clusters over ``groups`` steps as evenly as possible, the earlier steps taking the extra."""
    if groups < 1 or total < groups:
        raise PowerError(f"cannot spread {total} clusters over {groups} steps (need at least one per step)")
    base, extra = divmod(total, groups)
    return [base + (1 if s < extra else 0) for s in range(groups)]


def parallel_schedule(clusters: int, *, baseline: bool = False, treated: int | None = None) -> np.ndarray:
    """Two-arm parallel design: ``treated`` (default half, rounded up) clusters under peer support, the
    rest usual care; one follow-up period, preceded by a baseline period (all usual care) if ``baseline``."""
    treated = (clusters + 1) // 2 if treated is None else treated
    if not 1 <= treated < clusters:
        raise PowerError(f"a parallel design needs clusters in both arms, got {treated} of {clusters} treated")
    arm = np.r_[np.ones(treated), np.zeros(clusters - treated)]
    return np.column_stack([np.zeros(clusters), arm]) if baseline else arm[:, None]


def stepped_wedge_schedule(
    clusters_per_step: Sequence[int],
    *,
    before: int | None = None,
    after: int | None = None,
    batches: int = 1,
) -> np.ndarray:
    """Stepped-wedge schedule: step ``s`` (1..S) has ``clusters_per_step[s-1]`` clusters, which cross over
    to peer support at the start of period ``s``; periods ``0..S`` (period 0: everyone under usual care).

    ``before`` / ``after`` (incomplete designs, Kasza et al. 2022): only that many periods before and after
    each cluster's crossover are measured (NaN elsewhere). ``batches`` > 1 (batched design): the clusters
    of each step are split into ``batches`` groups that run the same wedge one after another in calendar
    time (batch ``b`` occupies periods ``b (S + 1) .. b (S + 1) + S``), each with its own period effects.
    """
    S = len(clusters_per_step)
    if S < 1 or min(clusters_per_step) < 1:
        raise PowerError(f"every step needs at least one cluster, got {list(clusters_per_step)}")
    if batches < 1:
        raise PowerError(f"batches must be at least 1, got {batches}")
    step_of = np.repeat(np.arange(1, S + 1), clusters_per_step)
    n_cl, T = len(step_of), S + 1
    j = np.arange(T)
    X = (j[None, :] >= step_of[:, None]).astype(float)
    if before is not None or after is not None:
        b = T if before is None else before
        a = T if after is None else after
        if b < 1 or a < 1:
            raise PowerError(f"incomplete design: need at least one period before and after, got {b} and {a}")
        keep = (j[None, :] >= step_of[:, None] - b) & (j[None, :] < step_of[:, None] + a)
        X[~keep] = np.nan
    if batches == 1:
        return X
    if any(c < batches for c in clusters_per_step):
        raise PowerError(f"batched design: every step needs at least {batches} clusters (one per batch)")
    out = np.full((n_cl, T * batches), np.nan)
    row = 0
    for s, c in enumerate(clusters_per_step):  # a step's clusters go round-robin to the batches
        for k in range(c):
            b = k % batches
            out[row, b * T : (b + 1) * T] = X[np.flatnonzero(step_of == s + 1)[0]]
            row += 1
    return out


def steps_from_start_months(start_months: Sequence[float], period_months: float) -> np.ndarray:
    """A schedule from a scenario's staggered rollout: a community starting in month ``t`` crosses over at
    period ``floor(t / period_months) + 1`` (period 0 is the baseline, before anyone starts); periods run
    to one past the last crossover. Clusters are ordered by start month (stable)."""
    if period_months <= 0:
        raise PowerError(f"period_months must be positive, got {period_months}")
    start = np.sort(np.asarray(start_months, dtype=float), kind="stable")
    step = np.floor(start / period_months + 1e-9).astype(int) + 1
    T = int(step.max()) + 1
    return (np.arange(T)[None, :] >= step[:, None]).astype(float)


def check_schedule(X: np.ndarray, *, stepped: bool) -> None:
    """Refuse schedules the analysis cannot use: a cluster measured in no period, a period with no
    measurement, a cluster that returns to usual care; in a stepped-wedge design, a cluster that never
    crosses over (always usual care or always peer support among its measured periods)."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.size == 0:
        raise PowerError("schedule: must be a non-empty clusters x periods table")
    obs = np.isfinite(X)
    if not obs.any(axis=1).all():
        raise PowerError(f"schedule: cluster {int(np.flatnonzero(~obs.any(axis=1))[0]) + 1} is measured in no period")
    if not np.isin(X[obs], (0.0, 1.0)).all():
        raise PowerError("schedule: cells must be 0 (usual care), 1 (peer support) or empty (not measured)")
    for i, row in enumerate(X):
        v = row[np.isfinite(row)]
        if np.any(np.diff(v) < 0):
            raise PowerError(f"schedule: cluster {i + 1} returns from peer support to usual care")
        if stepped and not (v.min() == 0 and v.max() == 1):
            raise PowerError(f"schedule: cluster {i + 1} never crosses over (measured only under one condition)")
    if not stepped and not ((X == 1).any() and (X == 0).any()):
        raise PowerError("schedule: needs clusters under both conditions")


def lagged_effect(X: np.ndarray, first_period_fraction: float) -> np.ndarray:
    """Share of the full effect in each cell: 0 before crossover, ``first_period_fraction`` in the first
    period under peer support (the implementation lag: the service ramps up), 1 afterwards. NaN cells stay NaN."""
    X = np.asarray(X, dtype=float)
    F = np.where(np.isfinite(X), X, np.nan)
    on = np.nan_to_num(X) > 0
    first = on & ~np.c_[np.zeros((X.shape[0], 1), bool), on[:, :-1]]
    F[first] = first_period_fraction
    return F


# ---------------------------------------------------------------------------------------------
# Variance of the treatment effect
# ---------------------------------------------------------------------------------------------
def gls_variance(
    X: np.ndarray,
    sigma2: float | np.ndarray,
    tau2: float,
    effect_fraction: np.ndarray | None = None,
) -> tuple[float, float]:
    """Variance of the GLS estimate of ``theta`` in the model of the module docstring, and the share of
    the true effect it recovers: ``(var, bias_factor)``.

    ``sigma2`` is the variance of a cluster-period mean (``sigma_e^2 / n_ij``; a scalar or ``I x T``
    array). ``effect_fraction`` (``I x T``, default ``X``) is the true effect pattern, e.g.
    :func:`lagged_effect`: the estimator assumes ``X``, so its expectation is ``bias_factor * theta`` with
    ``bias_factor = [M^-1 sum_i Z_i' V_i^-1 F_i]_theta``. ``V_i^-1`` by Sherman-Morrison
    (``V_i = diag(sigma2_i) + tau2 11'``)."""
    X = np.asarray(X, dtype=float)
    n_cl = X.shape[0]
    S2 = np.broadcast_to(np.asarray(sigma2, dtype=float), X.shape)
    F = X if effect_fraction is None else np.asarray(effect_fraction, dtype=float)
    used = np.flatnonzero(np.isfinite(X).any(axis=0))
    p = len(used) + 1
    M = np.zeros((p, p))
    b = np.zeros(p)
    for i in range(n_cl):
        o = np.flatnonzero(np.isfinite(X[i]))
        Z = np.zeros((len(o), p))
        Z[np.arange(len(o)), np.searchsorted(used, o)] = 1.0
        Z[:, -1] = X[i, o]
        dinv = 1.0 / S2[i, o]
        Vinv = np.diag(dinv) - tau2 * np.outer(dinv, dinv) / (1.0 + tau2 * dinv.sum())
        ZV = Z.T @ Vinv
        M += ZV @ Z
        b += ZV @ F[i, o]
    try:
        Minv = np.linalg.inv(M)
    except np.linalg.LinAlgError:
        raise PowerError("the schedule does not identify the effect (period and treatment confounded)") from None
    var = float(Minv[-1, -1])
    if not (np.isfinite(var) and var > 0) or var > 1e12 * (float(np.max(S2)) + tau2):
        raise PowerError("the schedule does not identify the effect (period and treatment confounded)")
    return var, float((Minv @ b)[-1])


def hussey_hughes_variance(X: np.ndarray, sigma2: float, tau2: float) -> float:
    """Hussey & Hughes (2007) closed form for a complete design with equal cluster-period sizes:
    ``Var = I s2 (s2 + T t2) / ((I U - W) s2 + (U^2 + I T U - T W - I V) t2)`` with ``U = sum X``,
    ``W = sum_j (sum_i X_ij)^2``, ``V = sum_i (sum_j X_ij)^2`` (``s2`` the variance of a cluster-period
    mean, ``t2`` the between-cluster variance)."""
    X = np.asarray(X, dtype=float)
    if not np.isfinite(X).all():
        raise PowerError("the Hussey & Hughes closed form needs a complete design (use gls_variance)")
    n_cl, T = X.shape
    U = X.sum()
    W = float((X.sum(axis=0) ** 2).sum())
    V = float((X.sum(axis=1) ** 2).sum())
    den = (n_cl * U - W) * sigma2 + (U**2 + n_cl * T * U - T * W - n_cl * V) * tau2
    return float(n_cl * sigma2 * (sigma2 + T * tau2) / den)


def normal_power(effect: Any, se: Any, alpha: float = 0.05) -> np.ndarray:
    """Two-sided Wald (z) test power: ``Phi(|effect|/se - z) + Phi(-|effect|/se - z)`` (Hussey & Hughes
    keep the first term only; the second is the far tail and matters only near the null)."""
    d = np.abs(np.asarray(effect, dtype=float)) / np.asarray(se, dtype=float)
    z = sps.norm.isf(alpha / 2)
    return sps.norm.sf(z - d) + sps.norm.sf(z + d)
