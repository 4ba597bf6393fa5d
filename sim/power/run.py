"""Power of a design file from start to finish (``cli.py power DESIGN.yaml``): the scenario's process data
through the runner, the resolved plan, analytic power and searches, simulated trials through the pool
(resumable: finished tasks are kept in ``.NAME.work`` beside the output folder until the run completes).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..outputs import staged
from .common import PowerError
from .evaluate import Plan, power_table, resolve, run_trials, tasks_for
from .schema import Design
from .search import searches

WORK_FORMAT = 1


@dataclass
class DesignResult:
    plan: Plan
    process: Any
    table: pd.DataFrame
    joint: pd.DataFrame
    searches: list[dict]
    backend: str = ""


def load_process(design: Design, *, workers=None, scheduler=None, progress=False, pool=None) -> tuple[Any, tuple]:
    """The scenario's process data (None without a scenario) and its communities' start months."""
    if design.scenario is None:
        return None, ()
    from ..scenario import ScenarioError, load_scenario
    from .process import simulate_process

    base = Path(design.source_path).parent if design.source_path else Path(".")
    try:
        sc = load_scenario(base / design.scenario)
    except ScenarioError as exc:
        raise PowerError(f"{design.source_path or '<design>'}: scenario: {exc}") from None
    proc = simulate_process(sc, design.replications, workers=workers, scheduler=scheduler, progress=progress, pool=pool)
    starts = tuple(float(c.start_month) for c in sc.expanded_communities())
    return proc, starts


def _meta(design: Design, trials: int) -> dict:
    data = design.model_dump(mode="json")
    return {
        "format": WORK_FORMAT,
        "design_hash": hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest(),
        "trials": trials,
        "package_version": __version__,
    }


def _work(out_dir: Path, meta: dict, resume: bool) -> Path:
    work = out_dir.parent / f".{out_dir.name}.work"
    if work.exists() and resume:
        try:
            old = json.loads((work / "meta.json").read_text())
        except (OSError, ValueError):
            old = None
        if old != meta:
            raise PowerError(f"cannot resume {work}: it was made from another design, trial count or version")
    elif work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "meta.json").write_text(json.dumps(meta))
    return work


def evaluate_design(
    design: Design,
    out_dir: Path | None = None,
    *,
    trials: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    resume: bool = False,
    simulate: bool = True,
) -> DesignResult:
    """Everything but the presentation. With ``out_dir``, finished simulation tasks are kept in its work
    folder (``resume=True`` reuses them); the caller removes it (:func:`finish`) after writing the outputs."""
    from ..runner import ReplicationPool
    from .pool import map_tasks

    trials = design.trials if trials is None else trials
    with ReplicationPool(workers=workers, scheduler=scheduler) as pool:
        process, starts = load_process(design, progress=progress, pool=pool)
        try:
            plan = resolve(design, process, starts)
        except PowerError as exc:
            raise PowerError(f"{design.source_path or '<design>'}: {exc}") from None
        found = searches(plan)
        rows = None
        if simulate and trials > 0:
            tasks = tasks_for(plan, trials)
            done: dict[int, pd.DataFrame] = {}
            work = _work(Path(out_dir), _meta(design, trials), resume) if out_dir is not None else None
            if work is not None:
                for i in range(len(tasks)):
                    f = work / f"task-{i:06d}.parquet"
                    if f.exists():
                        done[i] = pd.read_parquet(f)
            todo = [i for i in range(len(tasks)) if i not in done]

            def save(j: int, df: pd.DataFrame) -> None:
                if work is not None:
                    with staged(work / f"task-{todo[j]:06d}.parquet") as tmp:
                        df.to_parquet(tmp)

            res = map_tasks(
                run_trials,
                [tasks[i][1] for i in todo],
                pool=pool,
                progress=progress,
                weights=[tasks[i][1][3] - tasks[i][1][2] for i in todo],
                on_result=save,
            )
            done.update(zip(todo, res, strict=True))
            rows = pd.concat([done[i].assign(**tasks[i][0]) for i in range(len(tasks))], ignore_index=True)
        table, joint = power_table(plan, rows)
        backend = pool.describe()
    return DesignResult(plan, process, table, joint, found, backend)


def finish(out_dir: Path) -> None:
    """Remove the work folder of a completed run."""
    shutil.rmtree(Path(out_dir).parent / f".{Path(out_dir).name}.work", ignore_errors=True)
