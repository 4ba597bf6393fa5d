"""The on-disk run (the ``run`` command): :func:`run_to_directory`.

Each finished chunk's tables are written by the worker into a per-chunk folder of a stable work folder
(:mod:`.workdir`; temporary name, then rename), then streamed into the final tables (:mod:`.assembly`);
memory stays flat, ``resume=True`` computes only missing chunks, and the final files are the same bytes
however they were computed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from .. import __version__
from .assembly import RunResult, assemble
from .backends import ReplicationPool, local_workers
from .base import (
    AUTO_CHUNK,
    DEFAULT_MODEL,
    KEY_OUTPUTS,
    TABLE_FORMATS,
    WORK_FORMAT,
    ModelAPI,
    RunnerError,
    WriteError,
    _fn_id,
    _resolve,
)
from .chunks import community_months, default_chunk_size
from .loop import ChunkLoop
from .progress import _closing
from .workdir import (
    _check_stale_work,
    _lock,
    _prepare_work,
    _unlock,
    _write_failure,
    remove_partial_chunks,
    scenario_hash,
    work_dir_for,
)


@dataclass
class RunPlan:
    """Everything a stored run needs, decided before anything is written (see :func:`run_to_directory`)."""

    scenario: Any
    out_dir: Path
    seed: int
    auto: bool
    n: int  # the replications (with ``auto``: the budget)
    meta: dict[str, Any]  # the work folder's meta.json (its chunk size is the stored one when resuming)
    model: ModelAPI
    tables: tuple[str, ...]
    table_format: str
    post: Callable[[dict[str, pd.DataFrame]], dict[str, pd.DataFrame]] | None
    parameters_for: Callable[[int], Any] | None
    finalize: Callable[[Path, RunResult], None] | None
    progress: bool
    precision: float
    max_replications: int
    key_output_names: tuple[str, ...]
    command: str | None
    keep_work: bool
    t0: float

    @property
    def chunk_size(self) -> int:
        return int(self.meta["chunk_size"])


def _replication_count(scenario: Any, replications: Any, precision: float, max_replications: int) -> int:
    if replications == "auto":
        if not 0 < precision < 1:
            raise RunnerError(f"--precision must be between 0 and 1, got {precision}")
        return int(max_replications)
    n = int(scenario.replications if replications is None else replications)
    if n < 1:
        raise RunnerError(f"replications must be at least 1, got {n}")
    return n


def _work_meta(plan: RunPlan, chunk_size: int) -> dict[str, Any]:
    pf = plan.parameters_for
    return {
        "format": WORK_FORMAT,
        "scenario": plan.scenario.name,
        "scenario_hash": scenario_hash(plan.scenario),
        "source_sha256": getattr(plan.scenario, "source_sha256", None),
        "seed": plan.seed,
        "replications": "auto" if plan.auto else plan.n,
        "precision": plan.precision if plan.auto else None,
        "package_version": __version__,
        "chunk_size": chunk_size,
        "post": _fn_id(plan.post),
        "parameter_draws": None if pf is None else getattr(pf, "sha256", _fn_id(pf)),
        "table_format": plan.table_format,
    }


def make_plan(
    scenario: Any,
    out_dir: str | Path,
    *,
    replications: int | Literal["auto"] | None,
    seed: int | None,
    chunk_size: int | None,
    precision: float,
    max_replications: int,
    parameters: Any,
    model: ModelAPI | None,
    table_format: str,
    workers: int | None = None,  # to cut chunks by (:func:`_chunking_workers`); None: per run
    **settings: Any,
) -> RunPlan:
    """Check the arguments of :func:`run_to_directory` and decide the run (one-line :class:`RunnerError`);
    ``settings`` are the remaining :class:`RunPlan` fields, taken as given."""
    auto = replications == "auto"
    n = _replication_count(scenario, replications, precision, max_replications)
    if chunk_size is not None and chunk_size < 1:
        raise RunnerError(f"chunk size must be at least 1, got {chunk_size}")
    if table_format not in TABLE_FORMATS:
        raise RunnerError(f"--format: expected one of {', '.join(TABLE_FORMATS)}, got {table_format!r}")
    if parameters is not None:
        scenario = scenario.model_copy(update={"parameters": parameters})
    model = model or DEFAULT_MODEL
    plan = RunPlan(
        scenario=scenario,
        out_dir=Path(out_dir),
        seed=int(scenario.seed if seed is None else seed),
        auto=auto,
        n=n,
        meta={},
        model=model,
        tables=tuple(model.tables) if model.tables is not None else tuple(_resolve(model).tables or ()),
        table_format=table_format,
        precision=precision,
        max_replications=int(max_replications),
        **settings,
    )
    default = AUTO_CHUNK if auto else default_chunk_size(n, community_months(scenario), workers)
    plan.meta = _work_meta(plan, int(chunk_size or default))
    return plan


def _chunking_workers(
    pool: ReplicationPool | None, workers: int | None, scheduler: str | None, table_format: str
) -> int | None:
    """The workers the default chunk size follows (:func:`default_chunk_size`), or None for a fixed number
    of chunks per run: for a Dask cluster (its size is known only once connected) and for Parquet files
    (one row group per chunk: their bytes must not depend on the workers)."""
    if table_format != "csv" or (pool.kind == "dask" if pool is not None else bool(scheduler)):
        return None
    if pool is not None:
        return pool.workers
    return max(1, local_workers(workers))  # as ReplicationPool will have (it refuses fewer than 1)


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
    table_format: str = "csv",
) -> RunResult:
    """Run a scenario's replications and write the tables (``TABLE.csv``, or ``TABLE.parquet`` with
    ``table_format="parquet"``) and ``manifest.json`` into ``out_dir``. Files are assembled in a temporary
    folder next to ``out_dir`` and moved into place at the end (an existing ``out_dir`` is replaced only
    then). Finished chunks live in :func:`work_dir_for` ``(out_dir)`` until the run completes;
    ``resume=True`` reuses them (and raises :class:`ResumeError` if they came from a different scenario,
    seed, size, table format or version).

    ``post(frames) -> {name: DataFrame}`` runs on every chunk in the worker (e.g. the analysis's
    ``analyze_chunk``); its tables are kept per chunk in the work folder and offered lazily by
    ``RunResult.extras`` (:class:`ChunkedExtras`: per-chunk iteration, readable during ``finalize`` or,
    with ``keep_work=True``, afterwards). ``finalize(tmp_out_dir, result)`` may add files (e.g. the
    analysis report) before the folder is moved into place; a ``finalize.warm_up()`` attribute, if any, is
    called once after the first computed chunk (e.g. imports the report needs); a
    ``finalize.needs_tables(replications)`` attribute returning False lets the tables be written by a
    forked child while ``finalize`` runs (:mod:`sim.forked`; otherwise they are written before it).
    ``parameters_for(replication)`` gives each replication its own parameter set (e.g. a posterior draw:
    outputs then carry parameter uncertainty);
    it must depend on the replication number only, and its ``sha256`` attribute (if any) is recorded so
    that a resume with other draws is refused. ``replications="auto"`` picks the number with
    :class:`~sim.replications.ReplicationsAlgorithm` on ``key_output_names`` at ``precision``.

    Without ``resume``, finished chunks of an interrupted run are discarded when ``discard_work`` (the
    default) and refused with a :class:`RunnerError` saying how to reuse them otherwise (the ``run``
    command). An ``OSError`` while writing becomes :class:`WriteError` (one line); the work folder is kept
    only if it holds finished chunks, and the message then says to resume.
    """
    plan = make_plan(
        scenario,
        out_dir,
        replications=replications,
        seed=seed,
        chunk_size=chunk_size,
        precision=precision,
        max_replications=max_replications,
        parameters=parameters,
        model=model,
        table_format=table_format,
        workers=_chunking_workers(pool, workers, scheduler, table_format),
        post=post,
        parameters_for=parameters_for,
        finalize=finalize,
        progress=progress,
        key_output_names=tuple(key_output_names),
        command=command,
        keep_work=keep_work,
        t0=time.perf_counter(),
    )
    _check_stale_work(work_dir_for(plan.out_dir), plan.meta, resume, discard_work, chunk_size is None)
    own = pool is None
    pool = pool or ReplicationPool(workers=workers, scheduler=scheduler)  # before anything is written
    try:
        lock = _lock(plan.out_dir)
    except BaseException as exc:
        if own:
            pool.close_after(exc)
        raise
    try:
        try:
            work = _prepare_work(plan.out_dir, plan.meta, resume, chunk_size is None)
        except BaseException as exc:
            if own:
                pool.close_after(exc)
            raise
        return _run_locked(plan, pool, own, work)
    except OSError as exc:
        raise WriteError(_write_failure(exc, plan.out_dir)) from None
    finally:
        _unlock(lock)


def _run_locked(plan: RunPlan, pool: ReplicationPool, own: bool, work: Path) -> RunResult:
    """Compute the missing chunks (holding the destination's lock), then assemble the final folder."""
    loop = ChunkLoop(plan, pool, work / "chunks")
    try:
        with _closing(pool, own, loop.bar):
            ranges = loop.run()
            backend = pool.describe()
    except KeyboardInterrupt:
        if own:  # the pool's workers are stopped (ReplicationPool.abort): their half-written chunks go
            remove_partial_chunks(work / "chunks")
        raise
    return assemble(plan, work, loop, ranges, backend)
