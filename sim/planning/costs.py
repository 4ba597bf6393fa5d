"""Costs by the ingredients approach: resource use (``sim.planning.resources``) times unit costs.

Statistics only. Each category is one quantity of resources.csv times one unit cost of the
scenario's ``costs:`` section (:class:`sim.planning.cost_spec.CostSpec`; illustrative ASSUMPTION
defaults in CNY at 2019 prices when the section is absent):

=================  ==============================================  ======================
category           quantity (resources.csv)                        unit cost
=================  ==============================================  ======================
provider_stipends  provider_sessions (providers x sessions held)   ``provider_session``
doctor_time        doctor_hours_review + doctor_hours_supervision  ``doctor_hour``
training           trainer_half_days                               ``trainer_half_day``
venue              venue_hours                                     ``venue_hour``
coordination       service_days / (365.25 / 12)                    ``coordinator_month``
=================  ==============================================  ======================

Costs cover the whole simulated period of each community (start to end of services). The outcomes
that costs are divided by come from the datasets: sessions held (same period), consumers served
(attended at least one session), consumers retained (still in the programme at follow-up) and
consumers reporting a benefit at follow-up (by default ``ben_mood``, Table 3's 'mood' item, the
benefit compare reports; ``benefit="any"``: any of the ten self-perceived benefits, which nearly every
evaluated consumer reports, so it is close to the number evaluated).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from ..scenario import DAYS_PER_MONTH
from .cost_effectiveness import paired_interval
from .cost_spec import DEFAULT_COSTS, CostSpec
from .resources import resource_use

CATEGORIES: dict[str, str] = {
    "provider_stipends": "Provider stipends",
    "doctor_time": "Community doctor time",
    "training": "Provider training (trainers)",
    "venue": "Venue",
    "coordination": "Coordination",
}
#: The effects costs are divided by: name -> label (cost_per_replication columns ``consumers_*``).
EFFECTS: dict[str, str] = {
    "sessions_held": "session held",
    "consumers_served": "consumer served",
    "consumers_retained": "consumer retained",
    "consumers_benefit": "consumer reporting a benefit",
}
EFFECT_TOTALS: dict[str, str] = {
    "sessions_held": "Sessions held",
    "consumers_served": "Consumers served (attended at least one session)",
    "consumers_retained": "Consumers retained at follow-up",
    "consumers_benefit": "Consumers reporting a benefit at follow-up",
}
BENEFIT_ITEMS = (
    "ben_knowledge",
    "ben_stability",
    "ben_social_skill",
    "ben_family_relationship",
    "ben_care_for_others",
    "ben_living_skill",
    "ben_work_skill",
    "ben_recovery_confidence",
    "ben_mood",
    "ben_belonging",
)


def _resources(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    r = frames.get("resources")
    return r if r is not None and len(r) else resource_use(frames)


def costs(frames: Mapping[str, pd.DataFrame], cost_spec: CostSpec | None = None) -> pd.DataFrame:
    """Costs per replication x community x month: one column per category of :data:`CATEGORIES` and
    ``total``, in the spec's currency (``resources`` of ``frames``, or derived from its tables)."""
    spec = cost_spec or DEFAULT_COSTS
    r = _resources(frames)
    out = r[["replication", "community", "wave", "setting", "month"]].copy()
    out["provider_stipends"] = r["provider_sessions"].to_numpy(float) * spec.provider_session
    out["doctor_time"] = (r["doctor_hours_review"] + r["doctor_hours_supervision"]).to_numpy(float) * spec.doctor_hour
    out["training"] = r["trainer_half_days"].to_numpy(float) * spec.trainer_half_day
    out["venue"] = r["venue_hours"].to_numpy(float) * spec.venue_hour
    out["coordination"] = r["service_days"].to_numpy(float) / DAYS_PER_MONTH * spec.coordinator_month
    out["total"] = out[list(CATEGORIES)].sum(axis=1)
    return out


