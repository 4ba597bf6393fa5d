"""Global sensitivity (`sim.sensitivity`, `python cli.py sensitivity`): the SALib wiring reproduces the
Ishigami function's closed-form Sobol' indices; a tiny model study has the right shape, is identical
across workers and through the CLI, and finds what the model's structure implies (consumer dropout
drives retention; answer-scoring slopes, which act only on follow-up answers, cannot); bad input
exits 2 with one line and writes nothing."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from sim import sensitivity as sa
from sim.cli_app import app
from sim.outputs import write_folder
from sim.scenario import load_scenario
from sim.sensitivity_report import write_sensitivity

REPO = Path(__file__).resolve().parents[1]
LATER = REPO / "scenarios" / "later_wave.yaml"
PAPER = REPO / "scenarios" / "paper_study.yaml"

DROPOUT = "consumer_dropout_hazard_per_month"
RICHNESS = "richness_score_per_share"  # points on the richness answer: acts at follow-up only
PUNCTUALITY = "punctuality_score_per_share"  # likewise


def factor(name: str, low: float, high: float, **kw) -> sa.Factor:
    return sa.parse_factor(name, {"dist": "uniform", "low": low, "high": high, **kw}, f"test: {name}")


# ---------------------------------------------------------------------------------------------
# SALib wiring against closed forms
# ---------------------------------------------------------------------------------------------
def ishigami_indices(a: float = 7.0, b: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form S1 and ST of f = sin x1 + a sin^2 x2 + b x3^4 sin x1, x_i ~ U(-pi, pi)
    (Ishigami & Homma 1990; Saltelli et al. 2008, Global Sensitivity Analysis: The Primer, 4.6)."""
    V1 = 0.5 * (1 + b * np.pi**4 / 5) ** 2
    V2 = a**2 / 8
    V13 = b**2 * np.pi**8 * (1 / 18 - 1 / 50)
    V = V1 + V2 + V13
    return np.array([V1, V2, 0.0]) / V, np.array([V1 + V13, V2, V13]) / V


def ishigami(X: np.ndarray) -> np.ndarray:
    """(points, 3) -> (points, 1 replication, 1 output), as an evaluator of :func:`sa.sobol_study`."""
    f = np.sin(X[:, 0]) + 7.0 * np.sin(X[:, 1]) ** 2 + 0.1 * X[:, 2] ** 4 * np.sin(X[:, 0])
    return f[:, None, None]


def test_ishigami_indices_within_salib_intervals():
    factors = [sa.Factor(f"x{i}", "uniform", -np.pi, np.pi) for i in (1, 2, 3)]
    res = sa.sobol_study(factors, ["f"], ishigami, n=1024, seed=20191114)
    assert res.X.shape == (1024 * 8, 3)  # N(2D+2)
    s1, st = ishigami_indices()
    t = res.table.set_index("parameter").loc[["x1", "x2", "x3"]]
    assert np.all(np.abs(t["S1"].to_numpy() - s1) <= t["S1_conf"].to_numpy()), t
    assert np.all(np.abs(t["ST"].to_numpy() - st) <= t["ST_conf"].to_numpy()), t
    assert np.all(t[["S1_conf", "ST_conf"]].to_numpy() < 0.1)  # intervals tight enough to reject a wrong wiring
    # x3 acts only through its interaction with x1: no first-order effect, a clear total effect
    assert t.loc["x3", "ST"] - t.loc["x3", "ST_conf"] > 0.15 > abs(t.loc["x3", "S1"])


def test_truncated_normal_factor_samples_its_distribution():
    f = factor("benefit_experience_logit", -3.0, 5.0, dist="normal", mean=0.0, sd=1.5)
    x = sa.design([f], 1024, seed=1)[:, 0]
    assert x.min() >= -3.0 and x.max() <= 5.0
    ref = stats.truncnorm((-3.0 - 0.0) / 1.5, (5.0 - 0.0) / 1.5, loc=0.0, scale=1.5)
    assert abs(x.mean() - ref.mean()) < 0.03 and abs(x.std() - ref.std()) < 0.03
    assert stats.kstest(x, ref.cdf).pvalue > 0.01


