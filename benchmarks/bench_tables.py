"""Cost of writing a chunk's CSV tables (``sim.datasets.write_table``), this tree against another checkout
(run by hand). Prints ONE JSON line.

    git worktree add --detach /tmp/base ac601f2
    python benchmarks/bench_tables.py /tmp/base --rounds 3

Each round simulates nothing new: one chunk of ``--reps`` paper_study replications (125: a chunk of
``run --reps 1000`` on 2 cores) is simulated once with this tree and turned into its ten tables
(``to_frames``); then each tree, in a fresh process importing its own ``sim`` package, writes those
tables as CSV into memory, best of 5 on the CPU clock. Both trees write the same bytes (checked).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
CHILD = """
import hashlib, io, json, os, pickle, sys, time
sys.path.insert(0, os.getcwd())
import sim
from sim.datasets import write_table
frames = pickle.load(open(sys.argv[1], "rb"))
best, digest = float("inf"), None
for _ in range(5):
    t = time.process_time()
    texts = []
    for df in frames.values():
        buf = io.StringIO()
        write_table(df, buf)
        texts.append(buf.getvalue())
    best = min(best, time.process_time() - t)
    digest = hashlib.sha256("".join(texts).encode()).hexdigest()
print(json.dumps({"sim": sim.__file__, "cpu_s": round(best, 4), "sha256": digest}))
"""


def frames_file(reps: int, folder: Path) -> Path:
    sys.path.insert(0, str(HERE))
    from sim.datasets import to_frames
    from sim.model import simulate_replication
    from sim.scenario import load_scenario

    sc = load_scenario(HERE / "scenarios" / "paper_study.yaml")
    path = folder / "frames.pkl"
    path.write_bytes(pickle.dumps(to_frames([simulate_replication(sc, r) for r in range(reps)])))
    return path


def measure(tree: Path, frames: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(frames)], cwd=tree, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("other", type=Path, help="the other checkout (e.g. a worktree of ac601f2)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=125)
    args = ap.parse_args()
    rows: dict[str, list[float]] = {"this": [], "other": []}
    digests = set()
    with tempfile.TemporaryDirectory(prefix="bench-tables-") as tmp:
        frames = frames_file(args.reps, Path(tmp))
        for _ in range(args.rounds):
            for name, tree in (("other", args.other.resolve()), ("this", HERE)):
                got = measure(tree, frames)
                rows[name].append(got["cpu_s"])
                digests.add(got["sha256"])
    best = {k: min(v) for k, v in rows.items()}
    print(
        json.dumps(
            {
                "reps": args.reps,
                "cpu_s": rows,
                "ms_per_replication": {k: round(1000 * v / args.reps, 3) for k, v in best.items()},
                "this_over_other": round(best["this"] / best["other"], 3),
                "same_bytes": len(digests) == 1,
                "sha256": hashlib.sha256("".join(sorted(digests)).encode()).hexdigest()[:16],
            }
        )
    )


if __name__ == "__main__":
    main()
