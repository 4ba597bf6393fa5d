"""Assembling a stored run: the final tables streamed from the chunk files in replication order, the
manifest, the ``finalize`` hook, and the finished folder moved into place (:func:`sim.outputs.staged`)."""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import __version__, native
from ..forked import in_child
from ..outputs import staged
from .base import PrecisionNotReached
from .chunks import ChunkedExtras, chunk_name, concat_tables
from .summaries import SummaryChunk

if TYPE_CHECKING:
    from .disk import RunPlan
    from .loop import ChunkLoop


@dataclass
class AutoReplications:
    """Outcome of ``replications="auto"``."""

    precision: float
    chosen: int
    solved: bool
    budget: int
    relative_half_widths: dict[str, float]
    outputs: tuple[str, ...]


@dataclass
class RunResult:
    out_dir: Path
    replications: int
    seed: int
    events: list[int]
    summary_chunks: list[SummaryChunk]  # replication_summary rows, per chunk, compact (see ``summary``)
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


def assemble(plan: RunPlan, work: Path, loop: ChunkLoop, ranges: list[tuple[int, int]], backend: str) -> RunResult:
    """Write the final folder from the chunks of ``ranges`` and move it into place; the work folder is
    removed afterwards unless ``plan.keep_work``."""
    chunks_dir = work / "chunks"
    names = [chunk_name(a, b) for a, b in ranges]
    with staged(plan.out_dir) as tmp_out:
        tmp_out.mkdir()

        def write_tables() -> None:
            for t in plan.tables:
                file = f"{t}.{plan.table_format}"
                concat_tables([chunks_dir / nm / file for nm in names], tmp_out / file)

        # A finalize hook that does not read the tables (its ``needs_tables(replications)`` says so) runs
        # while a forked child writes them: the workers are done, so the second core would sit idle.
        needs = getattr(plan.finalize, "needs_tables", None)
        tables = None
        if plan.finalize is not None and needs is not None and not needs(loop.n):
            tables = in_child(write_tables)
        else:
            write_tables()
        events: list[int] = []
        for nm in names:
            events.extend(json.loads((chunks_dir / nm / "events.json").read_text()))
        summary = [loop.summaries[r] for r in ranges]
        loop.summaries.clear()
        extra_names: list[str] = []
        if plan.post is not None:
            extra_names = sorted(
                p.name[len("extra.") : -len(".pkl")] for p in (chunks_dir / names[0]).glob("extra.*.pkl")
            )
        extras = ChunkedExtras([chunks_dir / nm for nm in names], extra_names)
        wall = time.perf_counter() - plan.t0
        result = RunResult(
            plan.out_dir,
            loop.n,
            plan.seed,
            events,
            summary,
            extras,
            wall,
            plan.chunk_size,
            loop.computed,
            loop.reused,
            backend,
            _auto_result(plan, loop),
        )
        result.manifest = manifest = run_manifest(plan, result)
        if plan.finalize is not None:
            plan.finalize(tmp_out, result)
        if tables is not None:
            tables.join()
        result.wall_time = manifest["wall_time_seconds"] = round(time.perf_counter() - plan.t0, 3)
        text = json.dumps({**manifest, "simpy_events_per_replication": "@EVENTS@"}, indent=1)
        (tmp_out / "manifest.json").write_text(text.replace('"@EVENTS@"', json.dumps(events)) + "\n")
    if not plan.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _auto_result(plan: RunPlan, loop: ChunkLoop) -> AutoReplications | None:
    algo = loop.algo
    if algo is None:
        return None
    if not algo.solved:
        warnings.warn(
            f"--reps auto: precision {plan.precision} not reached within {plan.max_replications} replications",
            PrecisionNotReached,
            stacklevel=4,
        )
    return AutoReplications(
        plan.precision,
        loop.n,
        algo.solved,
        plan.max_replications,
        algo.relative_half_widths(loop.n),
        plan.key_output_names,
    )


def run_manifest(plan: RunPlan, result: RunResult) -> dict[str, Any]:
    """``manifest.json`` of a run (docs/data_dictionary.md); ``wall_time_seconds`` is filled in last."""
    sc, events, meta = plan.scenario, result.events, plan.meta
    manifest: dict[str, Any] = {
        "scenario": sc.name,
        "scenario_file": getattr(sc, "source_path", None),
        "scenario_sha256": getattr(sc, "source_sha256", None),
        "scenario_hash": meta["scenario_hash"],
        "seed": result.seed,
        "replications": result.replications,
        "package": "peer-support-sim",
        "package_version": __version__,
        "python": sys.version.split()[0],
        "simpy_events_total": int(sum(events)),
        "simpy_events_per_replication": events,
        "parameter_uncertainty": meta.get("parameter_draws") is not None,
        "parameter_draws_sha256": meta.get("parameter_draws"),
        "wall_time_seconds": None,
        "backend": result.backend,
        # the model this process runs (sim/native.py): the same tables either way, the speed differs
        "model": "compiled" if native.status().compiled else "python",
        "chunk_size": result.chunk_size,
        "chunks_computed": result.chunks_computed,
        "chunks_reused": result.chunks_reused,
        "tables": list(plan.tables),
        "command": plan.command if plan.command is not None else " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    if plan.table_format != "csv":
        manifest["table_format"] = plan.table_format
    auto = result.auto
    if auto is not None:
        manifest["replications_auto"] = {
            "method": "Hoad, Robinson & Davies (2010) replications algorithm",
            "precision": plan.precision,
            "alpha": 0.05,
            "chosen": result.replications,
            "solved": auto.solved,
            "budget": auto.budget,
            "key_outputs": list(plan.key_output_names),
            "relative_half_widths": {
                k: (None if not math.isfinite(v) else round(v, 6)) for k, v in auto.relative_half_widths.items()
            },
        }
    return manifest