def test_noise_share_separates_signal_from_replication_noise():
    rng = np.random.default_rng(3)
    g = rng.normal(0, 2.0, size=(4000, 1))  # signal variance 4
    indep = g + rng.normal(0, 1.0, size=(4000, 4))  # noise variance 1 per replication, 4 replications
    assert sa.noise_share(indep) == pytest.approx((1 / 4) / (4 + 1 / 4), abs=0.01)
    common = g + rng.normal(0, 1.0, size=(1, 4))  # common random numbers: noise shared by every point
    assert sa.noise_share(common) == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(sa.noise_share(indep[:, :1]))


def test_dotted_names_set_one_entry_of_a_mapping():
    f = factor("consumer_item_base.ben_mood", 0.5, 0.9)
    base = load_scenario(LATER).parameters
    (p,) = sa.parameter_sets(base, [f, factor(DROPOUT, 0.0, 0.06)], np.array([[0.7, 0.03]]))
    assert p.consumer_item_base["ben_mood"] == 0.7 and p.consumer_dropout_hazard_per_month == 0.03
    others = {k: v for k, v in p.consumer_item_base.items() if k != "ben_mood"}
    assert others == {k: v for k, v in base.consumer_item_base.items() if k != "ben_mood"}


def test_default_spec_follows_the_calibration_report():
    spec = sa.default_spec()
    table = pd.read_csv(REPO / "calibration" / "parameters.csv").set_index("parameter")
    priors = yaml.safe_load((REPO / "calibration" / "priors.yaml").read_text())["parameters"]
    assert spec.names == list(table.index)
    for f in spec.factors:
        r = table.loc[f.name]
        if r["narrowing"] < 0.10:  # "not identified" in calibration/report.md: the prior
            assert (f.low, f.high) == (priors[f.name]["low"], priors[f.name]["high"]) and "prior" in f.source
        else:  # the posterior 95% interval
            assert (f.low, f.high) == (r["post_lo"], r["post_hi"]) and f.dist == "uniform"


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------
def _spec_file(path: Path, names_ranges: dict[str, tuple[float, float]], outputs=None) -> Path:
    doc = {"parameters": {k: {"dist": "uniform", "low": lo, "high": hi} for k, (lo, hi) in names_ranges.items()}}
    if outputs:
        doc["outputs"] = list(outputs)
    path.write_text(yaml.safe_dump(doc))
    return path


def test_tiny_model_study_shape_determinism_and_cli(tmp_path):
    sc = load_scenario(LATER)
    spec_path = _spec_file(tmp_path / "spec.yaml", {DROPOUT: (0.0, 0.06), RICHNESS: (-1.0, 6.0)})
    spec = sa.load_spec(spec_path, sc.parameters)
    one = sa.run_sensitivity(sc, spec, n=8, reps=1, workers=1, chunk_size=7)
    assert one.X.shape == (8 * 6, 2) and one.Y_reps.shape == (48, 1, len(sa.DEFAULT_OUTPUTS))
    assert len(one.table) == 2 * len(sa.DEFAULT_OUTPUTS)
    assert list(one.table.columns) == ["output", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    ok = one.summary.set_index("output")["status"] == "ok"
    assert ok["consumer_retention"] and ok["consumer_mood_benefit"]
    analysed = one.table[one.table["output"].map(ok)]
    assert np.isfinite(analysed[["S1", "S1_conf", "ST", "ST_conf"]].to_numpy()).all()
    with matplotlib.rc_context({"font.size": 5}):  # another module's global style must not change the figure
        write_folder(tmp_path / "a", lambda tmp: write_sensitivity(one, tmp, spec))
    # the documented command, same seed, 2 worker processes and default chunks: the same bytes
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, str(REPO / "cli.py"), "sensitivity", str(LATER), "--n", "8", "--reps-per-point", "1"]
    cmd += ["--spec", str(spec_path), "--out", str(tmp_path / "cli"), "--quiet", "--workers", "2"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in ("sobol.csv", "samples.csv", "outputs.csv", "report.md", "sensitivity.png"):
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "a" / name).read_bytes(), name
    # the written spec reproduces the study
    again = sa.load_spec(tmp_path / "cli" / "spec.yaml", sc.parameters)
    assert again.factors == tuple(f for f in spec.factors) and again.outputs == spec.outputs
    # another seed: another design and other replications
    other = sa.run_sensitivity(sc, spec, n=8, reps=1, seed=7, workers=1)
    assert not np.array_equal(other.X, one.X)


