"""Analytic power without NaN (``sim/power/analytic.py``): the two-sided noncentral t written with survival
functions agrees with statsmodels wherever statsmodels' form is finite, and stays finite, within
[0, 1] and monotone in the noncentrality far into the tail where ``scipy.stats.nct.cdf`` returns NaN."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.power import NormalIndPower, TTestIndPower, TTestPower

from sim import power as pw

NCS = np.r_[0.0, np.geomspace(0.01, 5000.0, 80)]
DFS = [1, 2, 3, 4, 6, 10, 18, 38, 100, 1000, np.inf]


def test_no_nan_over_a_grid_of_large_noncentralities():
    for df in DFS:
        for sign in (1, -1):
            p = pw.two_sided_t_power(sign * NCS, df, 0.05)
            assert np.isfinite(p).all(), df
            assert ((p >= 0) & (p <= 1)).all()
            assert np.all(np.diff(p) >= -1e-12), df  # power rises with |nc|
            assert p[0] == pytest.approx(0.05, abs=1e-9)  # no effect: the size of the test
            assert p[-1] == pytest.approx(1.0, abs=1e-9)


def test_equals_the_textbook_form_where_that_is_finite():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for df, nc in itertools.product([2, 6, 30, 200], [0.0, 0.3, 1.0, 2.5, 4.0, 8.0, 20.0]):
            c = sps.t.isf(0.025, df)
            ref = sps.nct.sf(c, df, nc) + sps.nct.cdf(-c, df, nc)
            if np.isfinite(ref):
                assert pw.two_sided_t_power(nc, df, 0.05) == pytest.approx(ref, rel=1e-9, abs=1e-12)
            # statsmodels' one-sample t power with nobs = df + 1 has the same noncentral t
            sm = TTestPower().power(effect_size=nc / np.sqrt(df + 1), nobs=df + 1, alpha=0.05)
            if np.isfinite(sm):
                assert pw.two_sided_t_power(nc, df, 0.05) == pytest.approx(sm, rel=1e-9, abs=1e-12)
    # df = inf is the z test: statsmodels' NormalIndPower with noncentrality es sqrt(n / 2) = 1.96
    z = pw.two_sided_t_power(1.96, np.inf, 0.05)
    assert z == pytest.approx(NormalIndPower().power(effect_size=1.96 / np.sqrt(50), nobs1=100, alpha=0.05), rel=1e-12)


@pytest.mark.parametrize(
    ("kind", "control", "intervention", "sd"),
    [("binary", 0.3, 0.77, None), ("binary", 0.35, 0.6, None), ("continuous", 3.0, 4.3, 0.7)],
)
def test_cluster_trial_power_has_no_nan_and_matches_statsmodels_where_finite(kind, control, intervention, sd):
    """The grid of the independent check (sat_overall against 0.3, sat_manners against 3.0): previously NaN
    near power 1 in both the cluster-t and (continuous) the normal column."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for m, icc, cv, comp in itertools.product([5, 12, 30], [0.0, 0.02, 0.1, 0.3], [0.0, 0.4], [0.6, 1.0]):
            kw = {"control": control, "intervention": intervention, "sd": sd, "kind": kind}
            t = pw.cluster_trial_power([2, 3, 4, 6, 8, 10, 15, 20, 50, 500], m=m, icc=icc, cv=cv, completion=comp, **kw)
            for col in ("power_normal", "power_cluster_t"):
                assert np.isfinite(t[col]).all() and t[col].between(0, 1).all()
                assert np.all(np.diff(t[col]) >= -1e-12)
            if kind == "continuous":
                for _, r in t.iterrows():
                    ref = TTestIndPower().power(
                        effect_size=r["effect_size"], nobs1=r["n_effective_per_arm"], alpha=0.05, ratio=1.0
                    )
                    if np.isfinite(ref):
                        assert r["power_normal"] == pytest.approx(ref, rel=1e-9, abs=1e-12)
