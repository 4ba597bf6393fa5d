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

import numpy as np
import pandas as pd

from .. import instruments as ins
from . import prep as P
from . import stats as S

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
    out: list[tuple[Family, str]] = []
    pairs = list(itertools.combinations(waves, 2))
    demo_cat = tuple(c for c in P.DEMOGRAPHIC if c in ins.BASELINE_CATEGORICAL)
    demo_cont = tuple(c for c in P.DEMOGRAPHIC if c in ins.BASELINE_CONTINUOUS)
    clin_cat = tuple(c for c in P.CLINICAL if c in ins.BASELINE_CATEGORICAL)
    clin_cont = tuple(c for c in P.CLINICAL if c in ins.BASELINE_CONTINUOUS)
    for role in ("provider", "consumer"):
        for w1, w2 in pairs:
            out.append(
                (
                    Family(f"retention.{role}", role, "wave", w1, w2, f"{w1} vs {w2}", binary=("evaluated",)),
                    f"role:{role}",
                )
            )
    for role in ("provider", "consumer"):
        for w in waves:
            for name, cat, cont in (("demographics", demo_cat, demo_cont), ("clinical", clin_cat, clin_cont)):
                out.append(
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
                )
    for role in ("provider", "consumer"):
        for w1, w2 in pairs:
            for name, cat, cont in (("demographics", demo_cat, demo_cont), ("clinical", clin_cat, clin_cont)):
                out.append(
                    (
                        Family(
                            f"S1.{name}.{role}", role, "wave", w1, w2, f"{w1} vs {w2}", continuous=cont, categorical=cat
                        ),
                        f"role:{role}",
                    )
                )
    for w1, w2 in pairs:
        g = f"{w1} vs {w2}"
        out.append(
            (
                Family(
                    "S2.provider", "provider", "wave", w1, w2, g, binary=P.PROVIDER_BINARY, continuous=P.PROVIDER_LIKERT
                ),
                "role:provider|evaluated",
            )
        )
        for role in ("provider", "consumer"):
            out.append((Family(f"S3.{role}", role, "wave", w1, w2, g, binary=P.BENEFITS), f"role:{role}|evaluated"))
        out.append(
            (
                Family(
                    "S4.consumer", "consumer", "wave", w1, w2, g, binary=P.CONSUMER_BINARY, continuous=P.CONSUMER_LIKERT
                ),
                "role:consumer|evaluated",
            )
        )
    out.append(
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
        )
    )
    return out


def _subset(per: pd.DataFrame, key: str, cache: dict[str, pd.DataFrame]) -> pd.DataFrame:
    if key in cache:
        return cache[key]
    d = per
    for part in key.split("|"):
        if part == "evaluated":
            d = d[d["evaluated"] == 1]
        elif part.startswith("role:"):
            d = d[d["role"] == part[5:]]
        elif part.startswith("wave:"):
            d = d[d["wave"] == part[5:]]
    cache[key] = d
    return d


def _two_groups(d: pd.DataFrame, fam: Family, reps: np.ndarray):
    d = d[d[fam.group_col].isin([fam.g1, fam.g2])]
    idx = pd.MultiIndex.from_product([reps, [fam.g1, fam.g2]], names=["replication", "grp"])
    return d.assign(grp=d[fam.group_col]), idx


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


