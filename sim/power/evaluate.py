"""Power of a design file (statistics only): resolve the design's inputs (user values first, then the
simulated process), compute analytic power per point, simulate trials under the alternative and the null,
and summarise (per-outcome power with and without failed fits, type I error with its flag, multiplicity).

Analytic power: Hussey & Hughes (2007) via :func:`.stepped.gls_variance` (normal approximation, two-sided)
for every cluster design, with ``sigma_e^2 = sd^2`` (continuous) or ``pbar (1 - pbar)`` (binary, ``pbar``
the mean of the arms' rates) split by the ICC, the variance of a cluster-period mean inflated by
``1 + cv^2`` for varying cluster sizes (``E(1/n) ~ (1 + cv^2) / m``) and the implementation lag's loss of
effect; for the parallel cluster design also :func:`.analytic.cluster_trial_power` (design effect and
cluster-level t); for the individual design the two-sample t (normal for binary). With several outcomes
the analytic columns use alpha / K (Bonferroni; Holm's power is at least that).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from .analytic import cluster_trial_power, two_sided_t_power
from .common import MAX_CLUSTERS, PowerError
from .schema import Design
from .stepped import (
    check_schedule,
    gls_variance,
    lagged_effect,
    normal_power,
    parallel_schedule,
    split_evenly,
    stepped_wedge_schedule,
    steps_from_start_months,
)
from .trials import TrialSpec, simulate_trials

TRIALS_PER_TASK = 25


@dataclass(frozen=True)
class OutcomeInputs:
    """One outcome's resolved inputs, with where each came from (``sources``)."""

    name: str
    kind: str
    control: float
    effect: float
    sd: float
    icc: float
    answered_share: float = 1.0
    sources: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """A design with every input resolved: the base schedule and per-period retention, ramp-up, trend."""

    design: Design
    X: np.ndarray
    m: float
    cv: float
    retention: tuple[float, ...]
    lag: float
    outcomes: tuple[OutcomeInputs, ...]
    sources: dict = field(default_factory=dict)
    start_months: tuple[float, ...] = ()

    @property
    def clusters(self) -> int:
        return self.X.shape[0] if self.design.type != "individual" else 0


# ---------------------------------------------------------------------------------------------
# Resolving inputs
# ---------------------------------------------------------------------------------------------
def _stepped_schedule(design: Design, k: int | None, start_months: tuple[float, ...]) -> np.ndarray:
    sch = design.schedule
    assert sch is not None
    if sch.steps is not None or sch.clusters_per_step is not None:
        cps = sch.clusters_per_step
        if cps is None or (k is not None and k != sum(cps)):
            cps = split_evenly(int(k), sch.steps or len(cps or []))
        return stepped_wedge_schedule(cps, before=sch.before, after=sch.after, batches=sch.batches)
    base = (
        np.array([[np.nan if v is None else float(v) for v in r] for r in sch.matrix], dtype=float)
        if sch.matrix is not None
        else steps_from_start_months(start_months, design.period_months)
    )
    if k is None or k == base.shape[0]:
        return base
    return base[np.sort(np.arange(int(k)) % base.shape[0])]


def schedule_for(design: Design, clusters: int | None = None, start_months: tuple[float, ...] = ()) -> np.ndarray:
    """The design's schedule with ``clusters`` clusters (default: the design's). A stepped wedge given by a
    matrix or a scenario's rollout is scaled by giving its sequences (rows) to the clusters in turn."""
    k = clusters if clusters is not None else design.clusters
    if design.type == "individual":
        return np.array([[1.0], [0.0]])
    if design.type in ("parallel_cluster", "parallel_baseline"):
        return parallel_schedule(int(k), baseline=design.type == "parallel_baseline")
    return _stepped_schedule(design, k, start_months)


