"""Streaming aggregation of the per-chunk analysis tables (statistics only; no presentation).

:func:`aggregate_cells` and :func:`summarise_tests` work on whole tables; :class:`CellsAccumulator`
and :class:`TestsAccumulator` give the same results chunk by chunk in bounded memory. With more than
``MEDIAN_REPS_MAX`` replications, medians and 2.5-97.5% percentiles are over the replications with
index below it; means, counts and shares over all replications.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from . import stats as S
from .csvrows import fingerprint
from .labels import PAPER_TEST_TEXT

MEDIAN_REPS_MAX = 10_000  # medians and percentiles use the replications with index below this


def aggregate_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """Per cell: mean, 2.5% and 97.5% percentiles and number of replications with a value."""
    g = cells.groupby(["table", "row", "column"], sort=False)["value"]
    out = pd.DataFrame(
        {
            "mean": g.mean(),
            "q025": g.quantile(0.025),
            "q975": g.quantile(0.975),
            "reps": g.count(),
        }
    ).reset_index()
    return out


def summarise_tests(tests: pd.DataFrame) -> pd.DataFrame:
    """Per test across replications: share significant (Bonferroni), share p < 0.05, MC SE, etc."""
    t = tests.copy()
    t["computable"] = t["test"] != S.NOT_COMPUTABLE
    t["p05"] = t["p"] < 0.05
    t["_order"] = t.groupby(["family", "groups", "item"], sort=False).ngroup()
    g = t.groupby(["_order", "family", "population", "groups", "item"], sort=True)
    out = pd.DataFrame(
        {
            "replications": g.size(),
            "computable": g["computable"].sum(),
            "threshold": g["threshold"].first(),
            "test_used": g["test"].agg(
                lambda s: "; ".join(f"{k} {v}" for k, v in s.value_counts().sort_index().items())
            ),
            "median_statistic": g["statistic"].median(),
            "median_p": g["p"].median(),
            "share_p_below_0.05": g["p05"].mean(),
            "share_significant": g["significant"].mean(),
        }
    ).reset_index()
    R = out["replications"].astype(float)
    ps = out["share_significant"]
    out["mc_se"] = np.sqrt(ps * (1 - ps) / R)
    out["paper"] = [PAPER_TEST_TEXT.get((f, i), "") for f, i in zip(out["family"], out["item"], strict=False)]
    return out.drop(columns="_order")


def chunks_of(x: Any) -> Iterator[pd.DataFrame]:
    """The chunks of ``x``: a DataFrame (one chunk), a callable returning an iterator, or an iterable."""
    if x is None:
        return iter(())
    if isinstance(x, pd.DataFrame):
        return iter((x,))
    if callable(x):
        return iter(x())
    return iter(x)


def local_keys(df: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, list[tuple]]:
    """Per row, the index of its key in the chunk's first-appearance order, and those keys (what
    ``df.groupby(keys, sort=False).ngroup()`` numbers; keys without missing values). Each column is
    factorized on its own and the codes combined into one integer: a grouping by strings costs more."""
    if not len(df):
        return np.zeros(0, dtype=np.int64), []
    code = np.zeros(len(df), dtype=np.int64)
    for k in keys:
        c, u = pd.factorize(df[k], sort=False)
        code = code * (len(u) + 1) + (c + 1)
    local, _ = pd.factorize(code, sort=False)
    first = df.iloc[np.unique(local, return_index=True)[1]]
    return local.astype(np.int64), list(zip(*(first[k].tolist() for k in keys), strict=True))


def _first_valid(local: np.ndarray, x: np.ndarray, n: int) -> np.ndarray:
    """Per key 0..n-1, its first non-missing value in row order (NaN if none): ``groupby.first()``."""
    out = np.full(n, np.nan)
    ok = np.flatnonzero(~np.isnan(x))
    k, at = np.unique(local[ok], return_index=True)
    out[k] = x[ok[at]]
    return out


class TestsAccumulator:
    """:func:`summarise_tests` by streaming: counts over all replications; medians of the statistic
    and p over the replications with index below ``MEDIAN_REPS_MAX`` (compact float64 columns)."""

    KEYS: ClassVar[list[str]] = ["family", "population", "groups", "item"]

    def __init__(self) -> None:
        self.ids: dict[tuple, int] = {}
        self.order: dict[tuple, int] = {}
        self.key_order: list[int] = []
        self.size: list[int] = []
        self.computable: list[int] = []
        self.threshold: list[float] = []
        self.tests: list[dict[str, int]] = []
        self.p05: list[int] = []
        self.sig: list[int] = []
        self.sig_n: list[int] = []
        self.kept: list[pd.DataFrame] = []
        self.n_reps = 0
        self.max_rep = -1

    def add(self, t: pd.DataFrame) -> None:
        if not len(t):
            return
        t = t.dropna(subset=self.KEYS)
        local, keys = local_keys(t, self.KEYS)
        gid = np.empty(len(keys), dtype=np.int64)
        for j, k in enumerate(keys):
            i = self.ids.get(k)
            if i is None:
                i = self.ids[k] = len(self.size)
                o = (k[0], k[2], k[3])
                self.key_order.append(self.order.setdefault(o, len(self.order)))
                self.size.append(0), self.computable.append(0), self.threshold.append(np.nan), self.tests.append({})
                self.p05.append(0), self.sig.append(0), self.sig_n.append(0)
            gid[j] = i
        g = gid[local]
        n = np.bincount(local, minlength=len(keys))
        comp = np.bincount(local, weights=(t["test"] != S.NOT_COMPUTABLE).to_numpy(dtype=float), minlength=len(keys))
        p05 = np.bincount(local, weights=(t["p"] < 0.05).to_numpy(dtype=float), minlength=len(keys))
        sig = pd.to_numeric(t["significant"], errors="coerce").astype(float).to_numpy()
        sig_ok = ~np.isnan(sig)
        sig_s = np.bincount(local[sig_ok], weights=sig[sig_ok], minlength=len(keys))
        sig_n = np.bincount(local[sig_ok], minlength=len(keys))
        thr = _first_valid(local, t["threshold"].to_numpy(dtype=float), len(keys))
        tcode, tnames = pd.factorize(t["test"], sort=False)
        vk, vc = np.unique(local * (len(tnames) + 1) + (tcode + 1), return_counts=True)
        for j, i in enumerate(gid):
            self.size[i] += int(n[j])
            self.computable[i] += round(comp[j])
            self.p05[i] += round(p05[j])
            self.sig[i] += round(sig_s[j])
            self.sig_n[i] += int(sig_n[j])
            if np.isnan(self.threshold[i]):
                self.threshold[i] = thr[j]
        for jk, c in zip(vk.tolist(), vc.tolist(), strict=True):
            j, m = divmod(jk, len(tnames) + 1)
            if m:  # a test name (not missing)
                d = self.tests[gid[j]]
                name = tnames[m - 1]
                d[name] = d.get(name, 0) + c
        reps = t["replication"].to_numpy()
        self.n_reps += int(pd.unique(reps).size)
        keep = reps < MEDIAN_REPS_MAX
        if keep.any():
            self.kept.append(
                pd.DataFrame(
                    {
                        "gid": g[keep],
                        "statistic": t["statistic"].to_numpy(dtype=float)[keep],
                        "p": t["p"].to_numpy(dtype=float)[keep],
                    }
                )
            )

    def summary(self) -> pd.DataFrame:
        if not self.size:
            return pd.DataFrame(columns=["family", "item", "paper", "share_significant", "mc_se"])
        keys = list(self.ids)
        kept = (
            pd.concat(self.kept, ignore_index=True)
            if self.kept
            else pd.DataFrame({"gid": [], "statistic": [], "p": []})
        )
        med = kept.groupby("gid", sort=True)[["statistic", "p"]].median().reindex(range(len(keys)))
        self.kept = []
        size = np.array(self.size, dtype=np.int64)
        out = pd.DataFrame(
            {
                "_order": np.array(self.key_order, dtype=np.int64),
                "family": [k[0] for k in keys],
                "population": [k[1] for k in keys],
                "groups": [k[2] for k in keys],
                "item": [k[3] for k in keys],
                "replications": size,
                "computable": np.array(self.computable, dtype=np.int64),
                "threshold": np.array(self.threshold, dtype=float),
                "test_used": ["; ".join(f"{k} {v}" for k, v in sorted(d.items())) for d in self.tests],
                "median_statistic": med["statistic"].to_numpy(),
                "median_p": med["p"].to_numpy(),
                "share_p_below_0.05": np.array(self.p05, dtype=float) / size,
                "share_significant": np.array(self.sig, dtype=float) / np.array(self.sig_n, dtype=float),
            }
        )
        out = out.sort_values(["_order", "family", "population", "groups", "item"], kind="stable").reset_index(
            drop=True
        )
        R = out["replications"].astype(float)
        ps = out["share_significant"]
        out["mc_se"] = np.sqrt(ps * (1 - ps) / R)
        out["paper"] = [PAPER_TEST_TEXT.get((f, i), "") for f, i in zip(out["family"], out["item"], strict=False)]
        return out.drop(columns="_order")


@dataclass(eq=False)
class ChunkCells:
    """One chunk's cells in the accumulator's layout: rows sorted by replication; per row its key's
    index in ``keys`` (first-appearance order) and its replication's index in ``urep``. Computed in
    the worker by :meth:`carry` (stored in ``cells.attrs`` with a fingerprint of the cells'
    numbers) so the parent only maps keys; recomputed by :meth:`of` when absent or stale."""

    keys: list[tuple]
    local: np.ndarray
    urep: np.ndarray
    row: np.ndarray
    values: np.ndarray

    ATTR: ClassVar[str] = "chunk_cells"

    def __deepcopy__(self, memo: dict) -> ChunkCells:
        return self  # never modified: pandas deep-copies attrs through every filter and sort

    @classmethod
    def of(cls, c: pd.DataFrame) -> ChunkCells:
        c = c.dropna(subset=CellsAccumulator.KEYS).sort_values(["replication"], kind="stable")
        local, keys = local_keys(c, CellsAccumulator.KEYS)
        urep, row = np.unique(c["replication"].to_numpy(), return_inverse=True)
        return cls(keys, local, urep, row, c["value"].to_numpy(dtype=float))

    @classmethod
    def of_matrix(cls, keys: list[tuple], reps: np.ndarray, values: np.ndarray) -> ChunkCells:
        """:meth:`of` the cells given as a (replications x columns) matrix, ``keys[j]`` the key of column
        ``j`` and ``reps`` the replications (sorted) of the rows: the frame holding, replication by
        replication, a row per column in column order (a key listed twice is one key, as :meth:`of`
        makes it). No sort and no factorizing of the keys' strings."""
        ids: dict[tuple, int] = {}
        code = np.array([ids.setdefault(k, len(ids)) for k in keys], dtype=np.int32)  # (int32: half the pickle)
        n = len(reps)
        return cls(
            list(ids),
            np.tile(code, n),
            np.asarray(reps),
            np.repeat(np.arange(n, dtype=np.int32), len(keys)),
            np.ascontiguousarray(values, dtype=float).reshape(-1),
        )

    @classmethod
    def carry(cls, c: pd.DataFrame, cells: ChunkCells | None = None) -> pd.DataFrame:
        """``c`` with its ChunkCells (``cells``, else :meth:`of` ``c``) in ``c.attrs``; returns ``c``."""
        c.attrs[cls.ATTR] = (fingerprint(c), cells if cells is not None else cls.of(c))
        return c

    @classmethod
    def carried(cls, c: pd.DataFrame) -> ChunkCells | None:
        got = c.attrs.get(cls.ATTR)
        return got[1] if got is not None and got[0] == fingerprint(c) else None


