"""Design inputs from the simulation for a two-arm cluster-randomised trial (``DesignInputs``).


The trial a planner has in mind: communities are randomised to peer support or usual care, ``k``
per arm; consumers are recruited in each community, some drop out or are not evaluated, and an
interview item (``ben_mood``, ``sat_overall``, a 1-5 satisfaction score, ...) is compared between
arms among those evaluated. The simulation supplies what such a plan needs and what is hardest to
guess: how many consumers a community recruits and how much that varies (``m``, CV), how many
complete follow-up (``completion``), the peer-support arm's rate or mean, and how alike consumers
of one community answer (the intra-cluster correlation, ICC). The usual-care rate is the user's.

Three steps, a client of :mod:`sim.runner` (no model code here):

1. :func:`design_inputs` runs replications of a scenario; inside the workers
   (:func:`design_chunk`) each replication is reduced to per-community counts and sums per
   outcome, and the replication's ICC is computed there (:func:`anova_icc`); the parent sorts by
   replication and reduces (:func:`reduce_design`).
2. :func:`cluster_trial_power` / :func:`clusters_needed`: analytic power, two ways (see there).
3. :func:`simulated_power`: trials drawn from the simulated communities, analysed with the
   cluster-level t-test, power with its Monte Carlo SE.

**ICC estimator.** Among the evaluated consumers who answered the item, by community, within one
replication (one simulated study): the one-way ANOVA estimator for unequal cluster sizes
(Donner 1986; Ridout et al. 1999, "ANOVA estimator"),

    MSB = sum_j n_j (ybar_j - ybar)^2 / (k - 1),   MSW = sum_j sum_i (y_ij - ybar_j)^2 / (N - k),
    n0  = (N - sum_j n_j^2 / N) / (k - 1),          ICC = (MSB - MSW) / (MSB + (n0 - 1) MSW),

applied to 0/1 answers for binary items (the ICC on the proportion scale, the one the design
effect needs) and to the 1-5 scores for Likert items. It is computed per replication and averaged
over the replications where it is computable; the raw average (which may be slightly negative: the
estimator is unbiased-ish, not truncated per replication) is reported as ``icc_raw`` with its
Monte Carlo SE, and ``icc = max(icc_raw, 0)`` feeds the power calculations. Not computable, and
left out of the average with the reason counted in ``note``: fewer than two communities with
answers, no within-community degrees of freedom (every community has one answer), or a constant
answer across the replication (MSB + (n0 - 1) MSW = 0). If no replication is computable the ICC
is NaN *and* ``note`` says why; the power functions refuse a NaN ICC.

Between-community variation in the model comes from the community effect (``community_effect_sd``
times ``answer_community_loading`` on the answer logit) and, for benefit and some satisfaction
items, from systematic differences between a scenario's communities (wave experience, scheduling,
setting, sessions delivered). All of it counts towards the ICC here, as it would in a trial
recruiting such communities.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..runner import map_replications
from .common import OUTCOMES, PowerError


def anova_icc(n: np.ndarray, s: np.ndarray, ss: np.ndarray) -> tuple[float, str]:
    """One-way ANOVA ICC from per-cluster counts ``n``, sums ``s`` and sums of squares ``ss``.

    Clusters with ``n == 0`` are ignored. Returns ``(icc, "")`` or ``(nan, reason)`` when not
    computable (see the module docstring); never raises on degenerate data.
    """
    n, s, ss = (np.asarray(x, dtype=float) for x in (n, s, ss))
    keep = n > 0
    n, s, ss = n[keep], s[keep], ss[keep]
    k = len(n)
    if k < 2:
        return np.nan, "fewer than two communities with answers"
    N = n.sum()
    if N - k < 1:
        return np.nan, "no within-community degrees of freedom"
    means = s / n
    grand = s.sum() / N
    ssb = float(np.sum(n * (means - grand) ** 2))
    ssw = float(max(np.sum(ss - s**2 / n), 0.0))
    msb, msw = ssb / (k - 1), ssw / (N - k)
    n0 = (N - np.sum(n**2) / N) / (k - 1)
    denom = msb + (n0 - 1) * msw
    scale = max(float(np.mean(ss / n)), 1.0)  # answers are O(1)-O(25): a relative zero test
    if not denom > 1e-12 * scale:
        return np.nan, "constant answer"
    return float((msb - msw) / denom), ""


def _numeric(df: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def design_chunk(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per replication x outcome x community: consumers recruited, evaluated, answered (evaluated
    with a non-missing answer), sum and sum of squares of the answers; plus the replication's
    ICC for the outcome (``icc``, ``icc_note``, repeated on its communities' rows). Runs in the
    workers on one chunk's frames; only ``consumers`` is read (``replication``, ``community``,
    ``evaluated`` and the outcome columns present)."""
    cons = frames["consumers"]
    cols = [
        "replication",
        "outcome",
        "community",
        "recruited",
        "evaluated",
        "answered",
        "total",
        "total_sq",
        "icc",
        "icc_note",
    ]
    outcomes = [o for o in OUTCOMES if o in cons.columns]
    if cons.empty or not outcomes:
        return pd.DataFrame(columns=cols)
    rep = _numeric(cons, "replication").astype(np.int64) if "replication" in cons else np.zeros(len(cons), np.int64)
    comm = cons["community"].astype(str).to_numpy()
    ev = _numeric(cons, "evaluated") == 1
    keys = pd.MultiIndex.from_arrays([rep, comm], names=["replication", "community"])
    codes, uniq = pd.factorize(keys, sort=True)
    g = len(uniq)
    recruited = np.bincount(codes, minlength=g).astype(float)
    evaluated = np.bincount(codes, weights=ev.astype(float), minlength=g)
    g_rep = uniq.get_level_values(0).to_numpy()
    g_comm = uniq.get_level_values(1).to_numpy()
    parts = []
    for o in outcomes:
        y = _numeric(cons, o)
        ok = ev & ~np.isnan(y)
        yz = np.where(ok, y, 0.0)
        n = np.bincount(codes, weights=ok.astype(float), minlength=g)
        s = np.bincount(codes, weights=yz, minlength=g)
        ss = np.bincount(codes, weights=yz * yz, minlength=g)
        icc = np.full(g, np.nan)
        note = np.full(g, "", dtype=object)
        bounds = np.flatnonzero(np.r_[True, g_rep[1:] != g_rep[:-1], True])
        for a, b in itertools.pairwise(bounds):  # one replication's communities (sorted keys)
            icc[a:b], note[a:b] = anova_icc(n[a:b], s[a:b], ss[a:b])
        parts.append(
            pd.DataFrame(
                {
                    "replication": g_rep,
                    "outcome": o,
                    "community": g_comm,
                    "recruited": recruited,
                    "evaluated": evaluated,
                    "answered": n,
                    "total": s,
                    "total_sq": ss,
                    "icc": icc,
                    "icc_note": note,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)[cols]


@dataclass
class DesignInputs:
    """The reduced design inputs (``table``: one row per outcome) and the per-community rows the
    simulated-power check resamples (``communities``: as returned by :func:`design_chunk`,
    sorted by outcome, replication, community)."""

    table: pd.DataFrame
    communities: pd.DataFrame
    scenario: str = ""
    seed: int | None = None

    def row(self, outcome: str) -> pd.Series:
        if outcome not in set(self.table["outcome"]):
            raise PowerError(f"unknown outcome {outcome!r}; expected one of: {', '.join(self.table['outcome'])}")
        return self.table.set_index("outcome").loc[outcome]


def _cv(x: np.ndarray) -> float:
    m = float(np.mean(x)) if len(x) else np.nan
    return float(np.std(x) / m) if m > 0 else np.nan


def reduce_design(rows: pd.DataFrame, scenario: str = "", seed: int | None = None) -> DesignInputs:
    """Reduce :func:`design_chunk` rows (any number of chunks, any order) to :class:`DesignInputs`.

    Rows are sorted by (outcome, replication, community) first, so the float sums do not depend
    on chunking, worker count or order of completion. Per outcome:

    - ``replications``; ``communities``: communities per replication (mean);
    - ``m``: consumers recruited per community (mean over community-replications), ``cv_recruited``
      its coefficient of variation (SD/mean over community-replications, ddof 0);
    - ``completion``: evaluated / recruited (pooled); ``answered_share``: answered / evaluated;
    - ``evaluated_per_community``, ``analysed_per_community`` (answered) and ``cv``: the CV of the
      analysed community sizes (the one the design effect needs, attrition included);
    - ``mean`` (pooled over answers) and ``sd`` (pooled within-replication SD, ddof 1);
    - ``icc_raw`` (mean of the computable per-replication ICCs), ``icc_mc_se``, ``icc`` (= max(raw, 0)),
      ``icc_replications`` (how many were computable), ``note`` (why the others were not).
    """
    rows = rows.sort_values(["outcome", "replication", "community"], kind="stable").reset_index(drop=True)
    out = []
    for o, (label, kind) in OUTCOMES.items():
        d = rows[rows["outcome"] == o]
        if not d.empty:
            out.append({"outcome": o, "label": label, "kind": kind, **_outcome_inputs(d)})
    comm = rows.drop(columns=["icc", "icc_note"])
    return DesignInputs(pd.DataFrame(out), comm, scenario, seed)


def _outcome_inputs(d: pd.DataFrame) -> dict[str, Any]:
    """One outcome's row of :func:`reduce_design` (``d``: its sorted rows)."""
    rec, ev, n = (d[c].to_numpy(dtype=float) for c in ("recruited", "evaluated", "answered"))
    per_rep = d.groupby("replication", sort=True).agg(
        icc=("icc", "first"),
        note=("icc_note", "first"),
        n=("answered", "sum"),
        s=("total", "sum"),
        ss=("total_sq", "sum"),
        k=("community", "size"),
    )
    icc = _icc_summary(per_rep)
    N = n.sum()
    note = icc.pop("note")
    if not N > 0:
        note = "; ".join(x for x in (note, "no answers") if x)
    return {
        "replications": len(per_rep),
        "communities": float(per_rep["k"].mean()),
        "m": float(rec.mean()),
        "cv_recruited": _cv(rec),
        "completion": float(ev.sum() / rec.sum()) if rec.sum() > 0 else np.nan,
        "answered_share": float(N / ev.sum()) if ev.sum() > 0 else np.nan,
        "evaluated_per_community": float(ev.mean()),
        "analysed_per_community": float(n.mean()),
        "cv": _cv(n),
        "mean": float(d["total"].to_numpy(dtype=float).sum() / N) if N > 0 else np.nan,
        "sd": _pooled_within_sd(per_rep),
        **icc,
        "note": note,
    }


def _icc_summary(per_rep: pd.DataFrame) -> dict[str, Any]:
    """icc (= max(raw, 0)), icc_raw (mean of the computable per-replication ICCs), icc_mc_se,
    icc_replications and a note on the replications where it was not computable."""
    R = len(per_rep)
    icc_r = per_rep["icc"].to_numpy(dtype=float)
    ok = np.isfinite(icc_r)
    notes = per_rep.loc[~ok, "note"].value_counts().sort_index()
    note = "; ".join(f"ICC not computable in {c} of {R} replications ({why})" for why, c in notes.items())
    icc_raw = float(icc_r[ok].mean()) if ok.any() else np.nan
    icc_se = float(icc_r[ok].std(ddof=1) / np.sqrt(ok.sum())) if ok.sum() > 1 else np.nan
    if not ok.any():
        note = note or "ICC not computable"
    return {
        "icc": max(icc_raw, 0.0) if np.isfinite(icc_raw) else np.nan,
        "icc_raw": icc_raw,
        "icc_mc_se": icc_se,
        "icc_replications": int(ok.sum()),
        "note": note,
    }


def _pooled_within_sd(per_rep: pd.DataFrame) -> float:
    """Pooled within-replication SD of the answers (ddof 1 per replication), from per-replication sums."""
    rn, rs, rss = (per_rep[c].to_numpy(dtype=float) for c in ("n", "s", "ss"))
    within = rss - np.divide(rs**2, rn, out=np.zeros_like(rs), where=rn > 0)
    dof = np.clip(rn - 1, 0, None).sum()
    return float(np.sqrt(max(within.sum(), 0.0) / dof)) if dof > 0 else np.nan


def design_inputs(
    scenario: Any,
    replications: int,
    seed: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Design inputs per outcome from ``replications`` simulated studies of ``scenario`` (one row per
    outcome; columns in :func:`reduce_design`). See :func:`simulate_design` for the object that also
    keeps the community rows for :func:`simulated_power`."""
    return simulate_design(scenario, replications, seed, workers=workers, scheduler=scheduler, progress=progress).table


def simulate_design(
    scenario: Any,
    replications: int,
    seed: int | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
) -> DesignInputs:
    """Run the replications (:func:`design_chunk` in the workers) and reduce (:func:`reduce_design`)."""
    if replications < 1:
        raise PowerError(f"replications must be at least 1, got {replications}")
    seed = scenario.seed if seed is None else seed
    rows = map_replications(
        design_chunk, scenario, replications, seed=seed, workers=workers, scheduler=scheduler, progress=progress
    )
    if not isinstance(rows, pd.DataFrame):
        rows = pd.DataFrame(columns=["replication", "outcome", "community"])
    return reduce_design(rows, scenario.name, seed)
