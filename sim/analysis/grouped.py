"""Grouped counts, sums, means and variances with numpy, equal to pandas' ``groupby`` to the bit.

The analysis aggregates every replication x group of a chunk at once. pandas' ``groupby`` does
this well but costs milliseconds of fixed overhead per call, and a chunk's tests and tables make
hundreds of calls. :class:`Grouped` computes the same numbers with numpy on integer group labels:
counts and sums of whole numbers (answers, 0/1 items: exact in any order) with ``bincount``,
variances with Welford's online update that pandas' kernel uses, sums and means of other values
(ages, deviations) with the compensated (Kahan) summation of pandas' ``group_sum``/``group_mean``
kernels, in the same row order (rows are visited "position by position": the k-th row of every
group at once). So results are the same floats as pandas' (``tests/test_analysis_grouped.py``):
the analysis files do not change.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

#: Values in one padded slab of :meth:`Grouped._slabs` (64 MB of float64).
PAD_MAX = 1 << 23

#: pandas 3.1 adds up sorted groups without missing values with ``np.add.reduceat``; earlier versions
#: always with the Kahan kernel (follow whichever is installed, so that results stay pandas' own).
_PANDAS_REDUCEAT = hasattr(getattr(pd.core.groupby.ops, "BaseGrouper", object), "_reduceat_aggregate")


class Grouped:
    """Rows labelled ``0..ngroups-1`` (label < 0: left out). Statistics come back as arrays with one
    row per group (``ngroups`` rows, groups without rows included) and one column per column of ``X``."""

    def __init__(self, labels: np.ndarray, ngroups: int, block: int | None = None):
        labels = np.asarray(labels, dtype=np.int64)
        self.ngroups = int(ngroups)
        # groups per replication (labels r * block + g): pandas' choice between its two ways of adding up
        # (_kahan) is made per replication, so a replication's numbers do not depend on the others in
        # its chunk; None: one block of all groups (pandas' own choice for the whole frame)
        self.block = max(int(block), 1) if block is not None else max(self.ngroups, 1)
        rows = np.flatnonzero(labels >= 0)
        lab = labels[rows]
        order = np.argsort(lab, kind="stable")  # row order kept within a group
        self.rows, self.lab = rows[order], lab[order]
        self.size = np.bincount(self.lab, minlength=self.ngroups)
        self._in_order, self._lab_in_order = rows, lab  # the rows in their original order, and their labels
        # per block, its rows' groups in increasing order (pandas' condition for reduceat, per block)
        blk = lab // self.block
        by_blk = np.argsort(blk, kind="stable")  # each block's rows in their order
        lab_b, blk_b = lab[by_blk], blk[by_blk]
        self._blocks_sorted = np.ones(-(-self.ngroups // self.block), dtype=bool)
        self._blocks_sorted[blk_b[1:][(lab_b[1:] < lab_b[:-1]) & (blk_b[1:] == blk_b[:-1])]] = False

    @classmethod
    def of(cls, rep: np.ndarray, reps: np.ndarray, grp: pd.Series | np.ndarray, groups: Sequence | int) -> Grouped:
        """Group (replication, group) in the order of ``reps`` x ``groups`` (label r * len(groups) + g);
        rows whose replication or group is not listed are left out. With ``groups`` a number, ``grp``
        holds each row's group as its position (0 to groups - 1; -1: left out)."""
        reps = np.asarray(reps)
        r = np.searchsorted(reps, rep)
        r_ok = r < len(reps)
        r_ok[r_ok] = reps[r[r_ok]] == np.asarray(rep)[r_ok]
        if isinstance(groups, int):
            g, ng = np.asarray(grp, dtype=np.int64), groups
        else:
            g, ng = level_codes(grp, groups), len(groups)
        lab = np.where(r_ok & (g >= 0), r * ng + g, -1)
        return cls(lab, len(reps) * ng, block=ng)

    def count(self, X: np.ndarray) -> np.ndarray:
        """Non-missing values per group (float)."""
        X = _2d(X)
        return self._bincount(~np.isnan(X[self.rows]))

    def _bincount(self, W: np.ndarray) -> np.ndarray:
        """Per group and column, the sum of the rows' weights ``W`` (rows in ``self.rows`` order) in one
        ``bincount`` over (group, column) pairs: exact for whole numbers, as every count and 0/1 sum is."""
        k = W.shape[1]
        flat = (self.lab[:, None] * k + np.arange(k)).ravel()
        sums = np.bincount(flat, weights=W.ravel(), minlength=self.ngroups * k)
        return sums.astype(float, copy=False).reshape(self.ngroups, k)  # (no rows: bincount gives integers)

    def _slabs(self, X: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
        """``X``'s rows, groups ``lo:hi`` at a time, as (position within the group, group, column), NaN
        beyond a group's rows: the k-th rows of the slab's groups are one contiguous slice (the running
        sums visit rows in that order). A slab holds at most ``PAD_MAX`` values (or one group), so a
        few very large groups among many small ones do not pad every group to their size; each slab
        gathers its own rows, so the memory beyond ``X`` stays about one slab's."""
        k = max(X.shape[1], 1)
        starts = np.concatenate([[0], np.cumsum(self.size)])
        lo = 0
        while lo < self.ngroups:
            deepest = np.maximum.accumulate(self.size[lo:])
            cost = np.arange(1, len(deepest) + 1) * np.maximum(deepest, 1) * k
            hi = lo + max(int(np.searchsorted(cost, PAD_MAX, side="right")), 1)
            a, b = starts[lo], starts[hi]
            lab = self.lab[a:b]
            P = np.full((int(deepest[hi - lo - 1]), hi - lo, X.shape[1]), np.nan)
            P[np.arange(a, b) - starts[lab], lab - lo] = X[self.rows[a:b]]  # by group, rows in their order
            yield slice(lo, hi), P
            lo = hi

    def sum(self, X: np.ndarray) -> np.ndarray:
        """Group sums of the non-missing values (0 for a group without any)."""
        return self._sum_count(X)[0]

    def _sum_count(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X = _2d(X)
        n = self.count(X)
        s = np.zeros(n.shape)
        V = X[self.rows]
        exact = _integral(V)
        if exact.any():  # sums of whole numbers are exact in any order
            s[:, exact] = self._bincount(np.nan_to_num(V[:, exact], nan=0.0))
        if (~exact).any():
            s[:, ~exact] = self._kahan(X[:, ~exact])[0]
        return s, n

    def _kahan(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Group sums (0 without values) and counts of non-missing values as pandas' grouped sum and
        mean add them up (the same floats: ``tests/test_analysis_grouped.py``): with the rows' groups
        in increasing order and no value missing, ``np.add.reduceat`` over the (columns x rows) block
        (pandas' fast path for sorted groups); otherwise the compensated (Kahan) summation of its
        ``group_sum``/``group_mean`` kernels, each group's rows in their order. The choice is made per
        block of groups (a replication: ``block``), each as pandas makes it for that block alone, so a
        replication's sums are the same whichever replications share its chunk."""
        fast = self._reduceat_blocks(X)
        if fast is not None and fast[2].all():
            return fast[0], fast[1]
        s, n = self._compensated(X)
        if fast is not None:  # blocks pandas alone would add up with reduceat
            at = np.repeat(fast[2], self.block)[: self.ngroups]
            s[at], n[at] = fast[0][at], fast[1][at]
        return s, n

    def _compensated(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        S, N = np.zeros((self.ngroups, X.shape[1])), np.zeros((self.ngroups, X.shape[1]))
        for at, P in self._slabs(X):
            s, c, n = (np.zeros(P.shape[1:]) for _ in range(3))
            with np.errstate(invalid="ignore"):
                for v in P:  # the k-th value of every group at once
                    ok = ~np.isnan(v)
                    y = v - c
                    t = s + y
                    comp = (t - s) - y
                    comp[comp != comp] = 0.0  # an infinite value: pandas resets the compensation
                    s = np.where(ok, t, s)
                    c = np.where(ok, comp, c)
                    n += ok
            S[at], N[at] = s, n
        return S, N

    def _reduceat_blocks(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """pandas' path for sorted groups without missing values, per block of groups: (sums, counts,
        which blocks take it); the sums and counts hold only those blocks' groups. None when no block
        does (or this pandas has no such path)."""
        if not _PANDAS_REDUCEAT or not len(self.rows):
            return None
        missing = np.isnan(X[self._in_order]).any(axis=1)
        ok = self._blocks_sorted.copy()
        ok[self._lab_in_order[missing] // self.block] = False
        take = ok[self.lab // self.block]  # self.rows: by group, each group's rows in their order
        if not take.any():  # (a block without rows is "ok": its groups are empty either way)
            return None
        rows, lab = self.rows[take], self.lab[take]
        V = X[rows]
        starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
        seg = np.add.reduceat(np.ascontiguousarray(V.T), starts, axis=1).T  # a block as pandas holds it
        s, n = np.zeros((self.ngroups, X.shape[1])), np.zeros((self.ngroups, X.shape[1]))
        at = lab[starts]
        s[at] = seg
        n[at] = np.diff(starts, append=len(V))[:, None]
        return s, n, ok

    def mean(self, X: np.ndarray) -> np.ndarray:
        """Group means; NaN where a group has no value."""
        X = _2d(X)
        V = X[self.rows]
        exact = _integral(V)
        out = np.full((self.ngroups, X.shape[1]), np.nan)
        if exact.any():
            s, n = self._sum_count(X[:, exact])
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, exact] = np.where(n > 0, s / np.where(n > 0, n, 1), np.nan)
        if (~exact).any():
            s, n = self._kahan(X[:, ~exact])
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, ~exact] = np.where(n > 0, s / np.where(n > 0, n, 1), np.nan)
        return out

    def var(self, X: np.ndarray, ddof: int = 1) -> np.ndarray:
        """Group variances (Welford's update, pandas' group_var); NaN with ``ddof`` values or fewer."""
        X = _2d(X)
        out = np.full((self.ngroups, X.shape[1]), np.nan)
        for at, P in self._slabs(X):
            m, m2, n = (np.zeros(P.shape[1:]) for _ in range(3))
            with np.errstate(invalid="ignore", divide="ignore"):
                for v in P:  # the k-th value of every group at once
                    ok = ~np.isnan(v)
                    n += ok
                    d = v - m
                    new = np.where(ok, m + d / np.where(ok, n, 1), m)
                    m2 = np.where(ok, m2 + (v - new) * d, m2)
                    m = new
                out[at] = np.where(n > ddof, m2 / np.where(n > ddof, n - ddof, 1), np.nan)
        return out

    def std(self, X: np.ndarray, ddof: int = 1) -> np.ndarray:
        return np.sqrt(self.var(X, ddof))

    def transform_mean(self, X: np.ndarray) -> np.ndarray:
        """Each row's group mean (NaN for rows left out)."""
        X = _2d(X)
        out = np.full(X.shape, np.nan)
        out[self.rows] = self.mean(X)[self.lab]
        return out

    def level_counts(self, values: pd.Series | np.ndarray, levels: Sequence | int) -> np.ndarray:
        """(ngroups, len(levels)): rows per group at each level (other values and missing ignored).
        With ``levels`` a number, ``values`` are every row's level already (0 to levels - 1; -1: none),
        e.g. from :func:`level_codes` once for a column grouped many ways."""
        if isinstance(levels, int):
            code, levels = np.asarray(values, dtype=np.int64)[self.rows], range(levels)
        else:
            code = level_codes(np.asarray(values, dtype=object)[self.rows], levels)
        ok = code >= 0
        flat = np.bincount(self.lab[ok] * len(levels) + code[ok], minlength=self.ngroups * len(levels))
        return flat.reshape(self.ngroups, len(levels)).astype(float)


def matrix(df: pd.DataFrame, cols: Sequence[str]) -> np.ndarray:
    """``df[cols]`` as a float matrix, column by column (a list selection costs more than its data)."""
    if not len(cols):
        return np.zeros((len(df), 0))
    return np.column_stack([df[c].to_numpy(dtype=float) for c in cols])


def level_codes(values, levels: Sequence) -> np.ndarray:
    """Each value's position in ``levels`` (-1: not listed, or missing)."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))  # missing -> -1
    pos = {v: i for i, v in enumerate(levels)}
    to_level = np.array([pos.get(u, -1) for u in uniques] + [-1], dtype=np.int64)  # [-1]: code -1
    return to_level[codes]


def _integral(V: np.ndarray) -> np.ndarray:
    """Per column: every non-missing value a whole number of modest size (so float sums are exact)."""
    with np.errstate(invalid="ignore"):
        whole = np.isnan(V) | ((np.round(V) == V) & (np.abs(V) < 2**40))
    return whole.all(axis=0)


def _2d(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    return X[:, None] if X.ndim == 1 else X