class CellsAccumulator:
    """:func:`aggregate_cells` by streaming. With at most ``MEDIAN_REPS_MAX`` replications the result
    is exactly :func:`aggregate_cells` of the concatenation; beyond, means and counts cover all
    replications (sums in replication order, independent of chunking) and the percentiles the
    replications with index below ``MEDIAN_REPS_MAX``. Kept values are float64 matrices per chunk
    (replications x cells, NaN where a replication has no value): 8 bytes per cell and replication."""

    KEYS: ClassVar[list[str]] = ["table", "row", "column"]
    BATCH = 64  # cells aggregated at a time at the end

    def __init__(self) -> None:
        self.ids: dict[tuple, int] = {}
        self.kept: list[np.ndarray] = []
        self.sums = np.zeros(0)
        self.counts = np.zeros(0, dtype=np.int64)
        self.n_reps = 0
        self.max_rep = -1

    def add(self, c: pd.DataFrame) -> None:
        if not len(c):
            return
        cc = ChunkCells.carried(c) or ChunkCells.of(c)
        local, keys = cc.local, cc.keys
        gid = np.empty(len(keys), dtype=np.int64)
        for j, k in enumerate(keys):
            i = self.ids.get(k)
            if i is None:
                i = self.ids[k] = len(self.ids)
            gid[j] = i
        width = len(self.ids)
        if width > len(self.sums):
            grow = width - len(self.sums)
            self.sums = np.concatenate([self.sums, np.zeros(grow)])
            self.counts = np.concatenate([self.counts, np.zeros(grow, dtype=np.int64)])
        g = gid[local]
        urep, row = cc.urep, cc.row
        if len(pd.unique(row * width + g)) != len(g):
            raise ValueError("cells: more than one value for a (table, row, column) in a replication")
        W = np.full((len(urep), width), np.nan)
        W[row, g] = cc.values
        self.n_reps += len(urep)
        self.max_rep = max(self.max_rep, int(urep[-1]))
        ok = ~np.isnan(W)
        self.counts[:width] += ok.sum(axis=0)
        V = np.where(ok, W, 0.0)
        for r in range(len(V)):  # running sums one replication at a time: the same however chunks are cut
            self.sums[:width] += V[r]
        keep = urep < MEDIAN_REPS_MAX
        if keep.any():
            self.kept.append(W[keep] if not keep.all() else W)

    def keys_frame(self) -> pd.DataFrame:
        keys = list(self.ids)
        return pd.DataFrame({k: [x[j] for x in keys] for j, k in enumerate(self.KEYS)})

    def _column_batch(self, lo: int, hi: int) -> np.ndarray:
        """Kept values of cells lo..hi-1, (replications x cells), NaN-padded for late cells."""
        parts = []
        for W in self.kept:
            part = np.full((len(W), hi - lo), np.nan)
            w = min(W.shape[1], hi) - lo
            if w > 0:
                part[:, :w] = W[:, lo : lo + w]
            parts.append(part)
        return np.concatenate(parts) if parts else np.zeros((0, hi - lo))

    def aggregate(self, all_kept: bool) -> pd.DataFrame:
        out = self.keys_frame()
        n = len(out)
        mean, q025, q975 = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        count = np.zeros(n, dtype=np.int64)
        for lo in range(0, n, self.BATCH):
            hi = min(lo + self.BATCH, n)
            M = self._column_batch(lo, hi)
            ok = ~np.isnan(M)
            gids = np.broadcast_to(np.arange(lo, hi), M.shape)
            # long format in replication order, cells interleaved (the layout aggregate_cells sees: pandas'
            # grouped mean depends on it in the last bits)
            long = pd.DataFrame({"gid": gids[ok], "value": M[ok]})
            g = long.groupby("gid", sort=True)["value"]
            idx = range(lo, hi)
            q025[lo:hi] = g.quantile(0.025).reindex(idx).to_numpy()
            q975[lo:hi] = g.quantile(0.975).reindex(idx).to_numpy()
            mean[lo:hi] = g.mean().reindex(idx).to_numpy()
            count[lo:hi] = g.count().reindex(idx, fill_value=0).to_numpy(dtype=np.int64)
        self.kept = []
        if not all_kept:
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(self.counts > 0, self.sums / np.maximum(self.counts, 1), np.nan)
            count = self.counts.astype(np.int64)
        out["mean"], out["q025"], out["q975"], out["reps"] = mean, q025, q975, count
        return out