def cost_by_month(cost_rows: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """:func:`costs` summed over communities: per replication x month (x ``by``, e.g. ``("wave",)``)."""
    keys = ["replication", *by, "month"]
    return cost_rows.groupby(keys, sort=True)[[*CATEGORIES, "total"]].sum().reset_index()


def _benefit(consumers: pd.DataFrame, benefit: str) -> pd.Series:
    ev = consumers["evaluated"].fillna(0).to_numpy(float) == 1
    if benefit == "any":
        cols = [c for c in BENEFIT_ITEMS if c in consumers.columns]
        yes = consumers[cols].fillna(0).to_numpy(float).max(axis=1) == 1 if cols else np.zeros(len(consumers), bool)
    elif benefit in consumers.columns:
        yes = consumers[benefit].fillna(0).to_numpy(float) == 1
    else:
        raise ValueError(f"benefit: expected 'any' or a consumers column such as ben_mood, got {benefit!r}")
    return pd.Series(ev & yes, index=consumers.index)


def cost_per_replication(
    frames: Mapping[str, pd.DataFrame], cost_spec: CostSpec | None = None, benefit: str = "ben_mood"
) -> pd.DataFrame:
    """One row per replication: cost per category and ``total_cost``, the effects of :data:`EFFECTS`, and
    the cost per unit of each (``cost_per_<effect>``, blank when the effect is zero). Works on one
    chunk; concatenate chunks for a whole run."""
    c = costs(frames, cost_spec)
    reps = np.unique(frames["communities"]["replication"].to_numpy())
    out = c.groupby("replication")[list(CATEGORIES)].sum().reindex(reps, fill_value=0.0)
    out["total_cost"] = out[list(CATEGORIES)].sum(axis=1)
    r = _resources(frames)
    out["sessions_held"] = r.groupby("replication")["sessions_held"].sum().reindex(reps, fill_value=0)
    cons = frames["consumers"]
    g = cons.groupby("replication")
    attended = cons["sessions_attended"].fillna(0).to_numpy(float) if "sessions_attended" in cons else None
    served = (
        pd.Series(attended >= 1, index=cons.index).groupby(cons["replication"]).sum()
        if attended is not None
        else g.size()
    )
    out["consumers_served"] = served.reindex(reps, fill_value=0)
    out["consumers_retained"] = g["retained"].sum().reindex(reps, fill_value=0)
    out["consumers_benefit"] = _benefit(cons, benefit).groupby(cons["replication"]).sum().reindex(reps, fill_value=0)
    for e in EFFECTS:
        n = out[e].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"cost_per_{e}"] = np.where(n > 0, out["total_cost"].to_numpy(float) / n, np.nan)
    return out.rename_axis("replication").reset_index()


def _mean_ci(x: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t interval over replications of a cost or a count, kept at or above 0 (with a few
    replications the t interval of a quantity that cannot be negative reaches below zero)."""
    m, lo, hi = paired_interval(x)
    return m, max(lo, 0.0) if lo == lo else lo, hi  # NaN stays NaN


def ratio_of_means(cost: np.ndarray, effect: np.ndarray) -> tuple[float, float, float]:
    """mean(cost) / mean(effect) with a 95% delta-method interval over replications (the cost per unit of
    effect of the programme as a whole; steadier than the mean of per-replication ratios, whose
    denominators can be near zero). NaN when the mean effect is zero."""
    n = len(cost)
    c, e = float(np.mean(cost)), float(np.mean(effect))
    if n == 0 or e == 0:
        return np.nan, np.nan, np.nan
    r = c / e
    if n < 2:
        return r, np.nan, np.nan
    cov = np.cov(cost, effect, ddof=1)
    var = (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (n * e * e)
    h = float(stats.t.ppf(0.975, n - 1) * np.sqrt(max(var, 0.0)))
    return r, max(r - h, 0.0), r + h  # a cost per unit of effect is not negative


def cost_summary(per_rep: pd.DataFrame, cost_spec: CostSpec | None = None) -> pd.DataFrame:
    """Mean and 95% interval over replications of each category, the total, each effect, and the cost per
    unit of each effect (ratio of means, :func:`ratio_of_means`). ``per_rep``: :func:`cost_per_replication`.
    Columns: measure, label, mean, ci_low, ci_high, currency."""
    spec = cost_spec or DEFAULT_COSTS
    rows = []
    for col, label in [*CATEGORIES.items(), ("total_cost", "Total cost")]:
        rows.append((col, label, *_mean_ci(per_rep[col].to_numpy(float)), spec.currency))
    for e, label in EFFECT_TOTALS.items():
        rows.append((e, label, *_mean_ci(per_rep[e].to_numpy(float)), ""))
    for e, label in EFFECTS.items():
        ratio = ratio_of_means(per_rep["total_cost"].to_numpy(float), per_rep[e].to_numpy(float))
        rows.append((f"cost_per_{e}", f"Cost per {label}", *ratio, spec.currency))
    return pd.DataFrame(rows, columns=["measure", "label", "mean", "ci_low", "ci_high", "currency"])
