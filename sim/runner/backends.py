"""Where chunks run (:class:`ReplicationPool`): in this process (``workers=1``), a local process pool, or an
existing Dask distributed cluster; and :func:`drive`, which keeps a bounded window of chunks in flight."""

from __future__ import annotations

import os
import sys
import time
import types
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from contextlib import contextmanager, suppress
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
    only for pools forked from the main thread, or by a forkserver, which exits with this process:
    :func:`_process_context`); otherwise a thread polls ``os.getppid()``."""
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


#: What a forkserver imports once, before it forks the workers: the modules every chunk needs.
FORKSERVER_PRELOAD = ["sim.runner.tasks", "sim.model", "sim.datasets", "sim.analysis", "sim.planning.hooks"]


def _process_context() -> tuple[Any, tuple[int | None, bool]]:
    """The pool's multiprocessing context and its workers' ``_worker_init`` arguments.

    From the main thread (``cli.py``): ``fork``, the workers inheriting the imported modules. From any
    other thread (the app's server, whose other threads may hold locks that a forked child would wait
    for forever): ``forkserver``, a single-threaded server process that loads :data:`FORKSERVER_PRELOAD`
    once and forks the workers; they die with it (``prctl``), and it exits when this process does. The
    results are the same bytes either way (a replication is a pure function of scenario and seed).
    Where neither is available: the platform's default (spawn)."""
    import multiprocessing as mp
    import threading

    methods = mp.get_all_start_methods()
    main = threading.current_thread() is threading.main_thread()
    if "fork" in methods and (main or "forkserver" not in methods):
        return mp.get_context("fork"), (os.getpid(), main)
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(FORKSERVER_PRELOAD)  # before its first use; later calls change nothing
        return ctx, (None, True)  # their parent is the forkserver
    return mp.get_context(), (os.getpid(), main)


@contextmanager
def _no_main_script(hide: bool) -> Iterator[None]:
    """While workers start (``hide``: not forked), ``__main__`` is a bare module: multiprocessing would
    otherwise run the main script again in each of them as ``__mp_main__`` (the app's Streamlit script, or
    a script Streamlit's test harness wrote), and the tasks need nothing from it (they are ``sim``'s)."""
    main = sys.modules.get("__main__")
    if hide and main is not None:
        sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if hide and main is not None:
            sys.modules["__main__"] = main


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


def local_workers(workers: int | None) -> int:
    """The processes of a local pool: ``workers``, or all cores the process may use when None."""
    return _cpu_count() if workers is None else int(workers)


def _check_scheduler_address(scheduler: str) -> None:
    """A mistyped address (no port, unknown scheme) as one line, before ``distributed.Client`` (which
    raises ValueError half-made, then waits 10 s and prints a traceback while it is collected)."""
    from distributed.comm.addressing import get_address_host_port, parse_address

    try:
        if parse_address(scheduler)[0] != "inproc":  # an in-process cluster's address has no port
            get_address_host_port(scheduler)
    except ValueError as exc:
        raise RunnerError(
            f"--scheduler: not a Dask scheduler address: {scheduler!r} ({exc}); expected e.g. tcp://HOST:8786"
        ) from None


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
        self.start_method: str | None = None  # a local process pool's: fork, forkserver or spawn
        self._client = None
        self._owned = True
        if scheduler:
            try:
                from distributed import Client
            except ImportError:  # pragma: no cover
                raise RunnerError("--scheduler needs dask.distributed: pip install -e '.[dask]'") from None
            _check_scheduler_address(scheduler)
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
            n = local_workers(workers)
            if n < 1:
                raise RunnerError(f"--workers must be at least 1, got {n}")
            self.workers = n
            if n == 1:
                self.executor = _InlineExecutor()
                self.kind = "inline"
            else:
                from concurrent.futures import ProcessPoolExecutor

                ctx, initargs = _process_context()
                self.start_method = ctx.get_start_method()
                self.executor = ProcessPoolExecutor(
                    max_workers=n, mp_context=ctx, initializer=_worker_init, initargs=initargs
                )
                # start every worker now, before any progress-bar thread exists
                with _no_main_script(self.start_method != "fork"):
                    # all of them: a pool not started by fork starts workers as tasks find none idle
                    launch_all = getattr(self.executor, "_launch_processes", None)  # CPython 3.9+
                    if self.start_method != "fork" and launch_all is not None:
                        launch_all()
                    for f in [self.executor.submit(_noop) for _ in range(n)]:
                        f.result()
                self.kind = "processes"

    @property
    def local_files(self) -> bool:
        """Whether the workers write to this machine's file system (in this process, or a local pool): a
        stored chunk's files are then written where the chunk was computed; a Dask worker may be on
        another machine and sends them back."""
        return self.kind != "dask"

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
        """Abandon running work (Ctrl-C): the local workers are stopped, so that none writes a chunk's
        files after this returns (the caller may be about to remove the work folder)."""
        if self.kind == "processes":
            procs = list((getattr(self.executor, "_processes", None) or {}).values())  # CPython's pool
            self.executor.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                with suppress(Exception):
                    proc.terminate()
            for proc in procs:
                with suppress(Exception):
                    proc.join(5)
                    if proc.is_alive():
                        proc.kill()
                        proc.join()
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
                _settle(pending)
                # the chunks that were running are done: handed on like the others (a local pool's worker
                # has written its chunk's files; they are counted), without advancing the progress bar
                for fut in sorted(pending, key=lambda f: pending[f][0]):
                    if not fut.cancelled() and fut.exception() is None:
                        on_done(pending[fut][0], fut.result()[1])
                pending.clear()
                break
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            # Ctrl-C: not a moment longer; a pool the run owns is aborted next (its workers stopped,
            # ReplicationPool.close_after), a pool passed in by the caller is the caller's to stop
            for fut in pending:
                fut.cancel()
        else:
            _settle(pending)
        raise


def _settle(pending: Iterable[Future]) -> None:
    """Cancel the chunks not started and wait for those running: a local pool's worker writes its chunk's
    files itself, and none may land after the caller goes on (to assemble, or to report an error). The
    in-memory map waits too (for at most the chunks in flight), so that an error leaves no work behind."""
    pending = list(pending)
    for fut in pending:
        fut.cancel()
    wait(pending)
