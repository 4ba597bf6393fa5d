"""The paper's comparisons, one row per test per replication, with Bonferroni within families.

Statistical analyses: tests "to detect differences between participants who continued and those
who dropped out before follow-up evaluations. The same analyses were conducted to examine whether
the results of initial communities could be verified by the later ones. The differences between
peer service providers and consumers in perceived benefits were also examined. Correction for
multiple testing was achieved using the Bonferroni."

Families (``family`` column; Bonferroni over the planned tests of a family and pair of groups):

====================================  ==============================  =====================================
family                                groups                          items (m)
====================================  ==============================  =====================================
``retention.<role>``                  wave 1 vs wave 2                evaluated at follow-up (1)
``dropout.demographics.<role>.<wave>`` completers vs dropouts          the six demographic variables (6)
``dropout.clinical.<role>.<wave>``    completers vs dropouts          diagnosis, onset age (2)
``S1.demographics.<role>``            wave 1 vs wave 2                six demographic variables (6)
``S1.clinical.<role>``                wave 1 vs wave 2                diagnosis, onset age (2)
``S2.provider``                       wave 1 vs wave 2                Table 2 items incl. confidence (11)
``S3.provider``, ``S3.consumer``      wave 1 vs wave 2                Table 3 items (14)
``S4.consumer``                       wave 1 vs wave 2                Table 4 items (7)
``T3.provider_vs_consumer``           provider vs consumer            Table 3 items (14)
====================================  ==============================  =====================================

The paper's threshold for its six demographic variables is 0.05/6 = 8.33e-3 (Results). Its
printed results fit these families: work skill (p = 1.7e-4) is below 0.05/14; the consumer wave
differences in punctuality (p = 0.002) and richness (0.007) are below 0.05/7 = 7.1e-3.
"Completers" are those evaluated at follow-up (``evaluated`` = 1). Waves are compared in study
order (the paper's initial vs later), every pair when there are more than two.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import instruments as ins
from . import prep as P
from . import stats as S
from .grouped import Grouped
from .tables import Rows, string_column

TEST_COLUMNS = [
    "replication",
    "family",
    "population",
    "item",
    "groups",
    "test",
    "statistic",
    "df",
    "p",
    "p_bonferroni",
    "threshold",
    "significant",
    "n1",
    "n2",
    "est1",
    "est2",
    "note",
]
ALPHA = 0.05


@dataclass(frozen=True)
class Family:
    """A family of comparisons: which rows, which two groups, which items of which kind."""

    family: str
    population: str
    group_col: str
    g1: object
    g2: object
    groups: str
    binary: tuple[str, ...] = ()
    continuous: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()


def families(waves: tuple[str, ...]) -> list[tuple[Family, str]]:
    """The planned families for these waves, each with the row filter it applies (a query key)."""
    pairs = list(itertools.combinations(waves, 2))
    return [
        *_retention_families(pairs),
        *_dropout_families(waves),
        *_baseline_wave_families(pairs),
        *_follow_up_wave_families(pairs),
        (
            Family(
                "T3.provider_vs_consumer",
                "all",
                "role",
                "provider",
                "consumer",
                "provider vs consumer",
                binary=P.BENEFITS,
            ),
            "evaluated",
        ),
    ]


def _baseline_sets() -> tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]:
    """(name, categorical, continuous) of the demographic and clinical baseline variables."""
    return tuple(
        (
            name,
            tuple(c for c in cols if c in ins.BASELINE_CATEGORICAL),
            tuple(c for c in cols if c in ins.BASELINE_CONTINUOUS),
        )
        for name, cols in (("demographics", P.DEMOGRAPHIC), ("clinical", P.CLINICAL))
    )


def _retention_families(pairs: list[tuple[str, str]]) -> list[tuple[Family, str]]:
    return [
        (Family(f"retention.{role}", role, "wave", w1, w2, f"{w1} vs {w2}", binary=("evaluated",)), f"role:{role}")
        for role in ("provider", "consumer")
        for w1, w2 in pairs
    ]


def _dropout_families(waves: tuple[str, ...]) -> list[tuple[Family, str]]:
    return [
        (
            Family(
                f"dropout.{name}.{role}.{w}",
                role,
                "evaluated",
                1.0,
                0.0,
                "completers vs dropouts",
                continuous=cont,
                categorical=cat,
            ),
            f"role:{role}|wave:{w}",
        )
        for role in ("provider", "consumer")
        for w in waves
        for name, cat, cont in _baseline_sets()
    ]


def _baseline_wave_families(pairs: list[tuple[str, str]]) -> list[tuple[Family, str]]:
    return [
        (
            Family(f"S1.{name}.{role}", role, "wave", w1, w2, f"{w1} vs {w2}", continuous=cont, categorical=cat),
            f"role:{role}",
        )
        for role in ("provider", "consumer")
        for w1, w2 in pairs
        for name, cat, cont in _baseline_sets()
    ]


def _follow_up_wave_families(pairs: list[tuple[str, str]]) -> list[tuple[Family, str]]:
    out: list[tuple[Family, str]] = []
    for w1, w2 in pairs:
        g = f"{w1} vs {w2}"
        prov = Family(
            "S2.provider", "provider", "wave", w1, w2, g, binary=P.PROVIDER_BINARY, continuous=P.PROVIDER_LIKERT
        )
        out.append((prov, "role:provider|evaluated"))
        for role in ("provider", "consumer"):
            out.append((Family(f"S3.{role}", role, "wave", w1, w2, g, binary=P.BENEFITS), f"role:{role}|evaluated"))
        cons = Family(
            "S4.consumer", "consumer", "wave", w1, w2, g, binary=P.CONSUMER_BINARY, continuous=P.CONSUMER_LIKERT
        )
        out.append((cons, "role:consumer|evaluated"))
    return out


class _Persons:
    """A chunk's persons as numpy arrays (built once; the families select rows by masks): pandas'
    per-call overhead dominated a chunk's tests when each family filtered and grouped DataFrames."""

    def __init__(self, per: pd.DataFrame, reps: np.ndarray):
        self.per, self.reps = per, np.asarray(reps)
        self.columns = set(per.columns)
        self.rows = Rows(per)  # the columns as numpy arrays, converted once
        rep = per["replication"].to_numpy()
        r = np.searchsorted(self.reps, rep)
        ok = r < len(self.reps)
        ok[ok] = self.reps[r[ok]] == rep[ok]
        self.r = np.where(ok, r, -1)
        self._masks: dict[str, np.ndarray] = {}
        self._numeric: dict[str, bool] = {}
        self._groups: dict[tuple, tuple[Grouped, np.ndarray]] = {}

    def values(self, col: str) -> np.ndarray:
        """The column as floats (numbers) or objects (anything else)."""
        if col not in self._numeric:
            x = self.per[col].dtype
            self._numeric[col] = pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x)
        return self.rows.floats(col) if self._numeric[col] else self.rows.objects(col)

    def mask(self, key: str) -> np.ndarray:
        """Rows selected by a family's filter key ("role:provider|wave:initial|evaluated")."""
        if key not in self._masks:
            m = self.r >= 0
            for part in key.split("|"):
                if part == "evaluated":
                    m = m & (self.values("evaluated") == 1)
                elif part.startswith(("role:", "wave:")):
                    m = m & (self.values(part[:4]) == part[5:])
            self._masks[key] = m
        return self._masks[key]

    def two_groups(self, key: str, fam: Family) -> tuple[Grouped, np.ndarray]:
        """(replication x [g1, g2]) groups of the rows the family compares, and those rows' mask (made
        once for families comparing the same groups of the same rows, e.g. S1's demographic and
        clinical families)."""
        at = (key, fam.group_col, fam.g1, fam.g2)
        if at not in self._groups:
            grp = self.values(fam.group_col)
            code = np.where(grp == fam.g1, 0, np.where(grp == fam.g2, 1, -1))
            sel = self.mask(key) & (code >= 0)
            self._groups[at] = Grouped(np.where(sel, self.r * 2 + code, -1), 2 * len(self.reps), block=2), sel
        return self._groups[at]


