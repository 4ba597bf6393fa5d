"""Chunks: how a run is cut (by the replication count and the workers; a resumed run reuses the stored
cut), a finished chunk's files in the work folder, the post-processing hook's per-chunk tables
(:class:`ChunkedExtras`), and the streaming of chunk files into the final tables in replication order."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..outputs import keep_first, staged
from .base import CHUNKS_PER_WORKER, MAX_CHUNK, MAX_CHUNK_COMMUNITY_MONTHS, MIN_CHUNK, TARGET_CHUNKS, RunnerError


@dataclass
class ChunkOutput:
    """What a stored chunk sends back: per-replication events, each table file's bytes (``{table}.csv`` as
    written by ``write_table``, or ``{table}.parquet``), the replication summary and the post-processing
    hook's tables, pickled in the worker: the parent writes them to the chunk's files as they came,
    rather than unpickling a chunk's ~12 MB of analysis tables and pickling them again (paper_study).
    ``written``: the worker wrote the chunk's folder itself (:func:`chunk_folder`; a worker on this
    machine); then ``tables`` and ``extras`` are empty and the parent writes nothing."""

    events: list[int]
    tables: dict[str, bytes]  # file name -> bytes
    summary: pd.DataFrame
    extras: dict[str, bytes]  # name -> the table's pickle (read back with pandas.read_pickle)
    written: bool = False


def default_chunk_size(n: int, community_months: float | None = None, workers: int | None = None) -> int:
    """Replications per chunk: ``CHUNKS_PER_WORKER`` chunks per worker (``TARGET_CHUNKS`` per run when
    ``workers`` is not known), of ``MIN_CHUNK`` to ``MAX_CHUNK`` replications, and at most
    ``MAX_CHUNK_COMMUNITY_MONTHS`` months of services (``community_months`` per replication,
    :func:`community_months`). Never a function of timing: the outputs are the same bytes with any
    chunking, and a resumed run reuses the chunk size stored in its work folder."""
    target = CHUNKS_PER_WORKER * workers if workers else TARGET_CHUNKS
    size = max(1, min(n, MAX_CHUNK, max(MIN_CHUNK, math.ceil(n / target))))
    if community_months:
        size = min(size, max(1, int(MAX_CHUNK_COMMUNITY_MONTHS // community_months)))
    return size


def community_months(scenario: object) -> float | None:
    """Months of services summed over the scenario's communities (None for a model without communities)."""
    expanded = getattr(scenario, "expanded_communities", None)
    if expanded is None:
        return None
    return float(sum(scenario.end_month(c) - c.start_month for c in expanded()))  # type: ignore[attr-defined]


def chunk_ranges(n: int, chunk_size: int) -> list[tuple[int, int]]:
    return [(a, min(a + chunk_size, n)) for a in range(0, n, chunk_size)]


def increasing_ranges(reps: Sequence[int], chunk_size: int) -> list[tuple[int, int]]:
    """Chunks of at most ``chunk_size`` items, also cut wherever the replication index does not
    increase: a chunk's frames (rows ordered by replication) are then in item order, one block per item."""
    ranges: list[tuple[int, int]] = []
    a = 0
    for i in range(1, len(reps) + 1):
        if i == len(reps) or i - a >= chunk_size or reps[i] <= reps[i - 1]:
            ranges.append((a, i))
            a = i
    return ranges


def chunk_name(a: int, b: int) -> str:
    return f"{a:010d}-{b:010d}"


@contextmanager
def chunk_folder(dest: Path) -> Iterator[Path]:
    """A chunk's folder ``dest`` (``chunks/<chunk_name>``), built under a temporary name in the same folder
    and renamed into place when the block completes (a chunk computed twice keeps the first copy; a
    half-written one is never seen: names starting with "." are not chunks)."""
    tmp = dest.parent / f".tmp-{dest.name}-{os.getpid()}"
    with staged(dest, tmp, commit=keep_first) as tmp:
        tmp.mkdir()
        yield tmp


def write_chunk_meta(folder: Path, events: list[int], summary: pd.DataFrame, extras: Mapping[str, bytes]) -> None:
    """The chunk's files besides its tables: the replication summary, the hook's pickled tables, the events."""
    summary.to_pickle(folder / "summary.pkl")
    for name, data in extras.items():
        (folder / f"extra.{name}.pkl").write_bytes(data)
    (folder / "events.json").write_text(json.dumps(events))


def write_chunk(chunks_dir: Path, a: int, b: int, out: ChunkOutput) -> None:
    """Write the files a chunk sent back (:class:`ChunkOutput`) into its folder (:func:`chunk_folder`)."""
    with chunk_folder(chunks_dir / chunk_name(a, b)) as tmp:
        for name, data in out.tables.items():
            (tmp / name).write_bytes(data)
        write_chunk_meta(tmp, out.events, out.summary, out.extras)


def read_chunk_meta(chunks_dir: Path, a: int, b: int) -> tuple[list[int], pd.DataFrame]:
    d = chunks_dir / chunk_name(a, b)
    return json.loads((d / "events.json").read_text()), pd.read_pickle(d / "summary.pkl")


def finished_chunks(work: Path) -> int:
    """How many finished chunks a work folder holds (0 if there is none)."""
    with suppress(OSError):
        return sum(1 for p in (work / "chunks").iterdir() if not p.name.startswith("."))
    return 0


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


def concat_csv(parts: list[Path], dest: Path) -> None:
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


def concat_parquet(parts: list[Path], dest: Path) -> None:
    """Stream Parquet parts into one file, one row group per chunk, in order: one chunk in memory at a time.
    The schema is the union of the parts' (a column that is blank throughout one chunk has no type there)."""
    import pyarrow.parquet as pq

    from ..datasets import PARQUET_OPTIONS, conform

    schema = _union_schema([pq.read_schema(p) for p in parts])
    with pq.ParquetWriter(dest, schema, **PARQUET_OPTIONS) as writer:
        for p in parts:
            table = pq.read_table(p)
            if table.num_columns or not schema:
                writer.write_table(conform(table, schema))


def _union_schema(schemas: list) -> object:
    import pyarrow as pa

    fields = [s for s in schemas if len(s)]
    if not fields:
        return pa.schema([])
    return pa.unify_schemas(fields, promote_options="permissive")


def concat_tables(parts: list[Path], dest: Path) -> None:
    """The final table file from its chunk files (by the file's extension)."""
    (concat_parquet if dest.suffix == ".parquet" else concat_csv)(parts, dest)
