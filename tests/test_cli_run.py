"""`python cli.py run`: bad input ends with exit code 2 and one line, writing nothing; a good run
writes the datasets and manifest, the same bytes however it is computed, and resumes after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import fakemodel as fm
from helpers.cli import run_cli

from sim.datasets import TABLES
from sim.runner import run_to_directory, work_dir_for
from sim.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path, timeout: float = 300, process: bool = False) -> subprocess.CompletedProcess:
    """``python cli.py run ARGS`` (in this process unless ``process``: tests/helpers/cli.py)."""
    return run_cli("run", *args, cwd=cwd, timeout=timeout, process=process)


def small_yaml(path: Path, **changes) -> Path:
    return fm.write_small_yaml(path, **changes)


def _with_community(i: int, **kv):
    cs = [dict(c) for c in fm.SMALL_SCENARIO["communities"]]
    cs[i].update(kv)
    return cs


BAD = {
    "missing file": (None, "file not found"),
    "malformed yaml": ("name: x\nwaves: {a: [1, 2\n", "malformed YAML"),
    "unknown key": ({"colour": "blue"}, "unknown key"),
    "wrong type": ({"seed": "many"}, "seed"),
    "negative count": ({"communities": _with_community(0, consumers=-3)}, "consumers"),
    "follow-up after horizon": ({"horizon_months": 5}, "horizon"),
    "fewer than two providers": ({"communities": _with_community(1, providers=1)}, "providers"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_scenario_exits_2_with_one_line_and_writes_nothing(tmp_path, case):
    content, expect = BAD[case]
    work = tmp_path / "w"
    work.mkdir()
    f = work / "bad.yaml"
    if isinstance(content, str):
        f.write_text(content)
    elif isinstance(content, dict):
        small_yaml(f, **content)
    before = sorted(p.name for p in work.rglob("*"))
    r = cli(str(f), "--out", str(work / "out"), cwd=work)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert expect.lower() in lines[0].lower() and "bad.yaml" in lines[0]
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert sorted(p.name for p in work.rglob("*")) == before


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--reps", "many"], "--reps"),
        (["--reps", "0"], "--reps"),
        (["--workers", "0"], "--workers"),
        (["--precision", "2"], "--precision"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_bad_options_exit_2(tmp_path, args, expect):
    f = small_yaml(tmp_path / "s.yaml")
    r = cli(str(f), "--out", str(tmp_path / "out"), *args, cwd=tmp_path)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and expect in r.stderr
    assert not (tmp_path / "out").exists()


def _hashes(d: Path) -> dict[str, str]:
    return fm.file_hashes(d)


def test_run_writes_datasets_and_manifest_same_bytes_any_backend(tmp_path):
    f = small_yaml(tmp_path / "small.yaml", replications=4)
    r1 = cli(str(f), "--workers", "1", cwd=tmp_path, process=True)  # one chunk of 4, a real `python cli.py`
    assert r1.returncode == 0, r1.stderr
    out = tmp_path / "outputs" / "small"
    for t in TABLES:
        assert (out / f"{t}.csv").stat().st_size > 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["replications"] == 4 and m["seed"] == 123 and m["scenario"] == "small"
    assert len(m["simpy_events_per_replication"]) == 4 and m["simpy_events_total"] > 0
    assert m["scenario_sha256"] == load_scenario(f).source_sha256 and "run" in m["command"]
    assert "Retention" in r1.stdout and "Sessions" in r1.stdout
    assert (out / "report.md").exists() and (out / "tests.csv").exists()  # the analysis, computed per chunk
    r2 = cli(str(f), "--workers", "2", "--chunk-size", "2", "--out", str(tmp_path / "b"), "-q", cwd=tmp_path)
    assert r2.returncode == 0, r2.stderr
    assert _hashes(tmp_path / "b") == _hashes(out)
    r3 = cli(
        str(f), "--workers", "2", "--chunk-size", "1", "--no-analysis", "--out", str(tmp_path / "c"), "-q", cwd=tmp_path
    )
    assert r3.returncode == 0
    assert _hashes(tmp_path / "c") == {
        k: v for k, v in _hashes(out).items() if k.split("/")[0] in {f"{t}.csv" for t in TABLES}
    }
    r4 = cli(str(f), "--seed", "7", "--reps", "3", "--no-analysis", "--out", str(tmp_path / "d"), "-q", cwd=tmp_path)
    assert r4.returncode == 0 and json.loads((tmp_path / "d" / "manifest.json").read_text())["seed"] == 7


def test_resume_with_changed_scenario_refused(tmp_path, monkeypatch):
    f = small_yaml(tmp_path / "s.yaml")
    out = tmp_path / "out"
    monkeypatch.setattr(fm, "FAIL_AT", 3)  # leave an interrupted work folder behind
    with pytest.raises(RuntimeError):
        run_to_directory(load_scenario(f), out, replications=6, chunk_size=1, workers=1, model=fm.FAKE_MODEL)
    assert work_dir_for(out).exists()
    small_yaml(f, communities=_with_community(0, consumers=11))
    r = cli(str(f), "--reps", "6", "--out", str(out), "--resume", cwd=tmp_path)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "cannot resume" in r.stderr and "scenario" in r.stderr
    assert not out.exists()


def _kill_and_resume(tmp_path: Path, extra: list[str]) -> None:
    scen = REPO / "scenarios" / "paper_study.yaml"
    ref = tmp_path / "ref"
    r = cli(str(scen), "--reps", "15", "--workers", "2", "--out", str(ref), "-q", *extra, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [
        sys.executable,
        str(REPO / "cli.py"),
        "run",
        str(scen),
        "--reps",
        "15",
        "--chunk-size",
        "3",
        "--workers",
        "1",
        "--out",
        str(out),
        "-q",
        *extra,
    ]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunks = work_dir_for(out) / "chunks"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if chunks.exists() and len([p for p in chunks.iterdir() if not p.name.startswith(".")]) >= 2:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "the run finished before it could be killed"
    r = cli(str(scen), "--reps", "15", "--workers", "2", "--out", str(out), "--resume", "-q", *extra, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert 2 <= m["chunks_reused"] < 5 and m["chunk_size"] == 3  # of 5 chunks
    assert _hashes(out) == _hashes(ref)


def test_killed_run_resumed_equals_uninterrupted(tmp_path):
    _kill_and_resume(tmp_path, ["--no-analysis"])


@pytest.mark.slow
def test_killed_run_with_analysis_resumed_equals_uninterrupted(tmp_path):
    _kill_and_resume(tmp_path, [])


def test_parameter_uncertainty_draws_from_the_posterior_per_replication(tmp_path):
    """--parameter-uncertainty: each replication its own posterior draw, chosen by (seed, replication)
    only, so the files do not depend on the worker count or chunking; without it the calibrated point is
    used; the manifest records the flag and the draws' hash."""
    from sim.calibration.posterior import PosteriorDraws

    def run(out, *extra):
        r = cli("scenarios/later_wave.yaml", "--reps", "4", "--no-analysis", "-q", "--out", str(out), *extra, cwd=REPO)
        assert r.returncode == 0, r.stderr
        return (out / "consumers.csv").read_bytes()

    a = run(tmp_path / "a", "--parameter-uncertainty", "--workers", "1")
    b = run(tmp_path / "b", "--parameter-uncertainty", "--workers", "2", "--chunk-size", "2")
    point = run(tmp_path / "c")
    assert a == b and a != point
    man = json.loads((tmp_path / "a" / "manifest.json").read_text())
    sc = load_scenario(REPO / "scenarios/later_wave.yaml")
    draws = PosteriorDraws(sc.parameters, sc.seed, REPO / "calibration/calibrated.yaml")
    assert man["parameter_uncertainty"] is True and man["parameter_draws_sha256"] == draws.sha256
    sets = {draws(r).consumer_dropout_hazard_per_month for r in range(6)}
    assert len(sets) > 1  # replications really use different draws
    assert draws(3) == PosteriorDraws(sc.parameters, sc.seed, REPO / "calibration/calibrated.yaml")(3)


