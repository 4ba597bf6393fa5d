"""The in-memory map (calibration, power, comparisons): a function runs on each chunk inside the worker and only
its (small) result comes back, in replication order; per-replication parameter sets are supported."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .backends import ReplicationPool, drive
from .base import DEFAULT_MODEL, MAX_MAP_CHUNK, ModelAPI
from .chunks import chunk_ranges, default_chunk_size, increasing_ranges
from .progress import _closing, _Progress
from .tasks import Task


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
    cs = chunk_size or min(default_chunk_size(len(items)), MAX_MAP_CHUNK)
    ranges = increasing_ranges([r for r, _, _ in items], cs) if pass_frames else chunk_ranges(len(items), cs)
    out: list[Any] = [None] * len(ranges)
    bar = _Progress(progress, len(items))
    with _closing(pool, own, bar):
        tasks = (
            (i, Task(scenario, tuple(items[a:b]), model, "map", fn, pass_frames)) for i, (a, b) in enumerate(ranges)
        )
        drive(pool, tasks, out.__setitem__, bar.advance)
    return list(zip(ranges, out, strict=False))


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
