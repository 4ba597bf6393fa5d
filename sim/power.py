"""Power for a future cluster-randomised trial of the peer-support service, with attrition and
clustering taken from the simulation.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from . import instruments as ins
from .analysis.stats import t_tests
from .runner import map_replications

Kind = Literal["binary", "continuous"]

#: Consumer outcomes a trial could compare: column -> (label, kind). Binary items of Tables 3-4;
#: the 1-5 satisfaction items of Table 4 are treated as continuous.
OUTCOMES: dict[str, tuple[str, Kind]] = {
    **{it.column: (it.label, "binary") for it in ins.CONSUMER_SATISFACTION if it.kind == "binary"},
    **{it.column: (it.label, "binary") for it in ins.CONSUMER_BENEFITS},
    **{it.column: (it.label, "continuous") for it in ins.CONSUMER_SATISFACTION if it.kind == "likert"},
}

#: Stream id of the trial draws in :func:`simulated_power` (``SeedSequence(seed, spawn_key=(STREAM, k))``).
SIMULATED_POWER_STREAM = 7301
#: Likert range: control means for continuous outcomes must lie inside it.
LIKERT_RANGE = (1.0, 5.0)


class PowerError(ValueError):
    """Bad input to the power analysis (one-line message)."""


# ---------------------------------------------------------------------------------------------
# 1. Design inputs from the simulation
# ---------------------------------------------------------------------------------------------
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
        if d.empty:
            continue
        rec, ev, n = (d[c].to_numpy(dtype=float) for c in ("recruited", "evaluated", "answered"))
        s = d["total"].to_numpy(dtype=float)
        per_rep = d.groupby("replication", sort=True).agg(
            icc=("icc", "first"),
            note=("icc_note", "first"),
            n=("answered", "sum"),
            s=("total", "sum"),
            ss=("total_sq", "sum"),
            k=("community", "size"),
        )
        R = len(per_rep)
        icc_r = per_rep["icc"].to_numpy(dtype=float)
        ok = np.isfinite(icc_r)
        notes = per_rep.loc[~ok, "note"].value_counts().sort_index()
        note = "; ".join(f"ICC not computable in {c} of {R} replications ({why})" for why, c in notes.items())
        icc_raw = float(icc_r[ok].mean()) if ok.any() else np.nan
        icc_se = float(icc_r[ok].std(ddof=1) / np.sqrt(ok.sum())) if ok.sum() > 1 else np.nan
        if not ok.any():
            note = note or "ICC not computable"
        N = n.sum()
        mean = float(s.sum() / N) if N > 0 else np.nan
        rn, rs, rss = (per_rep[c].to_numpy(dtype=float) for c in ("n", "s", "ss"))
        within = rss - np.divide(rs**2, rn, out=np.zeros_like(rs), where=rn > 0)
        dof = np.clip(rn - 1, 0, None).sum()
        sd = float(np.sqrt(max(within.sum(), 0.0) / dof)) if dof > 0 else np.nan
        if not N > 0:
            note = "; ".join(x for x in (note, "no answers") if x)
        out.append(
            {
                "outcome": o,
                "label": label,
                "kind": kind,
                "replications": R,
                "communities": float(per_rep["k"].mean()),
                "m": float(rec.mean()),
                "cv_recruited": _cv(rec),
                "completion": float(ev.sum() / rec.sum()) if rec.sum() > 0 else np.nan,
                "answered_share": float(N / ev.sum()) if ev.sum() > 0 else np.nan,
                "evaluated_per_community": float(ev.mean()),
                "analysed_per_community": float(n.mean()),
                "cv": _cv(n),
                "mean": mean,
                "sd": sd,
                "icc": max(icc_raw, 0.0) if np.isfinite(icc_raw) else np.nan,
                "icc_raw": icc_raw,
                "icc_mc_se": icc_se,
                "icc_replications": int(ok.sum()),
                "note": note,
            }
        )
    comm = rows.drop(columns=["icc", "icc_note"])
    return DesignInputs(pd.DataFrame(out), comm, scenario, seed)


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


# ---------------------------------------------------------------------------------------------
# 2. Analytic power
# ---------------------------------------------------------------------------------------------
def design_effect(m: Any, icc: Any, cv: Any = 0.0) -> np.ndarray:
    """Design effect of a size-weighted (individual-level) analysis with mean cluster size ``m`` and
    cluster-size coefficient of variation ``cv``: ``1 + ((cv^2 + 1) m - 1) icc`` (Eldridge, Ashby and
    Kerry 2006); ``1 + (m - 1) icc`` when all clusters have size ``m``."""
    m, icc, cv = (np.asarray(x, dtype=float) for x in (m, icc, cv))
    return 1 + ((cv**2 + 1) * m - 1) * icc


def design_effect_unweighted(m: Any, icc: Any, cv: Any = 0.0) -> np.ndarray:
    """Variance inflation of the *unweighted* cluster-level analysis (mean of cluster means) relative
    to ``sigma^2 / m`` per cluster: ``m [icc + (1 - icc) E(1/n_j)]`` with ``E(1/n_j) ~ (1 + cv^2) / m``
    (delta method), i.e. ``1 + (m - 1) icc + cv^2 (1 - icc)``. Equal to :func:`design_effect` when
    ``cv = 0``; varying sizes cost the unweighted analysis more when ``m icc < 1 - icc``."""
    m, icc, cv = (np.asarray(x, dtype=float) for x in (m, icc, cv))
    return 1 + (m - 1) * icc + cv**2 * (1 - icc)


def _check(
    kind: str,
    control: float,
    intervention: float,
    sd: float | None,
    m: float,
    completion: float,
    icc: float,
    cv: float,
    alpha: float,
) -> None:
    if kind not in ("binary", "continuous"):
        raise PowerError(f"kind must be 'binary' or 'continuous', got {kind!r}")
    if kind == "binary":
        for name, p in (("control rate", control), ("intervention rate", intervention)):
            if not (np.isfinite(p) and 0 < p < 1):
                raise PowerError(f"{name} must be strictly between 0 and 1, got {p}")
    else:
        if not (np.isfinite(control) and np.isfinite(intervention)):
            raise PowerError(f"control and intervention means must be finite, got {control}, {intervention}")
        if sd is None or not (np.isfinite(sd) and sd > 0):
            raise PowerError(f"a continuous outcome needs a positive SD, got {sd}")
    if not (np.isfinite(m) and m > 0):
        raise PowerError(f"cluster size m must be positive, got {m}")
    if not (np.isfinite(completion) and 0 < completion <= 1):
        raise PowerError(f"completion must be in (0, 1], got {completion}")
    if not (np.isfinite(icc) and 0 <= icc < 1):
        raise PowerError(f"ICC must be in [0, 1) (is it NaN: not computable from the simulation?), got {icc}")
    if not (np.isfinite(cv) and cv >= 0):
        raise PowerError(f"CV must be 0 or more, got {cv}")
    if not 0 < alpha < 1:
        raise PowerError(f"alpha must be in (0, 1), got {alpha}")


def _from_design(design: Mapping[str, Any] | pd.Series | None, **given: Any) -> dict[str, Any]:
    """Explicit arguments, falling back on a :func:`design_inputs` row."""
    d = {} if design is None else dict(design)
    fallback = {
        "m": d.get("m"),
        "completion": (d.get("completion", np.nan) * d.get("answered_share", 1.0)) if d else None,
        "icc": d.get("icc"),
        "cv": d.get("cv", 0.0) if d else 0.0,
        "intervention": d.get("mean"),
        "sd": d.get("sd"),
        "kind": d.get("kind", "binary") if d else "binary",
    }
    out = {k: (v if v is not None else fallback.get(k)) for k, v in given.items()}
    for k in ("m", "completion", "icc", "intervention"):
        if out.get(k) is None:
            raise PowerError(f"{k} is needed: give it or a design row")
    if out["cv"] is None:
        out["cv"] = 0.0
    if out["kind"] is None:
        out["kind"] = "binary"
    return out


def cluster_trial_power(
    clusters: int | Sequence[int],
    *,
    control: float,
    intervention: float | None = None,
    design: Mapping[str, Any] | pd.Series | None = None,
    m: float | None = None,
    completion: float | None = None,
    icc: float | None = None,
    cv: float | None = None,
    sd: float | None = None,
    kind: Kind | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Analytic power of a two-arm cluster-randomised trial with ``clusters`` communities per arm.

    The effect is the intervention-arm rate (binary) or mean (continuous) against ``control``:
    give ``intervention`` explicitly, or a ``design`` row of :func:`design_inputs`, whose simulated
    peer-support ``mean`` is then the intervention value (the natural use: simulated peer-support
    arm vs a usual-care rate from the literature). ``m`` (recruited per community), ``completion``
    (share of recruits analysed), ``icc``, ``cv`` (of analysed cluster sizes) and ``sd`` likewise
    come from ``design`` unless given. The analysed cluster size is ``m_e = m * completion``.

    Two methods, one row per cluster count:

    - ``power_normal``: the individual-level analysis inflated by the design effect
      ``DE = 1 + ((cv^2 + 1) m_e - 1) icc``: effective size ``n_eff = k m_e / DE`` per arm, then
      statsmodels ``NormalIndPower`` with Cohen's h (``proportion_effectsize``) for binary outcomes,
      ``TTestIndPower`` with d = difference / sd for continuous ones. Asymptotic in the number of
      clusters.
    - ``power_cluster_t``: the cluster-level (summary-statistic) Student t-test on the ``k`` cluster
      means per arm, ``2(k - 1)`` df, power from the noncentral t with noncentrality
      ``difference / sqrt((v1 + v0) / k)``, where ``v_a = sigma_a^2 DE_u / m_e`` is the variance of a
      cluster mean in arm ``a`` (``sigma_a^2 = p_a(1 - p_a)`` or ``sd^2``) and ``DE_u`` is
      :func:`design_effect_unweighted` (the test weights clusters equally).

    **Recommendation: plan on ``power_cluster_t``.** With the few clusters a community trial can
    afford, the between-cluster variance is estimated from ``2(k - 1)`` df, and the analysis a
    trial should pre-specify (cluster-level t, or a mixed model with small-sample df) pays for it;
    the normal method ignores this and overstates power (roughly doubling it at k = 2). The two
    agree once there are some 20 or more clusters per arm. The cluster-t is also what
    :func:`simulated_power` checks by simulation.
    """
    a = _from_design(design, m=m, completion=completion, icc=icc, cv=cv, intervention=intervention, sd=sd, kind=kind)
    m_, comp, icc_, cv_, p1, sd_, kind_ = (
        a["m"],
        a["completion"],
        a["icc"],
        a["cv"],
        a["intervention"],
        a["sd"],
        a["kind"],
    )
    m_, comp, icc_, cv_, p1, control = (float(x) for x in (m_, comp, icc_, cv_, p1, control))
    sd_ = None if sd_ is None else float(sd_)
    _check(kind_, control, p1, sd_, m_, comp, icc_, cv_, alpha)
    k = np.atleast_1d(np.asarray(clusters))
    if k.dtype.kind not in "iu" and not np.all(k == np.round(k)):
        raise PowerError(f"clusters per arm must be whole numbers, got {clusters}")
    k = k.astype(np.int64)
    if (k < 2).any():
        raise PowerError(
            f"clusters per arm must be at least 2 (the cluster-level t needs 2(k-1) > 0 df), got {clusters}"
        )

    from statsmodels.stats.power import NormalIndPower, TTestIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    me = m_ * comp
    de = float(design_effect(me, icc_, cv_))
    de_u = float(design_effect_unweighted(me, icc_, cv_))
    n = k * me
    n_eff = n / de
    diff = p1 - control
    if kind_ == "binary":
        es = float(proportion_effectsize(p1, control))
        p_norm = np.array(
            [
                NormalIndPower().power(effect_size=es, nobs1=x, alpha=alpha, ratio=1.0, alternative="two-sided")
                for x in n_eff
            ]
        )
        var_sum = p1 * (1 - p1) + control * (1 - control)
    else:
        es = diff / sd_
        p_norm = np.array(
            [
                TTestIndPower().power(effect_size=es, nobs1=x, alpha=alpha, ratio=1.0, alternative="two-sided")
                for x in n_eff
            ]
        )
        var_sum = 2 * sd_**2
    df = 2 * (k - 1)
    nc = diff / np.sqrt(var_sum * de_u / me / k)
    tcrit = sps.t.ppf(1 - alpha / 2, df)
    p_t = sps.nct.sf(tcrit, df, nc) + sps.nct.cdf(-tcrit, df, nc)
    return pd.DataFrame(
        {
            "clusters_per_arm": k,
            "kind": kind_,
            "control": control,
            "intervention": p1,
            "difference": diff,
            "effect_size": es,
            "m": m_,
            "completion": comp,
            "m_analysed": me,
            "icc": icc_,
            "cv": cv_,
            "alpha": alpha,
            "design_effect": de,
            "design_effect_unweighted": de_u,
            "n_per_arm": n,
            "n_effective_per_arm": n_eff,
            "power_normal": p_norm,
            "df_cluster_t": df,
            "power_cluster_t": np.asarray(p_t, dtype=float),
        }
    )