def test_parameter_uncertainty_needs_a_posterior(tmp_path):
    scen = tmp_path / "s.yaml"
    scen.write_text(
        "name: s\nwaves: {w: {follow_up_months: 6}}\ncommunities:\n"
        "  - {name: A, wave: w, scheduling: structured, providers: 2, consumers: 6}\n"
    )
    r = cli(str(scen), "--parameter-uncertainty", "--out", str(tmp_path / "o"), cwd=REPO)
    assert r.returncode == 2 and "parameter_set" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_reps_auto_without_the_precision_is_one_warning_line(tmp_path):
    """--reps auto that uses its whole budget says so in one line on stderr (also with -q, where no
    summary is printed), not as a Python warning with its source file and line."""
    f = small_yaml(tmp_path / "s.yaml")
    r = cli(f, "--reps", "auto", "--max-reps", "3", "--precision", "0.001", "-q", "--no-analysis", "--out",
            tmp_path / "o", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines() == [
        "warning: --reps auto: precision ±0.1% not reached within 3 replications (--max-reps); results use all 3"
    ]


def test_run_summary_shows_the_paper_column_only_beside_the_paper_study():
    """The printed tables put the paper's figures beside the simulated ones only for the paper's own study
    (sim.planning.paper.is_paper_study); the paper's 26/32 consumers of the initial wave evaluated."""
    from sim.planning.paper import is_paper_study
    from sim.reporting.run_summary import _retention_table, _satisfaction_table, _sessions_table
    from sim.scenario import load_scenario

    root = Path(__file__).resolve().parents[1] / "scenarios"
    paper, other = load_scenario(root / "paper_study.yaml"), load_scenario(root / "rural_county.yaml")
    assert is_paper_study(paper) and not is_paper_study(other)
    ret = [{"role": "consumer", "wave": "initial", "retained": 20.0, "evaluated": 18.0, "recruited": 32, "share": 0.56}]
    sat = [{"role": "consumer", "item": "satisfied overall", "share": 0.9, "evaluated": 18.0}]
    ses = [{"wave": "total", "mean": 200.0, "lo": 180, "hi": 220, "cancelled": 10.0}]
    for flag, sc in ((True, paper), (False, other)):
        for t in (_retention_table(ret, flag), _satisfaction_table(sat, flag), _sessions_table(ses, sc, flag)):
            assert (t.columns[-1].header == "paper") is flag, [c.header for c in t.columns]
    assert list(_retention_table(ret, True).columns[-1].cells) == ["26/32 (81%)"]
