"""The planner's figures over replications: means and 95% intervals of the per-chunk tables of
:mod:`sim.planning.tables` (``planning_monthly``, ``planning_totals``, ``planning_costs``), and their
prices. Statistics only (the report is :mod:`sim.reporting.planning`).

:class:`PlanningAccumulator` adds the chunks one at a time: running means and squared deviations over all
replications (means and the 95% confidence interval of each mean), the 2.5-97.5% percentiles of each
monthly figure over the first :data:`PERCENTILE_REPS_MAX` replications (so memory stays flat however
many replications run), and the per-replication totals (one small row each). The result is the same
whether the replications come in one chunk or many (``tests/test_planning.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.accumulators import local_keys
from ..scenario import DAYS_PER_MONTH
from .tables import KEYS

PERCENTILE_REPS_MAX = 200  # monthly percentiles use the replications with index below this (a 2.5% tail
# of 200 is 5 replications: enough for a band on a figure; keeps a 1,000-replication run as small as 250)


# cost category (sim.planning.costs.CATEGORIES) -> its unit cost in the scenario's costs: section
UNIT_COST_OF = {
    "provider_stipends": "provider_session",
    "doctor_time": "doctor_hour",
    "training": "trainer_half_day",
    "venue": "venue_hour",
    "coordination": "coordinator_month",
}
# monthly quantity (MONTHLY_COLUMNS) behind each cost category, and its factor to the unit
MONTHLY_QUANTITY_OF = {
    "provider_stipends": (("provider_sessions",), 1.0),
    "doctor_time": (("doctor_hours_review", "doctor_hours_supervision"), 1.0),
    "training": (("trainer_half_days",), 1.0),
    "venue": (("venue_hours",), 1.0),
    "coordination": (("service_days",), 1.0 / DAYS_PER_MONTH),
}


def priced(quantities: pd.DataFrame, spec: Any) -> pd.DataFrame:
    """:func:`cost_quantities` rows at the unit costs of ``spec`` (a ``CostSpec``): each category's cost,
    ``total_cost`` and ``cost_per_<effect>`` (blank where the effect is zero)."""
    out = quantities.copy()
    cats = [c for c in UNIT_COST_OF if c in out.columns]
    for c in cats:
        out[c] = out[c].astype(float) * float(getattr(spec, UNIT_COST_OF[c]))
    out["total_cost"] = out[cats].sum(axis=1)
    for col in [c for c in out.columns if c.startswith("cost_per_")]:
        n = out[col[len("cost_per_") :]].astype(float)
        out[col] = (out["total_cost"] / n.where(n > 0)).astype(float)
    return out


def monthly_costs(summary: PlanningSummary, spec: Any, scope: str = "district") -> pd.DataFrame:
    """Mean cost per month by category (columns) for each group of ``scope``: the monthly mean quantities
    times the unit costs (exact for means: costs are linear in the quantities). Empty when the run has
    no resource table."""
    rows = {}
    for cat, (cols, factor) in MONTHLY_QUANTITY_OF.items():
        if not all(summary.has(c) for c in cols):
            continue
        q = sum(summary.series(c, scope).set_index(["group", "month"])["mean"] for c in cols)
        rows[cat] = q * factor * float(getattr(spec, UNIT_COST_OF[cat]))
    return pd.DataFrame(rows).reset_index() if rows else pd.DataFrame()


@dataclass
class PlanningSummary:
    """The planner's figures over replications.

    ``monthly``: per (scope, group, month) and column: ``mean``, ``ci_low``/``ci_high`` (95% CI of the
    mean, normal approximation), ``q025``/``q975`` (2.5-97.5% percentiles over replications: 95% of
    replications fall within) in long form (columns scope, group, month, column, mean, ...).
    ``totals``: one row per replication. ``replications``: how many; ``percentile_reps``: how many the
    monthly percentiles use."""

    monthly: pd.DataFrame
    totals: pd.DataFrame
    replications: int
    percentile_reps: int
    cost_quantities: pd.DataFrame | None = None  # cost_quantities rows of every replication (None: no costs)

    def series(self, column: str, scope: str = "district") -> pd.DataFrame:
        """Rows of ``monthly`` for one column and scope (group, month, mean, q025, q975, ...)."""
        m = self.monthly
        return m[(m["column"] == column) & (m["scope"] == scope)].reset_index(drop=True)

    def has(self, column: str) -> bool:
        return bool((self.monthly["column"] == column).any())

    def groups(self, scope: str) -> list[str]:
        return list(dict.fromkeys(self.monthly.loc[self.monthly["scope"] == scope, "group"]))


class PlanningAccumulator:
    """Adds ``planning_monthly`` / ``planning_totals`` chunks (in replication order, any chunking) and
    summarises them; memory is flat in the replications beyond :data:`PERCENTILE_REPS_MAX` (only running
    sums and one small row per replication are kept).

    The mean and variance of each monthly figure are updated one replication at a time, as pandas'
    grouped mean (compensated sum) and variance (Welford's update) visit the rows of one chunk holding
    every replication: the same floats however the replications are chunked (README, 'Running
    replications locally')."""

    def __init__(self, percentile_reps_max: int = PERCENTILE_REPS_MAX):
        self.cap = percentile_reps_max
        self.keys: dict[tuple, int] = {}  # (scope, group, month) -> row, in order of first appearance
        self.cols: list[str] = []
        shape = (0, 0)
        self.sum, self.comp, self.nobs = np.zeros(shape), np.zeros(shape), np.zeros(shape)  # pandas' group_mean
        self.wmean, self.m2, self.wn = np.zeros(shape), np.zeros(shape), np.zeros(shape)  # pandas' group_var
        self.n = 0
        self.kept: list[pd.DataFrame] = []
        self.totals: list[pd.DataFrame] = []
        self.costs: list[pd.DataFrame] = []

    def add(
        self, monthly: pd.DataFrame | None, totals: pd.DataFrame | None = None, costs: pd.DataFrame | None = None
    ) -> None:
        if monthly is not None and len(monthly):
            self._merge(monthly)
            m = monthly.set_index(["replication", *KEYS])
            keep = m[m.index.get_level_values("replication") < self.cap]
            if len(keep):
                self.kept.append(keep.astype(np.float32))
        if totals is not None and len(totals):
            self.totals.append(totals)
        if costs is not None and len(costs):
            self.costs.append(costs)

    def _grow(self, keys: int, cols: int) -> None:
        """Room for new keys or columns: earlier replications count as zeros there (the monthly grid holds
        zeros, not gaps)."""
        k0, c0 = self.sum.shape
        if (keys, cols) == (k0, c0):
            return

        def grown(a: np.ndarray, fill: float) -> np.ndarray:
            out = np.full((keys, cols), fill)
            out[:k0, :c0] = a
            return out

        self.sum, self.comp, self.wmean, self.m2 = (grown(a, 0.0) for a in (self.sum, self.comp, self.wmean, self.m2))
        self.nobs, self.wn = grown(self.nobs, float(self.n)), grown(self.wn, float(self.n))

    def _merge(self, monthly: pd.DataFrame) -> None:
        """Add a chunk's replications, one at a time in their order (a key a replication lacks is 0)."""
        cols = [c for c in monthly.columns if c not in ("replication", *KEYS)]
        for c in cols:
            if c not in self.cols:
                self.cols.append(c)
        kcode, kuniq = local_keys(monthly, KEYS)  # first-appearance order, as MultiIndex.factorize
        row = np.array([self.keys.setdefault(k, len(self.keys)) for k in kuniq], dtype=np.int64)
        rcode, runiq = pd.factorize(monthly["replication"])
        self._grow(len(self.keys), len(self.cols))
        A = np.zeros((len(runiq), len(self.keys), len(self.cols)))
        at = np.array([self.cols.index(c) for c in cols], dtype=np.int64)
        A[rcode[:, None], row[kcode][:, None], at[None, :]] = monthly[cols].to_numpy(dtype=float)
        if not np.isnan(A).any():
            self._merge_complete(A)
            return
        for x in A:
            ok = ~np.isnan(x)
            y = x - self.comp
            t = self.sum + y
            comp = (t - self.sum) - y
            comp[comp != comp] = 0.0
            self.sum, self.comp = np.where(ok, t, self.sum), np.where(ok, comp, self.comp)
            self.nobs = self.nobs + ok
            wn, old = self.wn + ok, self.wmean
            with np.errstate(invalid="ignore", divide="ignore"):
                new = np.where(ok, old + (x - old) / np.where(ok, wn, 1), old)
                self.m2 = np.where(ok, self.m2 + (x - new) * (x - old), self.m2)
            self.wmean, self.wn = new, wn
        self.n += len(runiq)

    def _merge_complete(self, A: np.ndarray) -> None:
        """:meth:`_merge`'s updates when no value is missing (the usual case): the same operations
        without choosing, value by value, between updating and keeping (the same floats)."""
        s, c, m, m2, nobs, wn = self.sum, self.comp, self.wmean, self.m2, self.nobs, self.wn
        with np.errstate(invalid="ignore"):
            for x in A:
                y = x - c
                t = s + y
                c = (t - s) - y
                c[c != c] = 0.0  # an infinite value: pandas resets the compensation
                s = t
                nobs = nobs + 1.0
                wn = wn + 1.0
                d = x - m
                m_new = m + d / wn
                m2 = m2 + (x - m_new) * d
                m = m_new
        self.sum, self.comp, self.wmean, self.m2, self.nobs, self.wn = s, c, m, m2, nobs, wn
        self.n += len(A)

    def add_chunks(
        self, monthly: Iterable[pd.DataFrame], totals: Iterable[pd.DataFrame] = (), costs: Iterable[pd.DataFrame] = ()
    ) -> None:
        for m in monthly:
            self.add(m)
        for t in totals:
            self.add(None, t)
        for c in costs:
            self.add(None, None, c)

    def result(self) -> PlanningSummary:
        totals = (
            pd.concat(self.totals, ignore_index=True).sort_values("replication", kind="stable").reset_index(drop=True)
            if self.totals
            else pd.DataFrame(columns=["replication"])
        )
        costs = (
            pd.concat(self.costs, ignore_index=True).sort_values("replication", kind="stable").reset_index(drop=True)
            if self.costs
            else None
        )
        if not self.keys or self.n == 0:
            empty = pd.DataFrame(columns=[*KEYS, "column", "mean", "ci_low", "ci_high", "q025", "q975"])
            return PlanningSummary(empty, totals, len(totals), 0, costs)
        keys = pd.MultiIndex.from_tuples(list(self.keys), names=KEYS)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = pd.DataFrame(self.sum / self.nobs, index=keys, columns=self.cols)
            # pandas' var(ddof=0) times n: the sum of squared deviations, over n - 1
            var = pd.DataFrame(self.m2 / self.wn * self.n, index=keys, columns=self.cols).clip(lower=0.0)
        var = var / max(self.n - 1, 1)
        half = 1.96 * np.sqrt(var / self.n)
        kept = pd.concat(self.kept) if self.kept else None
        lo, hi, k = _percentiles(kept, keys, list(mean.columns))
        long = {
            "mean": mean,
            "ci_low": mean - half,
            "ci_high": mean + half,
            "q025": lo,
            "q975": hi,
        }
        parts = [df.stack(future_stack=True).rename(name) for name, df in long.items()]
        out = pd.concat(parts, axis=1)
        out.index = out.index.set_names([*KEYS, "column"])
        out = out.reset_index()
        out["month"] = out["month"].astype(np.int64)
        # by figure; within it, the district, then the waves in the scenario's order, then the settings
        out = out.sort_values("column", kind="stable").reset_index(drop=True)
        return PlanningSummary(out, totals, self.n, k, costs)


def _percentiles(kept: pd.DataFrame | None, keys: pd.MultiIndex, cols: list[str]) -> tuple[Any, Any, int]:
    """2.5% and 97.5% percentiles per key and column over the kept replications (missing rows are 0)."""
    if kept is None or not len(kept):
        nan = pd.DataFrame(np.nan, index=keys, columns=cols)
        return nan, nan, 0
    reps = np.sort(kept.index.get_level_values("replication").unique())
    full = pd.MultiIndex.from_tuples([(r, *k) for r in reps for k in keys], names=["replication", *KEYS])
    arr = kept.reindex(columns=cols).reindex(full, fill_value=0.0).fillna(0.0).to_numpy(np.float32)
    arr = arr.reshape(len(reps), len(keys), len(cols))
    lo, hi = np.quantile(arr, [0.025, 0.975], axis=0)
    return pd.DataFrame(lo, index=keys, columns=cols), pd.DataFrame(hi, index=keys, columns=cols), len(reps)


def summarise(monthly: Iterable[pd.DataFrame], totals: Iterable[pd.DataFrame] = ()) -> PlanningSummary:
    """:class:`PlanningSummary` of the chunks (each a DataFrame; one DataFrame is one chunk)."""
    acc = PlanningAccumulator()
    acc.add_chunks(
        [monthly] if isinstance(monthly, pd.DataFrame) else monthly,
        [totals] if isinstance(totals, pd.DataFrame) else totals,
    )
    return acc.result()


def total_summary(totals: pd.DataFrame) -> pd.DataFrame:
    """Per column of ``planning_totals``: mean, 95% CI of the mean and 2.5-97.5% percentiles over replications."""
    t = totals.drop(columns=["replication"], errors="ignore").astype(float)
    n = t.notna().sum()
    mean, sd = t.mean(), t.std(ddof=1)
    half = 1.96 * sd / np.sqrt(n.where(n > 0))
    return (
        pd.DataFrame(
            {
                "mean": mean,
                "ci_low": mean - half,
                "ci_high": mean + half,
                "q025": t.quantile(0.025),
                "q975": t.quantile(0.975),
                "reps": n,
            }
        )
        .rename_axis("column")
        .reset_index()
    )
