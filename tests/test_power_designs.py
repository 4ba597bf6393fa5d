"""Rollout designs and design files (``sim/power/``): theory, not stored outputs.

- schedules and variances: the GLS variance equals Hussey & Hughes' closed form on complete designs and
  the textbook two-sample variance on a parallel design; removing measurements costs precision; the
  implementation lag shrinks the recovered effect by the GLS weights;
- simulation: MixedLM power on normal data agrees with the closed form within 3 Monte Carlo SEs (small
  version here, 2,000 trials in ``test_power_slow.py``); the mean estimate recovers the lagged effect;
  trials are deterministic and independent of chunking;
- searches: the fewest clusters found by doubling and bisection equal a linear scan;
- multiplicity: Holm's adjustment equals statsmodels' ``multipletests``;
- design files and the CLI: bad input is one line naming the file and field, exit 2, nothing written;
  a small design runs end to end and resumes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.cli import run_cli
from statsmodels.stats.multitest import multipletests

from sim.power import analytic, evaluate, fits, process, search, stepped, trials
from sim.power.schema import DesignError, design_from_dict, load_design

REPO = Path(__file__).resolve().parents[1]


# --- schedules and variances -----------------------------------------------------------------
@pytest.mark.parametrize("cps", [[1, 1, 1], [3, 3, 3, 3], [9, 9, 9, 8, 8], [2, 5, 1]])
@pytest.mark.parametrize(("s2", "t2"), [(0.1, 0.02), (1.0, 0.0), (0.05, 0.3)])
def test_gls_variance_equals_hussey_hughes_closed_form(cps, s2, t2):
    X = stepped.stepped_wedge_schedule(cps)
    var, bias = stepped.gls_variance(X, s2, t2)
    assert var == pytest.approx(stepped.hussey_hughes_variance(X, s2, t2), rel=1e-10)
    assert bias == pytest.approx(1.0, abs=1e-10)


def test_parallel_variance_and_the_cost_of_missing_cells():
    X = stepped.parallel_schedule(10, treated=4)
    var, _ = stepped.gls_variance(X, 0.1, 0.02)
    assert var == pytest.approx(0.12 * (1 / 4 + 1 / 6), rel=1e-12)
    full = stepped.stepped_wedge_schedule([4, 4, 4])
    stair = stepped.stepped_wedge_schedule([4, 4, 4], before=1, after=1)
    assert np.isnan(stair).sum() > 0
    assert stepped.gls_variance(stair, 0.1, 0.02)[0] > stepped.gls_variance(full, 0.1, 0.02)[0]
    batched = stepped.stepped_wedge_schedule([2, 2, 2], batches=2)
    assert batched.shape == (6, 8) and (np.isfinite(batched).sum(axis=1) == 4).all()
    stepped.check_schedule(batched, stepped=True)


def test_lag_bias_factor_is_the_gls_weight_on_the_true_pattern():
    X = stepped.stepped_wedge_schedule([3, 3, 3, 3])
    F = stepped.lagged_effect(X, 0.4)
    var, bias = stepped.gls_variance(X, 0.08, 0.02, F)
    assert 0.4 < bias < 1.0
    # by hand: the GLS estimator's weights applied to F
    var1, b1 = stepped.gls_variance(X, 0.08, 0.02, X)
    assert b1 == pytest.approx(1.0) and var1 == pytest.approx(var)
    assert stepped.gls_variance(X, 0.08, 0.02, np.zeros_like(X))[1] == pytest.approx(0.0, abs=1e-12)


def test_schedule_checks():
    with pytest.raises(analytic.PowerError, match="never crosses over"):
        stepped.check_schedule(np.array([[0, 1, 1], [0, 0, 0.0]]), stepped=True)
    with pytest.raises(analytic.PowerError, match="returns"):
        stepped.check_schedule(np.array([[0, 1, 0], [0, 0, 1.0]]), stepped=True)
    X = stepped.steps_from_start_months([0, 0, 6, 18], 6)
    assert X.tolist() == [[0, 1, 1, 1, 1], [0, 1, 1, 1, 1], [0, 0, 1, 1, 1], [0, 0, 0, 0, 1]]


def test_no_nan_in_the_normal_power_over_large_effects():
    eff = np.r_[0.0, np.geomspace(1e-3, 1e4, 60)]
    p = stepped.normal_power(eff, 1.0, 0.05)
    assert np.isfinite(p).all() and p[0] == pytest.approx(0.05) and p[-1] == 1.0
    assert np.all(np.diff(p) >= 0)


# --- simulation ----------------------------------------------------------------------------------
def test_mixed_model_power_matches_hussey_hughes_small():
    """Small default-suite version of the slow check (200 trials, one schedule)."""
    X = stepped.stepped_wedge_schedule([3, 3, 3, 3])
    sd, icc, m, eff = 1.0, 0.05, 10, 0.3
    var, _ = stepped.gls_variance(X, (1 - icc) * sd**2 / m, icc * sd**2)
    ana = float(stepped.normal_power(eff, np.sqrt(var)))
    spec = trials.TrialSpec(X=X, kind="continuous", control=0.0, effect=eff, sd=sd, icc=icc, m=m)
    d = trials.simulate_trials(spec, eff, range(200), seed=3)
    ok = d["status"] != "not converged"
    p = float(((d["p"] < 0.05) & ok).mean())
    assert 0.3 < ana < 0.9
    assert abs(p - ana) < 3 * np.sqrt(ana * (1 - ana) / 200) + 0.01  # + not-converged share (a few in 200)
    assert d.loc[ok, "estimate"].mean() == pytest.approx(eff, abs=3 * np.sqrt(var / ok.sum()))


def test_simulated_estimate_recovers_the_lagged_effect():
    """The GLS weights at the true variances predict the mixed model's mean estimate when the lag's misfit is
    small against the noise (the model then estimates nearly the true variance components)."""
    X = stepped.stepped_wedge_schedule([4, 4, 4])
    spec = trials.TrialSpec(X=X, kind="continuous", control=0, effect=0.5, sd=1.0, icc=0.1, m=10, lag=0.2)
    var, bias = stepped.gls_variance(X, 0.9 / 10, 0.1, stepped.lagged_effect(X, 0.2))
    d = trials.simulate_trials(spec, 0.5, range(150), seed=5)
    est = d.loc[d["status"] != "not converged", "estimate"]
    assert abs(est.mean() - 0.5 * bias) < 3 * np.sqrt(var / len(est))
    assert bias < 0.85 and est.mean() < 0.5 - 3 * np.sqrt(var / len(est))  # clearly below the full effect


def test_trials_are_deterministic_and_independent_of_chunking():
    X = stepped.parallel_schedule(8, baseline=True)
    spec = trials.TrialSpec(
        X=X, kind="binary", control=0.3, effect=0.2, icc=0.05, m=12, cv=0.3, analyses=("cluster_t", "mixed", "gee")
    )
    whole = trials.simulate_trials(spec, 0.2, range(6), seed=9)
    parts = pd.concat(
        [
            trials.simulate_trials(spec, 0.2, range(2), seed=9),
            trials.simulate_trials(spec, 0.2, range(2, 6), seed=9),
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(whole, parts)
    assert set(whole["analysis"]) == {"cluster_t", "mixed", "gee"}
    assert set(whole["status"]) <= {"converged", "singular", "not converged"}


def test_gee_recovers_a_known_log_odds_ratio():
    rng = np.random.default_rng(2)
    X = stepped.parallel_schedule(20, baseline=True)
    n = np.full(X.shape, 120)
    p = np.where(X == 1, 0.5, 0.3)
    yes = rng.binomial(n, p).astype(float)
    est, se, pval, status = fits.gee(yes, n, X)
    true = np.log(0.5 / 0.5) - np.log(0.3 / 0.7)
    assert status in ("converged", "singular") and abs(est - true) < 3 * se and pval < 1e-6


def test_cluster_t_matches_the_two_sample_t():
    from scipy import stats as sps

    rng = np.random.default_rng(4)
    means = rng.normal(size=(10, 1))
    X = stepped.parallel_schedule(10)
    est, se, p, _ = fits.cluster_t(means, X)
    ref = sps.ttest_ind(means[:5, 0], means[5:, 0])
    assert p == pytest.approx(ref.pvalue, rel=1e-10) and est / se == pytest.approx(ref.statistic, rel=1e-10)


# --- multiplicity and searches ----------------------------------------------------------------------
def test_holm_and_bonferroni_equal_statsmodels(monkeypatch):
    # statsmodels' Holm branch calls gc.collect() on every call (statsmodels/stats/multitest.py), a full
    # collection of this process's heap 100 times (6-20 s in a test worker); it changes no number
    import gc

    monkeypatch.setattr(gc, "collect", lambda *a, **k: 0)
    rng = np.random.default_rng(0)
    P = rng.uniform(0, 0.1, size=(50, 4))
    for method in ("holm", "bonferroni"):
        ours = evaluate.adjust(P, method)
        ref = np.array([multipletests(r, method=method)[1] for r in P])
        np.testing.assert_allclose(ours, ref, rtol=1e-12)


def _explicit(**kw) -> dict:
    base = {
        "name": "t",
        "type": "stepped_wedge",
        "clusters": 12,
        "cluster_size": 10,
        "schedule": {"steps": 4},
        "outcomes": [{"name": "y", "kind": "continuous", "control": 0, "effect": 0.3, "sd": 1, "icc": 0.05}],
        "trials": 20,
    }
    base.update(kw)
    return base


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"schedule": {"steps": 3, "before": 1, "after": 1}},
        {"type": "parallel_cluster", "schedule": None, "analyses": ["cluster_t"]},
        {"type": "parallel_baseline", "schedule": None, "implementation_lag": 0.5},
    ],
    ids=["complete", "incomplete", "parallel", "baseline"],
)
def test_fewest_clusters_search_agrees_with_a_linear_scan(kw):
    plan = evaluate.resolve(design_from_dict(_explicit(**kw)))
    for target in (0.5, 0.8, 0.9):
        assert search.fewest_clusters(plan, 0, target) == search.fewest_clusters_linear(plan, 0, target)


def test_smallest_size_and_mde_invert_the_power():
    plan = evaluate.resolve(design_from_dict(_explicit(clusters=24)))
    o = plan.outcomes[0]
    m = search.smallest_cluster_size(plan, 0, 0.8)
    assert evaluate.analytic_power(plan, o, 24, m, o.effect, 0.05)["power_analytic"] >= 0.8
    assert evaluate.analytic_power(plan, o, 24, m - 1, o.effect, 0.05)["power_analytic"] < 0.8
    mde = search.minimum_detectable_effect(plan, 0, 0.8)
    assert evaluate.analytic_power(plan, o, 24, plan.m, mde, 0.05)["power_analytic"] == pytest.approx(0.8, abs=1e-3)


def test_parallel_design_reproduces_the_cluster_trial_power():
    d = design_from_dict(
        _explicit(
            type="parallel_cluster",
            schedule=None,
            clusters=12,
            attrition=0.2,
            cluster_size_cv=0.3,
            outcomes=[{"name": "ben_mood", "control": 0.35, "effect": 0.25, "icc": 0.08}],
        )
    )
    plan = evaluate.resolve(d)
    r = evaluate.analytic_power(plan, plan.outcomes[0], 12, 10, 0.25, 0.05)
    ref = analytic.cluster_trial_power(6, control=0.35, intervention=0.6, m=10, completion=0.8, icc=0.08, cv=0.3)
    assert r["power_cluster_t_analytic"] == ref["power_cluster_t"].iloc[0]
    assert r["power_design_effect"] == ref["power_normal"].iloc[0]


# --- process data ------------------------------------------------------------------------------
def test_process_retention_and_ramp_from_known_frames():
    dpm = process.DAYS_PER_MONTH
    cons = pd.DataFrame(
        {
            "replication": 0,
            "community": ["A"] * 4,
            "wave": "w",
            "evaluated": 1,
            "exit_day": [np.nan, 0.5 * dpm, 2.5 * dpm, np.nan],
            "ben_mood": [1, 0, 1, 1],
        }
    )
    comm = pd.DataFrame({"replication": [0], "community": ["A"], "start_day": [0.0], "end_day": [12 * dpm]})
    sess = pd.DataFrame(
        {
            "replication": 0,
            "community": "A",
            "status": "held",
            "day": [(t + 0.5) * dpm for t in range(12)],
            "n_attended": [1] + [2] * 11,
        }
    )
    p = process.reduce_process([process.process_chunk({"consumers": cons, "communities": comm, "sessions": sess})])
    assert p.retention.loc[0] == 1.0 and p.retention.loc[1] == 0.75 and p.retention.loc[3] == 0.5
    assert np.isnan(p.retention.loc[13])  # past the simulated months
    assert p.ramp.loc[0] == pytest.approx(0.5) and p.ramp.loc[5] == pytest.approx(1.0)
    assert p.lag_fraction(1) == pytest.approx(0.5) and p.lag_fraction(6) == pytest.approx((0.5 + 5) / 6)


# --- design files and the CLI ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"alpha": 1.5}, "alpha"),
        (
            {"outcomes": [{"name": "y", "kind": "continuous", "control": 0, "effect": -0.3, "sd": 1, "icc": 0}]},
            "effect",
        ),
        ({"schedule": {"matrix": [[0, 1], [0, 0]]}, "clusters": None}, "never crosses over"),
        ({"clusters": 10**9}, "clusters"),
        ({"clusters": 12.5}, "clusters"),
        ({"schedule": {"steps": 4}, "colour": "red"}, "colour"),
    ],
)
def test_bad_design_is_one_line_naming_the_field(kw, field):
    with pytest.raises((DesignError, analytic.PowerError)) as e:
        evaluate.resolve(design_from_dict(_explicit(**kw), "d.yaml"))
    msg = str(e.value)
    assert "\n" not in msg and field in msg


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python cli.py power ARGS`` (in this process: tests/helpers/cli.py)."""
    return run_cli("power", *args, cwd=cwd)


