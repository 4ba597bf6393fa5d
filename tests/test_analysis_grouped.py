"""The analysis's fast paths give exactly what the pandas code they replace gives.

- ``sim.analysis.grouped.Grouped``: counts, sums, means, variances and SDs per (replication, group)
  equal pandas' ``groupby`` to the bit (whole numbers and decimals, missing answers, empty groups,
  rows of unlisted groups);
- ``sim.reporting.csv_text`` writes the bytes of ``DataFrame.to_csv`` (quoting, blanks, booleans);
- the tables carried from the worker (``tests.attrs``: CSV rows; ``cells.attrs``: the accumulator's
  layout) are used only while they still describe their table (a filtered table is reformatted).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.analysis_fixtures import random_frames

from sim.analysis import analyze_chunk, csvrows, grouped
from sim.analysis.accumulators import ChunkCells
from sim.analysis.grouped import Grouped
from sim.reporting import csv_text, write_csv


def _frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 400
    df = pd.DataFrame(
        {
            "replication": rng.integers(0, 6, n),
            "grp": rng.choice(["a", "b", "c"], n, p=[0.45, 0.45, 0.1]),
            "likert": rng.integers(1, 6, n).astype(float),
            "age": np.round(rng.normal(45, 12, n), 1),
            "x": rng.lognormal(0, 2, n),
        }
    )
    for c in ("likert", "age", "x"):
        df.loc[rng.random(n) < 0.15, c] = np.nan
    return df[df["replication"] != 3]  # replication 3 has no rows: its groups are empty


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouped_equals_pandas_groupby(seed):
    df = _frame(seed)
    reps, groups, cols = np.arange(6), ["a", "b", "c"], ["likert", "age", "x"]
    idx = pd.MultiIndex.from_product([reps, groups], names=["replication", "grp"])
    g = df.groupby(["replication", "grp"], sort=True)
    G = Grouped.of(df["replication"].to_numpy(), reps, df["grp"], groups)
    X = df[cols].to_numpy(float)
    expect = {
        "count": g[cols].count().reindex(idx, fill_value=0),
        "sum": g[cols].sum().reindex(idx, fill_value=0),
        "mean": g[cols].mean().reindex(idx),
        "var": g[cols].var(ddof=1).reindex(idx),
        "std": g[cols].std(ddof=1).reindex(idx),
    }
    for how, want in expect.items():
        got = getattr(G, how)(X)
        assert np.array_equal(got, want.to_numpy(float), equal_nan=True), how
    assert np.array_equal(G.size, g.size().reindex(idx, fill_value=0).to_numpy())
    levels = G.level_counts(pd.cut(df["age"], [0, 40, 60, 200], labels=["y", "m", "o"]).astype(object), ["y", "o"])
    assert levels.sum() == ((df["age"] <= 40) | (df["age"] > 60)).sum()


@pytest.mark.parametrize("pad_max", [grouped.PAD_MAX, 5, 200])
def test_grouped_sums_and_means_are_pandas_compensated_sums(pad_max, monkeypatch):
    """Decimal values (no exact order-free sum): sums and means equal pandas' to the bit, over groups
    of very different sizes and magnitudes, rows left out, with and without missing values, rows in
    group order or not (pandas adds up sorted groups without missing values another way); also when
    the running sums take the groups a few at a time (``pad_max`` 5: one group per slab; 200: slabs
    of several groups, cut between them)."""
    monkeypatch.setattr(grouped, "PAD_MAX", pad_max)
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n, ng = int(rng.integers(1, 2000)), int(rng.integers(1, 120))
        lab = rng.integers(-1, ng, n)
        if seed % 2:
            lab = np.sort(lab)
            lab[rng.random(n) < 0.2 * (seed % 4 == 1)] = -1
        X = np.column_stack([rng.lognormal(0, 3, n), rng.normal(0, 1e6, n), np.round(rng.normal(45, 12, n), 1)])
        X[rng.random(X.shape) < 0.1 * (seed % 3 == 0)] = np.nan
        if seed % 5 == 4:  # an infinite value: pandas resets its compensation
            X[rng.integers(0, n), 1] = np.inf
        keep = lab >= 0
        g = pd.DataFrame(X[keep]).groupby(lab[keep], sort=True)
        G = Grouped(lab, ng)
        assert np.array_equal(G.mean(X), g.mean().reindex(range(ng)).to_numpy(float), equal_nan=True)
        assert np.array_equal(G.sum(X), g.sum().reindex(range(ng), fill_value=0).to_numpy(float))
        assert np.array_equal(G.var(X), g.var(ddof=1).reindex(range(ng)).to_numpy(float), equal_nan=True)
        assert np.array_equal(G.count(X), g.count().reindex(range(ng), fill_value=0).to_numpy(float))
    empty = Grouped(np.array([-1, -1]), 2)  # no rows: counts and sums are still floats (zeros)
    for got in (empty.count(np.ones(2)), empty.sum(np.ones(2))):
        assert got.dtype == float and not got.any()


def test_csv_text_is_to_csv():
    df = pd.DataFrame(
        {
            "i": [1, 2, 3],
            "f": [0.1234567, np.nan, 1e-9],
            "g": [-0.0, 0.0, -0.0],  # distinct values are formatted once: -0.0 stays "-0"
            "b": [True, False, True],
            "s": pd.array(["plain", "with, comma", None], dtype="str"),
            "q": ['say "x"', "", "line\nbreak"],
            "r, with comma": ["carriage\rreturn", " lead", "trail "],
        }
    )
    for frame in (df, df[["q"]], df[["s"]]):  # one column: the csv module's own rules for a lone empty field
        for header in (True, False):
            want = frame.to_csv(index=False, header=header, float_format="%.6g", lineterminator="\n")
            assert csv_text(frame, "%.6g", header=header) == want


def test_write_csv_writes_the_bytes_of_to_csv(tmp_path):
    """write_csv (every report table) goes through csv_text: the file is what pandas would write."""
    df = pd.DataFrame({"n": [3, 1], "x": [0.123456, np.nan], "s": ["a,b", 'q"'], "flag": [True, False]})
    two_level = pd.DataFrame([[1.5, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")]))
    same_name = pd.DataFrame([[1.5, 2]], columns=["a", "a"])
    for k, frame in enumerate((df, df.iloc[:0], pd.DataFrame(), pd.DataFrame({"x": [1.0]}), two_level, same_name)):
        want, got = tmp_path / f"want{k}.csv", tmp_path / f"got{k}.csv"
        for fmt in ("%.3g", lambda v: f"<{v:.2f}>"):  # a %-format or, as pandas takes, a function
            frame.to_csv(want, index=False, float_format=fmt, lineterminator="\n")
            write_csv(frame, got, fmt)
            assert got.read_bytes() == want.read_bytes(), (k, fmt)


def test_carried_tables_are_used_only_while_current():
    res = analyze_chunk(random_frames(n_reps=3, seed=5))
    t, c = res["tests"], res["cells"]
    plain = t.to_csv(index=False, header=False, float_format="%.6g", lineterminator="\n")
    assert csvrows.rows(t) == plain
    sub = t[t["replication"] == 1]  # pandas copies attrs into the subset: must not reuse them
    assert csvrows.rows(sub) == sub.to_csv(index=False, header=False, float_format="%.6g", lineterminator="\n")
    carried = ChunkCells.carried(c)  # built from the tables' blocks, without parsing the long table
    fresh = ChunkCells.of(c)
    assert carried is not None and carried.keys == fresh.keys
    for part in ("local", "urep", "row", "values"):
        assert np.array_equal(getattr(carried, part), getattr(fresh, part), equal_nan=True), part
    assert ChunkCells.carried(c[c["replication"] == 1]) is None


def test_vectorised_fisher_p_is_scipys():
    """``stats.fisher_p`` gives scipy's ``fisher_exact`` two-sided p to the bit, table by table."""
    from scipy import stats as sps

    from sim.analysis.stats import fisher_p

    rng = np.random.default_rng(7)
    n1, n2 = rng.integers(1, 35, 300), rng.integers(1, 25, 300)
    a, c = rng.integers(0, n1 + 1), rng.integers(0, n2 + 1)
    tables = np.stack([a, n1 - a, c, n2 - c], axis=1)
    tables = np.vstack([tables, [[7, 0, 5, 1], [0, 3, 0, 4], [2, 2, 2, 2], [12, 0, 30, 12]]])
    want = [sps.fisher_exact([[r[0], r[1]], [r[2], r[3]]]).pvalue for r in tables]
    assert np.array_equal(fisher_p(*tables.T), np.array(want, dtype=float))