def _retention(
    design: Design, T: int, process: Any, answered: float, completion: float
) -> tuple[tuple[float, ...], str]:
    """Share of recruits measured in each period: the design's attrition, or from the simulation the share
    evaluated at follow-up (parallel, individual) or enrolled at each period's end (rollout designs), times
    the share of the evaluated who answer the item."""
    att = design.attrition
    if isinstance(att, list):
        if len(att) != T:
            raise PowerError(f"attrition lists {len(att)} periods; the design has {T}")
        return tuple(1 - a for a in att), "design"
    if att is not None:
        if design.type == "parallel_baseline":
            return (1.0, 1 - att), "design"
        return tuple([1 - att] * T), "design"
    if process is None:
        return tuple([1.0] * T), "none (no scenario)"
    if design.type in ("parallel_cluster", "individual"):
        fu = design.follow_up_months
        share = process.retention_at(fu) if fu is not None else completion
        return (share * answered,), "simulation (evaluated at follow-up)"
    # rollout: consumers followed from the trial's start; the share enrolled at each period's end
    pm = design.period_months
    ret = [process.retention_at((j + 1) * pm) * answered for j in range(T)]
    if design.type == "parallel_baseline":
        ret[0] = answered
    return tuple(ret), "simulation (retention by month since start)"


def _effect(i: int, o: Any, row: Any) -> tuple[float, str]:
    if o.effect is not None:
        return o.effect, "design"
    if o.intervention is not None:
        return o.intervention - o.control, "design (intervention - control)"
    if row is not None and np.isfinite(row["mean"]):
        return float(row["mean"]) - o.control, "simulation (peer-support level - control)"
    raise PowerError(f"outcomes[{i}] {o.name}: no effect given and none simulated")


def _icc_sd(i: int, o: Any, row: Any, kind: str) -> tuple[float, float, str]:
    icc = o.icc if o.icc is not None else (float(row["icc"]) if row is not None else 0.0)
    src = "design" if o.icc is not None else ("simulation" if row is not None else "0 (assumed)")
    if not (np.isfinite(icc) and 0 <= icc < 1):
        raise PowerError(f"outcomes[{i}] {o.name}: ICC not available from the simulation; give icc")
    sd = o.sd if o.sd is not None else (float(row["sd"]) if row is not None and kind == "continuous" else 1.0)
    if kind == "continuous" and not (np.isfinite(sd) and sd > 0):
        raise PowerError(f"outcomes[{i}] {o.name}: SD not available; give sd")
    return float(icc), float(sd), src


def _resolve_outcome(i: int, o: Any, row: Any) -> OutcomeInputs:
    """One outcome: the design's values, else the simulated row (``row``: a :func:`.inputs.reduce_design` row)."""
    kind = o.outcome_kind
    osrc: dict[str, str] = {}
    eff, osrc["effect"] = _effect(i, o, row)
    if abs(eff) < 1e-12:
        raise PowerError(f"outcomes[{i}] {o.name}: the effect is zero")
    if kind == "binary" and not 0 < o.control + eff < 1:
        raise PowerError(f"outcomes[{i}] {o.name}: control + effect = {o.control + eff:g} is not a rate")
    icc, sd, osrc["icc"] = _icc_sd(i, o, row, kind)
    answered = float(row["answered_share"]) if row is not None and np.isfinite(row["answered_share"]) else 1.0
    return OutcomeInputs(o.name, kind, o.control, float(eff), float(sd), float(icc), answered, osrc)


def _sizes(design: Design, first: Any) -> tuple[float, float, dict[str, str]]:
    """Consumers recruited per community and its CV: the design's, else simulated."""
    src = {"cluster_size": "design" if design.cluster_size is not None else "simulation"}
    m = design.cluster_size if design.cluster_size is not None else (float(first["m"]) if first is not None else None)
    if m is None and design.type != "individual":
        raise PowerError("cluster_size: not given and no simulated value")
    cv = design.cluster_size_cv
    src["cluster_size_cv"] = "design" if cv is not None else ("simulation" if first is not None else "0 (assumed)")
    if cv is None:
        cv = float(first["cv_recruited"]) if first is not None else 0.0
    return float(m or 0), float(cv), src


