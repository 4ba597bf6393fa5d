"""Cost of the statistical analysis in ``python cli.py run`` (run by hand, not in CI); prints ONE JSON line.

    python benchmarks/bench_analysis.py                   # 1,000 replications, 6 rounds
    python benchmarks/bench_analysis.py --reps 200 --rounds 1
    python benchmarks/bench_analysis.py --chunks 0 --other ../baseline-worktree   # both trees, same rounds

Runs ``python cli.py run scenarios/paper_study.yaml --reps N -q`` with and without ``--no-analysis``,
alternating within each round (the machine may be shared: both variants see the same load), each in a
fresh process writing into a temporary folder. Prints the median wall time of each variant,
``ratio`` = the median over rounds of (with analysis / without) in the same round (target <= 1.3; a
round's two runs are adjacent, so they see about the same load), ``ratio_of_medians``, and every
round's times; ``cpu_ratio``, the same for CPU time (user + sys of the run and its workers: the work
done, little affected by other load on a shared machine, whereas the wall ratio also shows how much of
the analysis overlaps the simulation). Also ``worker_analysis_share``: in this process, for ``--chunks``
chunks of 63 fresh replications, the time of ``sim.analysis.report_chunk`` (the run's per-chunk hook)
over the time of what a worker does without it (simulate, ``to_frames``, write the CSVs): the analysis's
cost in the workers, little affected by other load on the machine. ``--other TREE``: another checkout
(e.g. a ``git worktree`` of the baseline commit) measured in the same rounds, each variant of both trees
in turn, reported under ``"other"`` with the same fields: a baseline from the same run, since this
machine's speed drifts between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed_run(scenario: str, reps: int, analysis: bool, workers: int | None, tree: Path = REPO) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + sys of the process and its workers) of one ``cli.py run`` of
    ``tree`` (its ``sim``: ``cli.py``'s folder comes first on the path) in a fresh process (outputs into a
    temporary folder)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-analysis-"))
    try:
        cmd = [sys.executable, str(tree / "cli.py"), "run", scenario, "--reps", str(reps), "--out", str(tmp / "o")]
        cmd += ["-q"] + ([] if analysis else ["--no-analysis"])
        if workers:
            cmd += ["--workers", str(workers)]
        t, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, cwd=tree, check=True, stdout=subprocess.DEVNULL)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.perf_counter() - t, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def worker_analysis_share(scenario: str, chunks: int, size: int = 63) -> float:
    """Seconds of report_chunk / seconds of simulate + to_frames + CSVs, summed over ``chunks``."""
    sys.path.insert(0, str(REPO))
    from sim.analysis import report_chunk
    from sim.datasets import to_frames, write_table
    from sim.model import simulate_replication
    from sim.scenario import load_scenario

    sc = load_scenario(REPO / scenario)
    report_chunk(to_frames([simulate_replication(sc, 10**6, seed=sc.seed)]))  # imports, not timed
    t_sim = t_ana = 0.0
    for k in range(chunks):
        t = time.perf_counter()
        frames = to_frames([simulate_replication(sc, r, seed=sc.seed) for r in range(k * size, (k + 1) * size)])
        with tempfile.TemporaryDirectory() as d:
            for name, df in frames.items():
                write_table(df, os.path.join(d, f"{name}.csv"))
        t_sim += time.perf_counter() - t
        t = time.perf_counter()
        report_chunk(frames)
        t_ana += time.perf_counter() - t
    return t_ana / t_sim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="scenarios/paper_study.yaml")
    ap.add_argument("--reps", type=int, default=1000)
    # six rounds: on a shared 2-core VM one round's ratio ranges over 1.1-1.5 for the same code
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--workers", type=int, default=None, help="default: all cores (the CLI's default)")
    ap.add_argument("--chunks", type=int, default=3, help="chunks timed for worker_analysis_share (0: skip)")
    ap.add_argument("--other", type=Path, default=None, help="another checkout, measured in the same rounds")
    a = ap.parse_args()
    share = worker_analysis_share(a.scenario, a.chunks) if a.chunks else None
    trees = {"this": REPO} if a.other is None else {"other": a.other.resolve(), "this": REPO}
    times: dict[str, dict[bool, tuple[list[float], list[float]]]] = {
        t: {True: ([], []), False: ([], [])} for t in trees
    }
    for k in range(a.rounds):
        order = (True, False) if k % 2 == 0 else (False, True)  # alternate which variant goes first
        for name, tree in trees.items():
            for analysis in order:
                wall, cpu = timed_run(a.scenario, a.reps, analysis, a.workers, tree)
                times[name][analysis][0].append(wall)
                times[name][analysis][1].append(cpu)
    out: dict = {
        "scenario": a.scenario,
        "reps": a.reps,
        "rounds": a.rounds,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "worker_analysis_share": None if share is None else round(share, 3),
    }
    if a.rounds:
        out.update(_figures(*times["this"][True], *times["this"][False]))
        if a.other is not None:
            out["other"] = {"tree": str(a.other), **_figures(*times["other"][True], *times["other"][False])}
    print(json.dumps(out))


def _figures(with_a: list[float], cpu_with: list[float], without: list[float], cpu_without: list[float]) -> dict:
    w, wo = statistics.median(with_a), statistics.median(without)
    return {
        "wall_s_with_analysis": round(w, 2),
        "wall_s_no_analysis": round(wo, 2),
        "ratio": round(statistics.median(x / y for x, y in zip(with_a, without, strict=True)), 3),
        "ratio_of_medians": round(w / wo, 3),
        "rounds_with_analysis": [round(x, 2) for x in with_a],
        "rounds_no_analysis": [round(x, 2) for x in without],
        "cpu_s_with_analysis": round(statistics.median(cpu_with), 2),
        "cpu_s_no_analysis": round(statistics.median(cpu_without), 2),
        "cpu_ratio": round(statistics.median(cpu_with) / statistics.median(cpu_without), 3),
    }


if __name__ == "__main__":
    main()
