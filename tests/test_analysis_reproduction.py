"""Reproduction of every test statistic and p-value Fan et al. (2019) print, to printed precision.

Groups: (1) the chi-square results and the rule that produces them (Pearson statistic; Fisher's
exact p for 2x2 tables with an expected count < 5) - and that the common alternatives do not;
(2) the consumer wave t tests, first by the pooled-variance derivation from Table 4's overall mean,
SD and n, then from 1-5 answers consistent with Table 4, which show that the
printed t is Welch's (Levene significant) with n = 41; (3) the same figures through the whole
pipeline (frames -> analyze_chunk / paper_summaries).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers.analysis_fixtures import PUNCTUALITY, RICHNESS, paper_frames
from scipy import stats as sps

from sim import instruments as ins
from sim.analysis import analyze_chunk, paper_summaries
from sim.analysis import stats as S

T4 = {it.column: it for it in ins.CONSUMER_SATISFACTION}


def _printed(x: float, nd: int = 3) -> float:
    return round(x + 0.0, nd)


# --- (1) chi-square ---------------------------------------------------------------------------
def _retention_counts(role: str):
    (k1, n1), (k2, n2) = ins.PAPER_RETENTION[(role, "initial")], ins.PAPER_RETENTION[(role, "later")]
    return k1, n1, k2, n2


@pytest.mark.parametrize(
    ("role", "key"), [("provider", "provider_retention_by_wave"), ("consumer", "consumer_retention_by_wave")]
)
def test_retention_chi2_and_p_as_printed(role, key):
    printed = ins.PAPER_TESTS[key]
    r = S.compare_counts(*_retention_counts(role))
    assert r.test == S.FISHER  # small expected counts: SPSS's Fisher row is the p printed
    assert _printed(r.statistic) == printed["statistic"]
    assert r.df == printed["df"]
    assert _printed(r.p) == printed["p"]


def test_work_skill_chi2_and_p_as_printed():
    printed = ins.PAPER_TESTS["work_skill_provider_vs_consumer"]
    prov = next(it for it in ins.PROVIDER_BENEFITS if it.column == "ben_work_skill")
    cons = next(it for it in ins.CONSUMER_BENEFITS if it.column == "ben_work_skill")
    r = S.compare_counts(prov.paper_count, prov.paper_n, cons.paper_count, cons.paper_n)
    assert _printed(r.statistic) == printed["statistic"]
    assert r.p < printed["p_upper"]
    # Bonferroni over the 14 Table 3 items: still significant, as the paper says
    assert r.p < 0.05 / len(ins.PROVIDER_BENEFITS)


def test_other_chi2_variants_do_not_reproduce_the_paper():
    """The rule is identified by the figures: Yates-corrected statistics and Pearson p's differ."""
    k1, n1, k2, n2 = _retention_counts("provider")
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]])
    yates = sps.chi2_contingency(table, correction=True)
    pearson = sps.chi2_contingency(table, correction=False)
    assert _printed(yates.statistic) != ins.PAPER_TESTS["provider_retention_by_wave"]["statistic"]
    assert _printed(pearson.pvalue) != ins.PAPER_TESTS["provider_retention_by_wave"]["p"]
    k1, n1, k2, n2 = _retention_counts("consumer")
    pearson = sps.chi2_contingency(np.array([[k1, n1 - k1], [k2, n2 - k2]]), correction=False)
    assert _printed(pearson.pvalue) != ins.PAPER_TESTS["consumer_retention_by_wave"]["p"]


def test_large_expected_counts_use_pearson_p():
    """Rule, not special case: with all expected counts >= 5 the p is Pearson's asymptotic p."""
    r = S.compare_counts(30, 50, 15, 50)
    ref = sps.chi2_contingency(np.array([[30, 20], [15, 35]]), correction=False)
    assert r.test == S.PEARSON
    assert r.statistic == pytest.approx(ref.statistic)
    assert r.p == pytest.approx(ref.pvalue)


def test_bonferroni_threshold_for_six_demographic_variables():
    _, thr, sig = S.bonferroni(np.array([0.008, 0.009]), 6)
    assert f"{thr[0]:.2e}" == "8.33e-03" and thr[0] == pytest.approx(ins.BONFERRONI_DEMOGRAPHIC_THRESHOLD, abs=5e-6)
    assert sig.tolist() == [True, False]


