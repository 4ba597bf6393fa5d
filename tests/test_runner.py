"""Runner tests, on a stand-in model (tests/helpers/fakemodel.py) so they are fast and test the
runner alone. Groups:

- invariance: the final files are the same bytes whatever the workers, chunk sizes or path taken;
- map API: in-memory results in replication order, per-replication parameter sets;
- resume: an interrupted run resumed equals an uninterrupted one; a changed scenario is refused;
- output folder: written atomically, an existing destination replaced only at the end;
- --reps auto: the replications algorithm stops where the precision is met.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import fakemodel as fm
from helpers.procs import alive, children
from scipy import stats

from sim import runner
from sim.replications import ReplicationsAlgorithm, look_ahead_for
from sim.runner import (
    ResumeError,
    default_chunk_size,
    map_chunks,
    map_replications,
    run_to_directory,
    simulate_frames,
    work_dir_for,
)

REPO = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, name: str, **kw):
    kw.setdefault("model", fm.FAKE_MODEL)
    kw.setdefault("workers", 1)
    sc = kw.pop("scenario", None) or fm.small_scenario()
    out = tmp_path / name
    res = run_to_directory(sc, out, **kw)
    return out, res


# --- invariance -------------------------------------------------------------------------------
def test_same_bytes_whatever_workers_and_chunks(tmp_path):
    ref_dir, ref = _run(tmp_path, "ref", replications=13)
    ref_h = fm.file_hashes(ref_dir)
    assert set(ref_h) == {f"{t}.csv" for t in fm.TABLES}
    for name, kw in {
        "c1": {"chunk_size": 1},
        "c5": {"chunk_size": 5},
        "c13": {"chunk_size": 13},
        "w2": {"workers": 2, "chunk_size": 3},
    }.items():
        d, res = _run(tmp_path, name, replications=13, **kw)
        assert fm.file_hashes(d) == ref_h, name
        assert res.events == ref.events
    # and the same bytes as writing every replication's frames in one go
    frames = fm.fake_to_frames([fm.fake_simulate(fm.small_scenario(), r) for r in range(13)])
    for t in fm.TABLES:
        fm.fake_write_table(frames[t], tmp_path / f"whole_{t}.csv")
        assert (tmp_path / f"whole_{t}.csv").read_bytes() == (ref_dir / f"{t}.csv").read_bytes()


def test_manifest_contents(tmp_path):
    d, res = _run(tmp_path, "m", replications=5, seed=9, command="cli.py run x.yaml")
    m = json.loads((d / "manifest.json").read_text())
    assert m["scenario"] == "small" and m["seed"] == 9 and m["replications"] == 5
    assert m["simpy_events_per_replication"] == res.events and len(res.events) == 5
    assert m["simpy_events_total"] == sum(res.events)
    assert m["package_version"] and m["wall_time_seconds"] >= 0 and m["command"] == "cli.py run x.yaml"
    assert not work_dir_for(d).exists()  # cleaned up after success


def test_seed_changes_results(tmp_path):
    a, _ = _run(tmp_path, "a", replications=3, seed=1)
    b, _ = _run(tmp_path, "b", replications=3, seed=2)
    assert fm.file_hashes(a) != fm.file_hashes(b)


@pytest.mark.parametrize(
    ("n", "workers", "size", "chunks"),
    [
        (1, 2, 1, 1),  # never more than the run
        (10, 2, 10, 1),
        (100, 2, 25, 4),  # 100/8 < 25: at least 25 per chunk
        (200, 2, 25, 8),  # 200/8 = 25 exactly
        (201, 2, 26, 8),  # ceil(201/8) = 26: eight chunks, the last one shorter
        (1000, 2, 125, 8),  # four chunks per worker
        (1000, 4, 63, 16),
        (1000, 1, 250, 4),
        (1000, None, 63, 16),  # workers not known (a Dask cluster): sixteen chunks
        (10**6, 2, 250, 4000),  # at most 250 per chunk (memory of a chunk in flight)
    ],
)
def test_default_chunk_size_aims_at_four_chunks_per_worker_of_25_to_250(n, workers, size, chunks):
    """CHUNKS_PER_WORKER=4 chunks per worker (TARGET_CHUNKS=16 when the workers are not known), each of
    MIN_CHUNK=25 to MAX_CHUNK=250 replications; never a function of timing."""
    assert (runner.CHUNKS_PER_WORKER, runner.TARGET_CHUNKS, runner.MIN_CHUNK, runner.MAX_CHUNK) == (4, 16, 25, 250)
    assert default_chunk_size(n, workers=workers) == size
    ranges = runner.chunk_ranges(n, size)
    assert len(ranges) == chunks and ranges[0][0] == 0 and ranges[-1][1] == n
    assert all(b - a == size for a, b in ranges[:-1]) and 0 < ranges[-1][1] - ranges[-1][0] <= size


def test_a_run_cuts_four_chunks_per_worker_and_its_resumption_keeps_the_cut(tmp_path):
    """run_to_directory picks the chunk size for its pool's workers (recorded in manifest.json); resumed
    with another number of workers, it keeps the chunks already cut (the work folder's chunk size)."""
    sc = fm.small_scenario()
    out = tmp_path / "out"
    res = run_to_directory(sc, out, replications=200, workers=2, model=fm.FAKE_MODEL, keep_work=True)
    assert json.loads((out / "manifest.json").read_text())["chunk_size"] == 25 == res.chunk_size
    res = run_to_directory(sc, out, replications=200, workers=1, model=fm.FAKE_MODEL, resume=True)
    assert res.chunk_size == 25  # not 50, the size for one worker: the stored chunks are reused
    fresh = run_to_directory(sc, tmp_path / "fresh", replications=200, workers=1, model=fm.FAKE_MODEL)
    assert fresh.chunk_size == 50


# --- map API ----------------------------------------------------------------------------------
def _sessions_per_rep(frames):
    s = frames["sessions"]
    return s.groupby("replication").size().tolist()


def _training_days(results):  # cheap path: raw results, no pandas
    return [r.columns["communities"]["training_days"][0] for r in results]


def _ages(frames):
    return frames["providers"][["replication", "person_id", "age"]]


def test_the_in_memory_map_keeps_chunks_of_at_most_100():
    """map_chunks (compare, sensitivity, power, calibration) cuts by the count alone, without the scenario's
    size: its chunks stay at most MAX_MAP_CHUNK=100 (a chunk of a large scenario holds its frames in
    memory), where a run on disk may cut 125 (2,000 replications, 16 per run)."""
    sc = fm.small_scenario()
    chunks = map_chunks(_training_days, sc, 2000, model=fm.FAKE_MODEL, workers=1, pass_frames=False)
    assert default_chunk_size(2000) == 125 and runner.MAX_MAP_CHUNK == 100
    assert [b - a for (a, b), _ in chunks] == [100] * 20


def test_map_replications_in_order_any_chunking():
    sc = fm.small_scenario()
    a = map_replications(_sessions_per_rep, sc, 11, model=fm.FAKE_MODEL, workers=1, chunk_size=4)
    b = map_replications(_sessions_per_rep, sc, 11, model=fm.FAKE_MODEL, workers=2, chunk_size=3)
    assert a == b and len(a) == 11
    frames = simulate_frames(sc, 11, model=fm.FAKE_MODEL, workers=1)
    assert frames["sessions"].groupby("replication").size().tolist() == a
    df = map_replications(lambda f: f["communities"], sc, 4, model=fm.FAKE_MODEL, workers=1, chunk_size=3)
    assert list(df["replication"]) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_map_replications_per_replication_parameters():
    sc = fm.small_scenario()
    p = [sc.parameters.replace(training_days=float(d)) for d in (1, 2, 3, 4, 5, 6)]
    reps = [0, 1, 2] * 2  # two parameter sets, common random numbers across them
    out = map_replications(
        _training_days, sc, reps, parameters_per_rep=p, model=fm.FAKE_MODEL, workers=2, chunk_size=4, pass_frames=False
    )
    assert out == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    chunks = map_chunks(_ages, sc, reps, parameters_per_rep=p, model=fm.FAKE_MODEL, workers=1, chunk_size=3)
    assert [r for r, _ in chunks] == [(0, 3), (3, 6)]
    # common random numbers: replication r draws the same numbers under both parameter sets
    pd.testing.assert_frame_equal(chunks[0][1].reset_index(drop=True), chunks[1][1].reset_index(drop=True))


def test_map_replications_length_checked():
    with pytest.raises(ValueError, match="entries for a chunk"):
        map_replications(lambda f: [1], fm.small_scenario(), 3, model=fm.FAKE_MODEL, workers=1, chunk_size=3)


def test_local_workers_write_their_chunks_themselves(tmp_path, monkeypatch):
    """A worker on this machine (a pool's, or this process with one worker) writes its chunk's folder
    (tables, summary, hook tables) where it computed it: nothing goes through write_chunk (the path of a
    Dask worker's bytes, tests/test_runner_dask.py), and any worker count gives the same files."""
    from sim.runner import loop

    written_here = []
    real = loop.write_chunk

    def write_chunk(chunks_dir, a, b, out):
        written_here.append((a, b))
        return real(chunks_dir, a, b, out)

    monkeypatch.setattr(loop, "write_chunk", write_chunk)
    seen = {}

    def fin(tmp_out, result):
        seen[tmp_out.name] = result.extras.concat("per_rep")

    pool_dir, _ = _run(tmp_path, "pool", replications=7, chunk_size=2, workers=2, post=_post_hook, finalize=fin)
    assert written_here == []
    here_dir, _ = _run(tmp_path, "here", replications=7, chunk_size=3, workers=1, post=_post_hook, finalize=fin)
    assert written_here == []
    assert fm.file_hashes(pool_dir) == fm.file_hashes(here_dir)
    a, b = seen.values()
    pd.testing.assert_frame_equal(a, b)
    assert a["replication"].tolist() == list(range(7))


def test_abort_stops_running_workers():
    """Ctrl-C aborts the pool: its running workers are stopped before abort() returns, so none writes a
    chunk after the run has reported what it kept."""
    pool = runner.ReplicationPool(workers=2)
    procs = list(pool.executor._processes.values())
    try:
        running = [pool.executor.submit(time.sleep, 60) for _ in range(2)]
        deadline = time.monotonic() + 10
        while not all(f.running() for f in running) and time.monotonic() < deadline:
            time.sleep(0.05)
        t = time.monotonic()
        pool.abort()
        assert time.monotonic() - t < 10
        assert len(procs) == 2 and not any(alive(p.pid) for p in procs)
    finally:
        for p in procs:
            p.kill()


def test_ctrl_c_in_a_pool_run_stops_the_workers_and_leaves_only_finished_chunks(tmp_path, monkeypatch):
    """Ctrl-C while a local pool's workers write their chunks: the run stops them, removes their
    half-written folders, and the finished chunks it kept do not change afterwards."""
    from sim.runner import loop

    real = loop.ChunkLoop.done

    def done(self, a, b, out):
        real(self, a, b, out)
        raise KeyboardInterrupt  # after the first finished chunk, while the other worker is busy

    monkeypatch.setattr(loop.ChunkLoop, "done", done)
    monkeypatch.setenv("FAKE_SLEEP", "0.05")  # ~0.05 s per replication in the workers
    out = tmp_path / "o"
    before = set(children(os.getpid()))  # e.g. another test's forkserver, in this process for good
    with pytest.raises(KeyboardInterrupt):
        run_to_directory(fm.small_scenario(), out, replications=40, chunk_size=4, workers=2, model=fm.FAKE_MODEL)
    assert not [k for k in set(children(os.getpid())) - before if alive(k)]
    chunks = runner.work_dir_for(out) / "chunks"
    kept = sorted(p.name for p in chunks.iterdir())
    assert kept and not [k for k in kept if k.startswith(".")], kept
    time.sleep(0.5)
    assert sorted(p.name for p in chunks.iterdir()) == kept


def test_reusable_pool():
    sc = fm.small_scenario()
    with runner.ReplicationPool(workers=2) as pool:
        a = map_replications(_sessions_per_rep, sc, 6, model=fm.FAKE_MODEL, pool=pool, chunk_size=2)
        b = map_replications(_sessions_per_rep, sc, 6, model=fm.FAKE_MODEL, pool=pool, chunk_size=3)
    assert a == b


_UNGUARDED_SCRIPT = """
import sys, threading
print("script ran", flush=True)
sys.path.insert(0, {tests!r})
from helpers import fakemodel as fm
from test_runner import _sessions_per_rep
from sim import runner

def sessions(pool):
    sc = fm.small_scenario()
    return runner.map_replications(_sessions_per_rep, sc, 6, model=fm.FAKE_MODEL, pool=pool, chunk_size=2)

with runner.ReplicationPool(workers=2) as pool:
    print(pool.start_method, sessions(pool), flush=True)

def off_main():
    with runner.ReplicationPool(workers=2) as pool:
        print(pool.start_method, sessions(pool), flush=True)

t = threading.Thread(target=off_main)
t.start()
t.join()
"""


def test_pool_started_off_the_main_thread_uses_a_forkserver_that_does_not_rerun_the_main_script(tmp_path):
    """A pool started from another thread (the app's server) does not fork that multi-threaded process: its
    workers come from a forkserver, compute the same numbers as forked ones, and do not run the main script
    again (multiprocessing would, as ``__mp_main__``: the app's Streamlit script has no business in a worker)."""
    script = tmp_path / "unguarded.py"
    script.write_text(_UNGUARDED_SCRIPT.format(tests=str(REPO / "tests")))
    out = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "script ran" and len(lines) == 3, out.stdout
    (fork, forked), (server, served) = (line.split(" ", 1) for line in lines[1:])
    assert (fork, server) == ("fork", "forkserver")
    assert forked == served and len(json.loads(forked)) == 6


# --- resume -----------------------------------------------------------------------------------
def test_failed_run_resumes_to_same_bytes(tmp_path, monkeypatch):
    ref, _ = _run(tmp_path, "ref", replications=12, chunk_size=3)
    monkeypatch.setattr(fm, "FAIL_AT", 7)
    with pytest.raises(RuntimeError, match="injected"):
        _run(tmp_path, "out", replications=12, chunk_size=3)
    monkeypatch.setattr(fm, "FAIL_AT", None)
    work = work_dir_for(tmp_path / "out")
    assert sorted(p.name for p in (work / "chunks").iterdir()) == [runner._chunk_name(0, 3), runner._chunk_name(3, 6)]
    assert not (tmp_path / "out").exists()
    _, res = _run(tmp_path, "out", replications=12, resume=True)  # chunk size taken from the work folder
    assert (res.chunks_reused, res.chunks_computed) == (2, 2)
    assert fm.file_hashes(tmp_path / "out") == fm.file_hashes(ref)
    assert not work.exists()


@pytest.mark.parametrize("change", ["scenario", "seed", "replications"])
def test_resume_refused_when_run_differs(tmp_path, monkeypatch, change):
    monkeypatch.setattr(fm, "FAIL_AT", 4)
    with pytest.raises(RuntimeError):
        _run(tmp_path, "out", replications=8, chunk_size=2)
    monkeypatch.setattr(fm, "FAIL_AT", None)
    kw = {"replications": 8}
    if change == "scenario":
        kw["scenario"] = fm.small_scenario(
            communities=[{**fm.SMALL_SCENARIO["communities"][0], "consumers": 10}, fm.SMALL_SCENARIO["communities"][1]]
        )
    elif change == "seed":
        kw["seed"] = 5
    else:
        kw["replications"] = 9
    with pytest.raises(ResumeError) as ei:
        _run(tmp_path, "out", resume=True, **kw)
    msg = str(ei.value)
    assert "\n" not in msg and "cannot resume" in msg
    assert (work_dir_for(tmp_path / "out") / "chunks").exists()  # left intact
    # without --resume the stale work folder is discarded and the run starts afresh
    _run(tmp_path, "out", **kw)
    assert (tmp_path / "out" / "sessions.csv").exists()


def test_killed_process_resumes_to_same_bytes(tmp_path):
    ref, _ = _run(tmp_path, "ref", replications=10, chunk_size=1)
    out = tmp_path / "out"
    script = (
        "from helpers import fakemodel as fm\n"
        "from sim.runner import run_to_directory\n"
        f"run_to_directory(fm.small_scenario(), {str(out)!r}, replications=10, chunk_size=1, workers=1,"
        " model=fm.FAKE_MODEL)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]), "FAKE_SLEEP": "0.15"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=tmp_path)
    chunks = work_dir_for(out) / "chunks"
    deadline = time.time() + 60
    while time.time() < deadline:
        if chunks.exists() and len([p for p in chunks.iterdir() if not p.name.startswith(".")]) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len([p for p in chunks.iterdir() if not p.name.startswith(".")])
    assert 3 <= done < 10 and not out.exists()
    _, res = _run(tmp_path, "out", replications=10, chunk_size=1, resume=True)  # resumed in this process
    assert res.chunks_reused == done and res.chunks_computed == 10 - done
    assert fm.file_hashes(out) == fm.file_hashes(ref)


# --- output folder ----------------------------------------------------------------------------
def test_existing_destination_replaced_only_at_end(tmp_path, monkeypatch):
    out, _ = _run(tmp_path, "out", replications=4)
    before = fm.file_hashes(out)
    monkeypatch.setattr(fm, "FAIL_AT", 2)
    with pytest.raises(RuntimeError):
        _run(tmp_path, "out", replications=4, seed=77)
    assert fm.file_hashes(out) == before  # untouched by the failed run
    monkeypatch.setattr(fm, "FAIL_AT", None)
    _run(tmp_path, "out", replications=4, seed=77)
    assert fm.file_hashes(out) != before
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_post_hook_tables_per_chunk(tmp_path):
    seen = {}

    def fin(tmp_out, result):  # the chunk tables are read lazily, while the work folder exists
        seen[result.extras.names] = [len(c) for c in result.extras.iter("per_rep")]
        seen["concat"] = result.extras.concat("per_rep")

    _out, res = _run(tmp_path, "p", replications=7, chunk_size=3, post=_post_hook, finalize=fin)
    assert list(res.extras) == ["per_rep"] and seen[("per_rep",)] == [3, 3, 1]
    assert seen["concat"]["replication"].tolist() == list(range(7))
    with pytest.raises(runner.RunnerError, match="keep_work"):  # work folder removed after the run
        res.extras.concat("per_rep")
    _, res2 = _run(tmp_path, "p2", replications=7, chunk_size=2, post=_post_hook, keep_work=True)
    pd.testing.assert_frame_equal(seen["concat"], res2.extras["per_rep"])


def test_summary_kept_compact(tmp_path):
    _, res = _run(tmp_path, "s", replications=7, chunk_size=3)
    frames = simulate_frames(fm.small_scenario(), 7, model=fm.FAKE_MODEL, workers=1)
    ref = runner.replication_summary(frames)
    pd.testing.assert_frame_equal(res.summary, ref)
    assert all(isinstance(c.values, np.ndarray) for c in res.summary_chunks)
    assert runner.run_summary_rows(res.summary) == runner.run_summary_rows(ref)


def _post_hook(frames):
    s = frames["sessions"]
    return {"per_rep": s.groupby("replication").size().rename("n").reset_index()}


def test_replication_summary():
    frames = simulate_frames(fm.small_scenario(), 3, model=fm.FAKE_MODEL, workers=1)
    s = runner.replication_summary(frames)
    assert list(s[["replication", "wave"]].itertuples(index=False, name=None)) == [
        (0, "initial"),
        (0, "later"),
        (1, "initial"),
        (1, "later"),
        (2, "initial"),
        (2, "later"),
    ]
    assert (s["consumers_recruited"] == [9, 6] * 3).all()
    held = frames["sessions"].query("status == 'held'").groupby(["replication", "wave"]).size().tolist()
    assert s["sessions_held"].tolist() == held
    ko = runner.key_outputs(s)
    assert list(ko.index) == [0, 1, 2] and ko["consumer_retention"].between(0, 1).all()


# --- --reps auto ------------------------------------------------------------------------------
def test_replications_algorithm_meets_precision():
    rng = np.random.default_rng(1)
    algo = ReplicationsAlgorithm(("x", "y"), precision=0.02)
    xs, ys = [], []
    while not algo.solved:
        xs.append(rng.normal(100, 10))
        ys.append(rng.normal(50, 2))
        algo.add({"x": xs[-1], "y": ys[-1]})
    n = algo.solution
    assert algo.n >= n + look_ahead_for(n)
    for v in (xs[:n], ys[:n]):
        hw = stats.t.ppf(0.975, n - 1) * np.std(v, ddof=1) / math.sqrt(n)
        assert hw / abs(np.mean(v)) <= 0.02
    # x needs about (1.96 * 10 / (0.02 * 100))^2 ~ 96 replications
    assert 60 < n < 160


def test_reps_auto_run(tmp_path):
    out, res = _run(tmp_path, "auto", replications="auto", precision=0.03, workers=2)
    n = res.replications
    assert res.auto is not None and res.auto.solved and res.auto.chosen == n
    # the written files hold exactly n replications, and their key outputs meet the precision
    cons = pd.read_csv(out / "consumers.csv")
    assert sorted(cons["replication"].unique()) == list(range(n))
    frames = {t: pd.read_csv(out / f"{t}.csv") for t in fm.TABLES}
    ko = runner.key_outputs(runner.replication_summary(frames))
    for col in runner.KEY_OUTPUTS:
        v = ko[col].dropna()
        hw = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
        assert hw / abs(v.mean()) <= 0.03, col
    m = json.loads((out / "manifest.json").read_text())
    assert m["replications"] == n and m["replications_auto"]["chosen"] == n
    # the same files as a fixed-n run of that many replications
    fixed, _ = _run(tmp_path, "fixed", replications=n)
    assert fm.file_hashes(fixed) == fm.file_hashes(out)


def test_reps_auto_progress_never_counts_a_replication_twice(tmp_path, monkeypatch):
    """The bar of --reps auto ends at the replications kept (before: 'replications 40/20', the chunks
    counted again when the chosen count's chunks were gathered)."""
    bars = []

    class Bar:
        def __init__(self, enabled, total, description="replications"):
            self.total, self.completed = total, 0
            bars.append(self)

        def advance(self, n):
            self.completed += n
            assert self.total is None or self.completed <= self.total, (self.completed, self.total)

        def update(self, total=None, completed=None):
            self.total = self.total if total is None else total
            self.completed = self.completed if completed is None else completed

        def close(self):
            pass

    monkeypatch.setattr(runner.loop, "_Progress", Bar)
    for max_reps, precision in ((20, 1e-6), (40, 0.2)):  # budget used; solved before the budget
        warned = pytest.warns(runner.PrecisionNotReached, match="not reached")
        with warned if precision < 0.01 else contextlib.nullcontext():
            _, res = _run(
                tmp_path,
                f"auto{max_reps}",
                replications="auto",
                precision=precision,
                max_replications=max_reps,
                chunk_size=6,
            )
        assert bars[-1].completed == bars[-1].total == res.replications


def test_map_replications_frames_follow_item_order_with_repeats_and_disorder():
    sc = fm.small_scenario()
    single = map_replications(_sessions_per_rep, sc, 6, model=fm.FAKE_MODEL, workers=1)
    out = map_replications(
        _sessions_per_rep, sc, [5, 3, 4, 0, 1, 2, 0, 1, 2], model=fm.FAKE_MODEL, workers=2, chunk_size=9
    )
    assert out == [single[5], single[3], single[4], *single[:3], *single[:3]]
    assert runner._increasing_ranges([0, 1, 2, 0, 1, 2], 4) == [(0, 3), (3, 6)]
    assert runner._increasing_ranges([0, 1, 2, 3, 4], 2) == [(0, 2), (2, 4), (4, 5)]


def test_concurrent_run_on_same_destination_refused(tmp_path):
    lock = runner._lock(tmp_path / "out")
    try:
        with pytest.raises(runner.RunnerError, match="another command is writing"):
            _run(tmp_path, "out", replications=2)
    finally:
        runner._unlock(lock)
    _run(tmp_path, "out", replications=2)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_chunks_of_a_large_scenario_hold_a_bounded_number_of_community_months(repo):
    """A worker holds one chunk's tables: the chunk size is capped by the scenario's community-months, so
    memory per worker does not grow with the scenario (the paper's study keeps its chunks)."""
    from sim.runner.base import MAX_CHUNK_COMMUNITY_MONTHS
    from sim.runner.chunks import community_months
    from sim.scenario import load_scenario

    paper = load_scenario(repo / "scenarios" / "paper_study.yaml")
    district = load_scenario(repo / "scenarios" / "chaoyang_district.yaml")
    cm_paper, cm_district = community_months(paper), community_months(district)
    assert cm_paper == 2 * 18 + 2 * 12  # two initial communities to 18 months, two later to 12 (Methods)
    assert default_chunk_size(1000, cm_paper) == default_chunk_size(1000)
    size = default_chunk_size(1000, cm_district)
    assert 1 <= size < default_chunk_size(1000) and size * cm_district <= MAX_CHUNK_COMMUNITY_MONTHS
    assert default_chunk_size(1000, 10 * MAX_CHUNK_COMMUNITY_MONTHS) == 1
