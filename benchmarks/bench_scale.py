"""Benchmark: does the cost of a run grow linearly in communities x months? (run by hand, not in CI);
prints ONE JSON line.

    python benchmarks/bench_scale.py                          # 10, 43 and 200 communities over 5 years
    python benchmarks/bench_scale.py --chaoyang-reps 250,1000 # also the Chaoyang run (long: minutes)

The scenarios are ``scenarios/chaoyang_district.yaml`` (its waves, sections and parameters) with its
communities replaced by N identical ones spread over its five waves (two pilot, two second-wave, the
rest split between the last three waves; start months 0, 12, 24, 36, 48; services to month 60), so a
size differs from another only in the number of communities. Community-months = sum over communities
of (60 - start month).

Measured per size:
- ``model_cpu_s_per_rep``: CPU seconds of one replication of the model alone (in-process, no datasets;
  on the process's CPU clock, so other load on a shared machine hardly matters), over ``--model-reps``;
- ``run_cpu_s_per_rep``: CPU seconds per replication of everything a run's worker does for it (model,
  datasets, table files, the analysis and planning hook: ``sim.runner.tasks.execute`` on a chunk of
  ``--model-reps`` replications, in-process): the marginal cost of a replication in a whole run, without
  the run's fixed start-up and report;
- ``*_ms_per_community_month``: those costs divided by the community-months;
- with ``--cli-reps R``: ``cli_wall_s`` / ``cli_cpu_s``, the documented command (``python cli.py run ...
  --reps R``) in a subprocess, start-up, report and figures included (CPU of the whole process tree);
- ``linearity``: the per-community-month cost of each size over that of the smallest (1.0 = linear;
  below 1 = cheaper per community-month at scale, above = worse than linear);
- ``fit``: a least-squares line, cost per replication = fixed + slope x community-months, and its worst
  relative error over the sizes (small = linear; ``fixed`` is what a replication costs whatever the size,
  e.g. the study-level analysis).

``--chaoyang-reps``: ``python cli.py run scenarios/chaoyang_district.yaml --reps N`` for each N, with
its wall time and peak memory (PSS of the process tree, sampled every 0.2 s); flat memory means the
peak at 1,000 is close to the peak at 250 (target: 1,000 replications in at most 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CHAOYANG = REPO / "scenarios" / "chaoyang_district.yaml"
STARTS = {"pilot": 0, "second": 12, "third": 24, "fourth": 36, "fifth": 48}


def scaled_scenario(n: int, folder: Path) -> tuple[Path, int]:
    """The Chaoyang scenario with ``n`` communities (see the module docstring): its file and community-months."""
    data = yaml.safe_load(CHAOYANG.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["name"] = f"scale_{n}"
    if data.get("parameter_set"):
        data["parameter_set"] = str((CHAOYANG.parent / data["parameter_set"]).resolve())
    template = {c["wave"]: c for c in data["communities"]}
    rest = max(n - 4, 0)
    counts = {"pilot": min(2, n), "second": min(2, max(n - 2, 0))}
    counts.update({w: rest // 3 + (1 if i < rest % 3 else 0) for i, w in enumerate(("third", "fourth", "fifth"))})
    comms = []
    for wave, k in counts.items():
        if k:
            comms.append({**template[wave], "name": wave.capitalize(), "copies": k, "start_month": STARTS[wave]})
    data["communities"] = comms
    horizon = float(data.get("horizon_months", 60))
    months = int(sum(k * (horizon - STARTS[w]) for w, k in counts.items()))
    path = folder / f"scale_{n}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path, months


def model_cpu_per_rep(path: Path, reps: int) -> float:
    from sim.model import simulate_replication
    from sim.scenario import load_scenario

    sc = load_scenario(path)
    simulate_replication(sc, 0)  # warm up
    t = time.process_time()
    for r in range(1, reps + 1):
        simulate_replication(sc, r)
    return (time.process_time() - t) / reps


def run_cpu_per_rep(path: Path, reps: int) -> float:
    """CPU seconds per replication of a stored run's worker: simulate, datasets, table files, hooks."""
    from sim.planning.hooks import analysis_and_planning
    from sim.runner.base import DEFAULT_MODEL
    from sim.runner.tasks import Task, execute
    from sim.scenario import load_scenario

    sc = load_scenario(path)
    execute(Task(sc, ((0, sc.seed, None),), DEFAULT_MODEL, "store", analysis_and_planning))  # warm up
    items = tuple((r, sc.seed, None) for r in range(1, reps + 1))
    t = time.process_time()
    execute(Task(sc, items, DEFAULT_MODEL, "store", analysis_and_planning))
    return (time.process_time() - t) / reps


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _tree_pss(pid: int) -> int:
    from bench_replications import _tree_rss  # PSS of the process tree (psutil, or /proc)

    return _tree_rss(pid)


