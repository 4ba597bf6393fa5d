"""Planner tables from one chunk's frames, and the bands the figures draw (pure pandas/numpy).

Inputs are the tables of ``sim.datasets.to_frames`` (columns in ``docs/data_dictionary.md``); every
function here returns one row per replication (and month, role or item), so chunks concatenate and
nothing depends on other replications. No library imports: :mod:`sim.app.backend` calls these inside
the runner's workers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats


def months_of(frames: dict[str, pd.DataFrame], days_per_month: float) -> int:
    """Number of whole study months simulated: the last community's ``end_day`` in months, rounded up."""
    com = frames.get("communities")
    if com is None or not len(com):
        return 1
    return max(1, math.ceil(float(com["end_day"].max()) / days_per_month - 1e-9))


def sessions_per_month(frames: dict[str, pd.DataFrame], days_per_month: float) -> pd.DataFrame:
    """Sessions held per study month: ``replication, month, held`` (month 0 = the first month of the
    scenario; a session on day ``d`` is in month ``floor(d / days_per_month)``), zeros included."""
    ses = frames["sessions"]
    reps = np.unique(frames["consumers"]["replication"].to_numpy())
    n_months = months_of(frames, days_per_month)
    held = ses[ses["status"] == "held"]
    month = np.minimum(np.floor(held["day"].to_numpy(dtype=float) / days_per_month).astype(int), n_months - 1)
    counts = (
        pd.Series(1, index=pd.MultiIndex.from_arrays([held["replication"].to_numpy(), month]))
        .groupby(level=[0, 1])
        .sum()
    )
    full = pd.MultiIndex.from_product([reps, range(n_months)], names=["replication", "month"])
    return counts.reindex(full, fill_value=0).rename("held").reset_index()


def enrolled_per_month(frames: dict[str, pd.DataFrame], days_per_month: float) -> pd.DataFrame:
    """Retention over time: ``replication, role, month, recruited, enrolled`` at the end of each study
    month (recruited by then; of whom not dropped out / quit by then). Temporary leave counts as enrolled."""
    n_months = months_of(frames, days_per_month)
    ends = (np.arange(n_months) + 1) * days_per_month
    rows = []
    for role, table in (("consumer", "consumers"), ("provider", "providers")):
        df = frames.get(table)
        if df is None or not len(df):
            continue
        rec = df["recruited_day"].to_numpy(dtype=float)[:, None] <= ends[None, :] + 1e-9
        exit_day = df["exit_day"].to_numpy(dtype=float)
        gone = np.where(np.isnan(exit_day), np.inf, exit_day)[:, None] <= ends[None, :]
        g = pd.DataFrame(rec.astype(int)).groupby(df["replication"].to_numpy()).sum()
        e = pd.DataFrame((rec & ~gone).astype(int)).groupby(df["replication"].to_numpy()).sum()
        for r in g.index:
            rows.append(
                pd.DataFrame(
                    {
                        "replication": r,
                        "role": role,
                        "month": np.arange(n_months),
                        "recruited": g.loc[r].to_numpy(),
                        "enrolled": e.loc[r].to_numpy(),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def answer_shares(frames: dict[str, pd.DataFrame], items: dict[str, list[str]]) -> pd.DataFrame:
    """Share answering yes among the evaluated, per replication: ``replication, role, item, share, n``.
    ``items`` maps a table (``consumers``, ``providers``) to its 0/1 item columns."""
    rows = []
    for table, cols in items.items():
        df = frames.get(table)
        if df is None or not len(df):
            continue
        ev = df[df["evaluated"] == 1]
        for c in cols:
            if c not in ev.columns:
                continue
            v = pd.to_numeric(ev[c], errors="coerce")
            g = v.groupby(ev["replication"])
            rows.append(
                pd.DataFrame(
                    {
                        "replication": g.mean().index,
                        "role": table[:-1],
                        "item": c,
                        "share": g.mean().to_numpy(),
                        "n": g.count().to_numpy(),
                    }
                )
            )
    return (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=["replication", "role", "item", "share", "n"])
    )


def band(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean over replications with two 95% bands per group of ``by``: ``ci_low, ci_high`` (t interval
    of the mean: how precisely the replications pin the expected value down) and ``p_low, p_high``
    (2.5% and 97.5% of the replications: the spread a single rollout could show)."""

    def one(x: pd.Series) -> pd.Series:
        v = x.dropna().to_numpy(dtype=float)
        n = len(v)
        m = float(v.mean()) if n else np.nan
        h = float(stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        lo, hi = np.percentile(v, [2.5, 97.5]) if n else (np.nan, np.nan)
        return pd.Series({"mean": m, "ci_low": m - h, "ci_high": m + h, "p_low": lo, "p_high": hi, "n": n})

    return df.groupby(by, sort=True)[value].apply(one).unstack().reset_index()


#: Columns of caseload.csv and staff.csv the Run page sums over communities (docs/data_dictionary.md).
CASELOAD_COLUMNS = ["referred", "enrolled", "waiting", "started", "dropped_out", "graduated"]
STAFF_COLUMNS = ["in_post", "on_leave", "in_training", "recruiting", "quit", "trained"]


def over_communities(frames: dict[str, pd.DataFrame], table: str, columns: list[str]) -> pd.DataFrame:
    """A per-community monthly table (``caseload``, ``staff``) summed over communities:
    ``replication, month, *columns``, months 0 to the last month of the table (zeros where no community
    is in service), one row per replication of the chunk's ``communities`` table."""
    reps = np.unique(frames["communities"]["replication"].to_numpy())
    df = frames.get(table)
    if df is None or not len(df):
        return pd.DataFrame(columns=["replication", "month", *columns])
    g = df.groupby(["replication", "month"])[columns].sum()
    full = pd.MultiIndex.from_product([reps, range(int(df["month"].max()) + 1)], names=["replication", "month"])
    return g.reindex(full, fill_value=0).reset_index()
