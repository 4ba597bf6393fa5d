"""What every part of the runner shares: its limits, its one-line errors and the model bundle."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

WORK_FORMAT = 1
CHUNKS_PER_WORKER = 4  # chunks per worker (several, so the workers finish together) ...
TARGET_CHUNKS = 16  # ... or per run where the workers are not known in advance (Dask; Parquet files) ...
MIN_CHUNK = 25  # ... but at least this many replications per chunk (paper_study: ~1 s with analysis) ...
# ... and at most this many (bounds the memory of a chunk in flight). Each chunk costs a fixed ~0.2 s
# besides its replications (the per-chunk analysis, its tables and files): 16 chunks of 63 made a
# 1,000-replication paper_study run ~10% slower on 2 cores than 8 chunks of 125 (benchmarks/bench_analysis.py;
# outputs are the same bytes with any chunking, README "Chunks").
MAX_CHUNK = 250
# ... and at most this many community-months of services per chunk, so a chunk of a large scenario
# (43 communities over 5 years: ~1,150 community-months a replication) holds ~10 replications, not 250:
# a worker's memory stays a few hundred MB whatever the scenario's size (the paper's study, 60
# community-months a replication: at most 200 per chunk).
MAX_CHUNK_COMMUNITY_MONTHS = 12_000
# The in-memory map (compare, sensitivity, power, calibration) cuts by the count alone, without the
# scenario's size: it keeps chunks of at most 100 (a chunk of a large scenario is ~430 MB of frames).
MAX_MAP_CHUNK = 100
AUTO_CHUNK = 20  # chunk size used by --reps auto (the total is not known in advance)
KEY_OUTPUTS = ("sessions_delivered", "consumer_retention", "consumer_satisfied")
TABLE_FORMATS = ("csv", "parquet")  # how the run writes its tables (docs/data_dictionary.md)


class RunnerError(ValueError):
    """A user-facing problem (bad option, refused resume, unreachable scheduler); ``str()`` is one line."""


class ResumeError(RunnerError):
    """``resume`` refused: the work folder was made from a different scenario, seed, version or size."""


class PrecisionNotReached(UserWarning):
    """``--reps auto`` stopped at ``max_replications`` before every key output reached the precision (the
    results use every replication run; ``RunResult.auto`` says so too)."""


class WriteError(RunnerError):
    """An ``OSError`` while writing a run (no space, read-only, permissions, ...); ``str()`` is one line naming
    the path and the cause, and says whether finished chunks were kept for ``--resume``."""


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
            from ..model import simulate_replication as sim_fn
        if tf is None or wt is None or tables is None:
            from .. import datasets

            tf = tf or datasets.to_frames
            wt = wt or datasets.write_table
            tables = tables or tuple(datasets.TABLES)
        return ModelAPI(sim_fn, tf, wt, tuple(tables))


DEFAULT_MODEL = ModelAPI()
_RESOLVED: dict[ModelAPI, ModelAPI] = {}


def _resolve(model: ModelAPI) -> ModelAPI:
    r = _RESOLVED.get(model)
    if r is None:
        r = _RESOLVED[model] = model.resolved()
    return r


def _fn_id(fn: Callable[..., Any] | None) -> str | None:
    return None if fn is None else f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
