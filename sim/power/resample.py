"""Simulated power of the two-arm cluster trial by resampling simulated communities (the cluster-level t)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..analysis.stats import t_tests
from .analytic import cluster_trial_power
from .common import MAX_CLUSTERS, SIMULATED_POWER_STREAM, PowerError
from .inputs import DesignInputs


def _arm_moments(means: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and variance (ddof 1) over axis 1 of the valid cluster means."""
    cnt = valid.sum(axis=1).astype(float)
    x = np.where(valid, means, 0.0)
    with np.errstate(all="ignore"):
        mu = x.sum(axis=1) / cnt
        var = np.where(valid, (means - mu[:, None]) ** 2, 0.0).sum(axis=1) / (cnt - 1)
    return cnt, mu, var


def simulated_power(
    design: DesignInputs,
    outcome: str,
    control: float,
    clusters: Sequence[int],
    *,
    trials: int = 2000,
    alpha: float = 0.05,
    seed: int | None = None,
) -> pd.DataFrame:
    """Power of the cluster-level t-test by simulating ``trials`` trials per cluster count.

    Each trial: the intervention arm is ``k`` communities drawn with replacement from the simulated
    community-replications (their analysed consumers and answers as simulated: attrition, size
    variation and clustering come from the model). The control arm has the same cluster sizes
    (the intervention arm's structure) with answers at the ``control`` rate and the design's ICC
    ``rho``: binary, beta-binomial (cluster rate ~ Beta(p0 (1-rho)/rho, (1-p0)(1-rho)/rho); binomial
    when rho = 0); continuous, cluster means ~ N(mu0, sd^2 (rho + (1-rho)/n_j)). Clusters with no
    analysed consumer are dropped. Cluster proportions (means) are compared with the Student
    t-test of :func:`sim.analysis.stats.t_tests` (2(k-1) df with all clusters analysed); a trial
    whose test is not computable (e.g. every cluster proportion 1) counts as not significant,
    and their share is reported (``not_computable``).

    Seeded per cluster count (``SeedSequence(seed, spawn_key=(SIMULATED_POWER_STREAM, k))``), so a
    cluster count's result does not depend on the others requested; deterministic. ``seed``
    defaults to the design's seed (the scenario's). Power's Monte Carlo SE is sqrt(p(1-p)/trials).
    """
    row = design.row(outcome)
    kind = row["kind"]
    icc = float(row["icc"])
    if not (np.isfinite(icc) and 0 <= icc < 1):
        raise PowerError(f"{outcome}: ICC not available from the simulation ({row['note'] or 'NaN'})")
    if kind == "binary" and not 0 < control < 1:
        raise PowerError(f"control rate must be strictly between 0 and 1, got {control}")
    if trials < 1:
        raise PowerError(f"trials must be at least 1, got {trials}")
    comm = design.communities[design.communities["outcome"] == outcome]
    comm = comm.sort_values(["replication", "community"], kind="stable")
    n_pool = comm["answered"].to_numpy(dtype=float)
    s_pool = comm["total"].to_numpy(dtype=float)
    if not (n_pool > 0).any():
        raise PowerError(f"{outcome}: no simulated community has an analysed consumer")
    sd = float(row["sd"]) if kind == "continuous" else np.nan
    root = design.seed if seed is None else seed
    root = 0 if root is None else int(root)
    out = []
    for k in clusters:
        k = int(k)
        if not 2 <= k <= MAX_CLUSTERS:
            raise PowerError(f"clusters per arm must be between 2 and {MAX_CLUSTERS}, got {k}")
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(root, spawn_key=(SIMULATED_POWER_STREAM, k))))
        idx = rng.integers(0, len(n_pool), size=(trials, k))
        n = n_pool[idx]
        valid = n > 0
        with np.errstate(all="ignore"):
            m1 = np.where(valid, s_pool[idx] / n, np.nan)
        if kind == "binary":
            if icc > 0:
                a, b = control * (1 - icc) / icc, (1 - control) * (1 - icc) / icc
                p = rng.beta(a, b, size=(trials, k))
            else:
                p = np.full((trials, k), control)
            y0 = rng.binomial(n.astype(np.int64), p)
            with np.errstate(all="ignore"):
                m0 = np.where(valid, y0 / n, np.nan)
        else:
            z = rng.standard_normal((trials, k))
            with np.errstate(all="ignore"):
                m0 = np.where(valid, control + sd * np.sqrt(icc + (1 - icc) / n) * z, np.nan)
        c1, mu1, v1 = _arm_moments(m1, valid)
        c0, mu0, v0 = _arm_moments(m0, valid)
        res = t_tests(c1, mu1, v1, c0, mu0, v0, method="student")
        pv = res["p"].astype(float)
        ok = np.isfinite(pv)
        reject = ok & (pv < alpha)
        pw = float(reject.mean())
        out.append(
            {
                "clusters_per_arm": k,
                "trials": trials,
                "power_simulated": pw,
                "mc_se": float(np.sqrt(pw * (1 - pw) / trials)),
                "not_computable": float((~ok).mean()),
                "mean_clusters_analysed": float(c1.mean()),
                "intervention_mean": float(np.nanmean(mu1)),
                "control_mean": float(np.nanmean(mu0)),
            }
        )
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------------
# Power table and outputs (used by ``cli.py power``)
# ---------------------------------------------------------------------------------------------
def power_table(
    design: DesignInputs,
    outcome: str,
    control: float,
    clusters: Sequence[int],
    *,
    alpha: float = 0.05,
    trials: int = 2000,
    seed: int | None = None,
) -> pd.DataFrame:
    """Analytic (normal, cluster-t) and simulated power per cluster count, one row each."""
    row = design.row(outcome)
    if not np.isfinite(row["icc"]):
        raise PowerError(f"ICC not available from the simulation: {row['note'] or 'not computable'}")
    ana = cluster_trial_power(list(clusters), control=control, design=row, alpha=alpha)
    sim = simulated_power(design, outcome, control, clusters, trials=trials, alpha=alpha, seed=seed)
    t = ana.merge(sim, on="clusters_per_arm", how="left")
    t.insert(0, "outcome", outcome)
    return t
