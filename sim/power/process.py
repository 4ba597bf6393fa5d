"""What the simulated process tells a rollout design (data only, no statistics of the trial):

- **attrition by month** since a community starts: the share of recruited consumers still enrolled
  (``exit_day`` of ``consumers.csv`` against the community's ``start_day``; ``docs/data_dictionary.md``);
- **ramp-up** (implementation lag): consumer attendances per recruited consumer in each month since the
  start, relative to the mean over months 3 to 12 (the service's steady state in the model: timetables set,
  early dropout past; ASSUMPTION), from ``sessions.csv``;
- **ICC by wave**: the ANOVA ICC of :mod:`.inputs` within each of the scenario's waves (communities that
  start together), next to the pooled one;
- cluster sizes and their variation come with the pooled design inputs (:class:`.inputs.DesignInputs`).

Chunk functions (:func:`process_chunk`) run in the workers through :func:`sim.runner.map_chunks`; the parent
sorts by replication and reduces (:func:`reduce_process`), so results do not depend on chunking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..runner import map_chunks
from .inputs import DesignInputs, design_chunk, reduce_design

DAYS_PER_MONTH = 365.25 / 12
#: Months since start whose mean attendance defines the steady state of the ramp-up (ASSUMPTION, see above).
STEADY_MONTHS = (3, 12)
MAX_MONTHS = 60


def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def process_chunk(frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Per replication x community: recruited consumers, enrolled at the end of each month since the start,
    attendances in each month since the start; the design rows of :func:`.inputs.design_chunk`, pooled and
    per wave (``wave`` column; ``""`` = pooled)."""
    cons, comm, sess = frames["consumers"], frames["communities"], frames["sessions"]
    idx = comm.set_index(["replication", "community"])
    start = idx["start_day"]
    observed = np.floor((idx["end_day"] - idx["start_day"]) / DAYS_PER_MONTH + 1e-9)  # whole months simulated
    months = np.arange(MAX_MONTHS + 1)
    rows = []
    if not cons.empty:
        key = pd.MultiIndex.from_frame(cons[["replication", "community"]])
        st = start.reindex(key).to_numpy(dtype=float)
        obs = observed.reindex(key).to_numpy(dtype=float)
        exit_m = (_num(cons, "exit_day") - st) / DAYS_PER_MONTH
        exit_m = np.where(np.isnan(exit_m), np.inf, exit_m)
        seen = months[None, :] <= obs[:, None]  # the month's end lies within the simulated time
        enrolled = (exit_m[:, None] > months[None, :]) & seen
        grp = cons[["replication", "community"]].reset_index(drop=True)
        e = pd.DataFrame(
            np.c_[enrolled.astype(np.int64), seen.astype(np.int64)],
            columns=[f"m{t}" for t in months] + [f"r{t}" for t in months],
        )
        counts = pd.concat([grp, e], axis=1).groupby(["replication", "community"]).sum()
        rows.append(counts.reset_index())
    att = pd.DataFrame(columns=["replication", "community", "month", "attended"])
    if not sess.empty:
        held = sess[sess["status"] == "held"]
        st = start.reindex(pd.MultiIndex.from_frame(held[["replication", "community"]])).to_numpy(dtype=float)
        m = np.floor((_num(held, "day") - st) / DAYS_PER_MONTH).astype(int)
        att = (
            pd.DataFrame(
                {
                    "replication": held["replication"].to_numpy(),
                    "community": held["community"].to_numpy(),
                    "month": m,
                    "attended": _num(held, "n_attended"),
                }
            )
            .groupby(["replication", "community", "month"], as_index=False)["attended"]
            .sum()
        )
    design = [design_chunk(frames).assign(wave="")]
    for w, part in cons.groupby("wave", sort=True):
        design.append(design_chunk({"consumers": part}).assign(wave=str(w)))
    return {
        "enrolled": rows[0] if rows else pd.DataFrame(),
        "attended": att,
        "design": pd.concat(design, ignore_index=True),
    }


@dataclass
class ProcessInputs:
    """Reduced process data: ``design`` (pooled :class:`DesignInputs`), ``retention`` (share of recruits
    enrolled at the end of each month since the start), ``ramp`` (attendance per recruit by month since the
    start relative to the steady state), ``icc_by_wave`` (outcome x wave)."""

    design: DesignInputs
    retention: pd.Series
    ramp: pd.Series
    icc_by_wave: pd.DataFrame

    def retention_at(self, month: float) -> float:
        """Share still enrolled ``month`` months after the start (linear between whole months)."""
        r = self.retention.dropna()
        if r.empty:
            return 1.0
        return float(np.interp(month, r.index.to_numpy(dtype=float), r.to_numpy()))

    def lag_fraction(self, period_months: float) -> float:
        """Mean ramp-up over the first ``period_months`` months after a start, capped at 1: the share of the
        full effect a community can show in its first period under peer support."""
        r = self.ramp.dropna()
        k = max(round(period_months), 1)
        first = r[r.index < k]
        if first.empty:
            return 1.0
        return float(min(first.mean(), 1.0))


def reduce_process(parts: list[dict[str, pd.DataFrame]], scenario: str = "", seed: int | None = None) -> ProcessInputs:
    enrolled = pd.concat([p["enrolled"] for p in parts], ignore_index=True)
    enrolled = enrolled.sort_values(["replication", "community"], kind="stable")
    att = pd.concat([p["attended"] for p in parts], ignore_index=True)
    att = att.sort_values(["replication", "community", "month"], kind="stable")
    design_rows = pd.concat([p["design"] for p in parts], ignore_index=True)
    months = range(MAX_MONTHS + 1)
    denom = pd.Series([float(enrolled[f"r{t}"].sum()) if not enrolled.empty else 0.0 for t in months], index=months)
    num = pd.Series([float(enrolled[f"m{t}"].sum()) if not enrolled.empty else 0.0 for t in months], index=months)
    retention = (num / denom.where(denom > 0)).rename("retention")  # NaN past the simulated months
    # attendances in month t per recruit of the communities simulated through month t + 1
    per_month = att.groupby("month")["attended"].sum().reindex(list(months[:-1])).fillna(0.0)
    per_month = per_month / denom.shift(-1).reindex(per_month.index).where(lambda d: d > 0)
    lo, hi = STEADY_MONTHS
    steady = per_month[(per_month.index >= lo) & (per_month.index < hi)]
    ramp = per_month / float(steady.mean()) if len(steady) and steady.mean() > 0 else per_month * np.nan
    pooled = reduce_design(design_rows[design_rows["wave"] == ""].drop(columns="wave"), scenario, seed)
    by_wave = []
    for w in sorted(set(design_rows["wave"]) - {""}):
        t = reduce_design(design_rows[design_rows["wave"] == w].drop(columns="wave"), scenario, seed).table
        by_wave.append(t[["outcome", "icc", "icc_raw", "icc_mc_se", "m", "cv_recruited"]].assign(wave=w))
    icc_by_wave = pd.concat(by_wave, ignore_index=True) if by_wave else pd.DataFrame()
    return ProcessInputs(pooled, retention, ramp.rename("ramp"), icc_by_wave)


def simulate_process(
    scenario, replications: int, seed: int | None = None, *, workers=None, scheduler=None, progress=False, pool=None
) -> ProcessInputs:
    """Run ``replications`` of ``scenario`` through the runner and reduce (see the module docstring)."""
    seed = scenario.seed if seed is None else seed
    chunks = map_chunks(
        process_chunk,
        scenario,
        replications,
        seed,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        pool=pool,
    )
    return reduce_process([r for _, r in chunks], scenario.name, seed)
