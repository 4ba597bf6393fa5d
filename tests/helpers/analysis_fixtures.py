"""Small synthetic evaluation datasets in the format of docs/data_dictionary.md, for the analysis tests.

``random_frames`` draws plausible data; ``paper_frames`` plants the paper's own counts (retention
7/7 vs 5/6 and 26/32 vs 16/22; work skill 10/12 vs 9/42; consumer punctuality and richness answers
consistent with Table 4 and the printed t tests) so the whole pipeline can be checked against
the printed statistics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim import instruments as ins

PROVIDER_ITEMS_BIN = ("sat_overall", "qualified", "stressful", "willing_continue")
PROVIDER_LIKERT = (
    "sat_time",
    "sat_content",
    "sat_environment",
    "sat_rel_consumers",
    "sat_rel_providers",
    "sat_rel_doctors",
)
CONSUMER_LIKERT = ("sat_competence", "sat_manners", "sat_stability", "sat_punctuality", "sat_richness")
BENEFITS = tuple(it.column for it in ins.PROVIDER_BENEFITS)
STRESS = tuple(it.column for it in ins.PROVIDER_STRESS_REASONS)
CG_BIN = tuple(it.column for it in ins.CAREGIVER_ATTITUDE + ins.CAREGIVER_MEMBER_BENEFITS + ins.CAREGIVER_SELF_BENEFITS)

# Answers (counts of 1..5) consistent with Table 4 (n = 41 answered) and the printed Welch t tests:
# 25 initial (one evaluated consumer left the item blank) and 16 later.
PUNCTUALITY = {"initial": (0, 0, 4, 21, 0), "later": (0, 0, 0, 11, 5)}
RICHNESS = {"initial": (0, 2, 16, 2, 5), "later": (0, 0, 2, 11, 3)}


def _persons(role: str, rep: int, wave: str, community: str, n: int, rng: np.random.Generator) -> dict[str, list]:
    tag = "P" if role == "provider" else "C"
    d: dict[str, list] = {
        "replication": [rep] * n,
        "community": [community] * n,
        "wave": [wave] * n,
        "scheduling": ["unstructured" if wave == "initial" else "structured"] * n,
        "person_id": [f"{community}/{tag}{i + 1:02d}" for i in range(n)],
        "role": [role] * n,
        "age": list(np.round(rng.normal(40, 9, n), 1)),
        "onset_age": list(np.round(rng.normal(23, 7, n), 1)),
        "recruited_day": [0.0 if wave == "initial" else 761.0] * n,
    }
    for var, levels in ins.BASELINE_CATEGORICAL.items():
        d[var] = list(rng.choice(levels, n))
    return d


def _answer(df: pd.DataFrame, items, gen) -> None:
    for c in items:
        v = pd.array([gen(c) for _ in range(len(df))], dtype="Int64")
        df[c] = v
        df.loc[df["evaluated"] == 0, c] = pd.NA


def random_frames(n_reps: int = 3, seed: int = 1, waves=("initial", "later")) -> dict[str, pd.DataFrame]:
    """Random data for ``n_reps`` replications: 2 communities per wave, 3-4 providers and 10-16 consumers."""
    rng = np.random.default_rng(seed)
    prov, cons, cgs = [], [], []
    for r in range(n_reps):
        for w in waves:
            for k in range(2):
                com = f"{w[:3].title()}{k}"
                p = pd.DataFrame(_persons("provider", r, w, com, int(rng.integers(3, 5)), rng))
                c = pd.DataFrame(_persons("consumer", r, w, com, int(rng.integers(10, 17)), rng))
                for df in (p, c):
                    df["retained"] = (rng.random(len(df)) < 0.85).astype(int)
                    df["evaluated"] = df["retained"]
                prov.append(p)
                cons.append(c)
    P = pd.concat(prov, ignore_index=True)
    C = pd.concat(cons, ignore_index=True)
    _answer(P, PROVIDER_ITEMS_BIN + BENEFITS + STRESS, lambda c: int(rng.random() < 0.6))
    _answer(P, PROVIDER_LIKERT, lambda c: int(rng.integers(3, 6)))
    _answer(P, ("confidence",), lambda c: int(rng.integers(3, 11)))
    _answer(C, ("sat_overall", "willing_continue", *BENEFITS), lambda c: int(rng.random() < 0.4))
    _answer(C, CONSUMER_LIKERT, lambda c: int(rng.integers(2, 6)))
    # caregivers: one per evaluated person, about 60% participate
    ev = pd.concat([P, C], ignore_index=True)
    for _, row in ev.iterrows():
        part = int(row["evaluated"] == 1 and rng.random() < 0.6)
        g = {
            "replication": row["replication"],
            "caregiver_id": row["person_id"] + "/G",
            "community": row["community"],
            "wave": row["wave"],
            "member_id": row["person_id"],
            "member_role": row["role"],
            "gender": rng.choice(["female", "male"]),
            "age": float(np.round(rng.normal(68, 6), 1)),
            "participated": part,
        }
        for c in CG_BIN:
            applies = not (c == "member_qualified" and row["role"] != "provider") and not (
                c == "expect_member_provider" and row["role"] != "consumer"
            )
            g[c] = int(rng.random() < 0.5) if (part and applies) else pd.NA
        cgs.append(g)
    G = pd.DataFrame(cgs)
    for c in CG_BIN:
        G[c] = G[c].astype("Int64")
    S = _sessions(n_reps, waves, rng)
    return {"providers": P, "consumers": C, "caregivers": G, "sessions": S}


def _sessions(n_reps: int, waves, rng) -> pd.DataFrame:
    rows = []
    for r in range(n_reps):
        for w in waves:
            for i in range(20):
                rows.append(
                    {
                        "replication": r,
                        "community": f"{w[:3].title()}0",
                        "wave": w,
                        "session_id": f"{w}#{i:04d}",
                        "status": "held" if i % 10 else "cancelled",
                        "before_follow_up": int(i < 18),
                        "format": "group" if i % 7 else "individual",
                        "content": ins.CONTENT_CATEGORIES[i % 8],
                    }
                )
    return pd.DataFrame(rows)


def paper_frames(rep: int = 0) -> dict[str, pd.DataFrame]:
    """One replication with the paper's counts planted (see module docstring)."""
    rng = np.random.default_rng(2019)
    p = pd.concat(
        [
            pd.DataFrame(_persons("provider", rep, "initial", "Tuanjiehu", 7, rng)),
            pd.DataFrame(_persons("provider", rep, "later", "Xiangheyuan", 6, rng)),
        ],
        ignore_index=True,
    )
    c = pd.concat(
        [
            pd.DataFrame(_persons("consumer", rep, "initial", "Tuanjiehu", 32, rng)),
            pd.DataFrame(_persons("consumer", rep, "later", "Xiangheyuan", 22, rng)),
        ],
        ignore_index=True,
    )
    p["evaluated"] = [1] * 7 + [1] * 5 + [0]
    c["evaluated"] = [1] * 26 + [0] * 6 + [1] * 16 + [0] * 6
    p["retained"], c["retained"] = p["evaluated"], c["evaluated"]
    for df in (p, c):
        for col in (*BENEFITS, "sat_overall", "willing_continue"):
            df[col] = pd.array([1] * len(df), dtype="Int64")
    # work skill: 10 of 12 evaluated providers, 9 of 42 evaluated consumers
    p["ben_work_skill"] = pd.array([1] * 10 + [0] * 2 + [pd.NA], dtype="Int64")
    cw = np.zeros(len(c), dtype=object)
    ev_idx = np.flatnonzero(c["evaluated"].to_numpy() == 1)
    cw[:] = pd.NA
    cw[ev_idx] = 0
    cw[ev_idx[:9]] = 1
    c["ben_work_skill"] = pd.array(list(cw), dtype="Int64")
    for col in PROVIDER_ITEMS_BIN + STRESS:
        p[col] = pd.array([1] * 12 + [pd.NA], dtype="Int64")
    for col in (*PROVIDER_LIKERT, "confidence"):
        p[col] = pd.array([4, 5] * 6 + [pd.NA], dtype="Int64")
    for col in CONSUMER_LIKERT:
        c[col] = pd.array([pd.NA] * len(c), dtype="Int64")
    for col, spec in (("sat_punctuality", PUNCTUALITY), ("sat_richness", RICHNESS)):
        vals = []
        for w in ("initial", "later"):
            ans = [v for v, k in zip(range(1, 6), spec[w], strict=False) for _ in range(k)]
            n_ev = 26 if w == "initial" else 16
            vals += ans + [pd.NA] * (n_ev - len(ans))
        c.loc[c["evaluated"] == 1, col] = pd.array(vals, dtype="Int64")
    for col in ("sat_competence", "sat_manners", "sat_stability"):
        c.loc[c["evaluated"] == 1, col] = pd.array([3, 4, 5] * 14, dtype="Int64")
    for df in (p, c):
        for col in df.columns:
            if col in BENEFITS + PROVIDER_ITEMS_BIN + STRESS + CONSUMER_LIKERT + PROVIDER_LIKERT + ("confidence",):
                df.loc[df["evaluated"] == 0, col] = pd.NA
    g = pd.DataFrame(
        {
            "replication": [rep],
            "caregiver_id": ["Tuanjiehu/P01/G"],
            "community": ["Tuanjiehu"],
            "wave": ["initial"],
            "member_role": ["provider"],
            "gender": ["female"],
            "age": [68.0],
            "participated": [1],
        }
    )
    for col in CG_BIN:
        g[col] = pd.array([1 if col != "expect_member_provider" else pd.NA], dtype="Int64")
    return {"providers": p, "consumers": c, "caregivers": g}
