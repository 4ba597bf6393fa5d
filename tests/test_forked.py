"""``sim.forked``: work done in a forked child, or here when the child fails."""

from __future__ import annotations

import os
import threading

from sim.forked import in_child


def _write_pid(path):
    def fn():
        path.write_text(str(os.getpid()))

    return fn


def test_work_runs_in_a_child_and_join_waits(tmp_path):
    out = tmp_path / "pid.txt"
    job = in_child(_write_pid(out))
    job.join()
    assert out.exists()
    assert int(out.read_text()) != os.getpid() or job.child is None  # a child wrote it (where fork exists)


def test_join_returns_the_result_from_the_child():
    job = in_child(os.getpid)
    assert job.join() != os.getpid() or job.child is None


def test_a_failed_child_leaves_the_work_to_this_process(tmp_path):
    out = tmp_path / "pid.txt"
    parent = os.getpid()

    def fails_in_child():
        if os.getpid() != parent:
            os._exit(3)
        out.write_text(str(os.getpid()))

    job = in_child(fails_in_child)
    job.join()
    assert int(out.read_text()) == parent


def test_no_fork_while_another_thread_runs(tmp_path):
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        job = in_child(_write_pid(tmp_path / "pid.txt"))
        assert job.child is None
        job.join()
        assert int((tmp_path / "pid.txt").read_text()) == os.getpid()
    finally:
        stop.set()
        t.join()
