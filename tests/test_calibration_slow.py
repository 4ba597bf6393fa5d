"""Slow calibration checks (``pytest -m slow``; excluded by default and in CI).

- the analytic check on the real model: with attendance, cancellation, community and rural effects
  on dropout switched off, the model's consumer retention is the constant-hazard sub-model, and the
  ABC posterior of the hazard from the initial wave's 26/32 at 18 months matches the exact grid posterior;
- parameter recovery: known parameters -> one simulated study at the paper's sizes -> calibrate ->
  the known values fall inside the 95% credible intervals (coverage over several cases);
- the committed calibration fits: ``paper_study`` with ``calibrated.yaml`` (a few hundred
  replications) puts each paper figure inside its 95% predictive interval, except the structural
  misfits named in ``calibration/report.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CALIBRATED = ROOT / "calibration" / "calibrated.yaml"

# Targets the committed calibration is allowed to miss, each with its reason (see report.md).
KNOWN_MISFITS: dict[str, str] = {}


def _initial_only_problem():
    from sim.calibration.abc import Prior
    from sim.scenario import load_scenario

    scen = load_scenario(ROOT / "scenarios" / "initial_wave.yaml")
    base = scen.parameters.replace(
        dropout_attendance_log_hr=0.0,
        dropout_cancellation_log_hr=0.0,
        dropout_community_loading=0.0,
        community_effect_sd=0.0,
    )
    return scen, base, Prior({"consumer_dropout_hazard_per_month": {"dist": "uniform", "low": 0.0, "high": 0.08}})


def _retained(frames):
    c = frames["consumers"]
    return c.groupby("replication", sort=True)["evaluated"].sum().to_frame("retained").reset_index(drop=True)


def test_analytic_retention_on_the_real_model():
    from sim.calibration.abc import abc_smc
    from sim.calibration.core import parameters_from_vector
    from sim.runner import ReplicationPool, map_replications

    scen, base, prior = _initial_only_problem()
    names = prior.names

    with ReplicationPool(workers=2) as pool:

        def simulate(thetas, reps):
            params = [parameters_from_vector(base, names, th) for th in thetas]
            df = map_replications(
                _retained, scen, [int(r) for r in reps], seed=99, parameters_per_rep=params, pool=pool
            )
            return df[["retained"]].to_numpy(dtype=float)

        res = abc_smc(simulate, lambda s: np.abs(s[:, 0] - 26.0), prior, population_size=1000, seed=4, min_epsilon=0.0)
    assert res.posterior.epsilon == 0.0, res.stop_reason
    g = res.posterior
    grid = np.linspace(0, 0.08, 40_001)
    lik = stats.binom.pmf(26, 32, np.exp(-18 * grid))
    cdf = np.cumsum(lik) / lik.sum()
    h, w = g.theta[:, 0], g.weights
    o = np.argsort(h)
    for q in (0.1, 0.5, 0.9):
        assert abs(np.interp(q, np.cumsum(w[o]), h[o]) - np.interp(q, cdf, grid)) < 0.002, q


def test_parameter_recovery_coverage():
    from sim.calibration.recovery import recover

    df = recover(cases=3, budget=4000, population=150, seed=11, workers=2, log=lambda *_: None)
    coverage = df["inside"].mean()
    print(f"recovery coverage: {coverage:.0%} of {len(df)} intervals")
    assert coverage >= 0.8


@pytest.mark.skipif(not CALIBRATED.exists(), reason="no committed calibration")
def test_committed_calibration_fits_paper_study():
    from sim.calibration.core import Problem, RunnerSimulator
    from sim.calibration.run import fit_table
    from sim.runner import ReplicationPool
    from sim.scenario import scenario_from_dict

    with open(ROOT / "scenarios" / "paper_study.yaml", encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    raw["parameter_set"] = "../calibration/calibrated.yaml"
    scen = scenario_from_dict(raw, "paper_study+calibrated", base_dir=ROOT / "scenarios")
    problem = Problem.default()
    problem.scenario = scen
    problem.base = scen.parameters
    reps = 400
    with ReplicationPool(workers=2) as pool:
        sim = RunnerSimulator(problem, pool, seed=scen.seed)
        df = sim.run([scen.parameters] * reps, list(range(reps)))
    x = df[problem.ids].to_numpy(dtype=float)
    fit = fit_table(problem, x, x, None)
    outside = set(fit.loc[~fit["inside"], "target"])
    assert outside <= set(KNOWN_MISFITS), sorted(outside - set(KNOWN_MISFITS))


@pytest.mark.skipif(not CALIBRATED.exists(), reason="no committed calibration")
def test_committed_calibration_is_current():
    """The files that determine the calibration (model, summaries, targets, priors, paper_study) are
    unchanged since calibrated.yaml was written; if this fails, rerun `python cli.py calibrate`."""
    from sim.calibration.run import model_sources_hash

    with open(CALIBRATED, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    assert doc["model_sources_sha256"] == model_sources_hash(), "model or calibration inputs changed: recalibrate"
