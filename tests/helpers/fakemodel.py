"""A tiny stand-in for the model, used to test the runner on its own (fast, and independent of the
model's logic). It honours the model contract: ``simulate(scenario, replication, seed, parameters)``
is a pure function drawing from ``SeedSequence(seed, spawn_key=(replication, stream))``; results
carry ``replication``, ``events`` and ``columns``; ``to_frames`` orders rows by replication;
``write_table`` writes a byte-stable CSV. Its own behaviour is checked in tests/test_runner.py.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.runner import ModelAPI
from sim.scenario import scenario_from_dict

TABLES = ("providers", "consumers", "caregivers", "sessions", "communities")

# Test switches (module globals are per process: set FAKE_SLEEP / FAKE_FAIL_AT in the environment
# to reach worker processes).
FAIL_AT: int | None = None


@dataclass
class FakeResult:
    replication: int
    events: int
    columns: dict[str, dict[str, list]]


def fake_simulate(scenario, replication, seed=None, parameters=None):
    seed = scenario.seed if seed is None else seed
    params = parameters if parameters is not None else scenario.parameters
    fail_at = (
        FAIL_AT
        if FAIL_AT is not None
        else (int(os.environ["FAKE_FAIL_AT"]) if os.environ.get("FAKE_FAIL_AT") else None)
    )
    if fail_at is not None and replication == fail_at:
        raise RuntimeError(f"injected failure at replication {replication}")
    sleep = float(os.environ.get("FAKE_SLEEP", "0") or 0)
    if sleep:
        time.sleep(sleep)
    cols: dict[str, dict[str, list]] = {t: defaultdict(list) for t in TABLES}
    events = 0
    for ci, c in enumerate(scenario.expanded_communities()):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(replication, 7, ci)))
        for role, n in (("provider", c.providers), ("consumer", c.consumers)):
            t = cols[role + "s"]
            retained = rng.random(n) < (0.9 if role == "provider" else 0.75)
            sat = rng.random(n) < 0.85
            for i in range(n):
                pid = f"{c.name}/{role[0].upper()}{i + 1:02d}"
                t["replication"].append(replication)
                t["community"].append(c.name)
                t["wave"].append(c.wave)
                t["person_id"].append(pid)
                t["age"].append(round(float(rng.normal(40, 9)), 1))
                t["retained"].append(int(retained[i]))
                t["evaluated"].append(int(retained[i]))
                t["sat_overall"].append(int(sat[i]) if retained[i] else None)
                t["willing_continue"].append(int(rng.random() < 0.8) if retained[i] else None)
                g = cols["caregivers"]
                g["replication"].append(replication)
                g["caregiver_id"].append(pid + "/G")
                g["community"].append(c.name)
                g["participated"].append(int(rng.random() < 0.5))
        k = int(rng.poisson(25))
        s = cols["sessions"]
        for j in range(k):
            s["replication"].append(replication)
            s["community"].append(c.name)
            s["wave"].append(c.wave)
            s["session_id"].append(f"{c.name}#{j + 1:04d}")
            s["day"].append(float(rng.uniform(0, 500)))
            s["status"].append("held" if rng.random() < 0.85 else "cancelled")
            s["before_follow_up"].append(1)
            s["duration_min"].append(float(rng.triangular(40, 60, 120)))
        m = cols["communities"]
        m["replication"].append(replication)
        m["community"].append(c.name)
        m["training_days"].append(params.training_days)
        m["community_effect"].append(float(rng.normal(0, 0.3)))
        events += int(rng.integers(1000, 2000))
    return FakeResult(replication, events, {t: dict(v) for t, v in cols.items()})


def fake_to_frames(results):
    out = {}
    for t in TABLES:
        parts = [pd.DataFrame(r.columns[t]) for r in results]
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        if len(df):
            df = df.sort_values("replication", kind="stable").reset_index(drop=True)
        out[t] = df
    return out


def fake_write_table(df, path):
    df.to_csv(path, index=False, lineterminator="\n", float_format="%.10g")


FAKE_MODEL = ModelAPI(fake_simulate, fake_to_frames, fake_write_table, TABLES)

SMALL_SCENARIO = {
    "name": "small",
    "seed": 123,
    "replications": 12,
    "waves": {"initial": {"follow_up_months": 6}, "later": {"follow_up_months": 4, "experienced": True}},
    "communities": [
        {"name": "A", "wave": "initial", "scheduling": "unstructured", "providers": 3, "consumers": 9},
        {"name": "B", "wave": "later", "start_month": 2, "scheduling": "structured", "providers": 2, "consumers": 6},
    ],
}


def small_scenario(**changes):
    return scenario_from_dict({**SMALL_SCENARIO, **changes})


def write_small_yaml(path: Path, **changes) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({**SMALL_SCENARIO, **changes}, sort_keys=False))
    return path


def file_hashes(d: Path) -> dict[str, str]:
    """SHA-256 of every file in ``d`` except manifest.json (its wall time differs between runs)."""
    return {
        str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(d).rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }
