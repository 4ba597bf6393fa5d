"""Replication cost of this tree against another checkout, measured in the same run (run by hand).

    git worktree add --detach /tmp/base 2097bab
    python benchmarks/bench_cost_vs.py /tmp/base --rounds 2

Alternates the two trees (``--rounds`` times each), each in a fresh process that imports that
tree's own ``sim`` package and times it with :func:`bench_replications.replication_cost_bare_events`
of THIS tree (300 paper_study replications, each beside a short bare SimPy loop, on the CPU clock),
so the figure is comparable across trees and robust to load. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
CHILD = """
import importlib.util, json, os, sys
sys.path.insert(0, os.getcwd())
import sim
from sim.scenario import load_scenario
from sim.model import simulate_replication  # bound to this tree before the benchmark module is loaded
spec = importlib.util.spec_from_file_location("bench", sys.argv[1])
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
cost = bench.replication_cost_bare_events(load_scenario("scenarios/paper_study.yaml"), reps=int(sys.argv[2]))
print(json.dumps({"sim": sim.__file__, **cost}))
"""


def measure(tree: Path, reps: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(HERE / "benchmarks" / "bench_replications.py"), str(reps)],
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("other", type=Path, help="the other checkout (e.g. a worktree of the baseline commit 2097bab)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--reps", type=int, default=300)
    args = ap.parse_args()
    rows: dict[str, list[int]] = {"this": [], "other": []}
    for _ in range(args.rounds):
        for name, tree in (("other", args.other.resolve()), ("this", HERE)):
            rows[name].append(measure(tree, args.reps)["replication_cost_bare_events"])
    ratio = sum(rows["this"]) / sum(rows["other"])
    print(json.dumps({"replication_cost_bare_events": rows, "this_over_other": round(ratio, 3)}))


if __name__ == "__main__":
    main()
