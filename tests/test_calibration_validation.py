"""Validation of the calibration (sim/calibration/validation/): informative vs checked-only counts,
falsification of deliberately wrong models, leave-one-wave-out, and the Sobol drivers section."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers.cli import REPO

from sim.calibration.core import Problem
from sim.calibration.validation import fit_counts, validation_section
from sim.calibration.validation.__main__ import main
from sim.calibration.validation.falsification import (
    CALIBRATED,
    NO_WAVE_EFFECT,
    WRONG_SETS,
    WrongSet,
    _scale,
    assess,
    calibrated_point,
    falsification,
    simulate_set,
)
from sim.calibration.validation.lowo import LowoSettings, lowo, names_wave, reduced_problem
from sim.calibration.validation.sections import counts_lines, coverage, sobol_lines
from sim.runner import ReplicationPool


@pytest.fixture(scope="module")
def problem() -> Problem:
    return Problem.default()


@pytest.fixture(scope="module")
def pool():
    with ReplicationPool(workers=2) as p:
        yield p


def test_counts_from_a_hand_made_fit_table():
    fit = pd.DataFrame(
        {
            "target": ["a", "b", "c", "d", "e", "f", "g"],
            "in_distance": [True, True, True, False, False, False, False],
            "inside": [True, False, True, True, True, False, True],
        }
    )
    assert fit_counts(fit) == {"informative": 3, "informative_inside": 2, "checked": 4, "checked_inside": 3}
    text = "\n".join(counts_lines(fit))
    assert "2 of 3 informative figures" in text and "3 of 4 checked-only figures" in text
    assert "`b`" in text and "`f`" in text and "`a`" not in text
    fal = pd.DataFrame(
        {"set": ["calibrated"], "label": ["Calibrated"], "replications": [10], "informative": [5], "outside": [1],
         "outside_targets": ["b"], "median_distance": [1.2], "distance_lo": [0.8], "distance_hi": [2.0],
         "p_joint": [0.4], "p_joint_scaled": [0.5]}
    )  # fmt: skip
    section = "\n".join(validation_section(fit, falsification=fal))
    assert "| Calibrated | 1 of 5 | 0.400 | 0.500 | 1.20 (0.80-2.00) | `b` |" in section
    assert "used 5 informative figures" in section and "has 3" in section  # stale calibration flagged


def test_wrong_sets_change_what_they_say(problem):
    point = calibrated_point(problem, REPO / "calibration" / "calibrated.yaml")
    sets = {w.key: w for w in WRONG_SETS}
    p, s = sets["later_unstructured"].change(point, problem.scenario)
    assert p == point and {c.scheduling for c in s.communities if c.wave == "later"} == {"unstructured"}
    assert {c.scheduling for c in problem.scenario.communities if c.wave == "later"} == {"structured"}
    p, _ = sets["no_wave_effect"].change(point, problem.scenario)
    assert all(getattr(p, k) == v for k, v in NO_WAVE_EFFECT.items())
    p, _ = sets["dropout_x3"].change(point, problem.scenario)
    assert p.consumer_dropout_hazard_per_month == pytest.approx(3 * point.consumer_dropout_hazard_per_month)
    p, _ = sets["half_sessions"].change(point, problem.scenario)
    assert p.unstructured_max_sessions_per_week == pytest.approx(point.unstructured_max_sessions_per_week / 2)
    assert p.weekly_timetable_prob == 0.0


def test_assess_on_known_distributions(problem):
    """Simulations centred on the paper's figures: nothing outside, joint p not extreme; shifted by
    ten SEs in every informative figure: all outside, p = 0."""
    rng = np.random.default_rng(5)
    se = np.where(np.isfinite(problem.se), problem.se, 1.0)
    x = problem.observed + rng.standard_normal((400, len(problem.ids))) * se
    row, _, d = assess(problem, x)
    assert d.shape == (400,)
    assert row["outside"] == 0 and row["p_joint"] > 0.2 and row["p_joint_scaled"] > 0.2
    assert row["median_distance"] == pytest.approx(1.0, abs=0.1)  # RMS of standard normal z
    row, _, _ = assess(problem, x + 10 * se)
    assert row["outside"] == row["informative"] == int(problem.use.sum())
    assert row["p_joint"] == 0.0 and row["p_joint_scaled"] == 0.0


def test_falsification_accepts_the_calibrated_point_and_rejects_dropout_x10(problem, pool):
    point = calibrated_point(problem, REPO / "calibration" / "calibrated.yaml")
    x10 = WrongSet("dropout_x10", "Consumer dropout x10", _scale("consumer_dropout_hazard_per_month", 10.0))
    table, figs, dists = falsification(problem, point, 40, seed=11, sets=(CALIBRATED, x10), pool=pool)
    cal, wrong = table.iloc[0], table.iloc[1]
    assert cal["p_joint"] > 0.05 and cal["p_joint_scaled"] > 0.05
    assert cal["outside"] <= 2  # 18 figures at 95% each: 0.9 expected by chance
    outside = set(wrong["outside_targets"].split(";"))
    assert {"retention.consumer.initial", "retention.consumer.later"} <= outside
    assert wrong["median_distance"] > cal["median_distance"] + 1
    assert wrong["p_joint_scaled"] < 0.05
    assert dists.groupby("set")["distance"].median()["dropout_x10"] == pytest.approx(wrong["median_distance"])
    # the figures table holds the same decisions
    assert set(figs.loc[(figs["set"] == "dropout_x10") & ~figs["inside"], "target"]) == outside


def test_leave_one_wave_out_tiny(problem, pool):
    specs = {k: problem.prior_specs[k] for k in ("consumer_dropout_hazard_per_month", "benefit_experience_logit")}
    small = Problem(problem.targets, specs, problem.scenario, problem.base)
    red = reduced_problem(small, "later")
    kept = {t for t, u in zip(small.ids, red.use, strict=True) if u}
    assert kept == {"retention.consumer.initial", "consumer.ben_mood.initial"}
    table = lowo(small, LowoSettings(population=12, budget=100, predictive=20, seed=3), ("later",), pool=pool)
    assert set(table["target"]) == {t for t in problem.ids if names_wave(t, "later")}
    assert (table["lo"] <= table["hi"]).all()
    cov = coverage(table)
    assert list(cov["held_out"]) == ["later"] and 0.0 <= float(cov["coverage"].iloc[0]) <= 1.0
    assert int(cov["figures"].iloc[0]) == len(table)


def test_sobol_section_from_a_hand_made_table(tmp_path):
    path = tmp_path / "sobol.csv"
    pd.DataFrame(
        {
            "output": ["sessions_held"] * 3 + ["provider_quits"] * 3,
            "parameter": ["a", "b", "c"] * 2,
            "S1": [0.1, 0.6, 0.05, np.nan, np.nan, np.nan],
            "S1_conf": [0.02, 0.1, 0.01, np.nan, np.nan, np.nan],
            "ST": [0.2, 0.7, 0.1, np.nan, np.nan, np.nan],
            "ST_conf": [0.05, 0.1, 0.02, np.nan, np.nan, np.nan],
        }
    ).to_csv(path, index=False)
    lines = sobol_lines(pd.read_csv(path), {"sessions_held": "Sessions held"})
    row = next(ln for ln in lines if ln.startswith("| Sessions held"))
    assert "`b`" in row.split("|")[2] and "0.70 (0.60-0.80)" in row and "`a` (0.20)" in row
    assert any(ln.startswith("| provider_quits | not analysed") for ln in lines)
    fit = pd.DataFrame({"target": ["x"], "in_distance": [True], "inside": [True]})
    section = validation_section(fit, sobol=pd.read_csv(path))
    assert section[0].startswith("## Validation") and "Not run" in "\n".join(section)


def test_command_writes_all_files(tmp_path, capsys):
    out = tmp_path / "v"
    argv = ["--reps", "3", "--out", str(out), "--lowo-population", "3", "--lowo-budget", "8"]
    assert main([*argv, "--lowo-predictive", "4", "--workers", "1"]) == 0
    for f in ("falsification.csv", "falsification_figures.csv", "falsification.png", "lowo.csv", "section.md"):
        assert (out / f).is_file(), f
    assert len(pd.read_csv(out / "falsification.csv")) == 1 + len(WRONG_SETS)
    text = (out / "section.md").read_text()
    assert "### Falsification" in text and "### Leave-one-wave-out" in text
    assert not list(out.glob(".validation-*"))  # the temporary folder is gone


def test_command_bad_input_one_line_exit_2(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "sim.calibration.validation", "--calibration-dir", str(tmp_path / "none")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "calibrated.yaml" in r.stderr


def test_simulations_are_reproducible_whatever_the_workers(problem, pool):
    point = calibrated_point(problem, REPO / "calibration" / "calibrated.yaml")
    a = simulate_set(problem, point, problem.scenario, 4, seed=2, pool=pool)
    with ReplicationPool(workers=1) as one:
        b = simulate_set(problem, point, problem.scenario, 4, seed=2, pool=one)
    np.testing.assert_array_equal(a, b)
    c = simulate_set(problem, point.replace(attendance_mean=0.35), problem.scenario, 4, seed=2, pool=pool)
    assert not np.allclose(a, c, equal_nan=True)  # same seeds, the change shows


def test_cli_validate_is_the_same_command(tmp_path):
    """``python cli.py validate`` is the module's command: same checks, one line, exit 2."""
    from helpers.cli import run_cli

    r = run_cli("validate", "--calibration-dir", tmp_path / "none")
    assert (
        r.returncode == 2
        and r.stderr.strip() == f"error: {tmp_path / 'none' / 'calibrated.yaml'}: file not found (--calibration-dir)"
    )
    r = run_cli("validate", "lowo", "--lowo-budget", "5", "--lowo-population", "9")
    assert r.returncode == 2 and "--lowo-budget: 5 is below --lowo-population 9" in r.stderr
