"""Slow statistical checks of the rollout-design power (``pytest -m slow``; 2,000 simulated trials each):

- Hussey & Hughes' closed-form (GLS) power against the simulated power of the mixed model (statsmodels
  MixedLM on cluster-period means) on normal data, within 3 Monte Carlo SEs, for a complete, an incomplete
  (staircase) and a batched stepped-wedge schedule;
- GEE with the Mancl-DeRouen correction keeps its type I error within 3 Monte Carlo SEs of 0.05 with 8
  and 12 clusters.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.power import stepped, trials

R = 2000
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]  # 2,000 fits per test: minutes on a shared machine


@pytest.mark.parametrize(
    "X",
    [
        stepped.stepped_wedge_schedule([5, 5, 5, 5]),
        stepped.stepped_wedge_schedule([4, 4, 4, 4, 4], before=1, after=1),
        stepped.stepped_wedge_schedule([8, 8, 8], batches=2),
    ],
    ids=["complete", "incomplete", "batched"],
)
def test_hussey_hughes_against_mixed_model_simulation(X):
    sd, icc, m, eff = 1.0, 0.05, 10, 0.25
    var, _ = stepped.gls_variance(X, (1 - icc) * sd**2 / m, icc * sd**2)
    ana = float(stepped.normal_power(eff, np.sqrt(var)))
    assert 0.3 < ana < 0.95
    spec = trials.TrialSpec(X=X, kind="continuous", control=0.0, effect=eff, sd=sd, icc=icc, m=m)
    d = trials.simulate_trials(spec, eff, range(R), seed=11)
    ok = d["status"] != "not converged"
    assert ok.mean() > 0.95
    p = float((d.loc[ok, "p"] < 0.05).mean())
    assert abs(p - ana) < 3 * np.sqrt(ana * (1 - ana) / ok.sum()), (p, ana)


@pytest.mark.parametrize(
    "X",
    [stepped.parallel_schedule(8, baseline=True), stepped.stepped_wedge_schedule([3, 3, 3, 3])],
    ids=["parallel-baseline-8", "stepped-wedge-12"],
)
def test_gee_mancl_derouen_type_one_error(X):
    spec = trials.TrialSpec(X=X, kind="binary", control=0.35, effect=0.2, icc=0.05, m=10, cv=0.3, analyses=("gee",))
    d = trials.simulate_trials(spec, 0.0, range(R), seed=12, null=True)
    ok = d["status"] != "not converged"
    assert ok.mean() > 0.95
    t1 = float((d.loc[ok, "p"] < 0.05).mean())
    assert abs(t1 - 0.05) < 3 * np.sqrt(0.05 * 0.95 / ok.sum()), t1
