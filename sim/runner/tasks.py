"""Work items and the worker function: a chunk of consecutive replications, simulated in a worker, then
either mapped (the in-memory path) or turned into table files (the stored path)."""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from .base import ModelAPI, _resolve
from .summaries import replication_summary


@dataclass(frozen=True)
class Task:
    scenario: Any
    items: tuple[tuple[int, int, Any], ...]  # (replication, seed, parameters or None)
    model: ModelAPI
    kind: Literal["store", "map"]
    fn: Callable[..., Any] | None = None  # map: the user's function; store: the post-processing hook
    pass_frames: bool = True
    table_format: str = "csv"  # store: "csv" (the model's write_table) or "parquet"


@dataclass
class ChunkOutput:
    """What a stored chunk sends back: per-replication events, each table file's bytes (``{table}.csv`` as
    written by ``write_table``, or ``{table}.parquet``), the replication summary and the post-processing
    hook's tables, pickled in the worker: the parent writes them to the chunk's files as they came,
    rather than unpickling a chunk's ~12 MB of analysis tables and pickling them again (paper_study)."""

    events: list[int]
    tables: dict[str, bytes]  # file name -> bytes
    summary: pd.DataFrame
    extras: dict[str, bytes]  # name -> the table's pickle (read back with pandas.read_pickle)


def _table_bytes(write: Callable[[pd.DataFrame, Any], None], df: pd.DataFrame, tmpdir: str, name: str) -> bytes:
    path = os.path.join(tmpdir, name)
    write(df, path)
    with open(path, "rb") as fh:
        return fh.read()


def table_files(api: ModelAPI, frames: dict[str, pd.DataFrame], table_format: str) -> dict[str, bytes]:
    """Each table of a chunk as the bytes of its file (``TABLE.csv`` or ``TABLE.parquet``)."""
    if table_format == "parquet":
        from ..datasets import write_parquet_table as write
    else:
        write = api.write_table
    assert api.tables is not None and write is not None
    with tempfile.TemporaryDirectory(prefix="pss-chunk-") as tmp:
        return {
            f"{t}.{table_format}": _table_bytes(write, frames.get(t, pd.DataFrame()), tmp, f"{t}.{table_format}")
            for t in api.tables
        }


def execute(task: Task) -> tuple[list[int], Any]:
    """Run one chunk (in a worker): simulate its replications, then map or store."""
    api = _resolve(task.model)
    sim_fn = api.simulate
    assert sim_fn is not None and api.to_frames is not None
    results = [sim_fn(task.scenario, r, seed=s, parameters=p) for r, s, p in task.items]
    events = [int(getattr(res, "events", 0)) for res in results]
    if task.kind == "map":
        assert task.fn is not None
        if not task.pass_frames:
            return events, task.fn(results)
        return events, task.fn(api.to_frames(results))
    frames = api.to_frames(results)
    del results
    tables = table_files(api, frames, task.table_format)
    summary = replication_summary(frames)
    extras = dict(task.fn(frames)) if task.fn is not None else {}
    pickled = {name: pickle.dumps(df, protocol=pickle.HIGHEST_PROTOCOL) for name, df in extras.items()}
    return events, ChunkOutput(events, tables, summary, pickled)
