"""Replications at scale: the runner every command uses (run, and calibrate, compare, power).

Reproducibility. Replication ``r`` of a run with root seed ``S`` is ``simulate(scenario, r, S,
parameters)``; the model derives its own streams from ``SeedSequence(S, spawn_key=(r, STREAM,
...))``, so the runner never re-seeds: a replication's result does not depend on the number of
workers, the chunk size, the order of completion or the backend.

Work is cut into chunks of consecutive replications: chunk boundaries are a fixed function of
the replication count (:func:`default_chunk_size`) or ``chunk_size``, recorded in the work folder
so that a resumed run reuses them. Chunks go to one of three backends (:class:`ReplicationPool`):
in-process (``workers=1``), a local process pool (default: all cores) or an existing Dask
distributed cluster (``scheduler="tcp://host:8786"``, with task retries).

Two ways in:

- :func:`run_to_directory` (the ``run`` command): each finished chunk's tables are written by the
  worker's ``write_table`` into a per-chunk folder of a stable work folder (temporary name, then
  ``os.replace``), then streamed into the final CSVs; memory stays flat, ``resume=True`` computes
  only missing chunks, and the final files are the same bytes however they were computed.
- :func:`map_replications` / :func:`map_chunks` / :func:`simulate_frames` (calibration, power):
  in memory, no disk I/O; a function runs on each chunk inside the worker and only its (small)
  result comes back, in replication order; per-replication parameter sets are supported.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import __version__
from .outputs import DestinationError, acquire_lock, describe_os_error, move_into_place, release_lock, temp_path
from .replications import ReplicationsAlgorithm

WORK_FORMAT = 1
TARGET_CHUNKS = 16  # chunks per run (several per worker, so the pool stays balanced) ...
MIN_CHUNK = 25  # ... but at least this many replications per chunk (paper_study: ~1 s with analysis) ...
MAX_CHUNK = 100  # ... and at most this many (bounds the memory of a chunk in flight)
AUTO_CHUNK = 20  # chunk size used by --reps auto (the total is not known in advance)
KEY_OUTPUTS = ("sessions_delivered", "consumer_retention", "consumer_satisfied")


class RunnerError(ValueError):
    """A user-facing problem (bad option, refused resume, unreachable scheduler); ``str()`` is one line."""


class ResumeError(RunnerError):
    """``resume`` refused: the work folder was made from a different scenario, seed, version or size."""


# ---------------------------------------------------------------------------------------------
# The model, as a replaceable bundle of functions (tests and experiments inject their own)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelAPI:
    """The functions the runner needs from the model. ``None`` fields resolve (in the worker) to
    ``sim.model.simulate_replication``, ``sim.datasets.to_frames``, ``sim.datasets.write_table`` and
    ``sim.datasets.TABLES``. All fields must be picklable (module-level functions)."""

    simulate: Callable[..., Any] | None = None
    to_frames: Callable[[Sequence[Any]], dict[str, pd.DataFrame]] | None = None
    write_table: Callable[[pd.DataFrame, Any], None] | None = None
    tables: tuple[str, ...] | None = None

    def resolved(self) -> ModelAPI:
        sim_fn, tf, wt, tables = self.simulate, self.to_frames, self.write_table, self.tables
        if sim_fn is None:
            from .model import simulate_replication as sim_fn
        if tf is None or wt is None or tables is None:
            from . import datasets

            tf = tf or datasets.to_frames
            wt = wt or datasets.write_table
            tables = tables or tuple(datasets.TABLES)
        return ModelAPI(sim_fn, tf, wt, tuple(tables))


DEFAULT_MODEL = ModelAPI()


# ---------------------------------------------------------------------------------------------
# Per-replication summary (computed in the worker): the printed summary and --reps auto use it
# ---------------------------------------------------------------------------------------------
def _num(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series(np.zeros(len(df)), index=df.index)
    return pd.to_numeric(df[col], errors="coerce").fillna(0).astype(float)


def replication_summary(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (replication, wave): sessions held/cancelled before follow-up and, for providers
    and consumers, recruited / retained / evaluated / satisfied (``sat_overall``) / willing to continue."""
    parts: list[pd.DataFrame] = []
    key = ["replication", "wave"]
    ses = frames.get("sessions")
    if ses is not None and len(ses):
        before = (
            _num(ses, "before_follow_up") > 0 if "before_follow_up" in ses.columns else pd.Series(True, index=ses.index)
        )
        status = ses["status"].astype(str) if "status" in ses.columns else pd.Series("held", index=ses.index)
        s = pd.DataFrame(
            {
                "replication": ses["replication"].to_numpy(),
                "wave": ses["wave"].astype(str).to_numpy(),
                "sessions_held": ((status == "held") & before).astype(int).to_numpy(),
                "sessions_cancelled": ((status == "cancelled") & before).astype(int).to_numpy(),
            }
        )
        parts.append(s.groupby(key, sort=True).sum())
    for role, table in (("providers", "providers"), ("consumers", "consumers")):
        df = frames.get(table)
        if df is None or not len(df):
            continue
        ev = _num(df, "evaluated")
        p = pd.DataFrame(
            {
                "replication": df["replication"].to_numpy(),
                "wave": df["wave"].astype(str).to_numpy(),
                f"{role}_recruited": 1,
                f"{role}_retained": _num(df, "retained").to_numpy(),
                f"{role}_evaluated": ev.to_numpy(),
                f"{role}_satisfied": ((_num(df, "sat_overall") > 0) & (ev > 0)).astype(int).to_numpy(),
                f"{role}_willing": ((_num(df, "willing_continue") > 0) & (ev > 0)).astype(int).to_numpy(),
            }
        )
        parts.append(p.groupby(key, sort=True).sum())
    if not parts:
        return pd.DataFrame(columns=key)
    out = pd.concat(parts, axis=1).fillna(0)
    out = out.astype(dict.fromkeys(out.columns, "int64"))
    return out.reset_index().sort_values(key, kind="stable").reset_index(drop=True)


