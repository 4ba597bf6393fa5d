"""Benchmark of the runner and the model (run by hand, not in CI); prints ONE JSON line.

    python benchmarks/bench_replications.py                      # everything (the 100,000 run is long)
    python benchmarks/bench_replications.py --memory-sizes 1000,10000 --reps 1000

Measures, for ``scenarios/paper_study.yaml``:
- ``bare_simpy_events_per_s``: a bare SimPy loop of plain timeouts, in this process, just before;
- ``model_events_per_s``: SimPy events per second of the model (in-process, no datasets), and
  ``model_to_bare_ratio`` (events-based: it falls when the model needs fewer events for the same work,
  so compare speed by ``replication_cost_bare_events``);
- ``replication_cost_bare_events``: the time of one replication on one core (model only, no datasets)
  times the bare SimPy event rate measured in the same run, i.e. how many bare SimPy events' worth of
  time one replication costs. Machine-independent: measured on the process's CPU clock in fine
  alternation of the bare loop and the model (target <= 6,500). ``--model-only`` prints just these figures.
- ``reps_per_s_1_worker`` / ``reps_per_s_all_cores``: ``--reps`` replications with the datasets
  written (runner + CSVs, no analysis unless ``--analysis``), and ``parallel_speedup`` (target >= 1.8
  on 2 cores; 1,000 replications in <= 10 s wall on 2 cores);
- ``peak_rss``: peak memory (PSS, resident with shared pages split) of the whole process tree (runner + workers)
  while running N replications with datasets written, for each N in ``--memory-sizes`` (target: 100,000 within
  10,000 + 20%), each in a fresh process.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def bare_simpy_events_per_s(n_events: int = 600_000, n_procs: int = 50, repeats: int = 3) -> float:
    """Events/s of ``n_procs`` processes each looping on ``env.timeout(1)``: the ceiling for SimPy here."""
    import simpy

    def proc(env: simpy.Environment):
        while True:
            yield env.timeout(1)

    best = 0.0
    for _ in range(repeats):
        env = simpy.Environment()
        for _ in range(n_procs):
            env.process(proc(env))
        until = n_events // n_procs
        t = time.perf_counter()
        env.run(until=until)
        dt = time.perf_counter() - t
        events = int(next(env._eid))  # events scheduled (SimPy numbers each one)
        best = max(best, events / dt)
    return best


def model_events_per_s(scenario, reps: int = 100) -> tuple[float, float, float]:
    """(events/s, events per replication, seconds per replication) of the model alone, in-process."""
    from sim.model import simulate_replication

    simulate_replication(scenario, 0)  # warm up
    t = time.perf_counter()
    ev = sum(simulate_replication(scenario, r).events for r in range(reps))
    dt = time.perf_counter() - t
    return ev / dt, ev / reps, dt / reps


def _bare_chunk(n_events: int = 10_000, n_procs: int = 50) -> tuple[int, float]:
    """(events, CPU seconds) of one short bare SimPy loop, as in :func:`bare_simpy_events_per_s`."""
    import simpy

    def proc(env: simpy.Environment):
        while True:
            yield env.timeout(1)

    env = simpy.Environment()
    for _ in range(n_procs):
        env.process(proc(env))
    t = time.process_time()
    env.run(until=n_events // n_procs)
    dt = time.process_time() - t
    return int(next(env._eid)), dt


def replication_cost_bare_events(scenario, reps: int = 300) -> dict:
    """CPU seconds per replication x bare SimPy events per CPU second.

    The two are measured in fine alternation (a ~10,000-event bare loop, then one replication, ``reps``
    times) and on the process's CPU clock, so load from other processes on a shared machine affects
    both sides alike and time spent waiting for a core counts on neither.
    """
    from sim.model import simulate_replication

    simulate_replication(scenario, 0)  # warm up (imports, cached baseline solutions)
    _bare_chunk()
    bare_events, bare_s, model_s = 0, 0.0, 0.0
    for r in range(reps):
        ev, dt = _bare_chunk()
        bare_events += ev
        bare_s += dt
        t = time.process_time()
        simulate_replication(scenario, r)
        gc.collect(0)  # garbage the replication left for the young generation is its cost, not the bare loop's
        model_s += time.process_time() - t
    rate = bare_events / bare_s
    per_rep = model_s / reps
    return {
        "replication_cost_bare_events": round(per_rep * rate),
        "cost_bare_simpy_events_per_cpu_s": round(rate),
        "cost_model_cpu_ms_per_replication": round(1000 * per_rep, 2),
        "cost_reps": reps,
    }


def timed_run(scenario, reps: int, workers: int, analysis: bool) -> float:
    from sim.runner import run_to_directory

    post = None
    if analysis:
        from sim.analysis import analyze_chunk as post
    with tempfile.TemporaryDirectory(prefix="pss-bench-") as tmp:
        t = time.perf_counter()
        run_to_directory(scenario, Path(tmp) / "out", replications=reps, workers=workers, post=post)
        return time.perf_counter() - t


def _tree_rss(pid: int) -> int:
    """Memory of ``pid`` and all its descendants: the sum of proportional set sizes (PSS: shared pages
    split between the processes sharing them, so forked workers are not counted twice); RSS without
    psutil."""
    try:
        import psutil

        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
        total = 0
        for q in procs:
            with contextlib.suppress(psutil.Error):
                total += q.memory_full_info().pss
        return total
    except ImportError:  # /proc fallback
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        page = os.sysconf("SC_PAGE_SIZE")
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as fh:
                    parts = fh.read().rsplit(")", 1)[1].split()
                children.setdefault(int(parts[1]), []).append(int(d))
                rss[int(d)] = int(parts[21]) * page
            except (OSError, IndexError, ValueError):
                pass
        total, stack = 0, [pid]
        while stack:
            q = stack.pop()
            total += rss.get(q, 0)
            stack.extend(children.get(q, []))
        return total


def peak_rss_mb(reps: int, workers: int | None, out_root: str | None) -> dict:
    """Peak RSS of a fresh process tree running ``reps`` replications with datasets written."""
    out_root = out_root or tempfile.gettempdir()
    out = Path(tempfile.mkdtemp(prefix="pss-mem-", dir=out_root)) / "out"
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from sim.scenario import load_scenario\n"
        "from sim.runner import run_to_directory\n"
        f"run_to_directory(load_scenario({str(REPO / 'scenarios' / 'paper_study.yaml')!r}), {str(out)!r}, "
        f"replications={reps}, workers={workers!r})\n"
    )
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code])
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    rc = proc.wait()
    stop.set()
    th.join()
    wall = time.perf_counter() - t
    size = sum(p.stat().st_size for p in out.glob("*.csv")) if out.exists() else 0
    shutil.rmtree(out.parent, ignore_errors=True)
    return {
        "reps": reps,
        "peak_rss_mb": round(peak / 2**20, 1),
        "wall_s": round(wall, 1),
        "rc": rc,
        "csv_mb": round(size / 2**20, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000, help="replications for the throughput runs")
    ap.add_argument(
        "--memory-sizes", default="10000,100000", help="comma-separated replication counts for peak RSS ('' to skip)"
    )
    ap.add_argument(
        "--memory-out", default=None, help="folder for the memory runs' outputs (100,000 replications ~ 9 GB of CSV)"
    )
    ap.add_argument("--workers", type=int, default=None, help="'all cores' worker count (default: all cores)")
    ap.add_argument("--analysis", action="store_true", help="also run the per-chunk analysis in the throughput runs")
    ap.add_argument(
        "--model-only", action="store_true", help="only the bare SimPy rate, the model rate and the replication cost"
    )
    args = ap.parse_args()

    from sim.runner import _cpu_count
    from sim.scenario import load_scenario

    scen = load_scenario(REPO / "scenarios" / "paper_study.yaml")
    cores = args.workers or _cpu_count()
    cost = replication_cost_bare_events(scen)
    bare = bare_simpy_events_per_s()
    model_eps, ev_per_rep, s_per_rep = model_events_per_s(scen)
    model = {
        "scenario": "paper_study",
        "python": platform.python_version(),
        **cost,
        "bare_simpy_events_per_s": round(bare),
        "model_events_per_s": round(model_eps),
        "model_to_bare_ratio": round(model_eps / bare, 3),
        "events_per_replication": round(ev_per_rep, 1),
        "model_ms_per_replication": round(1000 * s_per_rep, 2),
    }
    if args.model_only:
        print(json.dumps(model))
        return
    t1 = timed_run(scen, args.reps, 1, args.analysis)
    tn = timed_run(scen, args.reps, cores, args.analysis)
    mem = [peak_rss_mb(int(n), cores, args.memory_out) for n in args.memory_sizes.split(",") if n.strip()]
    mem_ratio = None
    if len(mem) >= 2 and mem[0]["peak_rss_mb"]:
        mem_ratio = round(mem[-1]["peak_rss_mb"] / mem[0]["peak_rss_mb"], 3)
    out = {
        **model,
        "cores": cores,
        "reps": args.reps,
        "analysis": args.analysis,
        "wall_s_1_worker": round(t1, 2),
        "wall_s_all_cores": round(tn, 2),
        "reps_per_s_1_worker": round(args.reps / t1, 2),
        "reps_per_s_all_cores": round(args.reps / tn, 2),
        "parallel_speedup": round(t1 / tn, 3),
        "peak_rss": mem,
        "peak_rss_ratio_last_to_first": mem_ratio,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
