"""Replication cost of this tree against another checkout, measured in the same run (run by hand).

    git worktree add --detach /tmp/base 2097bab
    python benchmarks/bench_cost_vs.py /tmp/base --rounds 2

Alternates the two trees (``--rounds`` times each), each in a fresh process that imports that
tree's own ``sim`` package and times it with :func:`bench_replications.replication_cost_bare_events`
of THIS tree (300 paper_study replications, each beside a short bare SimPy loop, on the CPU clock),
so the figure is comparable across trees and robust to load. This tree is measured from its Python
source (``SIM_NATIVE=0``, row ``this``) and, when ``python cli.py build-native`` has compiled it
(``sim/native.py``), compiled (row ``this_compiled``); the other tree as it imports. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
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
native = sys.modules.get("sim.native")  # imported by the model of a tree that has a compiled model
model = str(native.status()) if native is not None else "Python source (a tree without sim/native.py)"
print(json.dumps({"sim": sim.__file__, "model": model, **cost}))
"""


def measure(tree: Path, reps: int, native: str = "1") -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(HERE / "benchmarks" / "bench_replications.py"), str(reps)],
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "SIM_NATIVE": native},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def compiled_here() -> bool:
    out = subprocess.run(
        [sys.executable, "-c", "from sim import native; print(native.find_build()[0] is not None)"],
        cwd=HERE,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip() == "True"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("other", type=Path, help="the other checkout (e.g. a worktree of the baseline commit 2097bab)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--reps", type=int, default=300)
    args = ap.parse_args()
    runs = [("other", args.other.resolve(), "1"), ("this", HERE, "0")]
    if compiled_here():
        runs.append(("this_compiled", HERE, "1"))
    rows: dict[str, list[int]] = {name: [] for name, _, _ in runs}
    models: dict[str, str] = {}
    for _ in range(args.rounds):
        for name, tree, native in runs:
            m = measure(tree, args.reps, native)
            rows[name].append(m["replication_cost_bare_events"])
            models[name] = m["model"]
    ratios = {f"{name}_over_other": round(sum(rows[name]) / sum(rows["other"]), 3) for name in rows if name != "other"}
    print(json.dumps({"replication_cost_bare_events": rows, **ratios, "model": models}))


if __name__ == "__main__":
    main()
