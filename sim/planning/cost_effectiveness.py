"""Incremental cost-effectiveness of one scenario against a baseline, from paired replications.

Statistics only. Replication ``r`` of every scenario shares its random numbers (common random
numbers, ``sim.streams``), so the incremental cost dC_r and effect dE_r are paired differences and
their 95% intervals are paired t intervals (with ``--parameter-uncertainty`` replication ``r`` also
shares its parameter draw).

The ICER is mean(dC) / mean(dE), reported only where it means something. Each difference is
"clearly" positive or negative when its 95% interval excludes zero, else "unclear"; then:

==================================  ==============================================================
dE, dC                              status
==================================  ==============================================================
both unclear                        ``no clear difference`` (no ratio)
dE >= 0, dC <= 0 (one clear)        ``dominates``: at least as effective and no dearer
dE <= 0, dC >= 0 (one clear)        ``dominated``: no more effective and no cheaper
dE clearly > 0, dC clearly > 0      ``icer``: extra cost per extra unit of effect
dE clearly < 0, dC clearly < 0      ``icer (saves money, less effective)``: saving per unit of effect
                                    given up; cost-effective when it exceeds the willingness to pay
==================================  ==============================================================

(``unclear`` counts as either sign in the dominance rows.) A ratio whose denominator's interval
includes zero is never printed: it can take any value and any sign.

The cost-effectiveness acceptability curve (CEAC) gives, for each willingness to pay ``wtp`` per
unit of effect, the share of paired replications with a positive incremental net monetary benefit
``wtp * dE_r - dC_r`` (ties count one half): the probability that one rollout of the scenario is
cost-effective against the baseline at that price, chance and (with ``--parameter-uncertainty``)
parameter uncertainty included. Where dE and dC are bivariate normal it is
``Phi((wtp * mean dE - mean dC) / sd(wtp * dE - dC))``; at ``wtp`` = ICER it is one half for any
symmetric distribution.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

STATUS_ICER = "icer"
STATUS_SW = "icer (saves money, less effective)"


def t_interval(x: np.ndarray) -> tuple[float, float, float, int]:
    """Mean, 95% t interval and count of the finite values of ``x`` (replications); NaN where undefined
    (no value; one value has no interval). The one interval of compare, costs and resources."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return np.nan, np.nan, np.nan, 0
    m = float(x.mean())
    if n < 2:
        return m, np.nan, np.nan, n
    h = float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return m, m - h, m + h, n


def paired_interval(x: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t interval of paired differences."""
    return t_interval(x)[:3]


def _sign(m: float, lo: float, hi: float) -> int:
    """+1 / -1 when the interval excludes zero on that side, 0 when unclear (or a constant zero)."""
    if np.isfinite(lo) and np.isfinite(hi):
        return 1 if lo > 0 else -1 if hi < 0 else 0
    return int(np.sign(m)) if np.isfinite(m) and lo == hi == m else 0


def classify(d_effect: tuple[float, float, float], d_cost: tuple[float, float, float]) -> tuple[str, float]:
    """``(status, icer)`` from the (mean, ci_low, ci_high) of the incremental effect and cost (see the
    module's table); ``icer`` is NaN unless the status is a ratio."""
    se, sc = _sign(*d_effect), _sign(*d_cost)
    if se == 0 and sc == 0:
        return "no clear difference", np.nan
    if se >= 0 and sc <= 0:
        return "dominates", np.nan
    if se <= 0 and sc >= 0:
        return "dominated", np.nan
    icer = d_cost[0] / d_effect[0]
    return (STATUS_ICER if se > 0 else STATUS_SW), icer


def incremental(cost: np.ndarray, effect: np.ndarray, base_cost: np.ndarray, base_effect: np.ndarray) -> dict:
    """Incremental cost and effect of paired replications (arrays in the same replication order): their
    means and 95% intervals, the status of :func:`classify` and the ICER."""
    dc = np.asarray(cost, float) - np.asarray(base_cost, float)
    de = np.asarray(effect, float) - np.asarray(base_effect, float)
    c, e = paired_interval(dc), paired_interval(de)
    status, icer = classify(e, c)
    return {
        "delta_cost": c[0],
        "delta_cost_ci_low": c[1],
        "delta_cost_ci_high": c[2],
        "delta_effect": e[0],
        "delta_effect_ci_low": e[1],
        "delta_effect_ci_high": e[2],
        "status": status,
        "icer": icer,
        "replications": int(np.isfinite(dc + de).sum()),
    }


def ceac(d_cost: np.ndarray, d_effect: np.ndarray, wtp: np.ndarray) -> np.ndarray:
    """Share of paired replications with ``wtp * dE - dC > 0`` (ties one half), for each ``wtp``."""
    dc, de = np.asarray(d_cost, float), np.asarray(d_effect, float)
    ok = np.isfinite(dc) & np.isfinite(de)
    dc, de = dc[ok], de[ok]
    if not len(dc):
        return np.full(len(wtp), np.nan)
    nmb = np.asarray(wtp, float)[:, None] * de[None, :] - dc[None, :]
    return (nmb > 0).mean(axis=1) + 0.5 * (nmb == 0).mean(axis=1)


def wtp_grid(scale: float, points: int = 101) -> np.ndarray:
    """Willingness to pay from 0 to ``scale`` (per unit of effect) in ``points`` steps; ``scale`` is
    rounded up to 1, 2 or 5 times a power of ten so the axis reads in round numbers."""
    if not np.isfinite(scale) or scale <= 0:
        scale = 1.0
    p = 10 ** np.floor(np.log10(scale))
    top = next(m * p for m in (1, 2, 5, 10) if m * p >= scale * (1 - 1e-12))
    return np.linspace(0.0, top, points)
