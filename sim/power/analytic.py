"""Analytic power (statistics only, no presentation): design effects, the two-arm cluster trial
(normal approximation and cluster-level t), a numerically stable two-sided noncentral t."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from .common import Kind, PowerError


def two_sided_t_power(nc: Any, df: Any, alpha: float = 0.05) -> np.ndarray:
    """Power of a two-sided t-test with ``df`` degrees of freedom and noncentrality ``nc``:
    P(T > t_crit | nc) + P(T < -t_crit | nc), written as ``nct.sf(t_crit, df, nc) + nct.sf(t_crit, df, -nc)``
    (the lower tail at ``nc`` is the upper tail at ``-nc`` by symmetry). Both terms are survival
    functions, which scipy evaluates stably far into the tail; ``nct.cdf`` returns NaN there for large
    noncentralities. ``df = inf`` gives the normal (z) test. Never NaN for finite input; clipped to [0, 1]."""
    nc, df = np.broadcast_arrays(np.asarray(nc, dtype=float), np.asarray(df, dtype=float))
    out = np.empty(nc.shape)
    z = ~np.isfinite(df)
    if z.any():
        c = sps.norm.isf(alpha / 2)
        out[z] = sps.norm.sf(c - nc[z]) + sps.norm.sf(c + nc[z])
    if (~z).any():
        d = df[~z]
        c = sps.t.isf(alpha / 2, d)
        with np.errstate(all="ignore"):
            p = sps.nct.sf(c, d, nc[~z]) + sps.nct.sf(c, d, -nc[~z])
        # scipy's noncentral t can still return NaN for |nc| in the hundreds; there power is 1 to machine
        # precision (the normal limit is exact to many digits), so fall back on the normal tails
        bad = ~np.isfinite(p)
        if bad.any():
            cz = sps.norm.isf(alpha / 2)
            p[bad] = sps.norm.sf(cz - nc[~z][bad]) + sps.norm.sf(cz + nc[~z][bad])
        out[~z] = p
    return np.clip(out, 0.0, 1.0)


def design_effect(m: Any, icc: Any, cv: Any = 0.0) -> np.ndarray:
    """Design effect of a size-weighted (individual-level) analysis with mean cluster size ``m`` and
    cluster-size coefficient of variation ``cv``: ``1 + ((cv^2 + 1) m - 1) icc`` (Eldridge, Ashby and
    Kerry 2006); ``1 + (m - 1) icc`` when all clusters have size ``m``."""
    m, icc, cv = (np.asarray(x, dtype=float) for x in (m, icc, cv))
    return 1 + ((cv**2 + 1) * m - 1) * icc


def design_effect_unweighted(m: Any, icc: Any, cv: Any = 0.0) -> np.ndarray:
    """Variance inflation of the *unweighted* cluster-level analysis (mean of cluster means) relative
    to ``sigma^2 / m`` per cluster: ``m [icc + (1 - icc) E(1/n_j)]`` with ``E(1/n_j) ~ (1 + cv^2) / m``
    (delta method), i.e. ``1 + (m - 1) icc + cv^2 (1 - icc)``. Equal to :func:`design_effect` when
    ``cv = 0``; varying sizes cost the unweighted analysis more when ``m icc < 1 - icc``."""
    m, icc, cv = (np.asarray(x, dtype=float) for x in (m, icc, cv))
    return 1 + (m - 1) * icc + cv**2 * (1 - icc)


def _check(
    kind: str,
    control: float,
    intervention: float,
    sd: float | None,
    m: float,
    completion: float,
    icc: float,
    cv: float,
    alpha: float,
) -> None:
    """One guard per input, each a one-line :class:`PowerError`."""
    _check_outcome(kind, control, intervention, sd)
    _check_design(m, completion, icc, cv, alpha)


def _check_outcome(kind: str, control: float, intervention: float, sd: float | None) -> None:
    if kind not in ("binary", "continuous"):
        raise PowerError(f"kind must be 'binary' or 'continuous', got {kind!r}")
    if kind == "binary":
        for name, p in (("control rate", control), ("intervention rate", intervention)):
            if not (np.isfinite(p) and 0 < p < 1):
                raise PowerError(f"{name} must be strictly between 0 and 1, got {p}")
        return
    if not (np.isfinite(control) and np.isfinite(intervention)):
        raise PowerError(f"control and intervention means must be finite, got {control}, {intervention}")
    if sd is None or not (np.isfinite(sd) and sd > 0):
        raise PowerError(f"a continuous outcome needs a positive SD, got {sd}")


def _check_design(m: float, completion: float, icc: float, cv: float, alpha: float) -> None:
    if not (np.isfinite(m) and m > 0):
        raise PowerError(f"cluster size m must be positive, got {m}")
    if not (np.isfinite(completion) and 0 < completion <= 1):
        raise PowerError(f"completion must be in (0, 1], got {completion}")
    if not (np.isfinite(icc) and 0 <= icc < 1):
        raise PowerError(f"ICC must be in [0, 1) (is it NaN: not computable from the simulation?), got {icc}")
    if not (np.isfinite(cv) and cv >= 0):
        raise PowerError(f"CV must be 0 or more, got {cv}")
    if not 0 < alpha < 1:
        raise PowerError(f"alpha must be in (0, 1), got {alpha}")


def _from_design(design: Mapping[str, Any] | pd.Series | None, **given: Any) -> dict[str, Any]:
    """Explicit arguments, falling back on a :func:`design_inputs` row."""
    d = {} if design is None else dict(design)
    fallback = {
        "m": d.get("m"),
        "completion": (d.get("completion", np.nan) * d.get("answered_share", 1.0)) if d else None,
        "icc": d.get("icc"),
        "cv": d.get("cv", 0.0) if d else 0.0,
        "intervention": d.get("mean"),
        "sd": d.get("sd"),
        "kind": d.get("kind", "binary") if d else "binary",
    }
    out = {k: (v if v is not None else fallback.get(k)) for k, v in given.items()}
    for k in ("m", "completion", "icc", "intervention"):
        if out.get(k) is None:
            raise PowerError(f"{k} is needed: give it or a design row")
    if out["cv"] is None:
        out["cv"] = 0.0
    if out["kind"] is None:
        out["kind"] = "binary"
    return out


def cluster_trial_power(
    clusters: int | Sequence[int],
    *,
    control: float,
    intervention: float | None = None,
    design: Mapping[str, Any] | pd.Series | None = None,
    m: float | None = None,
    completion: float | None = None,
    icc: float | None = None,
    cv: float | None = None,
    sd: float | None = None,
    kind: Kind | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Analytic power of a two-arm cluster-randomised trial with ``clusters`` communities per arm.

    The effect is the intervention-arm rate (binary) or mean (continuous) against ``control``:
    give ``intervention`` explicitly, or a ``design`` row of :func:`design_inputs`, whose simulated
    peer-support ``mean`` is then the intervention value (the natural use: simulated peer-support
    arm vs a usual-care rate from the literature). ``m`` (recruited per community), ``completion``
    (share of recruits analysed), ``icc``, ``cv`` (of analysed cluster sizes) and ``sd`` likewise
    come from ``design`` unless given. The analysed cluster size is ``m_e = m * completion``.

    Two methods, one row per cluster count:

    - ``power_normal``: the individual-level analysis inflated by the design effect
      ``DE = 1 + ((cv^2 + 1) m_e - 1) icc``: effective size ``n_eff = k m_e / DE`` per arm, then
      statsmodels ``NormalIndPower`` with Cohen's h (``proportion_effectsize``) for binary outcomes,
      ``TTestIndPower`` with d = difference / sd for continuous ones. Asymptotic in the number of
      clusters.
    - ``power_cluster_t``: the cluster-level (summary-statistic) Student t-test on the ``k`` cluster
      means per arm, ``2(k - 1)`` df, power from the noncentral t with noncentrality
      ``difference / sqrt((v1 + v0) / k)``, where ``v_a = sigma_a^2 DE_u / m_e`` is the variance of a
      cluster mean in arm ``a`` (``sigma_a^2 = p_a(1 - p_a)`` or ``sd^2``) and ``DE_u`` is
      :func:`design_effect_unweighted` (the test weights clusters equally).

    **Recommendation: plan on ``power_cluster_t``.** With the few clusters a community trial can
    afford, the between-cluster variance is estimated from ``2(k - 1)`` df, and the analysis a
    trial should pre-specify (cluster-level t, or a mixed model with small-sample df) pays for it;
    the normal method ignores this and overstates power (roughly doubling it at k = 2). The two
    agree once there are some 20 or more clusters per arm. The cluster-t is also what
    :func:`simulated_power` checks by simulation.
    """
    a = _from_design(design, m=m, completion=completion, icc=icc, cv=cv, intervention=intervention, sd=sd, kind=kind)
    m_, comp, icc_, cv_, p1, sd_, kind_ = (
        a["m"],
        a["completion"],
        a["icc"],
        a["cv"],
        a["intervention"],
        a["sd"],
        a["kind"],
    )
    m_, comp, icc_, cv_, p1, control = (float(x) for x in (m_, comp, icc_, cv_, p1, control))
    sd_ = None if sd_ is None else float(sd_)
    _check(kind_, control, p1, sd_, m_, comp, icc_, cv_, alpha)
    k = np.atleast_1d(np.asarray(clusters))
    if k.dtype.kind not in "iu" and not np.all(k == np.round(k)):
        raise PowerError(f"clusters per arm must be whole numbers, got {clusters}")
    k = k.astype(np.int64)
    if (k < 2).any():
        raise PowerError(
            f"clusters per arm must be at least 2 (the cluster-level t needs 2(k-1) > 0 df), got {clusters}"
        )

    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    me = m_ * comp
    de = float(design_effect(me, icc_, cv_))
    de_u = float(design_effect_unweighted(me, icc_, cv_))
    n = k * me
    n_eff = n / de
    diff = p1 - control
    if kind_ == "binary":
        es = float(proportion_effectsize(p1, control))
        p_norm = np.array(
            [
                NormalIndPower().power(effect_size=es, nobs1=x, alpha=alpha, ratio=1.0, alternative="two-sided")
                for x in n_eff
            ]
        )
        var_sum = p1 * (1 - p1) + control * (1 - control)
    else:
        es = diff / sd_
        # statsmodels' TTestIndPower (equal arms: noncentrality d sqrt(n/2), 2n - 2 df), in the stable form
        p_norm = two_sided_t_power(es * np.sqrt(n_eff / 2), 2 * n_eff - 2, alpha)
        var_sum = 2 * sd_**2
    df = 2 * (k - 1)
    nc = diff / np.sqrt(var_sum * de_u / me / k)
    p_t = two_sided_t_power(nc, df, alpha)
    return pd.DataFrame(
        {
            "clusters_per_arm": k,
            "kind": kind_,
            "control": control,
            "intervention": p1,
            "difference": diff,
            "effect_size": es,
            "m": m_,
            "completion": comp,
            "m_analysed": me,
            "icc": icc_,
            "cv": cv_,
            "alpha": alpha,
            "design_effect": de,
            "design_effect_unweighted": de_u,
            "n_per_arm": n,
            "n_effective_per_arm": n_eff,
            "power_normal": p_norm,
            "df_cluster_t": df,
            "power_cluster_t": np.asarray(p_t, dtype=float),
        }
    )


def clusters_needed(
    target: float = 0.8,
    *,
    method: Literal["cluster_t", "normal"] = "cluster_t",
    max_clusters: int = 10_000,
    **kwargs: Any,
) -> int:
    """Smallest number of clusters per arm (>= 2) whose :func:`cluster_trial_power` reaches ``target``
    with ``method``; same keyword arguments. Raises :class:`PowerError` if ``max_clusters`` is not
    enough (e.g. no difference between the arms)."""
    if not 0 < target < 1:
        raise PowerError(f"target power must be in (0, 1), got {target}")
    col = {"cluster_t": "power_cluster_t", "normal": "power_normal"}[method]

    def power(k: int) -> float:
        return float(cluster_trial_power(k, **kwargs)[col].iloc[0])

    lo, hi = 2, 2
    if power(lo) >= target:
        return lo
    while power(hi) < target:  # doubling, then bisection: power increases with k
        lo, hi = hi, hi * 2
        if hi > max_clusters:
            if power(max_clusters) >= target:
                hi = max_clusters
                break
            raise PowerError(f"power {target:.0%} not reached with {max_clusters} clusters per arm")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if power(mid) < target else (lo, mid)
    return hi