def key_outputs(summary: pd.DataFrame) -> pd.DataFrame:
    """Per replication: ``sessions_delivered`` (held before follow-up), ``consumer_retention``
    (retained / recruited), ``consumer_satisfied`` (satisfied / evaluated), and the provider analogues."""
    cols = [c for c in summary.columns if c not in ("replication", "wave")]
    s = summary.groupby("replication", sort=True)[cols].sum()
    out = pd.DataFrame(index=s.index)

    def ratio(a: str, b: str) -> pd.Series:
        if a not in s or b not in s:
            return pd.Series(np.nan, index=s.index)
        return s[a] / s[b].where(s[b] > 0)

    out["sessions_delivered"] = s.get("sessions_held", 0)
    out["consumer_retention"] = ratio("consumers_retained", "consumers_recruited")
    out["consumer_satisfied"] = ratio("consumers_satisfied", "consumers_evaluated")
    out["provider_retention"] = ratio("providers_retained", "providers_recruited")
    out["provider_satisfied"] = ratio("providers_satisfied", "providers_evaluated")
    return out


def run_summary_rows(summary: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """The printed summary of a run, from :func:`replication_summary` rows of every replication:
    ``sessions`` (per wave and total: mean held, 2.5%-97.5% range over replications, mean cancelled),
    ``retention`` (per role and wave: mean retained, mean evaluated, mean recruited, and the pooled
    share evaluated: the paper's response rate, 'completed the follow-up evaluation') and
    ``satisfaction`` (per role: share satisfied overall / willing to continue among the evaluated)."""
    out: dict[str, list[dict[str, Any]]] = {"sessions": [], "retention": [], "satisfaction": []}
    if summary is None or not len(summary):
        return out
    waves = list(dict.fromkeys(summary["wave"]))
    per_rep = summary.groupby("replication").sum(numeric_only=True)

    def col(df: pd.DataFrame, c: str) -> pd.Series:
        return df[c] if c in df else pd.Series(0.0, index=df.index)

    for w in [*waves, "total"]:
        df = per_rep if w == "total" else summary[summary["wave"] == w]
        held = col(df, "sessions_held").astype(float)
        out["sessions"].append(
            {
                "wave": w,
                "mean": float(held.mean()),
                "lo": float(held.quantile(0.025)),
                "hi": float(held.quantile(0.975)),
                "cancelled": float(col(df, "sessions_cancelled").mean()),
            }
        )
    for role in ("provider", "consumer"):
        for w in waves:
            df = summary[summary["wave"] == w]
            rec, ret = col(df, f"{role}s_recruited"), col(df, f"{role}s_retained")
            done = col(df, f"{role}s_evaluated")
            if rec.sum() > 0:
                out["retention"].append(
                    {
                        "role": role,
                        "wave": w,
                        "retained": float(ret.mean()),
                        "evaluated": float(done.mean()),
                        "recruited": float(rec.mean()),
                        "share": float(done.sum() / rec.sum()),
                    }
                )
        ev = col(per_rep, f"{role}s_evaluated")
        for item, c in (("satisfied overall", "satisfied"), ("willing to continue", "willing")):
            if ev.sum() > 0:
                out["satisfaction"].append(
                    {
                        "role": role,
                        "item": item,
                        "evaluated": float(ev.mean()),
                        "share": float(col(per_rep, f"{role}s_{c}").sum() / ev.sum()),
                    }
                )
    return out


# ---------------------------------------------------------------------------------------------
# Work items and the worker function
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Task:
    scenario: Any
    items: tuple[tuple[int, int, Any], ...]  # (replication, seed, parameters or None)
    model: ModelAPI
    kind: Literal["store", "map"]
    fn: Callable[..., Any] | None = None  # map: the user's function; store: the post-processing hook
    pass_frames: bool = True


@dataclass
class ChunkOutput:
    """What a stored chunk sends back: per-replication events, each table's CSV bytes (as written
    by ``write_table``), the replication summary and the post-processing hook's tables."""

    events: list[int]
    tables: dict[str, bytes]
    summary: pd.DataFrame
    extras: dict[str, pd.DataFrame]


_RESOLVED: dict[ModelAPI, ModelAPI] = {}


def _resolve(model: ModelAPI) -> ModelAPI:
    r = _RESOLVED.get(model)
    if r is None:
        r = _RESOLVED[model] = model.resolved()
    return r


def _table_bytes(write_table: Callable[[pd.DataFrame, Any], None], df: pd.DataFrame, tmpdir: str, name: str) -> bytes:
    path = os.path.join(tmpdir, f"{name}.csv")
    write_table(df, path)
    with open(path, "rb") as fh:
        return fh.read()


def _execute(task: _Task) -> tuple[list[int], Any]:
    """Run one chunk (in a worker): simulate its replications, then map or store."""
    api = _resolve(task.model)
    sim_fn = api.simulate
    results = [sim_fn(task.scenario, r, seed=s, parameters=p) for r, s, p in task.items]
    events = [int(getattr(res, "events", 0)) for res in results]
    if task.kind == "map":
        assert task.fn is not None
        if not task.pass_frames:
            return events, task.fn(results)
        return events, task.fn(api.to_frames(results))
    frames = api.to_frames(results)
    del results
    with tempfile.TemporaryDirectory(prefix="pss-chunk-") as tmp:
        tables = {t: _table_bytes(api.write_table, frames.get(t, pd.DataFrame()), tmp, t) for t in api.tables}
    summary = replication_summary(frames)
    extras = dict(task.fn(frames)) if task.fn is not None else {}
    return events, ChunkOutput(events, tables, summary, extras)


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


# ---------------------------------------------------------------------------------------------
# Backends
# ---------------------------------------------------------------------------------------------
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


def _drive(
    pool: ReplicationPool,
    tasks: Iterable[tuple[int, _Task]],
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
                pending[pool.executor.submit(_execute, task)] = (idx, len(task.items))
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


# ---------------------------------------------------------------------------------------------
# Progress bar
# ---------------------------------------------------------------------------------------------
class _Progress:
    def __init__(self, enabled: bool, total: int | None, description: str = "replications"):
        self._p = None
        self._task = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task):
                speed = task.finished_speed or task.speed
                return Text("  -  reps/s" if speed is None else f"{speed:7.1f} reps/s", style="progress.data.speed")

        self._p = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._p.start()
        self._task = self._p.add_task(description, total=total)

    def advance(self, n: int) -> None:
        if self._p is not None:
            self._p.advance(self._task, n)

    def update(self, **kw: Any) -> None:
        if self._p is not None:
            self._p.update(self._task, **kw)

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None


# ---------------------------------------------------------------------------------------------
# Chunking
# ---------------------------------------------------------------------------------------------
def default_chunk_size(n: int) -> int:
    """Replications per chunk: a fixed function of the replication count only (never of timing or
    of the number of workers), so a run and its resumption cut the work identically."""
    return max(1, min(n, MAX_CHUNK, max(MIN_CHUNK, math.ceil(n / TARGET_CHUNKS))))


def chunk_ranges(n: int, chunk_size: int) -> list[tuple[int, int]]:
    return [(a, min(a + chunk_size, n)) for a in range(0, n, chunk_size)]


# ---------------------------------------------------------------------------------------------
# In-memory map API (calibration, power, comparisons)
# ---------------------------------------------------------------------------------------------
def _items(
    scenario: Any,
    replications: int | Sequence[int],
    seed: int | None,
    parameters: Any,
    parameters_per_rep: Sequence[Any] | None,
) -> list[tuple[int, int, Any]]:
    reps = (
        list(range(int(replications)))
        if isinstance(replications, (int, np.integer))
        else [int(r) for r in replications]
    )
    s = int(scenario.seed if seed is None else seed)
    if parameters_per_rep is not None:
        if len(parameters_per_rep) != len(reps):
            raise ValueError(f"parameters_per_rep has {len(parameters_per_rep)} entries for {len(reps)} replications")
        return [(r, s, p if p is not None else parameters) for r, p in zip(reps, parameters_per_rep, strict=False)]
    return [(r, s, parameters) for r in reps]


def _increasing_ranges(reps: Sequence[int], chunk_size: int) -> list[tuple[int, int]]:
    """Chunks of at most ``chunk_size`` items, also cut wherever the replication index does not
    increase: a chunk's frames (rows ordered by replication) are then in item order, one block per item."""
    ranges: list[tuple[int, int]] = []
    a = 0
    for i in range(1, len(reps) + 1):
        if i == len(reps) or i - a >= chunk_size or reps[i] <= reps[i - 1]:
            ranges.append((a, i))
            a = i
    return ranges


def map_chunks(
    fn: Callable[[Any], Any],
    scenario: Any,
    replications: int | Sequence[int],
    seed: int | None = None,
    *,
    parameters: Any = None,
    parameters_per_rep: Sequence[Any] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    pool: ReplicationPool | None = None,
    chunk_size: int | None = None,
    progress: bool = False,
    pass_frames: bool = True,
    model: ModelAPI | None = None,
) -> list[tuple[tuple[int, int], Any]]:
    """Run replications in chunks and apply ``fn`` to each chunk inside the worker; nothing touches disk.

    ``replications`` is a count ``n`` (replications ``0..n-1``) or an explicit sequence of
    replication indices (repeats allowed: e.g. ``list(range(R)) * K`` with ``parameters_per_rep``
    giving K parameter sets R common-random-number replications each). ``fn`` receives the chunk's
    frames (``to_frames`` of its results, rows ordered by replication; chunks are cut wherever the
    replication index does not increase, so that order is the item order) or, with
    ``pass_frames=False``, the list of ``ReplicationResult`` in item order (the cheap path: no
    pandas). Returns ``[((start, stop), fn_result), ...]`` in item order, where ``start:stop``
    are positions in the item list. ``fn`` must be picklable (a module-level function) unless
    ``workers=1``.
    """
    items = _items(scenario, replications, seed, parameters, parameters_per_rep)
    if not items:
        return []
    model = model or DEFAULT_MODEL
    own = pool is None
    pool = pool or ReplicationPool(workers=workers, scheduler=scheduler)
    cs = chunk_size or default_chunk_size(len(items))
    ranges = _increasing_ranges([r for r, _, _ in items], cs) if pass_frames else chunk_ranges(len(items), cs)
    out: list[Any] = [None] * len(ranges)
    bar = _Progress(progress, len(items))
    with _closing(pool, own, bar):
        tasks = (
            (i, _Task(scenario, tuple(items[a:b]), model, "map", fn, pass_frames)) for i, (a, b) in enumerate(ranges)
        )
        _drive(pool, tasks, out.__setitem__, bar.advance)
    return list(zip(ranges, out, strict=False))


@contextmanager
def _closing(pool: ReplicationPool, own: bool, bar: _Progress):
    """Close the progress bar, and the pool if this call started it, however the block ends."""
    try:
        yield
    except BaseException as exc:
        bar.close()
        if own:
            pool.close_after(exc)
        raise
    bar.close()
    if own:
        pool.close()


def map_replications(
    fn: Callable[[Any], Any], scenario: Any, replications: int | Sequence[int], seed: int | None = None, **kwargs: Any
) -> list[Any] | pd.DataFrame:
    """Like :func:`map_chunks`, but ``fn`` returns one entry per replication of its chunk (a list,
    tuple, array or Series of that length) and the entries come back flattened into one list in
    item order. If ``fn`` returns DataFrames (any number of rows, e.g. one per replication with a
    ``replication`` column), they are concatenated in item order into one DataFrame (index reset)
    instead. Accepts the keyword arguments of :func:`map_chunks`."""
    chunks = map_chunks(fn, scenario, replications, seed, **kwargs)
    if chunks and all(isinstance(r, pd.DataFrame) for _, r in chunks):
        return pd.concat([r for _, r in chunks], ignore_index=True)
    flat: list[Any] = []
    for (a, b), r in chunks:
        r = list(r)
        if len(r) != b - a:
            raise ValueError(f"fn returned {len(r)} entries for a chunk of {b - a} replications")
        flat.extend(r)
    return flat


def _identity(frames: Any) -> Any:
    return frames


def simulate_frames(
    scenario: Any, replications: int | Sequence[int] | None = None, seed: int | None = None, **kwargs: Any
) -> dict[str, pd.DataFrame]:
    """All tables of a (small) run, in memory: ``to_frames`` of every replication, rows in replication
    order. Same keyword arguments as :func:`map_chunks`."""
    reps = scenario.replications if replications is None else replications
    chunks = map_chunks(_identity, scenario, reps, seed, **kwargs)
    if not chunks:
        return {}
    names = list(chunks[0][1])
    return {t: pd.concat([c[t] for _, c in chunks], ignore_index=True) for t in names}


# ---------------------------------------------------------------------------------------------
# The stored path: work folder, resume, final files
# ---------------------------------------------------------------------------------------------
def scenario_hash(scenario: Any) -> str:
    """SHA-256 of the validated scenario (model parameters included; seed and replications
    excluded: they are checked separately). Comments and formatting of the file do not count."""
    data = scenario.model_dump(mode="json", exclude={"seed", "replications", "source_path", "source_sha256"})
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def work_dir_for(out_dir: Path) -> Path:
    """The stable work folder of a destination: ``DEST_PARENT/.DEST_NAME.work``."""
    out_dir = Path(out_dir)
    return out_dir.parent / f".{out_dir.name}.work"


def _fn_id(fn: Callable[..., Any] | None) -> str | None:
    return None if fn is None else f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _chunk_name(a: int, b: int) -> str:
    return f"{a:010d}-{b:010d}"


def _write_chunk(chunks_dir: Path, a: int, b: int, out: ChunkOutput) -> None:
    """Write a chunk's files into a temporary folder, then rename it into place (atomic)."""
    final = chunks_dir / _chunk_name(a, b)
    tmp = chunks_dir / f".tmp-{_chunk_name(a, b)}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    for t, data in out.tables.items():
        (tmp / f"{t}.csv").write_bytes(data)
    out.summary.to_pickle(tmp / "summary.pkl")
    for name, df in out.extras.items():
        df.to_pickle(tmp / f"extra.{name}.pkl")
    (tmp / "events.json").write_text(json.dumps(out.events))
    try:
        os.replace(tmp, final)
    except OSError:  # already there (e.g. computed twice): keep the first
        shutil.rmtree(tmp, ignore_errors=True)


def _read_chunk_meta(chunks_dir: Path, a: int, b: int) -> tuple[list[int], pd.DataFrame]:
    d = chunks_dir / _chunk_name(a, b)
    return json.loads((d / "events.json").read_text()), pd.read_pickle(d / "summary.pkl")


@dataclass
class AutoReplications:
    """Outcome of ``replications="auto"``."""

    precision: float
    chosen: int
    solved: bool
    budget: int
    relative_half_widths: dict[str, float]
    outputs: tuple[str, ...]


class _SummaryChunk:
    """A chunk's :func:`replication_summary` rows as compact arrays (what the parent keeps per chunk
    for the printed summary and ``--reps auto``); :meth:`frame` gives the same DataFrame back."""

    __slots__ = ("columns", "empty", "values", "wave_codes", "wave_dtype", "wave_names")

    def __init__(self, df: pd.DataFrame):
        self.columns = tuple(df.columns)
        self.empty = df if not len(df) or "wave" not in df.columns else None
        if self.empty is not None:
            return
        codes, uniques = pd.factorize(df["wave"], sort=False)
        self.wave_dtype = df["wave"].dtype
        self.wave_names = list(uniques)
        self.wave_codes = codes.astype(np.int16)
        values = df.drop(columns="wave").to_numpy(dtype=np.int64)
        small = values.size == 0 or (values.min() >= np.iinfo(np.int32).min and values.max() <= np.iinfo(np.int32).max)
        self.values = values.astype(np.int32) if small else values

    def frame(self) -> pd.DataFrame:
        if self.empty is not None:
            return self.empty
        cols = [c for c in self.columns if c != "wave"]
        out = pd.DataFrame(self.values.astype(np.int64), columns=cols)
        waves = pd.Series(np.asarray(self.wave_names, dtype=object)[self.wave_codes], dtype=self.wave_dtype)
        out.insert(self.columns.index("wave"), "wave", waves)
        return out


class ChunkedExtras(Mapping):
    """The post-processing hook's tables of a stored run, read lazily from the chunk files (never
    all in memory unless asked): ``names``; ``iter(name)`` yields the per-chunk DataFrames in
    replication order; ``concat(name)`` (or ``extras[name]``) concatenates them (small runs, tests).
    Readable while the work folder exists: during ``finalize``, or afterwards with ``keep_work=True``."""

    def __init__(self, chunk_dirs: Sequence[Path], names: Sequence[str]):
        self._dirs = list(chunk_dirs)
        self._names = tuple(names)

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    def iter(self, name: str) -> Iterator[pd.DataFrame]:
        if name not in self._names:
            raise KeyError(name)
        for d in self._dirs:
            path = d / f"extra.{name}.pkl"
            if not path.exists():
                raise RunnerError(
                    f"{path} is gone: post-processing tables are readable during finalize "
                    "(or afterwards with keep_work=True)"
                )
            yield pd.read_pickle(path)

    def concat(self, name: str) -> pd.DataFrame:
        return pd.concat(list(self.iter(name)), ignore_index=True)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.concat(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"ChunkedExtras(names={list(self._names)}, chunks={len(self._dirs)})"


@dataclass
class RunResult:
    out_dir: Path
    replications: int
    seed: int
    events: list[int]
    summary_chunks: list[_SummaryChunk]  # replication_summary rows, per chunk, compact (see ``summary``)
    extras: ChunkedExtras  # the post hook's tables, per chunk (lazy)
    wall_time: float
    chunk_size: int
    chunks_computed: int
    chunks_reused: int
    backend: str
    auto: AutoReplications | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> pd.DataFrame:
        """:func:`replication_summary` rows of every replication (built on each access)."""
        return pd.concat([c.frame() for c in self.summary_chunks], ignore_index=True)


def _check_resume(work: Path, meta: dict[str, Any]) -> None:
    try:
        old = json.loads((work / "meta.json").read_text())
    except (OSError, ValueError):
        raise ResumeError(
            f"cannot resume: {work} has no readable meta.json; run without --resume to start afresh"
        ) from None
    labels = {
        "scenario_hash": "a different scenario",
        "seed": "seed {old}",
        "replications": "{old} replications",
        "package_version": "package version {old}",
        "chunk_size": "chunk size {old}",
        "post": "post-processing {old}",
        "precision": "precision {old}",
        "format": "work-folder format {old}",
    }
    for k, msg in labels.items():
        if old.get(k) != meta.get(k):
            what = msg.format(old=old.get(k))
            raise ResumeError(
                f"cannot resume {work}: it was made from {what} (now: "
                f"{meta.get(k) if k != 'scenario_hash' else 'changed'}); "
                "run without --resume to start afresh"
            )


def _resume_meta(work: Path, meta: dict[str, Any], chunk_size_free: bool) -> None:
    """Check that ``work`` was made by the same run (else :class:`ResumeError`); an unspecified chunk
    size takes the stored one."""
    if (work / "meta.json").exists() and chunk_size_free:
        with suppress(OSError, ValueError):
            meta["chunk_size"] = int(json.loads((work / "meta.json").read_text()).get("chunk_size", meta["chunk_size"]))
    _check_resume(work, meta)


def _prepare_work(out_dir: Path, meta: dict[str, Any], resume: bool, chunk_size_free: bool) -> Path:
    """Create (or, with ``resume``, check and reuse) the work folder; ``meta['chunk_size']`` takes the
    stored chunk size when resuming without an explicit one."""
    work = work_dir_for(out_dir)
    chunks_dir = work / "chunks"
    if work.exists() and resume:
        _resume_meta(work, meta, chunk_size_free)
    elif work.exists():
        shutil.rmtree(work)
    chunks_dir.mkdir(parents=True, exist_ok=True)
    if not (work / "meta.json").exists():
        _atomic_write_bytes(work / "meta.json", json.dumps(meta, indent=1).encode())
    for stale in chunks_dir.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return work


# radon D (22): mostly argument checks and the work-folder metadata; the work itself is _run_locked.
def run_to_directory(
    scenario: Any,
    out_dir: str | Path,
    *,
    replications: int | Literal["auto"] | None = None,
    seed: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    pool: ReplicationPool | None = None,
    chunk_size: int | None = None,
    resume: bool = False,
    precision: float = 0.05,
    max_replications: int = 10_000,
    key_output_names: Sequence[str] = KEY_OUTPUTS,
    parameters: Any = None,
    parameters_for: Callable[[int], Any] | None = None,
    post: Callable[[dict[str, pd.DataFrame]], dict[str, pd.DataFrame]] | None = None,
    finalize: Callable[[Path, RunResult], None] | None = None,
    progress: bool = False,
    model: ModelAPI | None = None,
    command: str | None = None,
    keep_work: bool = False,
    discard_work: bool = True,
) -> RunResult:
    """Run a scenario's replications and write the tables (``TABLE.csv``) and ``manifest.json`` into
    ``out_dir``. Files are assembled in a temporary folder next to ``out_dir`` and moved into place
    at the end (an existing ``out_dir`` is replaced only then). Finished chunks live in
    :func:`work_dir_for` ``(out_dir)`` until the run completes; ``resume=True`` reuses them (and
    raises :class:`ResumeError` if they came from a different scenario, seed, size or version).

    ``post(frames) -> {name: DataFrame}`` runs on every chunk in the worker (e.g. the analysis's
    ``analyze_chunk``); its tables are kept per chunk in the work folder and offered lazily by
    ``RunResult.extras`` (:class:`ChunkedExtras`: per-chunk iteration, readable during ``finalize``
    or, with ``keep_work=True``, afterwards). ``finalize(tmp_out_dir, result)`` may add files (e.g. the analysis
    report) before the folder is moved into place. ``parameters_for(replication)`` gives each
    replication its own parameter set (e.g. a posterior draw: outputs then carry parameter
    uncertainty); it must depend on the replication number only, and its ``sha256`` attribute (if
    any) is recorded so that a resume with other draws is refused. ``replications="auto"`` picks the number with
    :class:`~sim.replications.ReplicationsAlgorithm` on ``key_output_names`` at ``precision``.

    Without ``resume``, finished chunks of an interrupted run are discarded when ``discard_work``
    (the default) and refused with a :class:`RunnerError` saying how to reuse them otherwise (the
    ``run`` command). An ``OSError`` while writing becomes :class:`WriteError` (one line); the work
    folder is kept only if it holds finished chunks, and the message then says to resume.
    """
    t0 = time.perf_counter()
    model = model or DEFAULT_MODEL
    out_dir = Path(out_dir)
    s = int(scenario.seed if seed is None else seed)
    auto = replications == "auto"
    if not auto:
        n = int(scenario.replications if replications is None else replications)
        if n < 1:
            raise RunnerError(f"replications must be at least 1, got {n}")
    else:
        n = int(max_replications)
        if not 0 < precision < 1:
            raise RunnerError(f"--precision must be between 0 and 1, got {precision}")
    if chunk_size is not None and chunk_size < 1:
        raise RunnerError(f"chunk size must be at least 1, got {chunk_size}")
    cs = int(chunk_size or (AUTO_CHUNK if auto else default_chunk_size(n)))
    if parameters is not None:
        scenario = scenario.model_copy(update={"parameters": parameters})
    tables = tuple(model.tables) if model.tables is not None else _resolve(model).tables

    meta = {
        "format": WORK_FORMAT,
        "scenario": scenario.name,
        "scenario_hash": scenario_hash(scenario),
        "source_sha256": getattr(scenario, "source_sha256", None),
        "seed": s,
        "replications": "auto" if auto else n,
        "precision": precision if auto else None,
        "package_version": __version__,
        "chunk_size": cs,
        "post": _fn_id(post),
        "parameter_draws": None
        if parameters_for is None
        else getattr(parameters_for, "sha256", _fn_id(parameters_for)),
    }
    _check_stale_work(work_dir_for(out_dir), meta, resume, discard_work, chunk_size is None)  # before anything starts
    own = pool is None
    pool = pool or ReplicationPool(workers=workers, scheduler=scheduler)  # before anything is written
    try:
        lock = _lock(out_dir)
    except BaseException as exc:
        if own:
            pool.close_after(exc)
        raise
    try:
        try:
            work = _prepare_work(out_dir, meta, resume, chunk_size is None)
        except BaseException as exc:
            if own:
                pool.close_after(exc)
            raise
        return _run_locked(**locals())
    except OSError as exc:
        raise WriteError(_write_failure(exc, out_dir)) from None
    finally:
        _unlock(lock)


class WriteError(RunnerError):
    """An ``OSError`` while writing a run (no space, read-only, permissions, ...); ``str()`` is one line
    naming the path and the cause, and says whether finished chunks were kept for ``--resume``."""


def _check_stale_work(work: Path, meta: dict[str, Any], resume: bool, discard: bool, chunk_size_free: bool) -> None:
    """``resume``: check the work folder came from the same run. Otherwise refuse to discard the finished
    chunks of an interrupted run silently (unless ``discard``): say how to reuse or discard them."""
    if not work.exists():
        return
    if resume:
        _resume_meta(work, meta, chunk_size_free)
        return
    if discard:
        return
    done = finished_chunks(work)
    if done:
        raise RunnerError(
            f"{work} holds {done} finished chunk{'s' if done > 1 else ''} of an interrupted run: add --resume to "
            "reuse them (same scenario, seed and replications), or --force to discard them"
        )


def finished_chunks(work: Path) -> int:
    """How many finished chunks a work folder holds (0 if there is none)."""
    with suppress(OSError):
        return sum(1 for p in (work / "chunks").iterdir() if not p.name.startswith("."))
    return 0


def _write_failure(exc: OSError, out_dir: Path) -> str:
    """Clean up after an ``OSError`` (temporary folders; the work folder unless it holds finished chunks)
    and describe it in one line, with how to resume when chunks were kept."""
    work = work_dir_for(out_dir)
    shutil.rmtree(temp_path(out_dir), ignore_errors=True)
    with suppress(OSError):
        for stale in (work / "chunks").glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
    msg = describe_os_error(exc, out_dir)
    done = finished_chunks(work)
    if done:
        return f"{msg}; {done} finished chunk{'s' if done > 1 else ''} kept in {work}: add --resume to continue"
    shutil.rmtree(work, ignore_errors=True)
    return msg


def _lock(out_dir: Path) -> Any:
    """Refuse a second command writing the same destination at the same time (:func:`sim.outputs.acquire_lock`)."""
    try:
        return acquire_lock(out_dir)
    except DestinationError as exc:
        raise RunnerError(str(exc)) from None
    except OSError as exc:  # the parent folder cannot be created, or the lock file cannot be written
        raise WriteError(describe_os_error(exc, out_dir)) from None


def _unlock(lock: Any) -> None:
    release_lock(lock)


# radon D (26): the chunk loop and its --reps auto feed share state through closures; splitting them
# apart would pass that state around explicitly without making either part easier to read.
def _run_locked(
    *,
    scenario,
    out_dir,
    s,
    auto,
    n,
    cs,
    meta,
    pool,
    own,
    work,
    model,
    post,
    progress,
    precision,
    max_replications,
    key_output_names,
    finalize,
    command,
    keep_work,
    tables,
    t0,
    parameters_for=None,
    **_: Any,
) -> RunResult:
    cs = meta["chunk_size"]
    chunks_dir = work / "chunks"
    present = {p.name for p in chunks_dir.iterdir() if not p.name.startswith(".")}
    base_task = {"scenario": scenario, "model": model, "kind": "store", "fn": post}

    def task_for(a: int, b: int) -> _Task:
        return _Task(
            items=tuple((r, s, parameters_for(r) if parameters_for else None) for r in range(a, b)), **base_task
        )

    summaries: dict[tuple[int, int], _SummaryChunk] = {}  # chunk range -> replication_summary (compact)
    computed = reused = 0
    bar = _Progress(progress, None if auto else n)
    algo: ReplicationsAlgorithm | None = None
    with _closing(pool, own, bar):

        def on_done_for(ranges: list[tuple[int, int]]):
            def on_done(i: int, out: ChunkOutput) -> None:
                nonlocal computed
                a, b = ranges[i]
                _write_chunk(chunks_dir, a, b, out)
                summaries[(a, b)] = _SummaryChunk(out.summary)
                computed += 1
                feed()

            return on_done

        next_rep = 0

        def feed() -> None:  # --reps auto: feed replications to the algorithm in replication order
            nonlocal next_rep
            if algo is None:
                return
            while not algo.solved:
                key = next((k for k in summaries if k[0] == next_rep), None)
                if key is None:
                    return
                ko = key_outputs(summaries[key].frame()).reindex(range(key[0], key[1]))
                for _, row in ko.iterrows():
                    if algo.add(row.to_dict()):
                        return
                next_rep = key[1]

        def run_ranges(ranges: list[tuple[int, int]], stop=lambda: False) -> None:
            nonlocal reused
            todo = []
            for i, (a, b) in enumerate(ranges):
                if _chunk_name(a, b) in present:
                    if (a, b) not in summaries:
                        summaries[(a, b)] = _SummaryChunk(_read_chunk_meta(chunks_dir, a, b)[1])
                    reused += 1
                    bar.advance(b - a)
                else:
                    todo.append(i)
            feed()
            _drive(pool, ((i, task_for(*ranges[i])) for i in todo), on_done_for(ranges), bar.advance, stop)

        if auto:
            algo = ReplicationsAlgorithm(tuple(key_output_names), precision=precision)
            run_ranges(chunk_ranges(n, cs), stop=lambda: algo.solved)
            chosen = algo.solution or min(n, algo.n)
            n = chosen
            bar.update(total=n, completed=n)
            ranges = chunk_ranges(n, cs)
            present = {p.name for p in chunks_dir.iterdir() if not p.name.startswith(".")}
            run_ranges(ranges)  # the last, partial chunk of the chosen n
        else:
            ranges = chunk_ranges(n, cs)
            run_ranges(ranges)
        backend = pool.describe()

    # ---- assemble the final folder from the chunks, in replication order -------------------
    tmp_out = temp_path(out_dir)
    if tmp_out.exists():
        shutil.rmtree(tmp_out)
    tmp_out.mkdir()
    try:
        names = [_chunk_name(a, b) for a, b in ranges]
        for t in tables:
            _concat_csv([chunks_dir / nm / f"{t}.csv" for nm in names], tmp_out / f"{t}.csv")
        events: list[int] = []
        for nm in names:
            events.extend(json.loads((chunks_dir / nm / "events.json").read_text()))
        summary = [summaries[r] for r in ranges]
        summaries.clear()
        extra_names: list[str] = []
        if post is not None:
            extra_names = sorted(
                p.name[len("extra.") : -len(".pkl")] for p in (chunks_dir / names[0]).glob("extra.*.pkl")
            )
        extras = ChunkedExtras([chunks_dir / nm for nm in names], extra_names)
        auto_res = None
        if algo is not None:
            auto_res = AutoReplications(
                precision, n, algo.solved, int(max_replications), algo.relative_half_widths(n), tuple(key_output_names)
            )
            if not algo.solved:
                warnings.warn(
                    f"--reps auto: precision {precision} not reached within {max_replications} replications",
                    stacklevel=2,
                )
        wall = time.perf_counter() - t0
        result = RunResult(out_dir, n, s, events, summary, extras, wall, cs, computed, reused, backend, auto_res)
        manifest = {
            "scenario": scenario.name,
            "scenario_file": getattr(scenario, "source_path", None),
            "scenario_sha256": getattr(scenario, "source_sha256", None),
            "scenario_hash": meta["scenario_hash"],
            "seed": s,
            "replications": n,
            "package": "peer-support-sim",
            "package_version": __version__,
            "python": sys.version.split()[0],
            "simpy_events_total": int(sum(events)),
            "simpy_events_per_replication": events,
            "parameter_uncertainty": meta.get("parameter_draws") is not None,
            "parameter_draws_sha256": meta.get("parameter_draws"),
            "wall_time_seconds": None,
            "backend": backend,
            "chunk_size": cs,
            "chunks_computed": computed,
            "chunks_reused": reused,
            "tables": list(tables),
            "command": command if command is not None else " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        }
        if auto_res is not None:
            manifest["replications_auto"] = {
                "method": "Hoad, Robinson & Davies (2010) replications algorithm",
                "precision": precision,
                "alpha": 0.05,
                "chosen": n,
                "solved": auto_res.solved,
                "budget": auto_res.budget,
                "key_outputs": list(key_output_names),
                "relative_half_widths": {
                    k: (None if not math.isfinite(v) else round(v, 6)) for k, v in auto_res.relative_half_widths.items()
                },
            }
        result.manifest = manifest
        if finalize is not None:
            finalize(tmp_out, result)
        result.wall_time = manifest["wall_time_seconds"] = round(time.perf_counter() - t0, 3)
        text = json.dumps({**manifest, "simpy_events_per_replication": "@EVENTS@"}, indent=1)
        (tmp_out / "manifest.json").write_text(text.replace('"@EVENTS@"', json.dumps(events)) + "\n")
        move_into_place(tmp_out, out_dir)
    except BaseException:
        shutil.rmtree(tmp_out, ignore_errors=True)
        raise
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _concat_csv(parts: list[Path], dest: Path) -> None:
    """Stream CSV parts into one file: the first part whole, the others without their header."""
    header: bytes | None = None
    with open(dest, "wb") as out:
        for p in parts:
            with open(p, "rb") as src:
                first = src.readline()
                if not first:
                    continue
                if header is None:
                    header = first
                    out.write(first)
                elif first != header:
                    raise RuntimeError(f"{p}: columns differ from the first chunk's; cannot concatenate")
                shutil.copyfileobj(src, out, 1 << 20)