def _retention_study(n: int, reps: int) -> pd.DataFrame:
    sc = load_scenario(LATER)
    spec = sa.Spec(
        (factor(DROPOUT, 0.0, 0.06), factor(RICHNESS, -1.0, 6.0), factor(PUNCTUALITY, -1.0, 6.0)),
        ("consumer_retention",),
    )
    return sa.run_sensitivity(sc, spec, n=n, reps=reps, workers=2).table.set_index("parameter")


def test_dropout_drives_retention_and_answer_slopes_cannot():
    """Retention is decided before follow-up, so the points a follow-up answer earns per unit share
    (richness, punctuality) cannot move it: with common random numbers their S1 and ST are exactly 0,
    while the dropout hazard (0 to 0.06 a month over 12 months) clearly drives it."""
    t = _retention_study(n=16, reps=1)
    for p in (RICHNESS, PUNCTUALITY):
        assert t.loc[p, "ST"] == 0.0 and t.loc[p, "S1"] == 0.0
    assert t.loc[DROPOUT, "ST"] - t.loc[DROPOUT, "ST_conf"] > 0.25


@pytest.mark.slow
def test_dropout_indices_converge_to_one():
    """With the other two parameters unable to act, retention is a function of the dropout hazard
    alone (common random numbers), so its S1 and ST are 1 in theory: the estimates' 95% intervals
    must cover 1 and be narrow."""
    t = _retention_study(n=512, reps=1)
    for c in ("S1", "ST"):
        assert abs(t.loc[DROPOUT, c] - 1.0) <= t.loc[DROPOUT, f"{c}_conf"] < 0.2, t


@pytest.mark.slow
def test_paper_study_each_output_has_its_mechanism_as_driver():
    """paper_study over wide ranges: sessions held are driven by the unstructured session rate (the
    initial wave's schedule), retention by the dropout hazard, mood benefit by the experience logit;
    the richness slope moves none of them."""
    sc = load_scenario(PAPER)
    spec = sa.Spec(
        (
            factor(DROPOUT, 0.0, 0.06),
            factor("unstructured_max_sessions_per_week", 0.2, 2.0),
            factor("benefit_experience_logit", -3.0, 5.0),
            factor(RICHNESS, -1.0, 6.0),
        ),
        ("sessions_held", "consumer_retention", "consumer_mood_benefit"),
    )
    res = sa.run_sensitivity(sc, spec, n=128, reps=2)
    top = res.table.loc[res.table.groupby("output")["ST"].idxmax()].set_index("output")["parameter"]
    assert top["sessions_held"] == "unstructured_max_sessions_per_week"
    assert top["consumer_retention"] == DROPOUT
    assert top["consumer_mood_benefit"] == "benefit_experience_logit"
    rich = res.table[res.table["parameter"] == RICHNESS].set_index("output")
    assert (rich["ST"] == 0.0).all()