# --- (2) consumer wave t tests ------------------------------------------------------------------
@pytest.mark.parametrize("item", ["sat_punctuality", "sat_richness"])
def test_wave_t_from_overall_mean_sd_n(item):
    """Split Table 4's overall mean/SD (n = 42: 26 + 16) by the printed t under
    pooled-variance algebra, test the two waves from their summaries, and recover t and p."""
    t_print, p_print = ins.CONSUMER_WAVE_T[item]
    it = T4[item]
    n1, n2 = ins.PAPER_RETENTION[("consumer", "initial")][0], ins.PAPER_RETENTION[("consumer", "later")][0]
    assert n1 + n2 == it.paper_n
    m1, m2, sp = S.wave_split_from_overall(it.paper_mean, it.paper_sd, n1, n2, t_print)
    # the split keeps the overall mean and SD
    n = n1 + n2
    assert (n1 * m1 + n2 * m2) / n == pytest.approx(it.paper_mean)
    total_ss = (n - 2) * sp**2 + n1 * n2 / n * (m1 - m2) ** 2
    assert np.sqrt(total_ss / (n - 1)) == pytest.approx(it.paper_sd)
    assert m1 < m2  # the later communities rated higher (Results)
    r = S.ttest_from_summary(m1, sp, n1, m2, sp, n2, equal_var=True)
    assert r.df == n - 2
    assert _printed(r.statistic) == t_print
    assert _printed(r.p) == p_print


def _answers(counts) -> np.ndarray:
    return np.repeat(np.arange(1, 6), counts)


@pytest.mark.parametrize(("item", "spec"), [("sat_punctuality", PUNCTUALITY), ("sat_richness", RICHNESS)])
def test_wave_t_from_answers_is_welch_after_levene(item, spec):
    """1-5 answers (25 initial + 16 later) with Table 4's mean and SD reproduce the printed t and p
    under the paper's rule: Levene significant -> Welch. Student's t of the same data does not."""
    t_print, p_print = ins.CONSUMER_WAVE_T[item]
    it = T4[item]
    x, y = _answers(spec["initial"]), _answers(spec["later"])
    both = np.concatenate([x, y])
    assert round(both.mean(), 2) == it.paper_mean and round(both.std(ddof=1), 3) == it.paper_sd
    assert sps.levene(x, y, center="mean").pvalue < 0.05
    r = S.compare_continuous(x, y)
    assert r.test == S.WELCH
    assert _printed(r.statistic) == t_print and _printed(r.p) == p_print
    student = S.compare_continuous(x, y, method="student")
    assert _printed(student.statistic) != t_print


def test_no_42_answers_match_table4_punctuality():
    """Why n = 41: no 42 answers on 1-5 have mean 4.02 and SD 0.474 to printed precision."""
    it = T4["sat_punctuality"]
    for n in (42, 41):
        found = False
        for c in itertools.product(range(n + 1), repeat=4):
            if sum(c) > n:
                continue
            counts = np.array((*c, n - sum(c)))
            v = np.arange(1, 6)
            m = (counts * v).sum() / n
            if round(m, 2) != it.paper_mean:
                continue
            sd = np.sqrt(((counts * (v - m) ** 2).sum()) / (n - 1))
            if round(sd, 3) == it.paper_sd:
                found = True
                break
        assert found == (n == 41)


# --- (3) through the pipeline ------------------------------------------------------------------
def test_pipeline_reproduces_the_printed_tests():
    res = analyze_chunk(paper_frames())
    t = res["tests"].set_index(["family", "item"])
    prov = t.loc[("retention.provider", "evaluated")]
    cons = t.loc[("retention.consumer", "evaluated")]
    work = t.loc[("T3.provider_vs_consumer", "ben_work_skill")]
    for row, key in ((prov, "provider_retention_by_wave"), (cons, "consumer_retention_by_wave")):
        assert _printed(row["statistic"]) == ins.PAPER_TESTS[key]["statistic"]
        assert _printed(row["p"]) == ins.PAPER_TESTS[key]["p"]
        assert not row["significant"]
    assert _printed(work["statistic"]) == ins.PAPER_TESTS["work_skill_provider_vs_consumer"]["statistic"]
    assert work["p"] < 0.001 and work["significant"]
    for item, (t_print, p_print) in ins.CONSUMER_WAVE_T.items():
        row = t.loc[("S4.consumer", item)]
        assert row["groups"] == "initial vs later"
        assert _printed(row["statistic"]) == t_print and _printed(row["p"]) == p_print
        assert row["significant"]  # below 0.05/7, as the paper calls them significant
    # Table 4 cells as printed
    c = res["cells"].set_index(["table", "row", "column"])["value"]
    for item in CONSUMER_ITEMS_PRINTED:
        assert round(c[("table4", item, "all_mean")], 2) == T4[item].paper_mean
        assert round(c[("table4", item, "all_sd")], 3) == T4[item].paper_sd
    s = paper_summaries(paper_frames())
    assert _printed(s.loc[0, "consumer.sat_punctuality.t"]) == ins.CONSUMER_WAVE_T["sat_punctuality"][0]
    assert s.loc[0, "retention.consumer.initial.evaluated"] == 26


CONSUMER_ITEMS_PRINTED = ("sat_punctuality", "sat_richness")
