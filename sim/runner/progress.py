"""The progress bar of long runs (rich, on stderr), and closing it with the pool however a run ends."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backends import ReplicationPool


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