def _rows(fam: Family, item: str, reps: np.ndarray, res: dict, n1, n2, e1, e2) -> dict[str, np.ndarray]:
    k = len(reps)
    return {
        "replication": reps,
        "family": np.full(k, fam.family, dtype=object),
        "population": np.full(k, fam.population, dtype=object),
        "item": np.full(k, item, dtype=object),
        "groups": np.full(k, fam.groups, dtype=object),
        "test": np.asarray(res["test"], dtype=object),
        "statistic": np.asarray(res["statistic"], dtype=float),
        "df": np.asarray(res["df"], dtype=float),
        "p": np.asarray(res["p"], dtype=float),
        "n1": np.asarray(n1, dtype=float),
        "n2": np.asarray(n2, dtype=float),
        "est1": np.asarray(e1, dtype=float),
        "est2": np.asarray(e2, dtype=float),
        "note": np.asarray(res["note"], dtype=object),
    }


def _pair(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values ordered (replication x [g1, g2]) as two arrays (g1, g2)."""
    a = np.asarray(s, dtype=float).reshape(-1, 2)
    return a[:, 0], a[:, 1]


def _item_order(fam: Family) -> list[str]:
    rank = (
        {it.column: i for i, it in enumerate(ins.CONSUMER_SATISFACTION)}
        if fam.family.startswith("S4.")
        else P.ITEM_ORDER
    )
    return sorted(fam.binary + fam.continuous + fam.categorical, key=lambda c: (rank.get(c, 10_000), c))


def _binary_rows(pp: _Persons, g: Grouped, fam: Family, cols: list[str], reps: np.ndarray) -> dict[str, dict]:
    X = pp.rows.matrix(cols)
    sums, cnts = g.sum(X), g.count(X)
    # every item at once (item-major): the tests are elementwise, so each item's rows are as if alone
    (y1, y2), (n1, n2) = _pair(sums.T.ravel()), _pair(cnts.T.ravel())
    every = S.binary_tests(y1, n1, y2, n2)
    with np.errstate(all="ignore"):
        e1 = np.where(n1 > 0, y1 / np.where(n1 > 0, n1, 1), np.nan)
        e2 = np.where(n2 > 0, y2 / np.where(n2 > 0, n2, 1), np.nan)
    out = {}
    k = len(reps)
    for j, item in enumerate(cols):
        at = slice(j * k, (j + 1) * k)
        res = {key: v[at] for key, v in every.items()}
        out[item] = _rows(fam, item, reps, res, n1[at], n2[at], e1[at], e2[at])
    return out


def _continuous_rows(
    pp: _Persons, g: Grouped, sel: np.ndarray, fam: Family, cols: list[str], reps: np.ndarray, method: str
) -> dict[str, dict]:
    X = pp.rows.matrix(cols)
    nc = X.shape[1]
    m = g.mean(X)
    per_row = np.full(X.shape, np.nan)
    per_row[g.rows] = m[g.lab]
    dev = np.abs(X - per_row)  # absolute deviations from the group mean (Levene's test)
    var = g.var(np.hstack([X, dev]))  # one pass for both (each column's variance is its own)
    mom = {"n": g.count(X), "m": m, "v": var[:, :nc], "am": g.mean(dev), "av": var[:, nc:]}
    # every item at once (item-major): the tests are elementwise, so each item's rows are as if alone
    x = {k: _pair(v.T.ravel()) for k, v in mom.items()}
    every = None
    if method != "mwu":
        lp = (
            S.levene_from_moments(x["n"][0], x["am"][0], x["av"][0], x["n"][1], x["am"][1], x["av"][1])
            if method == "t"
            else None
        )
        every = S.t_tests(x["n"][0], x["m"][0], x["v"][0], x["n"][1], x["m"][1], x["v"][1], lp, method)
    out = {}
    k = len(reps)
    for j, item in enumerate(cols):
        at = slice(j * k, (j + 1) * k)
        if every is None:
            res = _mwu_loop(pp.per[sel].assign(grp=pp.values(fam.group_col)[sel]), item, fam, reps)
        else:
            res = {key: v[at] for key, v in every.items()}
        out[item] = _rows(fam, item, reps, res, x["n"][0][at], x["n"][1][at], x["m"][0][at], x["m"][1][at])
    return out


def _categorical_rows(pp: _Persons, g: Grouped, sel: np.ndarray, fam: Family, cols: list[str], reps: np.ndarray):
    out = {}
    k = len(reps)
    nan = np.full(k, np.nan)
    tables = []
    for item in cols:
        vals = pp.values(item)
        levels = ins.BASELINE_CATEGORICAL.get(item)
        if levels is None:  # not one of the paper's variables: the levels observed
            levels = sorted(pd.unique(pd.Series(vals[sel]).dropna()))
        levels = list(levels)
        counts = g.level_counts(pp.rows.level_codes(item, tuple(levels)), len(levels))
        tables.append(counts.reshape(k, 2, len(levels)).transpose(0, 2, 1))
    if not tables:
        return out
    # every item in one call: tables padded with unobserved levels (rows of zeros, which the tests drop)
    width = max(t.shape[1] for t in tables)
    stacked = np.zeros((len(tables) * k, width, 2))
    for j, t in enumerate(tables):
        stacked[j * k : (j + 1) * k, : t.shape[1]] = t
    every = S.categorical_tests(stacked)
    n = stacked.sum(axis=1)
    for j, item in enumerate(cols):
        at = slice(j * k, (j + 1) * k)
        res = {key: v[at] for key, v in every.items()}
        out[item] = _rows(fam, item, reps, res, n[at, 0], n[at, 1], nan, nan)
    return out


def run_family(
    pp: _Persons, key: str, fam: Family, reps: np.ndarray, method: S.ContinuousMethod = "t"
) -> list[dict[str, np.ndarray]]:
    """All tests of one family for every replication (vectorised over replications)."""
    g, sel = pp.two_groups(key, fam)
    cols = pp.columns
    rows: dict[str, dict] = {}
    if fam.binary:
        rows.update(_binary_rows(pp, g, fam, [c for c in fam.binary if c in cols], reps))
    if fam.continuous:
        rows.update(_continuous_rows(pp, g, sel, fam, [c for c in fam.continuous if c in cols], reps, method))
    if fam.categorical:
        rows.update(_categorical_rows(pp, g, sel, fam, [c for c in fam.categorical if c in cols], reps))
    return [rows[item] for item in _item_order(fam) if item in rows]


def _mwu_loop(d: pd.DataFrame, item: str, fam: Family, reps: np.ndarray) -> dict[str, np.ndarray]:
    """Mann-Whitney U needs ranks: one call per replication (only when ``method='mwu'``)."""
    res = {k: [] for k in ("test", "statistic", "df", "p", "note")}
    by = {r: x for r, x in d.groupby("replication")}  # noqa: C416 -- GroupBy is not a mapping
    for r in reps:
        x = by.get(r)
        a = x.loc[x["grp"] == fam.g1, item].to_numpy(float) if x is not None else np.array([])
        b = x.loc[x["grp"] == fam.g2, item].to_numpy(float) if x is not None else np.array([])
        t = S.mann_whitney(a, b)
        for k in res:
            res[k].append(getattr(t, k))
    return {k: np.array(v, dtype=object if k in ("test", "note") else float) for k, v in res.items()}


def run_tests(pr: P.Prepared, method: S.ContinuousMethod = "t", alpha: float = ALPHA) -> pd.DataFrame:
    """Every planned test for every replication, with Bonferroni-adjusted p, threshold and verdict."""
    per = pr.persons
    if not len(per):
        return pd.DataFrame(columns=TEST_COLUMNS)
    pp = _Persons(per, pr.replications)
    parts: list[dict[str, np.ndarray]] = []
    codes: dict[tuple[str, str], int] = {}
    fam_code: list[np.ndarray] = []
    for fam, key in families(pr.waves):
        fp = run_family(pp, key, fam, pr.replications, method)
        code = codes.setdefault((fam.family, fam.groups), len(codes))
        fam_code += [np.full(len(pr.replications), code)] * len(fp)
        parts += fp
    if not parts:
        return pd.DataFrame(columns=TEST_COLUMNS)
    cols = {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}
    # Bonferroni: m = planned tests of the row's family and groups in its replication
    rep = cols["replication"]
    at = np.searchsorted(pr.replications, rep) * len(codes) + np.concatenate(fam_code)  # (replication, family)
    _, inv, counts = np.unique(at, return_inverse=True, return_counts=True)
    adj, thr, sig = S.bonferroni(cols["p"].astype(float), counts[inv.ravel()], alpha)
    cols["p_bonferroni"], cols["threshold"], cols["significant"] = adj, thr, sig
    order = np.lexsort((np.arange(len(rep)), rep))  # by replication, then planned order
    return pd.DataFrame({c: _column(cols[c], order) for c in TEST_COLUMNS})


def _column(x: np.ndarray, order: np.ndarray) -> Any:
    """``x[order]``; a column of strings built from its few distinct values (:func:`string_column`)."""
    if x.dtype != object:
        return x[order]
    codes, names = pd.factorize(x, sort=False)
    if (codes < 0).any() or not all(isinstance(v, str) for v in names):
        return x[order]
    return string_column(list(names), codes[order])
