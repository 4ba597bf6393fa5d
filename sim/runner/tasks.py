"""Work items and the worker function: a chunk of consecutive replications, simulated in a worker, then
either mapped (the in-memory path) or turned into table files (the stored path): written into the chunk's
folder by a worker on this machine, or sent back as bytes by a Dask worker."""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from .base import ModelAPI, _resolve
from .chunks import ChunkOutput, chunk_folder, write_chunk_meta
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
    # store: the chunk's folder, when the worker writes it itself (on this machine: no ~40 MB of a
    # paper_study chunk's files through a pipe); None: send them back as bytes (a Dask worker)
    chunk_dir: str | None = None


def _writer(api: ModelAPI, table_format: str) -> Callable[[pd.DataFrame, Any], None]:
    if table_format == "parquet":
        from ..datasets import write_parquet_table

        return write_parquet_table
    assert api.write_table is not None
    return api.write_table


def _table_bytes(write: Callable[[pd.DataFrame, Any], None], df: pd.DataFrame, tmpdir: str, name: str) -> bytes:
    path = os.path.join(tmpdir, name)
    write(df, path)
    with open(path, "rb") as fh:
        return fh.read()


def table_files(api: ModelAPI, frames: dict[str, pd.DataFrame], table_format: str) -> dict[str, bytes]:
    """Each table of a chunk as the bytes of its file (``TABLE.csv`` or ``TABLE.parquet``)."""
    write = _writer(api, table_format)
    assert api.tables is not None
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
    if task.chunk_dir is not None:
        return events, _write_chunk_here(task, api, frames, events)
    tables = table_files(api, frames, task.table_format)  # before the hook sees the frames
    summary = replication_summary(frames)
    return events, ChunkOutput(events, tables, summary, _hook_tables(task, frames))


def _hook_tables(task: Task, frames: dict[str, pd.DataFrame]) -> dict[str, bytes]:
    extras = dict(task.fn(frames)) if task.fn is not None else {}
    return {name: pickle.dumps(df, protocol=pickle.HIGHEST_PROTOCOL) for name, df in extras.items()}


def _write_chunk_here(task: Task, api: ModelAPI, frames: dict[str, pd.DataFrame], events: list[int]) -> ChunkOutput:
    """Write the chunk's folder in this worker (the same files the parent would write from the bytes)."""
    assert task.chunk_dir is not None and api.tables is not None
    write, fmt = _writer(api, task.table_format), task.table_format
    summary = replication_summary(frames)
    with chunk_folder(Path(task.chunk_dir)) as folder:
        for t in api.tables:  # before the hook sees the frames
            write(frames.get(t, pd.DataFrame()), os.path.join(folder, f"{t}.{fmt}"))
        write_chunk_meta(folder, events, summary, _hook_tables(task, frames))
    return ChunkOutput(events, {}, summary, {}, written=True)