def resolve(design: Design, process: Any = None, start_months: tuple[float, ...] = ()) -> Plan:
    """Fill the design's omitted values from ``process`` (:class:`.process.ProcessInputs`, or None) and
    ``start_months`` (the scenario's communities, for ``schedule.from_scenario``)."""
    rows = process.design.table.set_index("outcome") if process is not None else None
    first = rows.iloc[0] if rows is not None and len(rows) else None
    m, cv, src = _sizes(design, first)
    X = schedule_for(design, None, start_months)
    if design.type != "individual":
        check_schedule(X, stepped=design.type == "stepped_wedge")
    lag = design.implementation_lag
    if lag is None:
        lag = process.lag_fraction(design.period_months) if process is not None else 1.0
        src["implementation_lag"] = "simulation (ramp-up)" if process is not None else "1 (no lag)"
    else:
        src["implementation_lag"] = "design"
    outs = [
        _resolve_outcome(i, o, rows.loc[o.name] if rows is not None and o.name in rows.index else None)
        for i, o in enumerate(design.outcomes)
    ]
    completion = float(first["completion"]) if first is not None and np.isfinite(first["completion"]) else 1.0
    retention, src["attrition"] = _retention(design, X.shape[1], process, outs[0].answered_share, completion)
    return Plan(design, X, m, cv, retention, float(lag), tuple(outs), src, start_months)


# ---------------------------------------------------------------------------------------------
# Analytic power
# ---------------------------------------------------------------------------------------------
def _sigma2(o: OutcomeInputs, effect: float) -> float:
    if o.kind == "continuous":
        return o.sd**2
    pbar = o.control + effect / 2
    return pbar * (1 - pbar)


def analytic_power(plan: Plan, o: OutcomeInputs, clusters: int, m: float, effect: float, alpha: float) -> dict:
    """Analytic power at one point (see the module docstring); NaN where a method does not apply."""
    d = plan.design
    out = {"power_analytic": np.nan, "power_design_effect": np.nan, "power_cluster_t_analytic": np.nan}
    s2 = _sigma2(o, effect)
    if d.type == "individual":
        n = d.individuals_per_arm * plan.retention[-1]
        nc = abs(effect) / np.sqrt(s2 * 2 / n)
        df = 2 * n - 2 if o.kind == "continuous" else np.inf
        out["power_analytic"] = float(two_sided_t_power(nc, df, alpha))
        return out
    X = schedule_for(d, clusters, plan.start_months)
    n_ij = m * np.asarray(plan.retention)[None, :] * np.ones_like(X)
    with np.errstate(divide="ignore"):
        cell = (1 - o.icc) * s2 * (1 + plan.cv**2) / n_ij
    var, bias = gls_variance(X, cell, o.icc * s2, lagged_effect(X, plan.lag))
    out["power_analytic"] = float(normal_power(effect * bias, np.sqrt(var), alpha))
    out["se_analytic"] = float(np.sqrt(var))
    out["effect_recovered"] = bias
    if d.type == "parallel_cluster" and clusters % 2 == 0 and clusters >= 4:
        t = cluster_trial_power(
            clusters // 2,
            control=o.control,
            intervention=o.control + effect,
            m=m,
            completion=plan.retention[-1],
            icc=o.icc,
            cv=plan.cv,
            sd=o.sd if o.kind == "continuous" else None,
            kind=o.kind,  # type: ignore[arg-type]
            alpha=alpha,
        ).iloc[0]
        out["power_design_effect"] = float(t["power_normal"])
        out["power_cluster_t_analytic"] = float(t["power_cluster_t"])
    return out


def adjusted_alpha(design: Design) -> float:
    k = len(design.outcomes)
    return design.alpha / k if design.multiplicity != "none" and k > 1 else design.alpha


# ---------------------------------------------------------------------------------------------
# Points and simulated trials
# ---------------------------------------------------------------------------------------------
def points(plan: Plan) -> list[tuple[int, float]]:
    """(clusters, cluster size) pairs to evaluate: the design's, or the search grid."""
    d = plan.design
    ks = (d.search.clusters if d.search and d.search.clusters else None) or [plan.clusters]
    ms = (d.search.cluster_sizes if d.search and d.search.cluster_sizes else None) or [plan.m]
    if d.type == "individual":
        return [(0, plan.m)]
    out = []
    for k in ks:
        if not 2 <= k <= MAX_CLUSTERS:
            raise PowerError(f"clusters must be between 2 and {MAX_CLUSTERS}, got {k}")
        out.extend((int(k), float(m)) for m in ms)
    return out


