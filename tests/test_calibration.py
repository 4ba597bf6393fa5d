"""Calibration tests (the calibration is described in ``calibration/report.md``).

Groups:
- targets and priors: ``calibration/targets.yaml`` is what the builder derives from
  ``sim/instruments.py``; every target has a value, n, kind, source and SE where it is used; priors
  lie inside the parameters' valid ranges; the Jeffreys SE keeps 7/7 finite;
- the ABC-SMC driver: the analytic check (retention-only sub-model, constant monthly dropout
  hazard, 26/32 at 18 months: the ABC posterior agrees with the exact grid posterior) and
  determinism (the same seed gives the same posterior whatever the batch sizes, i.e. whatever the
  number of workers);
- the committed calibration: ``calibrated.yaml`` loads as a scenario ``parameter_set``, its
  posterior draws are valid parameter sets, and ``fit.csv`` lists every target.
The slow statistical checks (ABC on the real model, parameter recovery coverage, the fit of
``paper_study`` with ``calibrated.yaml``) live in ``tests/test_calibration_slow.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from sim.calibration.abc import Prior, abc_smc
from sim.calibration.targets import TARGETS_FILE, build_targets, jeffreys_se, load_targets, targets_document
from sim.parameters import DEFAULT_PARAMETERS, ModelParameters

ROOT = Path(__file__).resolve().parents[1]
CAL = ROOT / "calibration"


# --- Targets and priors ----------------------------------------------------------------------
def test_targets_file_matches_builder():
    with open(TARGETS_FILE, encoding="utf-8") as fh:
        on_disk = yaml.safe_load(fh)
    assert on_disk == yaml.safe_load(yaml.safe_dump(targets_document())), (
        "regenerate: python -m sim.calibration.targets"
    )


def test_targets_are_complete_and_well_formed():
    targets = load_targets()
    ids = [t.id for t in targets]
    assert len(ids) == len(set(ids))
    for t in targets:
        assert t.kind in {"count", "mean", "sd", "t", "total", "share"}, t.id
        assert t.source, t.id
        assert t.informs, t.id
        if t.kind == "count":
            assert t.count is not None and t.n and math.isclose(t.value, t.count / t.n)
        if t.kind in {"count", "mean", "sd", "share"}:
            assert t.n, t.id
    required = {
        "retention.provider.initial",
        "retention.provider.later",
        "retention.consumer.initial",
        "retention.consumer.later",
        "sessions.total",
        "sessions.group_share",
        "content.fine_motor_skill_practice",
        "consumer.ben_mood.initial",
        "consumer.ben_mood.later",
        "consumer.sat_punctuality.t",
        "consumer.sat_richness.t",
        "provider.confidence.mean",
        "provider.confidence.mean.later",
        "provider.stress_poor_organizing",
        "caregiver.positive_attitude",
    }
    assert required <= set(ids)
    # every informed name is a real parameter (or a scenario input)
    for t in targets:
        for p in t.informs:
            if not p.startswith("scenario."):
                assert p.split(".")[0] in ModelParameters.model_fields, (t.id, p)


def test_jeffreys_se_keeps_full_counts_finite():
    assert jeffreys_se(7, 7) > 0.05
    assert jeffreys_se(12, 12) > 0.03
    assert math.isclose(jeffreys_se(26, 32), math.sqrt((26.5 / 33) * (6.5 / 33) / 32))


def test_priors_are_valid_parameter_values():
    from sim.calibration.core import load_priors

    specs = load_priors()
    assert 8 <= len(specs) <= 15
    for name, s in specs.items():
        assert s["why"].strip(), name
        assert s["low"] < s["high"]
        getattr(DEFAULT_PARAMETERS, name)


def test_every_calibrated_parameter_is_informed_by_a_distance_target():
    from sim.calibration.core import in_distance, load_priors

    specs = load_priors()
    targets = build_targets()
    used = [t for t in targets if in_distance(t, set(specs))]
    informed = {p.split(".")[0] for t in used for p in t.informs}
    assert set(specs) <= informed
    assert len(used) >= 10


def test_distance_counts_every_identifying_target_once():
    """The distance is the RMS of z = (simulated - observed) / SE over the targets that identify a
    calibrated parameter (``sim/calibration/core.py``, read here straight from the YAML files): moving
    one of them by 2 SE gives 2 / sqrt(m), moving any other target leaves the distance at 0, and a
    summary the model cannot produce counts as NAN_Z. Fails if a target is silently dropped."""
    from sim.calibration.core import NAN_Z, Problem

    with open(CAL / "targets.yaml", encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)["targets"]
    with open(CAL / "priors.yaml", encoding="utf-8") as fh:
        calibrated = set(yaml.safe_load(fh)["parameters"])
    identifying = {t["id"] for t in raw if t.get("se") is not None and set(t.get("identifies") or []) & calibrated}
    m = len(identifying)
    assert m >= 10
    problem = Problem.default()
    assert problem.ids == [t["id"] for t in raw]
    observed = np.array([t["value"] for t in raw], dtype=float)
    se = np.array([t["se"] if t.get("se") is not None else 1.0 for t in raw], dtype=float)
    assert problem.distance(observed[None, :])[0] == 0.0
    moved = np.tile(observed, (len(raw), 1)) + 2 * np.diag(se)
    expected = np.array([2 / math.sqrt(m) if t["id"] in identifying else 0.0 for t in raw])
    np.testing.assert_allclose(problem.distance(moved), expected, rtol=1e-9, atol=1e-12)
    j = problem.ids.index(sorted(identifying)[0])
    missing = observed.copy()
    missing[j] = np.nan
    assert math.isclose(problem.distance(missing[None, :])[0], NAN_Z / math.sqrt(m))


# --- ABC-SMC driver ---------------------------------------------------------------------------
K_RET, N_RET, MONTHS = 26, 32, 18.0
H_MAX = 0.08


def _retention_simulate(thetas: np.ndarray, reps: np.ndarray) -> np.ndarray:
    """Retention-only sub-model: each of 32 consumers stays 18 months with probability exp(-18 h)."""
    out = np.empty((len(thetas), 1))
    for k, (th, r) in enumerate(zip(thetas, reps, strict=False)):
        rng = np.random.default_rng(np.random.SeedSequence(11, spawn_key=(int(r),)))
        out[k, 0] = rng.binomial(N_RET, math.exp(-MONTHS * th[0]))
    return out


def _retention_distance(s: np.ndarray) -> np.ndarray:
    return np.abs(s[:, 0] - K_RET) / (jeffreys_se(K_RET, N_RET) * N_RET)


def _grid_posterior() -> tuple[np.ndarray, np.ndarray]:
    grid = np.linspace(0.0, H_MAX, 80_001)
    lik = stats.binom.pmf(K_RET, N_RET, np.exp(-MONTHS * grid))
    cdf = np.cumsum(lik)
    return grid, cdf / cdf[-1]


def _weighted_cdf(x: np.ndarray, w: np.ndarray, at: np.ndarray) -> np.ndarray:
    o = np.argsort(x)
    c = np.cumsum(w[o]) / w.sum()
    return np.interp(at, x[o], c, left=0.0, right=1.0)


def test_analytic_retention_posterior_matches_grid():
    """26/32 at 18 months, constant hazard h ~ U(0, 0.08): ABC to epsilon 0 is exact rejection of
    the data, so its posterior must be the grid posterior up to Monte Carlo error."""
    prior = Prior({"consumer_dropout_hazard_per_month": {"dist": "uniform", "low": 0.0, "high": H_MAX}})
    res = abc_smc(
        _retention_simulate, _retention_distance, prior, population_size=2000, seed=5, min_epsilon=0.0, budget=400_000
    )
    assert res.posterior.epsilon == 0.0, res.stop_reason
    g = res.posterior
    h, w = g.theta[:, 0], g.weights
    grid, cdf = _grid_posterior()
    exact_mean = float(np.sum(grid * np.gradient(cdf)))
    ess = g.ess
    exact_sd = float(np.sqrt(np.sum((grid - exact_mean) ** 2 * np.gradient(cdf))))
    assert abs(np.sum(h * w) - exact_mean) < 4 * exact_sd / math.sqrt(ess)
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        exact_q = float(np.interp(q, cdf, grid))
        abc_q = float(np.interp(q, np.cumsum(w[np.argsort(h)]) / w.sum(), np.sort(h)))
        assert abs(abc_q - exact_q) < 0.0012, (q, abc_q, exact_q)
    # Kolmogorov distance between the weighted ABC sample and the exact posterior
    ks = np.max(np.abs(_weighted_cdf(h, w, grid[::100]) - cdf[::100]))
    assert ks < 1.63 / math.sqrt(ess) + 0.01  # ~1% KS critical value at the effective sample size


def test_abc_is_deterministic_and_independent_of_batching():
    prior = Prior({"h": {"dist": "uniform", "low": 0.0, "high": H_MAX}})
    kw = {"population_size": 300, "seed": 42, "max_generations": 5}
    a = abc_smc(_retention_simulate, _retention_distance, prior, **kw)
    b = abc_smc(_retention_simulate, _retention_distance, prior, **kw)
    c = abc_smc(_retention_simulate, _retention_distance, prior, max_batch=37, **kw)  # other "worker" layout
    for other in (b, c):
        assert len(other.generations) == len(a.generations)
        for ga, go in zip(a.generations, other.generations, strict=False):
            assert ga.epsilon == go.epsilon
            np.testing.assert_array_equal(ga.theta, go.theta)
            np.testing.assert_array_equal(ga.weights, go.weights)
    d = abc_smc(_retention_simulate, _retention_distance, prior, population_size=300, seed=43, max_generations=5)
    assert not np.array_equal(d.posterior.theta, a.posterior.theta)


def test_abc_respects_budget_and_prior_support():
    prior = Prior(
        {
            "h": {"dist": "uniform", "low": 0.0, "high": H_MAX},
            "x": {"dist": "normal", "mean": 0.0, "sd": 1.0, "low": -1.0, "high": 2.0},
        }
    )
    res = abc_smc(_retention_simulate, _retention_distance, prior, population_size=200, seed=1, budget=2000)
    assert res.total_simulations <= 2000
    assert "budget" in res.stop_reason
    th = np.concatenate([g.theta for g in res.generations])
    assert np.all(th[:, 0] >= 0) and np.all(th[:, 0] <= H_MAX) and np.all(th[:, 1] >= -1) and np.all(th[:, 1] <= 2)
    for g in res.generations:
        assert math.isclose(g.weights.sum(), 1.0)


# --- The command and its reproducibility ------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "bad"),
    [
        (
            "calibrate",
            (["--budget", "10"], ["--population", "5", "--budget", "100"], ["--workers", "0"], ["--seed", "-1"]),
        ),
        (
            "recovery",
            (["--cases", "0"], ["--budget", "10"], ["--population", "5"], ["--workers", "0"], ["--seed", "-1"]),
        ),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path, command, bad):
    # `python cli.py` in this process (tests/helpers/cli.py): nine interpreter starts saved
    from helpers.cli import run_cli

    assert run_cli(command, "--help", cwd=ROOT).returncode == 0  # the command exists (an unknown one exits 2 too)
    for args in bad:
        r = run_cli(command, *args, "--out", tmp_path / "x", cwd=ROOT)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith(f"error: {args[0]}:"), r.stderr
        assert not (tmp_path / "x").exists()


def test_tiny_calibration_is_identical_on_one_and_two_workers(tmp_path, monkeypatch):
    """End to end through runner + analysis: the worker count does not change the posterior. The
    figures (half the time of a tiny calibration, and drawn from the files compared below) are drawn
    by the one-worker run only."""
    from sim.calibration import report
    from sim.calibration.run import CalibrationSettings, run_calibration

    outs = []
    for w in (1, 2):
        s = CalibrationSettings(
            budget=150, seed=9, population=30, workers=w, ppc_replications=8, max_generations=3, out=tmp_path / f"w{w}"
        )
        if w == 2:
            monkeypatch.setattr(report, "figures", lambda *a: [])
        run_calibration(s)
        outs.append(s.out)
    for name in ("posterior.csv", "generations.csv"):
        a = pd.read_csv(outs[0] / name)
        b = pd.read_csv(outs[1] / name)
        if name == "generations.csv":
            a, b = a.drop(columns=["seconds"]), b.drop(columns=["seconds"])
        pd.testing.assert_frame_equal(a, b)
    assert (outs[0] / "fit.csv").read_bytes() == (outs[1] / "fit.csv").read_bytes()
    fit = pd.read_csv(outs[0] / "fit.csv")
    assert len(fit) == len(load_targets())
    for f in (
        "calibrated.yaml",
        "report.md",
        "figures/forest.png",
        "figures/prior_posterior.png",
        "figures/pairwise_posterior.png",
        "figures/epsilon_acceptance.png",
    ):
        assert (outs[0] / f).exists(), f


# --- The committed calibration ------------------------------------------------------------------
CALIBRATED = CAL / "calibrated.yaml"
needs_calibration = pytest.mark.skipif(not CALIBRATED.exists(), reason="no committed calibration yet")


@needs_calibration
def test_calibrated_yaml_is_a_parameter_set():
    from sim.scenario import load_scenario, scenario_from_dict

    with open(ROOT / "scenarios" / "paper_study.yaml", encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    raw["parameter_set"] = "../calibration/calibrated.yaml"
    scen = scenario_from_dict(raw, "paper_study+calibrated", base_dir=ROOT / "scenarios")
    with open(CALIBRATED, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    for k, v in doc["parameters"].items():
        assert math.isclose(float(getattr(scen.parameters, k)), float(v)), k
    assert load_scenario(ROOT / "scenarios" / "paper_study.yaml").name == scen.name


@needs_calibration
def test_posterior_draws_give_valid_reproducible_parameter_sets():
    from sim.calibration.posterior import load_posterior, posterior_parameter_sets

    post = load_posterior(CALIBRATED)
    assert post.draws.shape[0] >= 100 and math.isclose(post.weights.sum(), 1.0)
    a = posterior_parameter_sets(DEFAULT_PARAMETERS, 50, seed=3, path=CALIBRATED)
    b = posterior_parameter_sets(DEFAULT_PARAMETERS, list(range(25, 50)), seed=3, path=CALIBRATED)
    assert a[25:] == b  # a replication's draw depends on (seed, replication) only, not on chunking
    assert len({p.consumer_dropout_hazard_per_month for p in a}) > 10
    assert all(isinstance(p, ModelParameters) for p in a)


@needs_calibration
def test_fit_csv_lists_every_target():
    fit = pd.read_csv(CAL / "fit.csv")
    assert list(fit["target"]) == [t.id for t in load_targets()]
    for col in (
        "observed",
        "n",
        "prior_median",
        "prior_lo",
        "prior_hi",
        "post_median",
        "post_lo",
        "post_hi",
        "z",
        "ppp",
        "inside",
    ):
        assert col in fit.columns


@needs_calibration
def test_report_rebuilt_from_files_is_the_committed_report():
    """``rebuild_report``'s inputs (the files a calibration wrote, read into a CalibrationOutcome) give
    back the committed ``report.md`` that the run itself wrote from the live ABC result."""
    from sim.calibration.core import Problem
    from sim.calibration.report import CalibrationOutcome, ReportInputs, report_text, settings_of, validation_text

    with open(CALIBRATED, encoding="utf-8") as fh:
        cal = yaml.safe_load(fh)
    problem = Problem.default()
    outcome = CalibrationOutcome.from_directory(CAL, problem.names, cal)
    assert outcome.n_generations == cal["generations"] and outcome.theta.shape == (
        cal["population"],
        len(problem.names),
    )
    figs = ["forest.png", "prior_posterior.png", "pairwise_posterior.png", "epsilon_acceptance.png"]
    inputs = ReportInputs(
        problem,
        outcome,
        pd.read_csv(CAL / "fit.csv"),
        pd.read_csv(CAL / "parameters.csv"),
        cal,
        settings_of(CAL, cal),
        float(cal["wall_seconds"]),
    )
    text = report_text(inputs, figs, validation_text(CAL))
    assert text == (CAL / "report.md").read_text(encoding="utf-8")


def test_staleness_hash_covers_calibration_code_and_a_model_package(tmp_path):
    """``model_sources_hash`` changes with the calibration's algorithm and with any module of the model,
    whether the model is ``sim/model.py`` or a package ``sim/model/`` (which then replaces it); not with
    its report."""
    from sim.calibration.run import model_source_files, model_sources_hash

    for rel in ("sim/model.py", "sim/calibration/core.py", "sim/calibration/report.py", "calibration/targets.yaml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    files = model_source_files(tmp_path)
    assert {"sim/model.py", "sim/calibration/core.py"} <= set(files) and "sim/calibration/report.py" not in files
    h0 = model_sources_hash(tmp_path)
    (tmp_path / "sim/calibration/report.py").write_text("x = 2\n")
    assert model_sources_hash(tmp_path) == h0
    (tmp_path / "sim/calibration/core.py").write_text("x = 2\n")
    h1 = model_sources_hash(tmp_path)
    assert h1 != h0
    (tmp_path / "sim/model/processes").mkdir(parents=True)
    (tmp_path / "sim/model/__init__.py").write_text("")
    (tmp_path / "sim/model/processes/dropout.py").write_text("y = 1\n")
    files = model_source_files(tmp_path)
    assert "sim/model.py" not in files and "sim/model/processes/dropout.py" in files
    h2 = model_sources_hash(tmp_path)
    (tmp_path / "sim/model/processes/dropout.py").write_text("y = 2\n")
    assert len({h0, h1, h2, model_sources_hash(tmp_path)}) == 4
    assert set(model_source_files()) >= {
        "sim/calibration/core.py",
        "sim/calibration/abc.py",
        "sim/analysis/summaries.py",
        "sim/instruments.py",  # the paper's figures: Table 1's baselines and the targets' counts
        "sim/scenario.py",  # what a scenario's calendar, communities and waves mean
        "sim/scenario_pipeline.py",
        "sim/yaml_unique.py",
        "sim/analysis/stats.py",
        "sim/analysis/grouped.py",
    }


def test_staleness_hash_covers_every_module_the_calibration_runs():
    """Every module the model, the summaries and the hashed calibration modules import (at module level or
    inside a function, tests/helpers/imports.py) is hashed, or listed in NOT_HASHED with the reason its
    changes cannot change the numbers: a new dependency of the calibration cannot go unnoticed."""
    from helpers.imports import SIM, import_graph, modules, reachable

    from sim.calibration.run import NOT_HASHED, model_source_files

    hashed = set(model_source_files())
    mods = modules()
    path = {m: p.relative_to(SIM.parent).as_posix() for m, (p, _) in mods.items()}
    roots = ["sim.model", "sim.analysis.summaries"] + [m for m in mods if path[m] in hashed]
    needed = {path[m] for m in reachable(import_graph(), roots)}
    unaccounted = sorted(f for f in needed - hashed if not f.startswith(tuple(NOT_HASHED)))
    assert unaccounted == [], "hash these in MODEL_SOURCES or give the reason in NOT_HASHED"
    assert "sim/datasets.py" in hashed and "sim/calibration/report.py" not in hashed


def test_recovery_outputs_report_coverage(tmp_path, monkeypatch):
    """``recovery.md`` states the share of 95% intervals containing the known value, overall and per
    parameter (here 3 of 4 and 1 of 2 / 2 of 2), beside recovery.csv and the rank/coverage figure; they are
    moved into the calibration's folder only once all are written, its other files untouched."""
    from sim.calibration import recovery
    from sim.calibration.recovery import write

    df = pd.DataFrame(
        {
            "case": [0, 0, 1, 1],
            "parameter": ["a", "b", "a", "b"],
            "true": [0.1, 0.2, 0.3, 0.4],
            "post_lo": [0.0, 0.1, 0.35, 0.3],
            "post_median": [0.1, 0.2, 0.4, 0.4],
            "post_hi": [0.2, 0.3, 0.5, 0.5],
            "inside": [True, True, False, True],
            "rank_quantile": [0.5, 0.5, 0.01, 0.5],
            "prior_width": [1.0, 2.0, 1.0, 2.0],
        }
    )
    (tmp_path / "calibrated.yaml").write_text("kept: true\n")  # the calibration's own files stay
    write(df, tmp_path, {"cases": 2, "budget": 100, "population": 20, "seed": 1})
    assert (tmp_path / "calibrated.yaml").read_text() == "kept: true\n"
    assert not [p for p in tmp_path.parent.iterdir() if p.name.startswith(f".{tmp_path.name}")]  # no temporary
    md = (tmp_path / "recovery.md").read_text()
    assert "Overall coverage of the 95% credible intervals: 75%** (3 of 4 intervals" in md
    assert "| a | 50% | 2 | 0.175 | 18% |" in md and "| b | 100% | 2 | 0.2 | 10% |" in md
    assert "python cli.py recovery --cases 2 --budget 100 --population 20 --seed 1" in md
    assert (tmp_path / "recovery.csv").exists() and (tmp_path / "figures" / "recovery.png").exists()
    before = {f: (tmp_path / f).read_bytes() for f in ("recovery.csv", "recovery.md")}

    def no_figure(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(recovery, "_figure", no_figure)
    with pytest.raises(OSError, match="No space left"):
        write(df.assign(inside=False), tmp_path, {"cases": 2})
    assert {f: (tmp_path / f).read_bytes() for f in before} == before  # a failed write changes nothing


def test_calibration_report_does_not_import_the_run():
    """The report is a leaf: importing it does not pull in the ABC run (no report <-> run cycle)."""
    import subprocess
    import sys

    code = "import sys, sim.calibration.report; print('sim.calibration.run' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"
