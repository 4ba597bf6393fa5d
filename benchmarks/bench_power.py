"""Benchmark of the rollout-design power (run by hand, not in CI); prints ONE JSON line.

    python benchmarks/bench_power.py                                  # the shipped district design, 1,000 trials
    python benchmarks/bench_power.py --design designs/stepped_wedge_incomplete.yaml --trials 200

Runs ``cli.py power DESIGN`` in-process (``sim.power.commands.run_design_command``: process data through the
runner, searches, simulated trials under the alternative and the null, report and figures) with ``--workers``
local processes and reports the wall time of the whole command, of the process data and of the trials, the
fits per second, and the load average of the machine before and after (the machine may be shared: a load
above the number of cores means the wall times are upper bounds; ``cpu_s`` / workers then estimates the wall
time on free cores). Target (a stepped-wedge design for
Chaoyang's 43 communities in 4-6 steps from a shipped design file): at most 600 s on 2 cores with 1,000
trials per point.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--design", default=str(REPO / "designs" / "stepped_wedge_district.yaml"))
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reps", type=int, default=None, help="override the design's replications for process data")
    args = ap.parse_args()

    import resource

    from sim.power import run as prun
    from sim.power.commands import PowerOptions, run_design_command
    from sim.power.schema import load_design

    def cpu() -> float:
        ru_self, ru_kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru_self.ru_utime + ru_self.ru_stime + ru_kids.ru_utime + ru_kids.ru_stime

    load_before = os.getloadavg()
    cpu0 = cpu()
    design = load_design(args.design)
    timings: dict[str, float] = {}
    orig_load, orig_eval = prun.load_process, prun.evaluate_design

    def timed_load(*a, **k):
        t = time.perf_counter()
        try:
            return orig_load(*a, **k)
        finally:
            timings["process_data_s"] = round(time.perf_counter() - t, 2)

    prun.load_process = timed_load
    opts = PowerOptions(None, None, args.reps, None, None, args.trials, None)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_design_command(
            Path(args.design), Path(tmp) / "out", opts, workers=args.workers, scheduler=None, resume=False, quiet=True
        )
        wall = time.perf_counter() - t0
        cpu_s = cpu() - cpu0  # this process and its (finished) worker processes
        files = sorted(p.name for p in (Path(tmp) / "out").iterdir())
    prun.load_process, prun.evaluate_design = orig_load, orig_eval
    n_out = len(design.outcomes)
    analyses = len(design.analyses or []) or 1
    fits = args.trials * n_out * analyses * (2 if design.null_trials else 1)
    trials_s = wall - timings.get("process_data_s", 0.0)
    print(
        json.dumps(
            {
                "design": Path(args.design).name,
                "clusters": design.clusters,
                "trials_per_point": args.trials,
                "workers": args.workers,
                "wall_s": round(wall, 1),
                **timings,
                "trials_and_report_s": round(trials_s, 1),
                "fits": fits,
                "fits_per_s": round(fits / trials_s, 1),
                "cpu_s": round(cpu_s, 1),
                "wall_estimate_on_free_cores_s": round(cpu_s / args.workers, 1),
                "target_s": 600,
                "met": wall <= 600,
                "load_avg_before": [round(x, 2) for x in load_before],
                "load_avg_after": [round(x, 2) for x in os.getloadavg()],
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "files": files,
            }
        )
    )


if __name__ == "__main__":
    main()