def run_family(
    d: pd.DataFrame, fam: Family, reps: np.ndarray, method: S.ContinuousMethod = "t"
) -> list[dict[str, np.ndarray]]:
    """All tests of one family for every replication (vectorised over replications)."""
    d, idx = _two_groups(d, fam, reps)
    g = d.groupby(["replication", "grp"], sort=True)
    out: list[dict[str, np.ndarray]] = []
    rank = (
        {it.column: i for i, it in enumerate(ins.CONSUMER_SATISFACTION)}
        if fam.family.startswith("S4.")
        else P.ITEM_ORDER
    )
    order = sorted(fam.binary + fam.continuous + fam.categorical, key=lambda c: (rank.get(c, 10_000), c))
    # Aggregates as numpy arrays (rows: replication x [g1, g2]; one column per item): pandas
    # column access on MultiIndexed frames dominated the cost of a chunk's tests.
    if fam.binary:
        bcols = [c for c in fam.binary if c in d.columns]
        sums = g[bcols].sum().reindex(idx, fill_value=0).to_numpy(dtype=float)
        cnts = g[bcols].count().reindex(idx, fill_value=0).to_numpy(dtype=float)
    if fam.continuous:
        ccols = [c for c in fam.continuous if c in d.columns]
        means = g[ccols].transform("mean")
        dev = (d[ccols] - means).abs()
        dev["replication"], dev["grp"] = d["replication"], d["grp"]
        gd = dev.groupby(["replication", "grp"], sort=True)
        mom = {
            "n": g[ccols].count().reindex(idx, fill_value=0),
            "m": g[ccols].mean().reindex(idx),
            "v": g[ccols].var(ddof=1).reindex(idx),
            "am": gd[ccols].mean().reindex(idx),
            "av": gd[ccols].var(ddof=1).reindex(idx),
        }
        mom = {k: v.to_numpy(dtype=float) for k, v in mom.items()}
    for item in order:
        if item not in d.columns:
            continue
        if item in fam.binary:
            k = bcols.index(item)
            (y1, y2), (n1, n2) = _pair(sums[:, k]), _pair(cnts[:, k])
            res = S.binary_tests(y1, n1, y2, n2)
            with np.errstate(all="ignore"):
                e1, e2 = (
                    np.where(n1 > 0, y1 / np.where(n1 > 0, n1, 1), np.nan),
                    np.where(n2 > 0, y2 / np.where(n2 > 0, n2, 1), np.nan),
                )
            out.append(_rows(fam, item, reps, res, n1, n2, e1, e2))
        elif item in fam.continuous:
            j = ccols.index(item)
            x = {k: _pair(v[:, j]) for k, v in mom.items()}
            if method == "mwu":
                res = _mwu_loop(d, item, fam, reps)
            else:
                lp = (
                    S.levene_from_moments(x["n"][0], x["am"][0], x["av"][0], x["n"][1], x["am"][1], x["av"][1])
                    if method == "t"
                    else None
                )
                res = S.t_tests(x["n"][0], x["m"][0], x["v"][0], x["n"][1], x["m"][1], x["v"][1], lp, method)
            out.append(_rows(fam, item, reps, res, x["n"][0], x["n"][1], x["m"][0], x["m"][1]))
        elif item in fam.categorical:
            levels = list(ins.BASELINE_CATEGORICAL.get(item, sorted(d[item].dropna().unique())))
            cnt = d.groupby(["replication", "grp", item], sort=True).size().unstack(item, fill_value=0)
            cnt = cnt.reindex(columns=levels, fill_value=0).reindex(idx, fill_value=0)
            arr = cnt.to_numpy().reshape(len(reps), 2, len(levels)).transpose(0, 2, 1)
            res = S.categorical_tests(arr)
            n = arr.sum(axis=1)
            out.append(
                _rows(fam, item, reps, res, n[:, 0], n[:, 1], np.full(len(reps), np.nan), np.full(len(reps), np.nan))
            )
    return out


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
    cache: dict[str, pd.DataFrame] = {}
    parts: list[dict[str, np.ndarray]] = []
    for fam, key in families(pr.waves):
        parts += run_family(_subset(per, key, cache), fam, pr.replications, method)
    if not parts:
        return pd.DataFrame(columns=TEST_COLUMNS)
    t = pd.DataFrame({c: np.concatenate([p[c] for p in parts]) for c in parts[0]})
    t["_order"] = np.arange(len(t))
    m = t.groupby(["replication", "family", "groups"])["item"].transform("size").to_numpy()
    adj, thr, sig = S.bonferroni(t["p"].to_numpy(float), m, alpha)
    t["p_bonferroni"], t["threshold"], t["significant"] = adj, thr, sig
    t = t.sort_values(["replication", "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)
    return t[TEST_COLUMNS]