def cli_run(path: Path, reps: int, out: Path, workers: int | None, sample_memory: bool = False) -> dict:
    """``python cli.py run PATH --reps N --out OUT --quiet`` in a subprocess: wall, CPU of the tree, peak PSS."""
    cmd = [sys.executable, str(REPO / "cli.py"), "run", str(path), "--reps", str(reps), "--out", str(out), "--quiet"]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    cpu0, t = _children_cpu(), time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    peak, stop = 0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_pss(proc.pid))
            time.sleep(0.2)

    th = threading.Thread(target=sample, daemon=True)
    if sample_memory:
        th.start()
    rc = proc.wait()
    stop.set()
    if sample_memory:
        th.join()
    wall = time.perf_counter() - t
    out_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20 if out.exists() else 0.0
    res = {"rc": rc, "wall_s": round(wall, 1), "cpu_s": round(_children_cpu() - cpu0, 1), "output_mb": round(out_mb, 1)}
    if sample_memory:
        res["peak_pss_mb"] = round(peak / 2**20, 1)
    return res


def scale(sizes: list[int], model_reps: int, cli_reps: int, workers: int | None) -> dict:
    out: dict = {"sizes": {}}
    with tempfile.TemporaryDirectory(prefix="pss-scale-") as tmp:
        for n in sizes:
            path, cm = scaled_scenario(n, Path(tmp))
            m = model_cpu_per_rep(path, model_reps)
            w = run_cpu_per_rep(path, model_reps)
            row = {
                "communities": n,
                "community_months": cm,
                "model_cpu_s_per_rep": round(m, 3),
                "model_ms_per_community_month": round(1000 * m / cm, 4),
                "run_cpu_s_per_rep": round(w, 3),
                "run_ms_per_community_month": round(1000 * w / cm, 4),
            }
            if cli_reps:
                r = cli_run(path, cli_reps, Path(tmp) / f"out_{n}", workers)
                row.update(
                    {"cli_reps": cli_reps, "cli_wall_s": r["wall_s"], "cli_cpu_s": r["cpu_s"], "cli_rc": r["rc"]}
                )
                shutil.rmtree(Path(tmp) / f"out_{n}", ignore_errors=True)
            out["sizes"][str(n)] = row
    out["fit"] = {
        k: _line(
            [v["community_months"] for v in out["sizes"].values()],
            [v[f"{k}_cpu_s_per_rep"] for v in out["sizes"].values()],
        )
        for k in ("model", "run")
    }
    base = out["sizes"][str(sizes[0])]
    out["linearity"] = {
        str(n): {
            "model": round(v["model_ms_per_community_month"] / base["model_ms_per_community_month"], 3),
            "run": round(v["run_ms_per_community_month"] / base["run_ms_per_community_month"], 3),
        }
        for n, v in out["sizes"].items()
    }
    return out


def _line(x: list[float], y: list[float]) -> dict:
    """Least-squares ``y = fixed + per_community_month * x``: a cost linear in community-months has a
    constant slope; ``fixed`` is the part of a replication's cost that does not grow with the district."""
    import numpy as np

    if len(x) < 2:
        return {}
    slope, fixed = np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)
    pred = fixed + slope * np.asarray(x, float)
    worst = float(np.max(np.abs(pred - np.asarray(y, float)) / np.asarray(y, float)))
    return {
        "fixed_s_per_rep": round(float(fixed), 4),
        "ms_per_community_month": round(1000 * float(slope), 4),
        "worst_relative_error": round(worst, 3),
    }


def chaoyang(reps_list: list[int], workers: int | None) -> dict:
    res = {}
    with tempfile.TemporaryDirectory(prefix="pss-chaoyang-") as tmp:
        for n in reps_list:
            out = Path(tmp) / f"out_{n}"
            r = cli_run(CHAOYANG, n, out, workers, sample_memory=True)
            res[str(n)] = {**r, "reps_per_s": round(n / max(r["wall_s"], 1e-9), 2)}
            shutil.rmtree(out, ignore_errors=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,43,200", help="communities per scenario, comma-separated")
    ap.add_argument("--model-reps", type=int, default=3, help="replications timed per size (model only)")
    ap.add_argument("--cli-reps", type=int, default=0, help="also time the documented run per size with R reps")
    ap.add_argument("--workers", type=int, default=None, help="workers of the runs (default: all cores)")
    ap.add_argument("--chaoyang-reps", default="", help="e.g. 250,1000: also time the Chaoyang run at these sizes")
    ap.add_argument("--skip-scale", action="store_true", help="only the Chaoyang run")
    a = ap.parse_args()
    result: dict = {"cpu_count": os.cpu_count(), "python": sys.version.split()[0]}
    if not a.skip_scale:
        result.update(scale([int(x) for x in a.sizes.split(",")], a.model_reps, a.cli_reps, a.workers))
    if a.chaoyang_reps:
        result["chaoyang"] = chaoyang([int(x) for x in a.chaoyang_reps.split(",")], a.workers)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
