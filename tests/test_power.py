"""Power analysis for a future cluster-randomised trial (``sim/power/``). Every test asserts theory,
not stored outputs:

- analytic power: reduces to statsmodels' two-proportion power without clustering; the design
  effects are the exact variance ratios they claim to be; power rises with clusters and falls with
  the ICC; the cluster-level t and the normal method meet with many clusters; ``clusters_needed``
  inverts the power function;
- ICC estimator: equals the textbook (F - 1) / (F + n0 - 1) of a one-way ANOVA; recovers a known ICC
  from beta-binomial data with unequal cluster sizes; degenerate data give NaN with a reason;
- the reduction does not depend on chunking; the simulated power is deterministic, agrees with an
  exact enumeration (ICC 0) and with the analytic cluster-level t (ICC > 0) within Monte Carlo error;
- on the model: no community effect gives an ICC near 0, a large one a clearly larger ICC;
- the CLI: bad input is one line on stderr, exit 2, nothing written; a small run writes its files.
"""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.cli import run_cli
from scipy import stats as sps
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import power_proportions_2indep, proportion_effectsize

from sim import power as pw
from sim.analysis.stats import t_tests
from sim.scenario import scenario_from_dict

REPO = Path(__file__).resolve().parents[1]


# --- helpers ----------------------------------------------------------------------------------
def beta_binomial_frames(
    R: int,
    sizes: list[int],
    p: float,
    rho: float,
    seed: int = 1,
    outcome: str = "ben_mood",
    evaluated_share: float = 1.0,
) -> dict[str, pd.DataFrame]:
    """Consumers of R replications, communities of the given sizes, answers beta-binomial(p, rho)."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(R):
        for j, n in enumerate(sizes):
            pj = rng.beta(p * (1 - rho) / rho, (1 - p) * (1 - rho) / rho) if rho > 0 else p
            y = (rng.random(n) < pj).astype(float)
            ev = (rng.random(n) < evaluated_share).astype(int)
            rows.append(
                pd.DataFrame(
                    {"replication": r, "community": f"C{j:02d}", "evaluated": ev, outcome: np.where(ev == 1, y, np.nan)}
                )
            )
    return {"consumers": pd.concat(rows, ignore_index=True)}


def synthetic_design(R: int, sizes: list[int], p: float, rho: float, seed: int = 1, **kw) -> pw.DesignInputs:
    return pw.reduce_design(pw.design_chunk(beta_binomial_frames(R, sizes, p, rho, seed, **kw)), "synthetic", seed)


# --- analytic power ---------------------------------------------------------------------------
@pytest.mark.parametrize(("p1", "p0", "k", "m"), [(0.6, 0.4, 5, 20), (0.77, 0.35, 3, 8), (0.3, 0.2, 20, 30)])
def test_no_clustering_equals_statsmodels_two_proportion_power(p1, p0, k, m):
    t = pw.cluster_trial_power(k, control=p0, intervention=p1, m=m, completion=1.0, icc=0.0, cv=0.0)
    n = k * m
    ref = NormalIndPower().power(proportion_effectsize(p1, p0), nobs1=n, alpha=0.05, ratio=1.0)
    assert t["design_effect"].iloc[0] == 1.0 and t["n_effective_per_arm"].iloc[0] == n
    assert t["power_normal"].iloc[0] == pytest.approx(ref, rel=1e-12)
    # the arcsine (Cohen's h) and the unpooled-variance two-proportion z test agree closely
    ref2 = power_proportions_2indep(p1 - p0, p0, n, alpha=0.05).power
    assert t["power_normal"].iloc[0] == pytest.approx(ref2, abs=0.02)


def test_design_effects_are_the_exact_variance_ratios():
    rng = np.random.default_rng(3)
    n = rng.integers(3, 40, size=25).astype(float)
    m, cv = n.mean(), n.std() / n.mean()  # population CV of the cluster sizes
    for rho in (0.0, 0.02, 0.1, 0.4):
        # Var of the size-weighted mean over Var of a simple random sample of the same N (sigma = 1)
        exact_w = np.sum(n * (1 + (n - 1) * rho)) / n.sum() ** 2 / (1 / n.sum())
        assert pw.design_effect(m, rho, cv) == pytest.approx(exact_w, rel=1e-12)
        # Var of the unweighted mean of cluster means, per cluster, relative to sigma^2 / m
        exact_u = m * np.mean(rho + (1 - rho) / n)
        approx_u = pw.design_effect_unweighted(m, rho, cv)
        assert approx_u == pytest.approx(exact_u, rel=0.25)  # delta method for E(1/n)
    assert pw.design_effect(20, 0.05) == pytest.approx(1 + 19 * 0.05)
    assert pw.design_effect_unweighted(20, 0.05) == pytest.approx(1 + 19 * 0.05)
    # the delta method is close for small CVs
    n2 = np.array([18, 20, 22, 19, 21], float)
    m2, cv2 = n2.mean(), n2.std() / n2.mean()
    assert pw.design_effect_unweighted(m2, 0.05, cv2) == pytest.approx(m2 * np.mean(0.05 + 0.95 / n2), rel=1e-3)


def test_power_increases_with_clusters_and_decreases_with_icc():
    kw = {"control": 0.35, "intervention": 0.6, "m": 12, "completion": 0.8, "cv": 0.3}
    t = pw.cluster_trial_power(list(range(2, 31)), icc=0.05, **kw)
    for col in ("power_normal", "power_cluster_t"):
        assert np.all(np.diff(t[col]) > 0)
    assert (t["power_cluster_t"] < t["power_normal"]).iloc[:5].all()  # few clusters: the t is more honest
    by_icc = [pw.cluster_trial_power(6, icc=r, **kw).iloc[0] for r in (0.0, 0.01, 0.05, 0.1, 0.3)]
    for col in ("power_normal", "power_cluster_t"):
        assert np.all(np.diff([x[col] for x in by_icc]) < 0)
    # completion: fewer consumers analysed, less power
    low = pw.cluster_trial_power(6, icc=0.05, **{**kw, "completion": 0.5}).iloc[0]
    assert low["power_cluster_t"] < pw.cluster_trial_power(6, icc=0.05, **kw).iloc[0]["power_cluster_t"]


def test_cluster_t_meets_normal_with_many_clusters_and_continuous_uses_the_t():
    t = pw.cluster_trial_power(
        [150], control=4.0, intervention=4.1, sd=0.6, kind="continuous", m=10, completion=0.9, icc=0.05, cv=0.0
    )
    assert t["power_cluster_t"].iloc[0] == pytest.approx(t["power_normal"].iloc[0], abs=0.01)
    # cluster-t by hand: noncentral t with 2(k-1) df
    k, me, rho, sd = 4, 9.0, 0.05, 0.6
    t4 = pw.cluster_trial_power(
        [k], control=4.0, intervention=4.5, sd=sd, kind="continuous", m=10, completion=0.9, icc=rho, cv=0.0
    ).iloc[0]
    nc = 0.5 / np.sqrt(2 * sd**2 * (rho + (1 - rho) / me) / k)
    df = 2 * (k - 1)
    c = sps.t.ppf(0.975, df)
    assert t4["power_cluster_t"] == pytest.approx(sps.nct.sf(c, df, nc) + sps.nct.cdf(-c, df, nc), rel=1e-10)
    assert t4["df_cluster_t"] == 6


@pytest.mark.parametrize("target", [0.8, 0.9])
@pytest.mark.parametrize(("method", "col"), [("cluster_t", "power_cluster_t"), ("normal", "power_normal")])
def test_clusters_needed_inverts_the_power_function(target, method, col):
    kw = {"control": 0.35, "intervention": 0.55, "m": 10, "completion": 0.85, "icc": 0.08, "cv": 0.3}
    k = pw.clusters_needed(target, method=method, **kw)
    assert k >= 2
    assert pw.cluster_trial_power(k, **kw)[col].iloc[0] >= target
    if k > 2:
        assert pw.cluster_trial_power(k - 1, **kw)[col].iloc[0] < target
    with pytest.raises(pw.PowerError):
        pw.clusters_needed(target, method=method, **{**kw, "intervention": 0.35}, max_clusters=500)


def test_analytic_power_refuses_bad_input():
    base = {"control": 0.35, "intervention": 0.6, "m": 10, "completion": 0.8, "icc": 0.05, "cv": 0.2}
    for bad in ({"control": 1.2}, {"intervention": 0.0}, {"icc": np.nan}, {"completion": 0.0}, {"m": -1}):
        with pytest.raises(pw.PowerError):
            pw.cluster_trial_power(4, **{**base, **bad})
    with pytest.raises(pw.PowerError):
        pw.cluster_trial_power(1, **base)


# --- ICC estimator ----------------------------------------------------------------------------
def test_anova_icc_equals_the_f_statistic_form():
    rng = np.random.default_rng(5)
    groups = [rng.normal(rng.normal(0, 0.5), 1, size=s) for s in (3, 8, 15, 6, 11)]
    n = np.array([len(g) for g in groups], float)
    s = np.array([g.sum() for g in groups])
    ss = np.array([(g**2).sum() for g in groups])
    icc, note = pw.anova_icc(n, s, ss)
    F = sps.f_oneway(*groups).statistic
    N, k = n.sum(), len(n)
    n0 = (N - (n**2).sum() / N) / (k - 1)
    assert note == "" and icc == pytest.approx((F - 1) / (F + n0 - 1), rel=1e-10)


def test_anova_icc_degenerate_cases_are_nan_with_a_reason():
    assert pw.anova_icc([5], [2], [2])[1] == "fewer than two communities with answers"
    assert pw.anova_icc([5, 0], [2, 0], [2, 0])[1] == "fewer than two communities with answers"
    assert pw.anova_icc([1, 1, 1], [0, 1, 1], [0, 1, 1])[1] == "no within-community degrees of freedom"
    icc, note = pw.anova_icc([4, 6], [4, 6], [4, 6])  # everyone answered yes
    assert np.isnan(icc) and note == "constant answer"
    # reduced: the note counts them, the ICC is NaN only if nothing was computable
    frames = {
        "consumers": pd.DataFrame(
            {
                "replication": [0, 0, 0, 0, 1, 1, 1, 1],
                "community": list("AABB") * 2,
                "evaluated": 1,
                "sat_overall": [1, 1, 1, 1, 1, 0, 0, 1],
            }
        )
    }
    row = pw.reduce_design(pw.design_chunk(frames)).row("sat_overall")
    assert row["icc_replications"] == 1 and "1 of 2 replications (constant answer)" in row["note"]
    assert np.isfinite(row["icc_raw"])
    one = {"consumers": frames["consumers"].assign(community="A")}
    row = pw.reduce_design(pw.design_chunk(one)).row("sat_overall")
    assert np.isnan(row["icc"]) and "fewer than two communities" in row["note"]
    with pytest.raises(pw.PowerError):
        pw.cluster_trial_power(4, control=0.5, design=row)


@pytest.mark.parametrize("rho", [0.05, 0.2])
def test_icc_estimator_recovers_a_known_icc(rho):
    sizes = [6, 9, 12, 15, 20, 25, 8, 10]
    d = synthetic_design(250, sizes, 0.4, rho, seed=int(rho * 100))
    r = d.row("ben_mood")
    assert r["icc_replications"] == 250 and r["note"] == ""
    # within 3 Monte Carlo SEs plus the estimator's small-sample bias (O(1/N))
    assert abs(r["icc_raw"] - rho) < 3 * r["icc_mc_se"] + 0.01
    assert r["m"] == pytest.approx(np.mean(sizes)) and r["cv_recruited"] == pytest.approx(
        np.std(sizes) / np.mean(sizes)
    )
    assert r["mean"] == pytest.approx(0.4, abs=0.02)


def test_completion_and_sizes_from_the_evaluated():
    d = synthetic_design(40, [10, 20], 0.5, 0.1, seed=2, evaluated_share=0.7)
    r = d.row("ben_mood")
    assert r["completion"] == pytest.approx(0.7, abs=0.03)
    assert r["analysed_per_community"] == pytest.approx(15 * r["completion"], rel=1e-12)
    assert r["answered_share"] == 1.0


def test_reduction_does_not_depend_on_chunking():
    frames = beta_binomial_frames(30, [5, 9, 14], 0.6, 0.1, seed=9)
    whole = pw.reduce_design(pw.design_chunk(frames)).table
    cons = frames["consumers"]
    parts = [
        pw.design_chunk({"consumers": cons[cons["replication"].isin(rs)]})
        for rs in ([20, 21, 22], range(20), range(23, 30))
    ]
    chunked = pw.reduce_design(pd.concat(parts, ignore_index=True)).table
    pd.testing.assert_frame_equal(whole, chunked)


# --- simulated power --------------------------------------------------------------------------
def test_simulated_power_is_deterministic_and_per_cluster_count():
    d = synthetic_design(50, [8, 12], 0.6, 0.05, seed=4)
    a = pw.simulated_power(d, "ben_mood", 0.4, [3, 6], trials=300, seed=11)
    b = pw.simulated_power(d, "ben_mood", 0.4, [6], trials=300, seed=11)
    pd.testing.assert_frame_equal(a.iloc[[1]].reset_index(drop=True), b)
    assert not a.equals(pw.simulated_power(d, "ben_mood", 0.4, [3, 6], trials=300, seed=12))


def test_simulated_power_matches_exact_enumeration_without_clustering():
    """ICC 0, clusters of 4, k = 3 per arm: enumerate every outcome of both arms (5^6 tables)."""
    n, k, p0 = 4, 3, 0.3
    d = synthetic_design(400, [n] * 5, 0.7, 0.0, seed=6)  # no clustering: intervention counts ~ Bin(4, 0.7)
    d.table.loc[d.table["outcome"] == "ben_mood", "icc"] = 0.0  # the control arm: plain binomial
    pool = d.communities[d.communities["outcome"] == "ben_mood"]
    pool_counts = pool["total"].to_numpy()
    q1 = np.bincount(pool_counts.astype(int), minlength=n + 1) / len(pool_counts)  # resampling distribution
    q0 = sps.binom.pmf(np.arange(n + 1), n, p0)
    combos = np.array(list(itertools.product(range(n + 1), repeat=k)))  # (125, 3)
    y1 = np.repeat(combos, len(combos), axis=0)
    y0 = np.tile(combos, (len(combos), 1))
    prob = q1[y1].prod(axis=1) * q0[y0].prod(axis=1)
    m1, m0 = y1 / n, y0 / n
    res = t_tests(
        np.full(len(y1), k),
        m1.mean(1),
        m1.var(1, ddof=1),
        np.full(len(y1), k),
        m0.mean(1),
        m0.var(1, ddof=1),
        method="student",
    )
    exact = float(np.sum(prob * (np.nan_to_num(res["p"], nan=1.0) < 0.05)))
    sim = pw.simulated_power(d, "ben_mood", p0, [k], trials=20000, seed=1).iloc[0]
    assert abs(sim["power_simulated"] - exact) < 3 * np.sqrt(exact * (1 - exact) / 20000)


def test_simulated_power_agrees_with_the_analytic_cluster_t():
    d = synthetic_design(200, [20] * 10, 0.6, 0.05, seed=1)
    r = d.row("ben_mood")
    assert r["cv"] == 0.0 and r["completion"] == 1.0
    k, trials = 6, 4000
    ana = pw.cluster_trial_power(k, control=0.4, design=r).iloc[0]
    sim = pw.simulated_power(d, "ben_mood", 0.4, [k], trials=trials).iloc[0]
    assert 0.2 < ana["power_cluster_t"] < 0.9
    assert abs(sim["power_simulated"] - ana["power_cluster_t"]) < 3 * sim["mc_se"]
    assert sim["control_mean"] == pytest.approx(0.4, abs=0.01)


def test_simulated_power_continuous_outcome_and_bad_input():
    rng = np.random.default_rng(8)
    R, sizes = 60, [10, 12, 14]
    rows = []
    for r in range(R):
        for j, n in enumerate(sizes):
            y = np.clip(np.rint(4.2 + rng.normal(0, 0.2) + rng.normal(0, 0.5, n)), 1, 5)
            rows.append(pd.DataFrame({"replication": r, "community": f"C{j}", "evaluated": 1, "sat_punctuality": y}))
    d = pw.reduce_design(pw.design_chunk({"consumers": pd.concat(rows, ignore_index=True)}))
    r = d.row("sat_punctuality")
    assert r["kind"] == "continuous" and 0 < r["icc"] < 0.5 and r["sd"] > 0
    t = pw.power_table(d, "sat_punctuality", 3.9, [2, 4, 8], trials=400)
    assert np.all(np.diff(t["power_cluster_t"]) > 0) and t["power_simulated"].iloc[-1] > t["power_simulated"].iloc[0]
    with pytest.raises(pw.PowerError):
        d.row("no_such_item")


# --- on the model -----------------------------------------------------------------------------
def _identical_communities(name: str, sd: float, loading: float):
    return scenario_from_dict(
        {
            "name": name,
            "seed": 5,
            "waves": {"w": {"follow_up_months": 6}},
            "communities": [
                {"name": "C", "wave": "w", "scheduling": "structured", "providers": 3, "consumers": 12, "copies": 8}
            ],
            "parameters": {"community_effect_sd": sd, "answer_community_loading": loading},
        }
    )


def test_model_icc_near_zero_without_community_effect_and_larger_with_one():
    null = pw.simulate_design(_identical_communities("null", 0.0, 0.0), 24, workers=1)
    big = pw.simulate_design(_identical_communities("big", 1.5, 2.0), 24, workers=1)
    rn, rb = null.row("sat_overall"), big.row("sat_overall")
    # Without a community effect the answers still share each community's delivery (sessions held,
    # on time, content), a small true ICC: about 0.03 (0.00-0.05 over seeds 5-10, 24 replications).
    assert abs(rn["icc_raw"]) < 3 * rn["icc_mc_se"] + 0.04
    assert rb["icc_raw"] > rn["icc_raw"] + 0.1 and rb["icc_raw"] > 5 * rb["icc_mc_se"]
    assert 0 < rn["completion"] <= 1 and rn["m"] == 12 and rn["cv_recruited"] == 0


# --- CLI --------------------------------------------------------------------------------------
def _cli(*args: str, cwd: Path, process: bool = False) -> subprocess.CompletedProcess:
    """``python cli.py power ARGS`` (in this process unless ``process``: tests/helpers/cli.py)."""
    return run_cli("power", *args, cwd=cwd, timeout=120, process=process)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--outcome", "no_such_item", "--control-rate", "0.3"], "--outcome"),
        (["--outcome", "ben_mood", "--control-rate", "1.5"], "--control-rate"),
        (["--outcome", "ben_mood", "--control-rate", "0.3", "--clusters", "1,4"], "--clusters"),
        (["--outcome", "ben_mood", "--control-rate", "0.3", "--alpha", "1.5"], "--alpha"),
    ],
    ids=["unknown-outcome", "rate-outside-0-1", "one-cluster", "alpha-outside-0-1"],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, args, option):
    p = _cli(str(REPO / "scenarios" / "later_wave.yaml"), *args, "--workers", "1", cwd=tmp_path)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith(f"error: {option}:"), p.stderr
    assert not (tmp_path / "outputs").exists()


def test_cli_bad_scenario_and_a_small_run(tmp_path):
    p = _cli(str(tmp_path / "missing.yaml"), "--outcome", "ben_mood", "--control-rate", "0.3", cwd=tmp_path)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "file not found" in p.stderr
    assert not (tmp_path / "outputs").exists()
    one = tmp_path / "one.yaml"  # one community: no ICC can be estimated
    one.write_text(
        "name: one\nseed: 1\nwaves: {w: {follow_up_months: 6}}\n"
        "communities:\n  - {name: A, wave: w, scheduling: structured, providers: 2, consumers: 8}\n"
    )
    p = _cli(
        str(one), "--outcome", "ben_mood", "--control-rate", "0.3", "--reps", "3", "--workers", "1", "-q", cwd=tmp_path
    )
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "fewer than two communities" in p.stderr
    assert not (tmp_path / "outputs").exists()
    p = _cli(
        str(REPO / "scenarios" / "later_wave.yaml"),
        "--outcome",
        "ben_mood",
        "--control-rate",
        "0.35",
        "--reps",
        "8",
        "--clusters",
        "2,4",
        "--trials",
        "200",
        "--workers",
        "1",
        "-q",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    out = tmp_path / "outputs" / "later_wave_power"
    assert {x.name for x in out.iterdir()} == {
        "power.csv",
        "design_inputs.csv",
        "report.md",
        "power.png",
        ".peer-support-sim",
    }
    t = pd.read_csv(out / "power.csv")
    assert list(t["clusters_per_arm"]) == [2, 4] and t["power_simulated"].between(0, 1).all()
    assert set(pw.OUTCOMES) == set(pd.read_csv(out / "design_inputs.csv")["outcome"])
    assert not [x for x in (tmp_path / "outputs").iterdir() if x.name.startswith(".")]