def test_a_replications_statistics_do_not_depend_on_the_other_replications_of_its_chunk():
    """Outputs are the same bytes whatever the chunk size (README, 'Running replications locally'), so
    the means of one replication's groups must not depend on which replications share its chunk: here
    replication 0 (rows in group order, nothing missing: pandas' reduceat path when alone) is grouped
    alone and beside replication 1 (a missing value: the compensated kernel for the whole block)."""
    rng = np.random.default_rng(3)
    groups = ["a", "b"]
    rep0 = pd.DataFrame({"replication": 0, "grp": ["a"] * 40 + ["b"] * 40, "x": rng.lognormal(3, 1, 80)})
    rep1 = pd.DataFrame({"replication": 1, "grp": ["b", "a"] * 20, "x": rng.lognormal(3, 1, 40)})
    rep1.loc[3, "x"] = np.nan
    both = pd.concat([rep0, rep1], ignore_index=True)
    for how in ("mean", "sum"):
        alone = getattr(Grouped.of(rep0["replication"].to_numpy(), np.arange(1), rep0["grp"], groups), how)(
            rep0[["x"]].to_numpy(float)
        )
        shared = getattr(Grouped.of(both["replication"].to_numpy(), np.arange(2), both["grp"], groups), how)(
            both[["x"]].to_numpy(float)
        )
        assert np.array_equal(shared[:2], alone), how


def test_analysis_does_not_depend_on_how_replications_are_chunked():
    """The analysis cells and tests of each replication are the same floats when its chunk holds other
    replications (a provider's row after another wave's, as a staff pipeline's replacements are)."""
    frames = random_frames(n_reps=4, seed=11)
    p = frames["providers"]
    late = p[(p["replication"] == 2) & (p["wave"] == p["wave"].iloc[0])].head(1)  # rows out of wave order
    frames["providers"] = pd.concat([p[~p.index.isin(late.index)], late]).sort_values("replication", kind="stable")
    whole = analyze_chunk(frames)
    alone = [
        analyze_chunk({k: v[v["replication"] == r].reset_index(drop=True) for k, v in frames.items()}) for r in range(4)
    ]
    for name, keys, cols in (
        ("cells", ["table", "row", "column", "replication"], ["value"]),
        ("tests", ["family", "population", "item", "groups", "replication"], ["statistic", "p", "est1", "est2"]),
    ):
        parts = pd.concat(a[name] for a in alone)
        m = whole[name].merge(parts, on=keys, how="outer", suffixes=("_whole", "_alone"), validate="one_to_one")
        for c in cols:
            a, b = m[f"{c}_whole"].astype(float), m[f"{c}_alone"].astype(float)
            same = (a == b) | (a.isna() & b.isna())
            assert same.all(), (name, c, m[~same].head())
