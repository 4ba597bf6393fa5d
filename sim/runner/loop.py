"""The chunk loop of a stored run: reuse the chunks already in the work folder, compute the others (their
files written where the chunk was computed, or, for a Dask worker, by :func:`.chunks.write_chunk` here
from the bytes it sends back), and with ``--reps auto`` stop once the replications algorithm is satisfied."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..replications import ReplicationsAlgorithm
from .backends import ReplicationPool, drive
from .chunks import ChunkOutput, chunk_name, chunk_ranges, read_chunk_meta, write_chunk
from .progress import _Progress
from .summaries import SummaryChunk, key_outputs
from .tasks import Task

if TYPE_CHECKING:
    from .disk import RunPlan


class ChunkLoop:
    """The chunks of a stored run: reuse those already in the work folder, compute the others, and with
    ``--reps auto`` feed the replications' key outputs to the algorithm in replication order."""

    def __init__(self, plan: RunPlan, pool: ReplicationPool, chunks_dir: Path):
        self.plan, self.pool, self.chunks_dir = plan, pool, chunks_dir
        self.n = plan.n
        self.present = self._listing()
        self.summaries: dict[tuple[int, int], SummaryChunk] = {}  # chunk range -> replication_summary
        self.computed = self.reused = 0
        self.bar = _Progress(plan.progress, None if plan.auto else plan.n)
        self.algo = ReplicationsAlgorithm(plan.key_output_names, precision=plan.precision) if plan.auto else None
        self._next_rep = 0
        self._warmed = False

    def _listing(self) -> set[str]:
        return {p.name for p in self.chunks_dir.iterdir() if not p.name.startswith(".")}

    def run(self) -> list[tuple[int, int]]:
        """Run every chunk; returns the chunk ranges of the final replication count."""
        cs = self.plan.chunk_size
        algo = self.algo
        if algo is None:
            ranges = chunk_ranges(self.n, cs)
            self.run_ranges(ranges)
            return ranges
        self.run_ranges(chunk_ranges(self.n, cs), stop=lambda: algo.solved)
        self.n = algo.solution or min(self.n, algo.n)
        self.bar.update(total=self.n, completed=self.n)
        ranges = chunk_ranges(self.n, cs)
        self.present = self._listing()
        self.run_ranges(ranges, counted=True)  # the last, partial chunk of the chosen n (the bar is full)
        return ranges

    def task_for(self, a: int, b: int) -> Task:
        p = self.plan
        items = tuple((r, p.seed, p.parameters_for(r) if p.parameters_for else None) for r in range(a, b))
        # where the chunk is computed, its folder is written (same files); a Dask worker sends it back
        here = str((self.chunks_dir / chunk_name(a, b)).resolve()) if self.pool.local_files else None
        return Task(p.scenario, items, p.model, "store", p.post, table_format=p.table_format, chunk_dir=here)

    def run_ranges(
        self, ranges: list[tuple[int, int]], stop: Callable[[], bool] = lambda: False, counted: bool = False
    ) -> None:
        """Reuse or compute ``ranges``; ``counted``: their replications are on the progress bar already."""
        advance = (lambda n: None) if counted else self.bar.advance
        todo = []
        for i, (a, b) in enumerate(ranges):
            if chunk_name(a, b) in self.present:
                if (a, b) not in self.summaries:
                    self.summaries[(a, b)] = SummaryChunk(read_chunk_meta(self.chunks_dir, a, b)[1])
                self.reused += 1
                advance(b - a)
            else:
                todo.append(i)
        self.feed()

        def on_done(i: int, out: ChunkOutput) -> None:
            self.done(*ranges[i], out)

        drive(self.pool, ((i, self.task_for(*ranges[i])) for i in todo), on_done, advance, stop)

    def done(self, a: int, b: int, out: ChunkOutput) -> None:
        if not out.written:
            write_chunk(self.chunks_dir, a, b, out)
        self.summaries[(a, b)] = SummaryChunk(out.summary)
        self.computed += 1
        self.feed()
        self.warm_up()

    def warm_up(self) -> None:
        """Once, after the first computed chunk (every worker is running by then): ``finalize.warm_up()``
        if ``finalize`` has one, e.g. importing the plotting library while the workers simulate rather than
        after them (the report's figures are drawn once every chunk is in)."""
        fn = getattr(self.plan.finalize, "warm_up", None)
        if fn is not None and not self._warmed:
            self._warmed = True
            fn()

    def feed(self) -> None:
        """--reps auto: feed replications to the algorithm in replication order."""
        algo = self.algo
        if algo is None:
            return
        while not algo.solved:
            key = next((k for k in self.summaries if k[0] == self._next_rep), None)
            if key is None:
                return
            ko = key_outputs(self.summaries[key].frame()).reindex(range(key[0], key[1]))
            for _, row in ko.iterrows():
                if algo.add(row.to_dict()):
                    return
            self._next_rep = key[1]
