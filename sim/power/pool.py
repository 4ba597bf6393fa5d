"""Fan simulated trials out over the runner's backends.

Adapter: :func:`sim.runner.map_chunks` runs *model replications* in its workers; simulated trials of a
design are not model runs, so this module submits its own tasks to the executor of a
:class:`sim.runner.ReplicationPool` (a local process pool, in-process with one worker, or a Dask cluster
through ``Client.get_executor``: the runner's backends and its ``--workers`` / ``--scheduler`` meaning),
with a bounded window and a rich progress bar. Results come back in task order whatever the completion
order, so outputs do not depend on the backend or the number of workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from ..runner import ReplicationPool


def _bar(progress: bool, description: str, total: int) -> tuple[Any, Any]:
    if not progress:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..reporting import console

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console(stderr=True),
    )
    bar.start()
    return bar, bar.add_task(description, total=total)


def _drive(pool: ReplicationPool, fn, tasks, pending: dict[Future, int], handle) -> None:
    """Keep ``pool.window`` tasks in flight; ``handle(index, result)`` in index order within each batch."""
    nxt = 0
    while True:
        while nxt < len(tasks) and len(pending) < pool.window:
            pending[pool.executor.submit(fn, *tasks[nxt])] = nxt
            nxt += 1
        if not pending:
            return
        done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for f in sorted(done, key=lambda f: pending[f]):
            handle(pending.pop(f), f.result())


def map_tasks(
    fn: Callable[..., Any],
    tasks: Sequence[tuple[Any, ...]],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    pool: ReplicationPool | None = None,
    progress: bool = False,
    description: str = "simulated trials",
    weights: Sequence[int] | None = None,
    on_result: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """``[fn(*t) for t in tasks]`` on the pool; ``weights`` (e.g. trials per task) drive the progress bar;
    ``on_result(index, result)`` is called in the parent as each task finishes (e.g. to save it for a resume).
    ``fn`` must be a module-level function unless ``workers=1``."""
    own = pool is None
    pool = pool or ReplicationPool(workers=workers, scheduler=scheduler)
    weights = list(weights) if weights is not None else [1] * len(tasks)
    out: list[Any] = [None] * len(tasks)
    bar, tid = _bar(progress, description, sum(weights))
    pending: dict[Future, int] = {}

    def handle(i: int, result: Any) -> None:
        out[i] = result
        if on_result is not None:
            on_result(i, result)
        if bar is not None:
            bar.advance(tid, weights[i])

    try:
        _drive(pool, fn, tasks, pending, handle)
    except BaseException as exc:
        for f in pending:
            f.cancel()
        if bar is not None:
            bar.stop()
        if own:
            pool.close_after(exc)
        raise
    if bar is not None:
        bar.stop()
    if own:
        pool.close()
    return out
