"""Replications at scale: the runner every command uses (run, and calibrate, compare, power).

Reproducibility. Replication ``r`` of a run with root seed ``S`` is ``simulate(scenario, r, S,
parameters)``; the model derives its own streams from ``SeedSequence(S, spawn_key=(r, STREAM,
...))``, so the runner never re-seeds: a replication's result does not depend on the number of
workers, the chunk size, the order of completion or the backend.

Work is cut into chunks of consecutive replications: chunk boundaries are a function of the
replication count and the number of workers (:func:`default_chunk_size`) or ``chunk_size``, recorded
in the work folder so that a resumed run reuses them (the outputs are the same bytes either way).
Chunks go to one of three backends (:class:`ReplicationPool`): in-process (``workers=1``), a local
process pool (default: all cores) or an existing Dask distributed cluster
(``scheduler="tcp://host:8786"``, with task retries).

Modules: :mod:`.base` (errors, limits, the model bundle :class:`ModelAPI`), :mod:`.tasks` (the worker
function), :mod:`.backends` (:class:`ReplicationPool`), :mod:`.progress`, :mod:`.chunks` (cutting, chunk
files, :class:`ChunkedExtras`, streaming into final tables), :mod:`.summaries` (per-replication
summaries), :mod:`.memory` (the in-memory map), :mod:`.workdir` (work folder, resume, lock),
:mod:`.disk` (the on-disk run and its :class:`RunPlan`), :mod:`.loop` (its chunk loop) and
:mod:`.assembly` (final folder, manifest). Everything other modules use is importable from ``sim.runner``.

Two ways in:

- :func:`run_to_directory` (the ``run`` command): each finished chunk's tables are written with the
  model's ``write_table`` into a per-chunk folder of a stable work folder (temporary name, then
  ``os.replace``; by the worker that computed it, or, on a Dask cluster, by this process from the bytes
  the worker sends back), then streamed into the final CSV (or Parquet) files; memory stays flat,
  ``resume=True`` computes only missing chunks, and the final files are the same bytes however they
  were computed.
- :func:`map_replications` / :func:`map_chunks` / :func:`simulate_frames` (calibration, power):
  in memory, no disk I/O; a function runs on each chunk inside the worker and only its (small)
  result comes back, in replication order; per-replication parameter sets are supported.
"""

from .assembly import AutoReplications, RunResult
from .backends import ReplicationPool, _cpu_count
from .base import (
    AUTO_CHUNK,
    CHUNKS_PER_WORKER,
    DEFAULT_MODEL,
    KEY_OUTPUTS,
    MAX_CHUNK,
    MAX_MAP_CHUNK,
    MIN_CHUNK,
    TABLE_FORMATS,
    TARGET_CHUNKS,
    WORK_FORMAT,
    ModelAPI,
    PrecisionNotReached,
    ResumeError,
    RunnerError,
    WriteError,
)
from .chunks import (
    ChunkedExtras,
    ChunkOutput,
    chunk_name,
    chunk_ranges,
    default_chunk_size,
    finished_chunks,
    increasing_ranges,
    write_chunk,
)
from .disk import RunPlan, make_plan, run_to_directory
from .memory import map_chunks, map_replications, simulate_frames
from .summaries import SummaryChunk, key_outputs, replication_summary, run_summary_rows
from .workdir import _lock, _unlock, scenario_hash, work_dir_for

# The names these helpers had when the runner was one module.
_chunk_name = chunk_name
_increasing_ranges = increasing_ranges
_SummaryChunk = SummaryChunk

__all__ = [
    "AUTO_CHUNK",
    "CHUNKS_PER_WORKER",
    "DEFAULT_MODEL",
    "KEY_OUTPUTS",
    "MAX_CHUNK",
    "MAX_MAP_CHUNK",
    "MIN_CHUNK",
    "TABLE_FORMATS",
    "TARGET_CHUNKS",
    "WORK_FORMAT",
    "AutoReplications",
    "ChunkOutput",
    "ChunkedExtras",
    "ModelAPI",
    "PrecisionNotReached",
    "ReplicationPool",
    "ResumeError",
    "RunPlan",
    "RunResult",
    "RunnerError",
    "SummaryChunk",
    "WriteError",
    "_chunk_name",
    "_cpu_count",
    "_increasing_ranges",
    "_lock",
    "_unlock",
    "chunk_name",
    "chunk_ranges",
    "default_chunk_size",
    "finished_chunks",
    "increasing_ranges",
    "key_outputs",
    "make_plan",
    "map_chunks",
    "map_replications",
    "replication_summary",
    "run_summary_rows",
    "run_to_directory",
    "scenario_hash",
    "simulate_frames",
    "work_dir_for",
    "write_chunk",
]