# ---------------------------------------------------------------------------------------------
# Bad input: one line, exit 2, nothing written
# ---------------------------------------------------------------------------------------------
BAD_SPECS = {
    "unknown parameter": ({"parameters": {"no_such_thing": {"low": 0, "high": 1}}}, "no_such_thing"),
    "empty range": ({"parameters": {DROPOUT: {"low": 0.05, "high": 0.05}}}, "empty range"),
    "reversed range": ({"parameters": {DROPOUT: {"low": 0.05, "high": 0.01}}}, "empty range"),
    "infinite bound": ({"parameters": {DROPOUT: {"low": 0, "high": float("inf")}}}, "finite"),
    "nan bound": ({"parameters": {DROPOUT: {"low": float("nan"), "high": 1}}}, "finite"),
    "bound outside the field": ({"parameters": {"attendance_mean": {"low": 0.2, "high": 1.5}}}, "attendance_mean"),
    "normal without sd": ({"parameters": {DROPOUT: {"dist": "normal", "mean": 0, "low": 0, "high": 1}}}, "sd"),
    "unknown dist": ({"parameters": {DROPOUT: {"dist": "cauchy", "low": 0, "high": 1}}}, "dist"),
    "unknown output": ({"parameters": {DROPOUT: {"low": 0, "high": 0.1}}, "outputs": ["happiness"]}, "happiness"),
    "bad dotted entry": ({"parameters": {"consumer_item_base.nope": {"low": 0.1, "high": 0.2}}}, "nope"),
    "mapping without entry": ({"parameters": {"consumer_item_base": {"low": 0.1, "high": 0.2}}}, "field.key"),
    "no parameters": ({"outputs": ["sessions_held"]}, "parameters"),
}


def _cli(capsys, args: list[str]) -> tuple[int, str]:
    """The command in-process, through the app's own error handling: (exit code, stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        app(["sensitivity", *args], prog_name="cli.py")
    return int(e.value.code or 0), capsys.readouterr().err


def _one_line_exit_2(res: tuple[int, str], expect: str) -> None:
    code, err = res
    assert code == 2, (code, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    assert expect in lines[0], lines[0]


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_spec_exits_2_with_one_line(tmp_path, capsys, case):
    doc, expect = BAD_SPECS[case]
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(doc))
    res = _cli(capsys, [str(LATER), "--spec", str(spec), "--out", str(tmp_path / "out"), "-q"])
    _one_line_exit_2(res, expect)
    assert str(spec) in res[1]  # names the file
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--n", "100"], "power of 2"),
        (["--n", "0"], "power of 2"),
        (["--n", "8192"], "power of 2"),
        (["--n", "4096", "--reps-per-point", "100"], "at most"),
        (["--reps-per-point", "0"], "--reps-per-point"),
        (["--workers", "0"], "--workers"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path, capsys, args, expect):
    res = _cli(capsys, [str(LATER), *args, "--out", str(tmp_path / "out"), "-q"])
    _one_line_exit_2(res, expect)
    assert not (tmp_path / "out").exists()


def test_malformed_spec_and_missing_scenario_exit_2(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("parameters: {a: [1, 2\n")
    _one_line_exit_2(
        _cli(capsys, [str(LATER), "--spec", str(spec), "-q", "--out", str(tmp_path / "o")]), "malformed YAML"
    )
    _one_line_exit_2(_cli(capsys, [str(tmp_path / "missing.yaml"), "-q", "--out", str(tmp_path / "o")]), "missing.yaml")
    _one_line_exit_2(_cli(capsys, [str(LATER), "--spec", str(tmp_path / "none.yaml"), "-q"]), "none.yaml")
    spec.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(128, 256)))  # a binary file given by mistake
    _one_line_exit_2(_cli(capsys, [str(LATER), "--spec", str(spec), "-q", "--out", str(tmp_path / "o")]), "spec.yaml")
    spec.write_text("parameters:\n  x: {dist: uniform, low: 0, high: 1}\n  x: {dist: uniform, low: 0, high: 2}\n")
    _one_line_exit_2(
        _cli(capsys, [str(LATER), "--spec", str(spec), "-q", "--out", str(tmp_path / "o")]), "duplicate key 'x'"
    )


def test_foreign_destination_is_refused_before_any_work(tmp_path, capsys):
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "notes.txt").write_text("a user's file")
    spec = _spec_file(tmp_path / "spec.yaml", {DROPOUT: (0.0, 0.06)})
    _one_line_exit_2(_cli(capsys, [str(LATER), "--spec", str(spec), "--n", "4", "--out", str(dest), "-q"]), "--force")
    assert [p.name for p in dest.iterdir()] == ["notes.txt"]