def trial_spec(plan: Plan, oi: int, clusters: int, m: float) -> TrialSpec:
    o = plan.outcomes[oi]
    d = plan.design
    X = schedule_for(d, clusters if d.type != "individual" else None, plan.start_months)
    return TrialSpec(
        X=X,
        kind=o.kind,
        control=o.control,
        effect=o.effect,
        sd=o.sd,
        icc=o.icc,
        m=m,
        cv=plan.cv,
        retention=plan.retention,
        lag=plan.lag,
        trend=d.secular_trend,
        analyses=d.analyses_for(o.kind),
        outcome_index=oi,
        individual=d.type == "individual",
        per_arm=int(d.individuals_per_arm or 0),
    )


def run_trials(spec: TrialSpec, effect: float, start: int, stop: int, seed: int, null: bool) -> pd.DataFrame:
    """One task (module level, picklable): trials ``start..stop-1`` of one point."""
    return simulate_trials(spec, effect, range(start, stop), seed, null)


def tasks_for(plan: Plan, trials: int | None = None) -> list[tuple[dict, tuple]]:
    """Every task of the design: ``(meta, args for run_trials)``."""
    d = plan.design
    trials = d.trials if trials is None else trials
    out = []
    for pi, (k, m) in enumerate(points(plan)):
        for oi, o in enumerate(plan.outcomes):
            spec = trial_spec(plan, oi, k, m)
            for null in (False, True) if d.null_trials else (False,):
                eff = 0.0 if null else o.effect
                for a in range(0, trials, TRIALS_PER_TASK):
                    b = min(a + TRIALS_PER_TASK, trials)
                    meta = {"point": pi, "clusters": k, "cluster_size": m, "outcome": o.name}
                    out.append((meta, (spec, eff, a, b, d.seed, null)))
    return out


