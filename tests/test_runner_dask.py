"""The runner on a Dask distributed cluster: same bytes as a local run, and a worker killed mid-run
does not change the result (its tasks are recomputed elsewhere)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")
# one worker runs the module's tests, so that they share one cluster (its two processes import the model)
pytestmark = pytest.mark.xdist_group("dask")

from helpers import fakemodel as fm  # noqa: E402

from sim.runner import map_replications, run_to_directory, work_dir_for  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def cluster():
    # workers are new processes: they need to import sim and the stand-in model
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS)] + ([old] if old else []))
    os.environ["FAKE_SLEEP"] = ""
    try:
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        ) as lc:
            yield lc
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def test_dask_same_bytes_as_local(tmp_path, cluster, monkeypatch):
    from sim.runner import loop

    sc = fm.small_scenario()
    local = tmp_path / "local"
    run_to_directory(sc, local, replications=9, workers=1, model=fm.FAKE_MODEL)
    remote = tmp_path / "dask"
    written_here = []
    real = loop.write_chunk
    monkeypatch.setattr(loop, "write_chunk", lambda d, a, b, out: written_here.append((a, b)) or real(d, a, b, out))
    res = run_to_directory(
        sc, remote, replications=9, scheduler=cluster.scheduler_address, chunk_size=2, model=fm.FAKE_MODEL
    )
    assert res.backend.startswith("dask")
    # a Dask worker may be on another machine: it sends the chunk's bytes, and this process writes them
    assert sorted(written_here) == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 9)]
    assert fm.file_hashes(remote) == fm.file_hashes(local)
    a = map_replications(_n_sessions, sc, 9, model=fm.FAKE_MODEL, workers=1)
    b = map_replications(_n_sessions, sc, 9, model=fm.FAKE_MODEL, scheduler=cluster.scheduler_address, chunk_size=2)
    assert a == b


def _n_sessions(frames):
    return frames["sessions"].groupby("replication").size().tolist()


def _worker_pid():
    return os.getpid()


def test_dask_worker_killed_mid_run(tmp_path, cluster):
    sc = fm.small_scenario()
    ref = tmp_path / "ref"
    run_to_directory(sc, ref, replications=12, workers=1, model=fm.FAKE_MODEL)
    client = distributed.Client(cluster.scheduler_address)
    try:
        client.run(os.environ.__setitem__, "FAKE_SLEEP", "0.2")  # ~0.2 s per replication in the workers
        pids = client.run(_worker_pid)
        out = tmp_path / "out"
        chunks = work_dir_for(out) / "chunks"
        killed: list[int] = []

        def killer():
            deadline = time.time() + 60
            while time.time() < deadline:
                if chunks.exists() and any(not p.name.startswith(".") for p in chunks.iterdir()):
                    pid = sorted(pids.values())[0]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
                time.sleep(0.02)

        th = threading.Thread(target=killer)
        th.start()
        res = run_to_directory(
            sc, out, replications=12, chunk_size=2, scheduler=cluster.scheduler_address, model=fm.FAKE_MODEL
        )
        th.join()
        assert killed, "no worker was killed"
        assert res.chunks_computed == 6
        assert fm.file_hashes(out) == fm.file_hashes(ref)
    finally:
        try:
            client.run(os.environ.__setitem__, "FAKE_SLEEP", "")
        finally:
            client.close()


def test_cli_run_on_dask_same_bytes_as_local(tmp_path, cluster):
    """The real model through `cli.py run --scheduler`: same files as `--workers 1`."""
    from helpers.cli import run_cli  # `python cli.py` in this process (tests/helpers/cli.py)

    f = fm.write_small_yaml(tmp_path / "small.yaml", replications=5)
    base = ["run", f, "-q", "--no-analysis"]
    a = run_cli(*base, "--workers", "1", "--out", tmp_path / "a", cwd=tmp_path)
    b = run_cli(
        *base, "--scheduler", cluster.scheduler_address, "--chunk-size", "2", "--out", tmp_path / "b", cwd=tmp_path
    )
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    assert fm.file_hashes(tmp_path / "a") == fm.file_hashes(tmp_path / "b")


def test_unreachable_scheduler_one_line(tmp_path):
    import subprocess
    import sys

    f = fm.write_small_yaml(tmp_path / "small.yaml", replications=2)
    r = subprocess.run(
        [
            sys.executable,
            str(REPO / "cli.py"),
            "run",
            str(f),
            "--scheduler",
            "tcp://127.0.0.1:9",
            "--out",
            str(tmp_path / "o"),
        ],
        # a connection refused at once still waits for the connect timeout (5 s by default)
        env={**os.environ, "PYTHONPATH": str(REPO), "PSS_DASK_CONNECT_TIMEOUT": "1s"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "scheduler" in r.stderr
    assert not (tmp_path / "o").exists()


def test_malformed_scheduler_address_is_one_line_at_once(tmp_path, run_cli, monkeypatch):
    """A mistyped --scheduler (no port, unknown scheme) is bad input: one line naming the flag, exit 2,
    before any distributed.Client is made (a half-made one waited 10 s, then raised a traceback)."""
    made: list[str] = []
    monkeypatch.setattr(distributed, "Client", lambda address, **kw: made.append(address))
    f = fm.write_small_yaml(tmp_path / "small.yaml", replications=2)
    for address in ("nonsense", "tcp://host-without-port", "foo://host:8786"):
        r = run_cli("run", f, "--scheduler", address, "--out", tmp_path / "o")
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "--scheduler" in r.stderr and address in r.stderr
    assert made == [] and not (tmp_path / "o").exists()