def test_cli_design_bad_input_and_a_small_run(tmp_path):
    import yaml

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_explicit(schedule={"matrix": [[0, 1, 1], [0, 0, 0]]}, clusters=None)))
    for args in ([str(bad)], [str(bad), "--clusters", "1000000000"]):
        p = _cli(*args, "-q", "--workers", "1", cwd=tmp_path)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("error:")
    good = tmp_path / "sw.yaml"
    good.write_text(
        yaml.safe_dump(
            _explicit(
                outcomes=[
                    {"name": "ben_mood", "control": 0.35, "effect": 0.2, "icc": 0.05},
                    {"name": "y", "kind": "continuous", "control": 0, "effect": 0.3, "sd": 1, "icc": 0.05},
                ],
                trials=6,
            )
        )
    )
    for args in (["--alpha", "0"], ["--clusters", "2.5"]):
        p = _cli(str(good), *args, "-q", "--workers", "1", cwd=tmp_path)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "outputs").exists()
    p = _cli(str(good), "-q", "--workers", "1", "--clusters", "8,12", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "outputs" / "sw_power"
    names = {x.name for x in out.iterdir()}
    assert {"report.md", "power.csv", "joint_power.csv", "searches.csv", "power_curve.png", "schedule.png"} <= names
    t = pd.read_csv(out / "power.csv")
    assert set(t["clusters"]) == {8, 12} and set(t["analysis"]) == {"mixed", "gee"}
    assert t["power_analytic"].notna().all() and t["type1_error"].notna().all()
    assert not [x for x in out.parent.iterdir() if x.name.startswith(".")]  # no work or temporary folder left


def test_resume_reuses_finished_tasks(tmp_path):
    from sim.power import run

    d = design_from_dict(_explicit(trials=30))
    out = tmp_path / "o"
    a = run.evaluate_design(d, out, workers=1)
    work = out.parent / f".{out.name}.work"
    files = sorted(work.glob("task-*.parquet"))
    assert len(files) == 4  # 30 trials in tasks of 25, alternative and null
    files[0].unlink()
    b = run.evaluate_design(d, out, workers=1, resume=True)
    pd.testing.assert_frame_equal(a.table, b.table)
    with pytest.raises(analytic.PowerError, match="cannot resume"):
        run.evaluate_design(d.model_copy(update={"trials": 31}), out, workers=1, resume=True)


def test_results_do_not_depend_on_the_number_of_workers():
    from sim.power import run

    d = design_from_dict(
        _explicit(trials=8, outcomes=[{"name": "ben_mood", "control": 0.3, "effect": 0.2, "icc": 0.05}])
    )
    one = run.evaluate_design(d, workers=1)
    two = run.evaluate_design(d, workers=2)
    pd.testing.assert_frame_equal(one.table, two.table)


def test_shipped_designs_are_valid():
    for f in sorted((REPO / "designs").glob("*.yaml")):
        d = load_design(f)
        assert d.name == f.stem


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x80\xff\x00binary", "not a YAML text file"),
        (b"[" * 5000, "nested too deeply"),
        (b"type: [unclosed", "malformed YAML"),
    ],
)
def test_unreadable_design_files_are_one_line_errors(tmp_path, content, message):
    """Design files are read by the scenario loader's reader: binary, deeply nested and malformed
    YAML each raise DesignError with one line naming the file (a deeply nested file used to end in
    a RecursionError traceback)."""
    from sim.power.schema import DesignError, load_design

    path = tmp_path / "design.yaml"
    path.write_bytes(content)
    with pytest.raises(DesignError, match=message) as info:
        load_design(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)
