"""Parameter uncertainty: the unidentified assumptions are drawn from their documented priors
(calibration/assumption_priors.yaml) as a function of (seed, replication) only, and ``compare``
splits each difference's variance into parameter uncertainty and chance by a one-way random-effects
analysis of variance (sim/uncertainty.py), checked here against cases with known components."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers.cli import run_cli
from scipy import stats

from sim.calibration.posterior import (
    CALIBRATED_FILE,
    CALIBRATION_PRIORS_FILE,
    PosteriorDraws,
    load_assumption_priors,
)
from sim.compare import OUTPUTS, CompareOptions
from sim.parameters import DEFAULT_PARAMETERS, ModelParameters
from sim.uncertainty import decompose, sentence, variance_components

ROOT = Path(__file__).resolve().parents[1]
needs_calibration = pytest.mark.skipif(not CALIBRATED_FILE.exists(), reason="no calibration/calibrated.yaml")


def _cli(*args: str) -> subprocess.CompletedProcess:
    """``python cli.py ARGS`` from the repository root (in this process: tests/helpers/cli.py)."""
    return run_cli(*args, cwd=ROOT)


# --- the ANOVA split against theory -------------------------------------------------------------
@pytest.mark.parametrize(("sd_param", "sd_noise"), [(1.0, 1.0), (2.0, 0.5), (0.0, 1.0)])
def test_variance_components_recover_known_components(sd_param, sd_noise):
    """y = b_draw + e with b ~ N(0, sd_param^2), e ~ N(0, sd_noise^2): the estimates are unbiased
    (ANOVA estimators; the between-draw one truncated at 0), so with 2,000 draws x 4 they lie within
    a few standard errors of the truth: Var(MSW) = 2 s_w^4 / (N - a) and Var(MSB) = 2 E[MSB]^2 / (a - 1)."""
    rng = np.random.default_rng(7)
    a, k = 2000, 4
    b = rng.normal(0, sd_param, a)
    y = np.repeat(b, k) + rng.normal(0, sd_noise, a * k)
    c = variance_components(y, np.repeat(np.arange(a), k))
    se_w = np.sqrt(2 * sd_noise**4 / (a * k - a))
    ems_b = sd_noise**2 + k * sd_param**2
    se_b = np.sqrt(2 * ems_b**2 / (a - 1)) / k
    assert abs(c["var_noise"] - sd_noise**2) < 4 * se_w
    assert abs(c["var_parameter"] - sd_param**2) < 4 * se_b + 4 * se_w / k
    true_share = sd_param**2 / (sd_param**2 + sd_noise**2)
    assert abs(c["share_parameter"] - true_share) < 0.05


def test_variance_components_exact_on_constructed_data():
    """Hand-computed case: groups {1, 3} and {5, 7}: MSW = 2, MSB = 2 x (2 - 4)^2 x 2 / 1 = 16,
    var_parameter = (16 - 2) / 2 = 7; interval over the group means 2 and 6: 4 +- t(0.975, 1) x 2.83 / 1.41."""
    c = variance_components(np.array([1.0, 3.0, 5.0, 7.0]), np.array([0, 0, 1, 1]))
    assert c["var_noise"] == pytest.approx(2.0)
    assert c["var_parameter"] == pytest.approx(7.0)
    assert c["share_parameter"] == pytest.approx(7 / 9)
    h = stats.t.ppf(0.975, 1) * np.std([2.0, 6.0], ddof=1) / np.sqrt(2)
    assert (c["ci_low"], c["ci_high"]) == pytest.approx((4 - h, 4 + h))
    # unbalanced (a NaN dropped): n0 = (N - sum n_i^2 / N) / (a - 1) = (3 - 5/3) = 4/3
    u = variance_components(np.array([1.0, 3.0, 5.0, np.nan]), np.array([0, 0, 1, 1]))
    msb = 2 * (2 - 3) ** 2 + 1 * (5 - 3) ** 2
    assert u["var_noise"] == pytest.approx(2.0)
    assert u["var_parameter"] == pytest.approx((msb - 2.0) / (4 / 3))


def test_no_parameter_effect_gives_a_small_share_and_constant_gives_none():
    rng = np.random.default_rng(3)
    c = variance_components(rng.normal(size=4000), np.repeat(np.arange(1000), 4))
    assert c["share_parameter"] < 0.05
    assert np.isnan(variance_components(np.zeros(8), np.repeat(np.arange(4), 2))["share_parameter"])
    assert "70% comes from what we do not know about the parameters, 30% from chance" in sentence(0.7)


def test_decompose_pairs_by_replication_and_groups_by_draw():
    """A difference built as draw effect + noise per replication comes out of ``decompose`` with the
    right split; the baseline is subtracted replication by replication."""
    rng = np.random.default_rng(11)
    a, k = 500, 4
    base = rng.normal(size=a * k)
    d = np.repeat(rng.normal(0, 2.0, a), k) + rng.normal(0, 1.0, a * k)
    reps = np.arange(a * k)
    frames = []
    for name, y in (("base", base), ("alt", base + d)):
        f = pd.DataFrame({"scenario": name, "replication": reps})
        for col in OUTPUTS:
            f[col] = y
        frames.append(f)
    dec = decompose(["base", "alt"], pd.concat(frames, ignore_index=True), k)
    row = dec[dec["output"] == "sessions_held"].iloc[0]
    assert row["draws"] == a and row["reps_per_draw"] == k
    assert row["share_parameter"] == pytest.approx(0.8, abs=0.04)
    assert row["share_parameter"] + row["share_noise"] == pytest.approx(1.0)


# --- the assumption priors and their draws ----------------------------------------------------------
def test_assumption_priors_are_documented_valid_and_not_calibrated():
    priors = load_assumption_priors()
    calibrated = set((yaml.safe_load(CALIBRATION_PRIORS_FILE.read_text(encoding="utf-8")) or {})["parameters"])
    assert len(priors) >= 10
    for p in priors:
        assert p.name not in calibrated, p.name
        assert p.source, p.name  # the rationale (the file's `why`)
        desc = ModelParameters.model_fields[p.name].description or ""
        assert "ASSUMPTION" in desc, p.name  # an unidentified assumption, stated as such
        for v in (p.low, p.high):
            DEFAULT_PARAMETERS.replace(**{p.name: v})  # the bounds are valid values of the field


def test_assumption_prior_outside_the_field_bounds_is_named(tmp_path):
    bad = tmp_path / "a.yaml"
    bad.write_text("parameters:\n  benefit_no_programme_prob: {dist: uniform, low: 0.0, high: 0.2}\n")
    with pytest.raises(ValueError, match=r"a\.yaml: parameters\.benefit_no_programme_prob\.low"):
        load_assumption_priors(bad)
    bad.write_text("parameters:\n  no_such_thing: {dist: uniform, low: 0.0, high: 0.2}\n")
    with pytest.raises(ValueError, match="no_such_thing"):
        load_assumption_priors(bad)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ("max_postponements: {low: 1, high: 3}", "max_postponements is not a real-valued parameter"),
        ("consumer_item_base.ben_mood: {low: 0.1, high: 0.2}", "not a real-valued parameter"),
        ("benefit_no_programme_prob: {high: 0.1}", "missing low"),
        ("benefit_no_programme_prob: {low: 0.01, high: 0.1, source: x}", "unknown key 'source'"),
        ("benefit_no_programme_prob: {dist: normal, mean: 0.05, low: 0.01, high: 0.1}", "dist normal needs sd"),
    ],
)
def test_assumption_prior_errors_are_one_line_naming_file_and_field(tmp_path, entry, field):
    """The assumption priors go through the one prior parser (sim.priors.parse_prior) with their own
    rules: real-valued fields only (a draw is a real number), the rationale under ``why``."""
    bad = tmp_path / "a.yaml"
    bad.write_text(f"parameters:\n  {entry}\n")
    with pytest.raises(ValueError, match=r"a\.yaml: parameters\.") as exc:
        load_assumption_priors(bad)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{bad}: parameters.") and field in msg, msg


@needs_calibration
def test_drawn_assumptions_vary_within_bounds_and_follow_their_priors():
    """Over 400 replications each assumption lies in its prior's range and its empirical distribution
    matches the prior (Kolmogorov-Smirnov, p > 0.001 for every one of them)."""
    draws = PosteriorDraws(DEFAULT_PARAMETERS, seed=20191114)
    values = pd.DataFrame([draws.values(r) for r in range(400)])
    assert draws.priors
    for p in draws.priors:
        x = values[p.name].to_numpy()
        assert x.min() >= p.low and x.max() <= p.high, p.name
        assert len(np.unique(x)) == len(x), p.name
        assert stats.kstest(x, p.cdf).pvalue > 1e-3, p.name
    # the parameter set a replication runs with carries the drawn values
    assert draws(5).benefit_no_programme_prob == pytest.approx(values.loc[5, "benefit_no_programme_prob"])
    # a function of (seed, replication) only
    again = PosteriorDraws(DEFAULT_PARAMETERS, seed=20191114)
    assert again(17) == draws(17) and again.sha256 == draws.sha256
    other = PosteriorDraws(DEFAULT_PARAMETERS, seed=1)
    assert other.values(17)["stress_workload_logit"] != values.loc[17, "stress_workload_logit"]


@needs_calibration
def test_reps_per_draw_shares_one_draw_per_block():
    d = PosteriorDraws(DEFAULT_PARAMETERS, seed=3, reps_per_draw=4)
    assert d(0) == d(3) and d(4) == d(7) and d(0) != d(4)
    assert d.sha256 != PosteriorDraws(DEFAULT_PARAMETERS, seed=3).sha256
    assert PosteriorDraws(DEFAULT_PARAMETERS, seed=3, assumptions=None).priors == ()


# --- end to end ----------------------------------------------------------------------------------
# `run --parameter-uncertainty` (same files on 1 and 2 workers, draws recorded in the manifest):
# tests/test_cli_run.py::test_parameter_uncertainty_draws_from_the_posterior_per_replication


def _copy(tmp_path: Path, name: str) -> Path:
    doc = yaml.safe_load((ROOT / "scenarios" / "later_wave.yaml").read_text(encoding="utf-8"))
    doc.update(name=name, parameter_set=str(CALIBRATED_FILE))
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return p


@needs_calibration
def test_compare_uses_common_draws_and_reports_the_split(tmp_path):
    """Two copies of one scenario differ by exactly nothing only if replication r uses the same
    parameter draw (and random numbers) in both; later vs initial wave gets a split of every
    difference that varies, in comparison.csv and report.md; workers do not change the result."""
    from sim.scenario import load_scenario
    from sim.uncertainty import compare_with_parameter_uncertainty

    copies = [load_scenario(_copy(tmp_path, n)) for n in ("a", "b")]
    draws = [PosteriorDraws(sc.parameters, 5, CALIBRATED_FILE, reps_per_draw=2) for sc in copies]
    same = compare_with_parameter_uncertainty(copies, draws, 4, 5, options=CompareOptions(workers=1))
    alt = same.table[same.table["scenario"] == "b"]
    assert (alt["difference"].fillna(0) == 0).all() and alt["share_parameter"].isna().all()

    paths = ["scenarios/later_wave.yaml", "scenarios/initial_wave.yaml"]
    out = tmp_path / "cmp"
    args = ["--reps", "8", "--reps-per-draw", "2", "--parameter-uncertainty", "-q", "--workers", "2"]
    r = _cli("compare", *paths, *args, "--out", str(out))
    assert r.returncode == 0, r.stderr
    scs = [load_scenario(ROOT / p) for p in paths]
    draws = [PosteriorDraws(sc.parameters, scs[0].seed, CALIBRATED_FILE, reps_per_draw=2) for sc in scs]
    one = compare_with_parameter_uncertainty(
        scs, draws, 8, scs[0].seed, options=CompareOptions(workers=1)
    )  # one worker, in memory
    t = pd.read_csv(out / "comparison.csv")
    pd.testing.assert_frame_equal(t, one.table, check_dtype=False, rtol=1e-5)
    alt = t[t["scenario"] == "initial_wave"]
    assert (alt["draws"] == 4).all() and (alt["reps_per_draw"] == 2).all()
    ok = alt["share_parameter"].notna()
    assert ok.sum() >= 8
    assert alt.loc[ok, "share_parameter"].between(0, 1).all()
    assert np.allclose(alt.loc[ok, "share_parameter"] + alt.loc[ok, "share_noise"], 1)
    # the table's split is the ANOVA of the per-replication differences in per_replication.csv
    per = pd.read_csv(out / "per_replication.csv").set_index("replication")
    d = per[per["scenario"] == "initial_wave"]["sessions_held"] - per[per["scenario"] == "later_wave"]["sessions_held"]
    c = variance_components(d.to_numpy(), d.index.to_numpy() // 2)
    row = alt[alt["output"] == "sessions_held"].iloc[0]
    assert row["var_noise"] == pytest.approx(c["var_noise"], rel=1e-4)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "comes from what we do not know about the parameters" in report
    assert (out / "uncertainty.png").stat().st_size > 0


@needs_calibration
def test_compare_without_the_flag_is_unchanged_and_bad_reps_per_draw_is_one_line(tmp_path):
    from sim.compare import compare_scenarios
    from sim.scenario import load_scenario

    paths = ["scenarios/later_wave.yaml", "scenarios/initial_wave.yaml"]
    r = _cli("compare", *paths, "--reps", "2", "--out", str(tmp_path / "c"), "-q", "--workers", "1")
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(tmp_path / "c" / "comparison.csv")
    assert "share_parameter" not in t.columns and not (tmp_path / "c" / "uncertainty.png").exists()
    comp = compare_scenarios([load_scenario(ROOT / p) for p in paths], 2, options=CompareOptions(workers=1))
    got = pd.read_csv(tmp_path / "c" / "per_replication.csv")
    pd.testing.assert_frame_equal(got, comp.per_replication, check_dtype=False, rtol=1e-5)
    bad = _cli("compare", *paths, "--reps", "6", "--reps-per-draw", "4", "--parameter-uncertainty", "-q")
    assert bad.returncode == 2 and "--reps-per-draw" in bad.stderr and "Traceback" not in bad.stderr
