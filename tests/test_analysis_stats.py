"""The test functions against scipy and theory, and the degenerate cases statistical software
refuses (empty group, constant outcome, zero row/column, n < 2, SDs of 0, all ties)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from sim.analysis import stats as S


# --- agreement with scipy ---------------------------------------------------------------------
def test_binary_vectorised_matches_scipy_on_random_tables():
    rng = np.random.default_rng(3)
    n1 = rng.integers(2, 40, 300)
    n2 = rng.integers(2, 40, 300)
    y1 = rng.binomial(n1, 0.4)
    y2 = rng.binomial(n2, 0.6)
    r = S.binary_tests(y1, n1, y2, n2)
    for i in range(300):
        t = np.array([[y1[i], n1[i] - y1[i]], [y2[i], n2[i] - y2[i]]])
        if r["test"][i] == S.NOT_COMPUTABLE:
            assert (t.sum(axis=0) == 0).any()
            continue
        ref = sps.chi2_contingency(t, correction=False)
        assert r["statistic"][i] == pytest.approx(ref.statistic)
        if ref.expected_freq.min() < 5:
            assert r["test"][i] == S.FISHER
            assert r["p"][i] == pytest.approx(sps.fisher_exact(t).pvalue)
        else:
            assert r["test"][i] == S.PEARSON
            assert r["p"][i] == pytest.approx(ref.pvalue)


def test_rxc_matches_scipy_and_drops_empty_levels():
    t = np.array([[5, 9], [12, 3], [7, 7], [0, 0]])  # last level unobserved: SPSS has no such row
    r = S.categorical_tests(t[None])
    ref = sps.chi2_contingency(t[:3], correction=False)
    assert r["test"][0] == S.PEARSON and r["df"][0] == 2
    assert r["statistic"][0] == pytest.approx(ref.statistic) and r["p"][0] == pytest.approx(ref.pvalue)


def test_rxc_that_reduces_to_2x2_follows_the_2x2_rule():
    t = np.array([[2, 5], [0, 0], [6, 1]])
    r = S.categorical_tests(t[None])
    assert r["test"][0] == S.FISHER
    assert r["p"][0] == pytest.approx(sps.fisher_exact([[2, 5], [6, 1]]).pvalue)


def test_t_tests_match_scipy_and_levene_matches_scipy():
    rng = np.random.default_rng(5)
    for _ in range(50):
        x = rng.normal(0, 1, rng.integers(2, 30))
        y = rng.normal(0.5, rng.choice([1, 3]), rng.integers(2, 30))
        for method, eq in (("student", True), ("welch", False)):
            r = S.compare_continuous(x, y, method)
            ref = sps.ttest_ind(x, y, equal_var=eq)
            assert r.statistic == pytest.approx(ref.statistic) and r.p == pytest.approx(ref.pvalue)
        lev = sps.levene(x, y, center="mean").pvalue
        r = S.compare_continuous(x, y)
        assert r.test == (S.WELCH if lev < 0.05 else S.STUDENT)
        n1, _, _, a1, av1 = S.moments(x)
        n2, _, _, a2, av2 = S.moments(y)
        assert float(S.levene_from_moments(n1, a1, av1, n2, a2, av2)) == pytest.approx(lev)


def test_mann_whitney_matches_scipy_asymptotic_without_continuity():
    x, y = [3, 4, 4, 5, 2, 3], [4, 5, 5, 5, 4]
    r = S.compare_continuous(x, y, "mwu")
    ref = sps.mannwhitneyu(x, y, method="asymptotic", use_continuity=False)
    assert r.test == S.MWU and r.statistic == ref.statistic and r.p == pytest.approx(ref.pvalue)


def test_missing_values_are_dropped():
    r1 = S.compare_continuous([1, 2, np.nan, 3], [4, 5, 6, np.nan])
    r2 = S.compare_continuous([1, 2, 3], [4, 5, 6])
    assert r1 == r2
    assert S.compare_binary([1, 0, np.nan], [1, 1, 0]) == S.compare_binary([1, 0], [1, 1, 0])


# --- degenerate cases --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("res", "reason"),
    [
        (lambda: S.compare_counts(0, 0, 3, 6), "empty group"),
        (lambda: S.compare_counts(7, 7, 6, 6), "constant outcome"),  # zero column: all yes
        (lambda: S.compare_counts(0, 5, 0, 6), "constant outcome"),  # zero column: all no
        (lambda: S.compare_binary([], [1, 0]), "empty group"),
        (lambda: S.compare_categorical(["a", "a"], ["a"]), "constant variable"),
        (lambda: S.compare_categorical([], ["a", "b"]), "empty group"),
        (lambda: S.compare_continuous([], [1, 2, 3]), "empty group"),
        (lambda: S.compare_continuous([4.0], [3, 4, 5]), "fewer than two"),
        (lambda: S.compare_continuous([4, 4, 4], [4, 4]), "standard deviations of both groups are 0"),
        (lambda: S.compare_continuous([3, 3], [5, 5]), "standard deviations of both groups are 0"),
        (lambda: S.compare_continuous([4, 4], [4, 4], "mwu"), "all values tied"),
        (lambda: S.compare_continuous([], [4, 4], "mwu"), "empty group"),
    ],
)
def test_degenerate_cases_are_not_computable_with_a_reason(res, reason):
    r = res()
    assert r.test == S.NOT_COMPUTABLE
    assert reason in r.note
    assert np.isnan(r.p)  # and Bonferroni calls it not significant:
    _adj, thr, sig = S.bonferroni(np.array([r.p]), 3)
    assert not sig[0] and thr[0] == pytest.approx(0.05 / 3)


def test_one_constant_group_is_still_testable():
    """SD 0 in one group only: t exists (Levene flags unequal spread, so Welch)."""
    r = S.compare_continuous([4, 4, 4], [3, 5, 3, 5])
    assert r.test == S.WELCH and r.statistic == pytest.approx(0.0) and r.p == pytest.approx(1.0)
    r = S.compare_continuous([4, 4, 4], [4, 5, 5, 5])
    assert r.computable and r.p < 0.2


def test_2x2_with_zero_cell_but_no_zero_margin_is_computed():
    r = S.compare_counts(7, 7, 5, 6)
    assert r.computable and np.isfinite(r.statistic) and 0 < r.p <= 1


def test_bonferroni_adjusted_p_capped_and_threshold():
    adj, thr, sig = S.bonferroni(np.array([0.001, 0.02, 0.5, np.nan]), 14)
    assert adj[:3].tolist() == pytest.approx([0.014, 0.28, 1.0])
    assert np.isnan(adj[3]) and not sig[3]
    assert sig.tolist() == [True, False, False, False]
    assert thr[0] == pytest.approx(0.05 / 14)


def test_categorical_tests_of_a_stack_are_each_tables_own():
    """The tests run on a stack of tables at once (batched by observed levels) give each table the
    result it gets alone, whatever else is in the stack or how many unobserved levels pad it."""
    rng = np.random.default_rng(8)
    tables = rng.poisson(rng.uniform(0.2, 6, (120, 4, 2))).astype(np.int64)
    tables[rng.random((120, 4, 2)) < 0.25] = 0
    together = S.categorical_tests(tables)
    padded = S.categorical_tests(np.concatenate([tables, np.zeros((120, 3, 2), dtype=np.int64)], axis=1))
    for i in range(len(tables)):
        alone = S.categorical_tests(tables[i : i + 1])
        for key, v in together.items():
            same = [v[i], padded[key][i], alone[key][0]]
            if key in ("test", "note"):
                assert same[0] == same[1] == same[2], (key, i)
            else:
                assert np.array_equal(np.array(same[:1] * 3), np.array(same), equal_nan=True), (key, i)


@pytest.mark.parametrize("df", [1.0, 2.0, 3.5, 40.0, 0.0, -1.0, np.nan, np.inf])
def test_tail_probabilities_are_scipys_own_floats(df):
    """chi2_sf, f_sf and t_sf skip rv_continuous.sf's per-call overhead; they must return its floats,
    edge cases included (x at or below the support, infinite, NaN; invalid degrees of freedom)."""
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.exponential(3.0, 2000), [0.0, -1.0, np.inf, -np.inf, np.nan, 1e-300, 1e300]])
    for v in (x, x - 3.0):
        np.testing.assert_array_equal(S.chi2_sf(v, df), sps.chi2.sf(v, df))
        np.testing.assert_array_equal(S.t_sf(v, df), sps.t.sf(v, df))
        for dfd in (1.0, 5.0, 0.0, np.nan, np.inf):
            np.testing.assert_array_equal(S.f_sf(v, df, dfd), sps.f.sf(v, df, dfd))
    dfs = rng.uniform(0.5, 80.0, len(x))
    np.testing.assert_array_equal(S.t_sf(x, dfs), sps.t.sf(x, dfs))
