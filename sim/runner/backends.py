"""Where chunks run (:class:`ReplicationPool`): in this process (``workers=1``), a local process pool, or an
existing Dask distributed cluster; and :func:`drive`, which keeps a bounded window of chunks in flight."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from contextlib import suppress
from typing import Any

from .base import RunnerError
from .tasks import Task, execute


def _noop() -> int:
    return os.getpid()


PARENT_POLL_SECONDS = 0.5  # how often a pool worker checks that its parent is alive (no prctl)


def _worker_init(parent: int | None = None, from_main_thread: bool = True) -> None:
    """Pool workers leave Ctrl-C to the parent, which cancels the run and keeps finished chunks, and
    exit when the parent dies (even by SIGKILL): on Linux the kernel kills them
    (``prctl(PR_SET_PDEATHSIG, SIGKILL)``, which fires when the *thread* that forked them ends, so
    only for pools started from the main thread); otherwise a thread polls ``os.getppid()``."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid() if parent is None else parent
    if not (from_main_thread and _die_with_parent()):
        import threading

        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="pss-parent-watch").start()
    if os.getppid() != parent:  # the parent died before the watch was set up
        os._exit(1)


def _die_with_parent() -> bool:
    """Ask Linux to SIGKILL this process when its parent exits; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        return libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return False


def _watch_parent(parent: int) -> None:  # pragma: no cover - used where prctl is missing
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


class _InlineExecutor(Executor):
    """Runs each task at submit time in this process (``workers=1``)."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        f: Future = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            f.set_exception(exc)
        return f


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class ReplicationPool:
    """Where chunks run; a context manager, reusable across many calls (calibration should make one
    and pass it as ``pool=`` to avoid starting processes for every parameter set).

    - ``scheduler="tcp://host:8786"``: an existing Dask distributed cluster (tasks retried
      ``retries`` times; a lost worker's tasks are recomputed elsewhere);
    - ``workers=1``: in this process;
    - otherwise a local process pool of ``workers`` processes (default: all cores).
    """

    def __init__(self, workers: int | None = None, scheduler: str | None = None, retries: int = 3):
        self.scheduler = scheduler
        self._client = None
        self._owned = True
        if scheduler:
            try:
                from distributed import Client
            except ImportError:  # pragma: no cover
                raise RunnerError("--scheduler needs dask.distributed: pip install -e '.[dask]'") from None
            try:
                self._client = Client(
                    scheduler, timeout=os.environ.get("PSS_DASK_CONNECT_TIMEOUT", "5s"), set_as_default=False
                )
            except (OSError, TimeoutError) as exc:
                raise RunnerError(f"cannot connect to Dask scheduler {scheduler}: {str(exc).splitlines()[0]}") from None
            self.executor: Executor = self._client.get_executor(retries=retries, pure=False)
            self.workers = max(1, sum(self._client.nthreads().values()))
            self.kind = "dask"
        else:
            n = _cpu_count() if workers is None else int(workers)
            if n < 1:
                raise RunnerError(f"--workers must be at least 1, got {n}")
            self.workers = n
            if n == 1:
                self.executor = _InlineExecutor()
                self.kind = "inline"
            else:
                import multiprocessing as mp
                import threading
                from concurrent.futures import ProcessPoolExecutor

                methods = mp.get_all_start_methods()
                ctx = mp.get_context("fork" if "fork" in methods else None)
                self.executor = ProcessPoolExecutor(
                    max_workers=n,
                    mp_context=ctx,
                    initializer=_worker_init,
                    initargs=(os.getpid(), threading.current_thread() is threading.main_thread()),
                )
                # start (fork) every worker now, before any progress-bar thread exists
                for f in [self.executor.submit(_noop) for _ in range(n)]:
                    f.result()
                self.kind = "processes"

    @property
    def window(self) -> int:
        """Chunks kept in flight: enough to keep every worker busy, few enough to bound memory."""
        return 1 if self.kind == "inline" else 2 * self.workers + 1

    def describe(self) -> str:
        if self.kind == "dask":
            return f"dask cluster {self.scheduler} ({self.workers} threads)"
        return "in-process" if self.kind == "inline" else f"{self.workers} local processes"

    def close(self) -> None:
        if self.kind == "processes":
            self.executor.shutdown(wait=True, cancel_futures=True)
        if self._client is not None:
            self._client.close()
            self._client = None

    def abort(self) -> None:
        if self.kind == "processes":
            self.executor.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            with suppress(Exception):
                self._client.close(timeout=5)
            self._client = None

    def close_after(self, exc: BaseException | None) -> None:
        """Close after an error: abandon running work on Ctrl-C, otherwise wait for it quietly."""
        if isinstance(exc, KeyboardInterrupt):
            self.abort()
        else:
            self.close()

    def __enter__(self) -> ReplicationPool:
        return self

    def __exit__(self, et, ev, tb) -> None:
        self.close_after(ev)


def drive(
    pool: ReplicationPool,
    tasks: Iterable[tuple[int, Task]],
    on_done: Callable[[int, Any], None],
    advance: Callable[[int], None] = lambda n: None,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Submit tasks with a bounded window; call ``on_done(index, result)`` as each completes."""
    pending: dict[Future, tuple[int, int]] = {}
    it = iter(tasks)
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < pool.window and not stop():
                try:
                    idx, task = next(it)
                except StopIteration:
                    exhausted = True
                    break
                pending[pool.executor.submit(execute, task)] = (idx, len(task.items))
            if not pending:
                break
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: pending[f][0]):
                idx, n = pending.pop(fut)
                on_done(idx, fut.result()[1])
                advance(n)
            if stop():
                for fut in pending:
                    fut.cancel()
                pending.clear()
                break
    except BaseException:
        for fut in pending:
            fut.cancel()
        raise
