"""Per-replication summaries, computed in the worker from a chunk's tables: the printed summary of a run
(``run_summary_rows``) and ``--reps auto`` (``key_outputs``) use them; the parent keeps them compact
(:class:`SummaryChunk`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..datasets import joined_by_follow_up


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series(np.zeros(len(df)), index=df.index)
    return pd.to_numeric(df[col], errors="coerce").fillna(0).astype(float)


def replication_summary(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (replication, wave): sessions held/cancelled before follow-up and, for providers
    and consumers, recruited / retained / evaluated / satisfied (``sat_overall``) / willing to continue.
    With an open caseload the consumers counted are those who had joined a group by follow-up
    (:func:`sim.datasets.joined_by_follow_up`): the others were never in the programme to be kept."""
    parts: list[pd.DataFrame] = []
    key = ["replication", "wave"]
    ses = frames.get("sessions")
    if ses is not None and len(ses):
        before = (
            _num(ses, "before_follow_up") > 0 if "before_follow_up" in ses.columns else pd.Series(True, index=ses.index)
        )
        status = ses["status"].astype(str) if "status" in ses.columns else pd.Series("held", index=ses.index)
        s = pd.DataFrame(
            {
                "replication": ses["replication"].to_numpy(),
                "wave": ses["wave"].astype(str).to_numpy(),
                "sessions_held": ((status == "held") & before).astype(int).to_numpy(),
                "sessions_cancelled": ((status == "cancelled") & before).astype(int).to_numpy(),
            }
        )
        parts.append(s.groupby(key, sort=True).sum())
    for role, table in (("providers", "providers"), ("consumers", "consumers")):
        df = frames.get(table)
        if df is not None and role == "consumers" and "follow_up_day" in df.columns:
            df = df[joined_by_follow_up(df)]
        if df is None or not len(df):
            continue
        ev = _num(df, "evaluated")
        p = pd.DataFrame(
            {
                "replication": df["replication"].to_numpy(),
                "wave": df["wave"].astype(str).to_numpy(),
                f"{role}_recruited": 1,
                f"{role}_retained": _num(df, "retained").to_numpy(),
                f"{role}_evaluated": ev.to_numpy(),
                f"{role}_satisfied": ((_num(df, "sat_overall") > 0) & (ev > 0)).astype(int).to_numpy(),
                f"{role}_willing": ((_num(df, "willing_continue") > 0) & (ev > 0)).astype(int).to_numpy(),
            }
        )
        parts.append(p.groupby(key, sort=True).sum())
    if not parts:
        return pd.DataFrame(columns=key)
    out = pd.concat(parts, axis=1).fillna(0)
    out = out.astype(dict.fromkeys(out.columns, "int64"))
    return out.reset_index().sort_values(key, kind="stable").reset_index(drop=True)


def key_outputs(summary: pd.DataFrame) -> pd.DataFrame:
    """Per replication: ``sessions_delivered`` (held before follow-up), ``consumer_retention``
    (retained / recruited), ``consumer_satisfied`` (satisfied / evaluated), and the provider analogues."""
    cols = [c for c in summary.columns if c not in ("replication", "wave")]
    s = summary.groupby("replication", sort=True)[cols].sum()
    out = pd.DataFrame(index=s.index)

    def ratio(a: str, b: str) -> pd.Series:
        if a not in s or b not in s:
            return pd.Series(np.nan, index=s.index)
        return s[a] / s[b].where(s[b] > 0)

    out["sessions_delivered"] = s.get("sessions_held", 0)
    out["consumer_retention"] = ratio("consumers_retained", "consumers_recruited")
    out["consumer_satisfied"] = ratio("consumers_satisfied", "consumers_evaluated")
    out["provider_retention"] = ratio("providers_retained", "providers_recruited")
    out["provider_satisfied"] = ratio("providers_satisfied", "providers_evaluated")
    return out


def run_summary_rows(summary: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """The printed summary of a run, from :func:`replication_summary` rows of every replication:
    ``sessions`` (per wave and total: mean held, 2.5%-97.5% range over replications, mean cancelled),
    ``retention`` (per role and wave: mean retained, mean evaluated, mean recruited, and the pooled
    share evaluated: the paper's response rate, 'completed the follow-up evaluation') and
    ``satisfaction`` (per role: share satisfied overall / willing to continue among the evaluated)."""
    out: dict[str, list[dict[str, Any]]] = {"sessions": [], "retention": [], "satisfaction": []}
    if summary is None or not len(summary):
        return out
    waves = list(dict.fromkeys(summary["wave"]))
    per_rep = summary.groupby("replication").sum(numeric_only=True)

    def col(df: pd.DataFrame, c: str) -> pd.Series:
        return df[c] if c in df else pd.Series(0.0, index=df.index)

    for w in [*waves, "total"]:
        df = per_rep if w == "total" else summary[summary["wave"] == w]
        held = col(df, "sessions_held").astype(float)
        out["sessions"].append(
            {
                "wave": w,
                "mean": float(held.mean()),
                "lo": float(held.quantile(0.025)),
                "hi": float(held.quantile(0.975)),
                "cancelled": float(col(df, "sessions_cancelled").mean()),
            }
        )
    for role in ("provider", "consumer"):
        for w in waves:
            df = summary[summary["wave"] == w]
            rec, ret = col(df, f"{role}s_recruited"), col(df, f"{role}s_retained")
            done = col(df, f"{role}s_evaluated")
            if rec.sum() > 0:
                out["retention"].append(
                    {
                        "role": role,
                        "wave": w,
                        "retained": float(ret.mean()),
                        "evaluated": float(done.mean()),
                        "recruited": float(rec.mean()),
                        "share": float(done.sum() / rec.sum()),
                    }
                )
        ev = col(per_rep, f"{role}s_evaluated")
        for item, c in (("satisfied overall", "satisfied"), ("willing to continue", "willing")):
            if ev.sum() > 0:
                out["satisfaction"].append(
                    {
                        "role": role,
                        "item": item,
                        "evaluated": float(ev.mean()),
                        "share": float(col(per_rep, f"{role}s_{c}").sum() / ev.sum()),
                    }
                )
    return out


class SummaryChunk:
    """A chunk's :func:`replication_summary` rows as compact arrays (what the parent keeps per chunk
    for the printed summary and ``--reps auto``); :meth:`frame` gives the same DataFrame back."""

    __slots__ = ("columns", "empty", "values", "wave_codes", "wave_dtype", "wave_names")

    def __init__(self, df: pd.DataFrame):
        self.columns = tuple(df.columns)
        self.empty = df if not len(df) or "wave" not in df.columns else None
        if self.empty is not None:
            return
        codes, uniques = pd.factorize(df["wave"], sort=False)
        self.wave_dtype = df["wave"].dtype
        self.wave_names = list(uniques)
        self.wave_codes = codes.astype(np.int16)
        values = df.drop(columns="wave").to_numpy(dtype=np.int64)
        small = values.size == 0 or (values.min() >= np.iinfo(np.int32).min and values.max() <= np.iinfo(np.int32).max)
        self.values = values.astype(np.int32) if small else values

    def frame(self) -> pd.DataFrame:
        if self.empty is not None:
            return self.empty
        cols = [c for c in self.columns if c != "wave"]
        out = pd.DataFrame(self.values.astype(np.int64), columns=cols)
        waves = pd.Series(np.asarray(self.wave_names, dtype=object)[self.wave_codes], dtype=self.wave_dtype)
        out.insert(self.columns.index("wave"), "wave", waves)
        return out