# ---------------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------------
def _holm(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values along axis 1 (NaN = failed fit, treated as 1)."""
    p = np.nan_to_num(p, nan=1.0)
    k = p.shape[1]
    order = np.argsort(p, axis=1, kind="stable")
    ps = np.take_along_axis(p, order, axis=1) * (k - np.arange(k))[None, :]
    ps = np.minimum(np.maximum.accumulate(ps, axis=1), 1.0)
    out = np.empty_like(ps)
    np.put_along_axis(out, order, ps, axis=1)
    return out


def adjust(p: np.ndarray, method: str) -> np.ndarray:
    """Multiplicity-adjusted p-values per trial (rows) over outcomes (columns)."""
    p = np.nan_to_num(p, nan=1.0)
    if method == "bonferroni":
        return np.minimum(p * p.shape[1], 1.0)
    if method == "holm":
        return _holm(p)
    return p


def summarise(plan: Plan, rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per point x outcome x analysis: power with and without failures, fit classes, type I error and its flag;
    per point x analysis with several outcomes: power for all of / at least one of them (adjusted)."""
    d = plan.design
    alpha = d.alpha
    rows = rows.sort_values(["point", "outcome_index", "analysis", "null", "trial"], kind="stable")
    res = []
    joint = []
    for (pi, an), g in rows.groupby(["point", "analysis"], sort=True):
        alt = g[~g["null"]]
        piv = alt.pivot_table(index="trial", columns="outcome_index", values="p", aggfunc="first", dropna=False)
        piv = piv.reindex(columns=range(len(plan.outcomes)))
        padj = adjust(piv.to_numpy(dtype=float), d.multiplicity)
        rej_adj = padj < alpha
        for oi, o in enumerate(plan.outcomes):
            a = alt[alt["outcome_index"] == oi]
            if a.empty:
                continue
            n = len(a)
            status = a["status"].value_counts()
            failed = a["status"] == "not converged"
            rej = (a["p"] < alpha) & ~failed
            valid = int((~failed).sum())
            p_all = float(rej.mean())
            r = {
                "point": pi,
                "clusters": int(a["clusters"].iloc[0]),
                "cluster_size": float(a["cluster_size"].iloc[0]),
                "outcome": o.name,
                "analysis": an,
                "trials": n,
                "power": p_all,
                "mc_se": float(np.sqrt(p_all * (1 - p_all) / n)),
                "power_without_failures": float(rej.sum() / valid) if valid else np.nan,
                "power_adjusted": float(rej_adj[:, oi].mean()),
                "converged": float(status.get("converged", 0) / n),
                "singular": float(status.get("singular", 0) / n),
                "not_converged": float(status.get("not converged", 0) / n),
                "mean_estimate": float(a.loc[~failed, "estimate"].mean()) if valid else np.nan,
            }
            nul = g[g["null"] & (g["outcome_index"] == oi)]
            if len(nul):
                nf = nul["status"] == "not converged"
                t1 = float(((nul["p"] < alpha) & ~nf).sum() / max(int((~nf).sum()), 1))
                se = float(np.sqrt(alpha * (1 - alpha) / len(nul)))
                r.update(type1_error=t1, type1_mc_se=se, type1_flag=bool(abs(t1 - alpha) > 3 * se))
            res.append(r)
        if len(plan.outcomes) > 1 and not np.isnan(piv.to_numpy(dtype=float)).all(axis=0).any():
            all_of = rej_adj.all(axis=1).mean()
            any_of = rej_adj.any(axis=1).mean()
            n = len(rej_adj)
            joint.append(
                {
                    "point": pi,
                    "clusters": int(g["clusters"].iloc[0]),
                    "cluster_size": float(g["cluster_size"].iloc[0]),
                    "analysis": an,
                    "multiplicity": d.multiplicity,
                    "power_all_of": float(all_of),
                    "mc_se_all_of": float(np.sqrt(all_of * (1 - all_of) / n)),
                    "power_at_least_one": float(any_of),
                    "mc_se_at_least_one": float(np.sqrt(any_of * (1 - any_of) / n)),
                }
            )
    return pd.DataFrame(res), pd.DataFrame(joint)


def power_table(plan: Plan, rows: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Analytic columns for every point x outcome, joined with the simulated summary (if any)."""
    a_alpha = adjusted_alpha(plan.design)
    ana = []
    for pi, (k, m) in enumerate(points(plan)):
        for o in plan.outcomes:
            r = {"point": pi, "clusters": k, "cluster_size": m, "outcome": o.name, "effect": o.effect}
            r.update(analytic_power(plan, o, k, m, o.effect, plan.design.alpha))
            if a_alpha != plan.design.alpha:
                r["power_analytic_adjusted"] = analytic_power(plan, o, k, m, o.effect, a_alpha)["power_analytic"]
            ana.append(r)
    ana_df = pd.DataFrame(ana)
    if rows is None or rows.empty:
        return ana_df, pd.DataFrame()
    sim, joint = summarise(plan, rows)
    t = sim.merge(ana_df, on=["point", "clusters", "cluster_size", "outcome"], how="left")
    return t, joint


def simulate(plan: Plan, *, trials: int | None = None, **pool_kw: Any) -> pd.DataFrame:
    """Run every task of the design through :func:`.pool.map_tasks` and return the trial rows."""
    from .pool import map_tasks

    tasks = tasks_for(plan, trials)
    if not tasks:
        return pd.DataFrame()
    weights = [t[1][3] - t[1][2] for t in tasks]
    results = map_tasks(run_trials, [t[1] for t in tasks], weights=weights, **pool_kw)
    parts = [r.assign(**meta) for (meta, _), r in zip(tasks, results, strict=True)]
    return pd.concat(parts, ignore_index=True)


def with_effect(plan: Plan, oi: int, effect: float) -> Plan:
    outs = list(plan.outcomes)
    outs[oi] = replace(outs[oi], effect=effect)
    return replace(plan, outcomes=tuple(outs))