def clusters_needed(
    target: float = 0.8,
    *,
    method: Literal["cluster_t", "normal"] = "cluster_t",
    max_clusters: int = 10_000,
    **kwargs: Any,
) -> int:
    """Smallest number of clusters per arm (>= 2) whose :func:`cluster_trial_power` reaches ``target``
    with ``method``; same keyword arguments. Raises :class:`PowerError` if ``max_clusters`` is not
    enough (e.g. no difference between the arms)."""
    if not 0 < target < 1:
        raise PowerError(f"target power must be in (0, 1), got {target}")
    col = {"cluster_t": "power_cluster_t", "normal": "power_normal"}[method]

    def power(k: int) -> float:
        return float(cluster_trial_power(k, **kwargs)[col].iloc[0])

    lo, hi = 2, 2
    if power(lo) >= target:
        return lo
    while power(hi) < target:  # doubling, then bisection: power increases with k
        lo, hi = hi, hi * 2
        if hi > max_clusters:
            if power(max_clusters) >= target:
                hi = max_clusters
                break
            raise PowerError(f"power {target:.0%} not reached with {max_clusters} clusters per arm")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if power(mid) < target else (lo, mid)
    return hi


# ---------------------------------------------------------------------------------------------
# 3. Simulated power
# ---------------------------------------------------------------------------------------------
def _arm_moments(means: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and variance (ddof 1) over axis 1 of the valid cluster means."""
    cnt = valid.sum(axis=1).astype(float)
    x = np.where(valid, means, 0.0)
    with np.errstate(all="ignore"):
        mu = x.sum(axis=1) / cnt
        var = np.where(valid, (means - mu[:, None]) ** 2, 0.0).sum(axis=1) / (cnt - 1)
    return cnt, mu, var


def simulated_power(
    design: DesignInputs,
    outcome: str,
    control: float,
    clusters: Sequence[int],
    *,
    trials: int = 2000,
    alpha: float = 0.05,
    seed: int | None = None,
) -> pd.DataFrame:
    """Power of the cluster-level t-test by simulating ``trials`` trials per cluster count.

    Each trial: the intervention arm is ``k`` communities drawn with replacement from the simulated
    community-replications (their analysed consumers and answers as simulated: attrition, size
    variation and clustering come from the model). The control arm has the same cluster sizes
    (the intervention arm's structure) with answers at the ``control`` rate and the design's ICC
    ``rho``: binary, beta-binomial (cluster rate ~ Beta(p0 (1-rho)/rho, (1-p0)(1-rho)/rho); binomial
    when rho = 0); continuous, cluster means ~ N(mu0, sd^2 (rho + (1-rho)/n_j)). Clusters with no
    analysed consumer are dropped. Cluster proportions (means) are compared with the Student
    t-test of :func:`sim.analysis.stats.t_tests` (2(k-1) df with all clusters analysed); a trial
    whose test is not computable (e.g. every cluster proportion 1) counts as not significant,
    and their share is reported (``not_computable``).

    Seeded per cluster count (``SeedSequence(seed, spawn_key=(SIMULATED_POWER_STREAM, k))``), so a
    cluster count's result does not depend on the others requested; deterministic. ``seed``
    defaults to the design's seed (the scenario's). Power's Monte Carlo SE is sqrt(p(1-p)/trials).
    """
    row = design.row(outcome)
    kind = row["kind"]
    icc = float(row["icc"])
    if not (np.isfinite(icc) and 0 <= icc < 1):
        raise PowerError(f"{outcome}: ICC not available from the simulation ({row['note'] or 'NaN'})")
    if kind == "binary" and not 0 < control < 1:
        raise PowerError(f"control rate must be strictly between 0 and 1, got {control}")
    if trials < 1:
        raise PowerError(f"trials must be at least 1, got {trials}")
    comm = design.communities[design.communities["outcome"] == outcome]
    comm = comm.sort_values(["replication", "community"], kind="stable")
    n_pool = comm["answered"].to_numpy(dtype=float)
    s_pool = comm["total"].to_numpy(dtype=float)
    if not (n_pool > 0).any():
        raise PowerError(f"{outcome}: no simulated community has an analysed consumer")
    sd = float(row["sd"]) if kind == "continuous" else np.nan
    root = design.seed if seed is None else seed
    root = 0 if root is None else int(root)
    out = []
    for k in clusters:
        k = int(k)
        if k < 2:
            raise PowerError(f"clusters per arm must be at least 2, got {k}")
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(root, spawn_key=(SIMULATED_POWER_STREAM, k))))
        idx = rng.integers(0, len(n_pool), size=(trials, k))
        n = n_pool[idx]
        valid = n > 0
        with np.errstate(all="ignore"):
            m1 = np.where(valid, s_pool[idx] / n, np.nan)
        if kind == "binary":
            if icc > 0:
                a, b = control * (1 - icc) / icc, (1 - control) * (1 - icc) / icc
                p = rng.beta(a, b, size=(trials, k))
            else:
                p = np.full((trials, k), control)
            y0 = rng.binomial(n.astype(np.int64), p)
            with np.errstate(all="ignore"):
                m0 = np.where(valid, y0 / n, np.nan)
        else:
            z = rng.standard_normal((trials, k))
            with np.errstate(all="ignore"):
                m0 = np.where(valid, control + sd * np.sqrt(icc + (1 - icc) / n) * z, np.nan)
        c1, mu1, v1 = _arm_moments(m1, valid)
        c0, mu0, v0 = _arm_moments(m0, valid)
        res = t_tests(c1, mu1, v1, c0, mu0, v0, method="student")
        pv = res["p"].astype(float)
        ok = np.isfinite(pv)
        reject = ok & (pv < alpha)
        pw = float(reject.mean())
        out.append(
            {
                "clusters_per_arm": k,
                "trials": trials,
                "power_simulated": pw,
                "mc_se": float(np.sqrt(pw * (1 - pw) / trials)),
                "not_computable": float((~ok).mean()),
                "mean_clusters_analysed": float(c1.mean()),
                "intervention_mean": float(np.nanmean(mu1)),
                "control_mean": float(np.nanmean(mu0)),
            }
        )
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------------
# Power table and outputs (used by ``cli.py power``)
# ---------------------------------------------------------------------------------------------
def power_table(
    design: DesignInputs,
    outcome: str,
    control: float,
    clusters: Sequence[int],
    *,
    alpha: float = 0.05,
    trials: int = 2000,
    seed: int | None = None,
) -> pd.DataFrame:
    """Analytic (normal, cluster-t) and simulated power per cluster count, one row each."""
    row = design.row(outcome)
    if not np.isfinite(row["icc"]):
        raise PowerError(f"ICC not available from the simulation: {row['note'] or 'not computable'}")
    ana = cluster_trial_power(list(clusters), control=control, design=row, alpha=alpha)
    sim = simulated_power(design, outcome, control, clusters, trials=trials, alpha=alpha, seed=seed)
    t = ana.merge(sim, on="clusters_per_arm", how="left")
    t.insert(0, "outcome", outcome)
    return t


def write_power(
    out_dir: Any,
    design: DesignInputs,
    table: pd.DataFrame,
    outcome: str,
    control: float,
    alpha: float,
    replications: int,
    needed: Mapping[str, Any],
) -> None:
    """``power.csv``, ``design_inputs.csv``, ``report.md`` and ``power.png`` into ``out_dir``."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "power.csv", index=False, float_format="%.6g", lineterminator="\n")
    design.table.to_csv(out_dir / "design_inputs.csv", index=False, float_format="%.6g", lineterminator="\n")
    r = design.row(outcome)
    unit = "rate" if r["kind"] == "binary" else "mean"
    lines = [
        f"# Power for a cluster-randomised trial: {outcome} ({r['label']})",
        "",
        f"Scenario `{design.scenario}`, {replications} replications (seed {design.seed}). Communities are "
        f"randomised to peer support or usual care; the peer-support arm's {unit}, attrition, community sizes "
        f"and ICC come from the simulation, the usual-care {unit} ({control:g}) from the user. Two-sided alpha "
        f"{alpha:g}.",
        "",
        "## Design inputs from the simulation",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| peer-support arm {unit} | {r['mean']:.4g}"
        + (f" (SD {r['sd']:.3g})" if r["kind"] == "continuous" else "")
        + " |",
        f"| usual-care {unit} (given) | {control:g} |",
        f"| consumers recruited per community, m | {r['m']:.3g} (CV {r['cv_recruited']:.3g}) |",
        f"| completion (evaluated / recruited) | {r['completion']:.3f} |",
        f"| analysed per community | {r['analysed_per_community']:.3g} (CV {r['cv']:.3g}) |",
        f"| ICC (one-way ANOVA, mean of {r['icc_replications']} replications) | {r['icc']:.4f} "
        f"(raw {r['icc_raw']:.4f} ± {r['icc_mc_se']:.4f} MC SE) |",
        f"| design effect (size-weighted / unweighted) | {table['design_effect'].iloc[0]:.3f} / "
        f"{table['design_effect_unweighted'].iloc[0]:.3f} |",
    ]
    if r["note"]:
        lines.append(f"| note | {r['note']} |")
    lines += [
        "",
        "## Power by clusters per arm",
        "",
        "| clusters per arm | consumers analysed per arm | normal (design effect) | cluster-level t, 2(k-1) df | "
        "simulated cluster-level t ± MC SE |",
        "|---|---|---|---|---|",
    ]
    for _, t in table.iterrows():
        lines.append(
            f"| {t['clusters_per_arm']} | {t['n_per_arm']:.1f} | {t['power_normal']:.3f} | "
            f"{t['power_cluster_t']:.3f} | {t['power_simulated']:.3f} ± {t['mc_se']:.3f} |"
        )
    gap = (table["power_simulated"] - table["power_cluster_t"]).abs() / table["mc_se"].where(table["mc_se"] > 0)
    if (gap > 3).any():
        lines += [
            "",
            "Simulated and analytic cluster-level power differ by more than 3 Monte Carlo SEs at "
            f"{', '.join(str(k) for k in table.loc[gap > 3, 'clusters_per_arm'])} clusters per arm: one ICC and "
            "one CV do not summarise the simulated communities fully (e.g. outcome related to community size, "
            "or distinct kinds of community in the scenario). The simulated figure uses the communities as "
            "simulated.",
        ]
    lines += [
        "",
        "Clusters per arm needed: " + "; ".join(f"{k}: {v}" for k, v in needed.items()) + ".",
        "",
        "## Methods",
        "",
        "- *Normal*: individual-level analysis with the design effect 1 + ((CV² + 1) m - 1) ICC for varying "
        "cluster sizes (analysed size m = recruited × completion), effective n = k m / DE per arm, statsmodels "
        "`NormalIndPower` with Cohen's h (binary) or `TTestIndPower` (continuous).",
        "- *Cluster-level t* (recommended): Student t on the cluster proportions (means), 2(k - 1) df, "
        "noncentral t; the variance of a cluster mean is σ² (ICC + (1 - ICC) E[1/n]) with E[1/n] ≈ (1 + CV²)/m. "
        "With few clusters the normal method overstates power; they agree from about 20 clusters per arm.",
        "- *Simulated*: trials with the peer-support arm resampled from simulated communities and the usual-care "
        "arm drawn with the same cluster sizes and ICC (beta-binomial; normal for scores), analysed with the "
        "cluster-level t; Monte Carlo SE sqrt(p(1 - p)/trials).",
        "- ICC: one-way ANOVA estimator for unequal cluster sizes among evaluated consumers by community, per "
        "replication, averaged over replications (negative averages truncated at 0).",
        "",
    ]
    (out_dir / "report.md").write_text("\n".join(lines), encoding="utf-8")

    fig, ax = plt.subplots(figsize=(6.5, 4))
    k = table["clusters_per_arm"].to_numpy()
    ax.plot(k, table["power_normal"], "o--", label="normal (design effect)")
    ax.plot(k, table["power_cluster_t"], "s-", label="cluster-level t, 2(k-1) df")
    ax.errorbar(
        k, table["power_simulated"], yerr=1.96 * table["mc_se"], fmt="^", capsize=3, label="simulated (± 1.96 MC SE)"
    )
    ax.axhline(0.8, color="grey", lw=0.8, ls=":")
    ax.set_xticks(k)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("communities per arm")
    ax.set_ylabel("power")
    ax.set_title(f"{outcome}: peer support {r['mean']:.3g} vs usual care {control:g}", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out_dir / "power.png", dpi=110, metadata={"Software": None})
    plt.close(fig)


def write_power_dir(out_dir: Any, *args: Any, **kwargs: Any) -> None:
    """:func:`write_power` into a temporary folder next to ``out_dir``, then moved into place (an
    existing ``out_dir`` is replaced only by a complete set of files)."""
    from .outputs import write_folder

    write_folder(out_dir, lambda tmp: write_power(tmp, *args, **kwargs))


def needed_clusters(
    design: DesignInputs, outcome: str, control: float, alpha: float, targets: Sequence[float] = (0.8, 0.9)
) -> dict[str, Any]:
    """Clusters per arm for each target power and method (``"not reached"`` past 10,000)."""
    out: dict[str, Any] = {}
    row = design.row(outcome)
    for target in targets:
        for method, name in (("cluster_t", "cluster-level t"), ("normal", "normal")):
            try:
                out[f"{target:.0%} power, {name}"] = clusters_needed(
                    target, method=method, control=control, design=row, alpha=alpha
                )  # type: ignore[arg-type]
            except PowerError:
                out[f"{target:.0%} power, {name}"] = "not reached"
    return out


def print_power(
    design: DesignInputs, table: pd.DataFrame, outcome: str, control: float, needed: Mapping[str, Any], out_dir: Any
) -> None:
    """Rich tables: the design inputs of every outcome, then the power table of ``outcome``."""
    from rich.console import Console
    from rich.table import Table

    con = Console()
    r = design.row(outcome)
    unit = "rate" if r["kind"] == "binary" else "mean"
    t = Table(
        title=f"Design inputs for {outcome} from {design.scenario} ({int(r['replications'])} replications; "
        "every outcome in design_inputs.csv)"
    )
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_row(
        f"peer-support arm {unit} (simulated)",
        f"{r['mean']:.3f}" + (f" (SD {r['sd']:.3f})" if r["kind"] != "binary" else ""),
    )
    t.add_row(f"usual-care {unit} (given)", f"{control:g}")
    t.add_row("consumers recruited per community, m (CV)", f"{r['m']:.1f} ({r['cv_recruited']:.2f})")
    t.add_row("completion: evaluated / recruited", f"{r['completion']:.3f}")
    t.add_row("analysed per community (CV)", f"{r['analysed_per_community']:.1f} ({r['cv']:.2f})")
    t.add_row("ICC, one-way ANOVA (± MC SE)", f"{r['icc']:.3f} (raw {r['icc_raw']:.3f} ± {r['icc_mc_se']:.3f})")
    if r["note"]:
        t.add_row("note", str(r["note"]))
    con.print(t)
    t = Table(
        title=f"Power: {outcome}, peer support {r['mean']:.3f} vs usual care {control:g} "
        f"(alpha {table['alpha'].iloc[0]:g}, two-sided)"
    )
    for c in ("clusters/arm", "analysed/arm", "normal (DE)", "cluster t", "simulated ± MC SE"):
        t.add_column(c, justify="right")
    for _, x in table.iterrows():
        t.add_row(
            str(x["clusters_per_arm"]),
            f"{x['n_per_arm']:.0f}",
            f"{x['power_normal']:.3f}",
            f"{x['power_cluster_t']:.3f}",
            f"{x['power_simulated']:.3f} ± {x['mc_se']:.3f}",
        )
    con.print(t)
    con.print("Clusters per arm needed: " + "; ".join(f"{k}: {v}" for k, v in needed.items()))
    con.print(f"Recommended: the cluster-level t (2(k-1) df). Written to [bold]{out_dir}[/bold]")
