"""Scenario comparison for planners: the same replications of several scenarios, paired differences.

Every scenario is run with the same root seed and replication numbers, so replication ``r`` of each
draws from the same streams per community and source of randomness (common random numbers,
``sim.streams``). Differences against the first (baseline) scenario are therefore paired by
replication, and their confidence intervals are much narrower than those of independent runs
wherever the scenarios' communities line up. A client of :mod:`sim.runner`; no model code here, and no
presentation: the files, words and figures are :mod:`sim.reporting.compare`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .datasets import joined_by_follow_up
from .planning import cost_effectiveness as ce
from .planning.cost_spec import DEFAULT_COSTS, CostSpec
from .planning.costs import CATEGORIES, cost_per_replication
from .runner import ReplicationPool, map_replications

#: Planner outputs per replication: name -> (label, direction). Direction True: higher is better;
#: False: lower is better; None: no direction (a count set by the design, such as consumers recruited,
#: or a cost, which only the cost-effectiveness section weighs against the effects).
OUTPUTS: dict[str, tuple[str, bool | None]] = {
    "sessions_held": ("Sessions held before follow-up", True),
    "sessions_cancelled_share": ("Share of scheduled sessions cancelled", False),
    "consumers_recruited": ("Consumers recruited", None),
    "consumers_served": ("Consumers served (attended at least one session)", True),
    "consumers_retained": ("Consumers retained at follow-up", True),
    "consumer_completion": ("Consumers completing follow-up (share of those in a group by follow-up)", True),
    "provider_completion": ("Providers completing follow-up (share of recruited)", True),
    "consumer_sessions_attended": ("Sessions attended per consumer recruited", True),
    "consumer_attendance": ("Consumers' mean attendance rate", True),
    "consumer_meets_40pct": ("Consumers attending > 40% of sessions (share)", True),
    "consumer_satisfied": ("Evaluated consumers satisfied overall (share)", True),
    "consumer_mood_benefit": ("Evaluated consumers reporting better mood (share)", True),
    "consumers_benefit": ("Consumers reporting better mood at follow-up", True),
    "consumer_willing": ("Evaluated consumers willing to continue (share)", True),
    "provider_stressed": ("Evaluated providers finding the role stressful (share)", False),
    "plan_not_reviewed": ("Sessions cancelled for want of a doctor's plan review", False),
    "total_cost": ("Total cost (whole simulated period)", None),
}
#: Rates per session held: with fewer sessions held (or more cancelled), a higher rate is not a better
#: service (fewer sessions attended), so these get no "better" verdict when delivery fell; the planner's
#: measure of delivery and attendance together is ``consumer_sessions_attended``.
PER_SESSION_RATES = frozenset({"consumer_attendance", "consumer_meets_40pct"})
#: Effects the cost-effectiveness section can use (``--effect``); the default is consumers retained.
EFFECTS: dict[str, str] = {
    "consumers_retained": "consumer retained at follow-up",
    "consumers_served": "consumer served",
    "consumers_benefit": "consumer reporting better mood",
    "sessions_held": "session held before follow-up",
}
DEFAULT_EFFECT = "consumers_retained"
COST_COLUMNS = [f"cost_{c}" for c in CATEGORIES]


def planner_outputs(
    frames: dict[str, pd.DataFrame], cost_spec: CostSpec | None = None, benefit: str = "ben_mood"
) -> pd.DataFrame:
    """One row per replication of :data:`OUTPUTS` and the cost by category (``cost_<category>``), from one
    chunk's tables (runs in the workers). Costs use ``cost_spec`` (the scenario's ``costs:``)."""
    cons, prov, ses = frames["consumers"], frames["providers"], frames["sessions"]
    reps = np.unique(np.concatenate([cons["replication"].to_numpy(), prov["replication"].to_numpy()]))
    out = pd.DataFrame(index=pd.Index(reps, name="replication"))
    before = ses[ses["before_follow_up"] == 1]
    out["sessions_held"] = (before["status"] == "held").groupby(before["replication"]).sum()
    out["sessions_cancelled_share"] = (before["status"] == "cancelled").groupby(before["replication"]).mean()
    out["plan_not_reviewed"] = (before["cancel_reason"] == "plan_not_reviewed").groupby(before["replication"]).sum()
    g = cons.groupby("replication")
    out["consumers_recruited"] = g.size()
    # With an open caseload consumers.csv has a row for everyone referred, also those still waiting or
    # referred after follow-up: completion is a share of those who had joined a group by follow-up
    # (docs/data_dictionary.md); for the closed cohort that is everyone recruited.
    joined = cons[joined_by_follow_up(cons)]
    out["consumer_completion"] = joined.groupby("replication")["evaluated"].mean()
    out["consumer_sessions_attended"] = g["sessions_attended"].mean()
    out["consumer_attendance"] = g["attendance_rate"].mean()
    out["consumer_meets_40pct"] = g["meets_attendance_requirement"].mean()
    ev = cons[cons["evaluated"] == 1].groupby("replication")
    out["consumer_satisfied"] = ev["sat_overall"].mean()
    out["consumer_mood_benefit"] = ev["ben_mood"].mean()
    out["consumer_willing"] = ev["willing_continue"].mean()
    out["provider_completion"] = prov.groupby("replication")["evaluated"].mean()
    out["provider_stressed"] = prov[prov["evaluated"] == 1].groupby("replication")["stressful"].mean()
    cost = cost_per_replication(frames, cost_spec, benefit).set_index("replication")
    for col in ("consumers_served", "consumers_retained", "consumers_benefit", "total_cost"):
        out[col] = cost[col]
    for cat in CATEGORIES:
        out[f"cost_{cat}"] = cost[cat]
    out = out.fillna({"sessions_held": 0, "plan_not_reviewed": 0}).astype(float)
    return out.reset_index()[["replication", *OUTPUTS, *COST_COLUMNS]]


def outputs_for(scenario: Any) -> Callable[[dict[str, pd.DataFrame]], pd.DataFrame]:
    """:func:`planner_outputs` with the scenario's unit costs (picklable, for the runner's workers)."""
    return functools.partial(planner_outputs, cost_spec=getattr(scenario, "costs", None))


@dataclass
class Comparison:
    """Per-replication outputs of each scenario and the summary table of paired differences, with the
    cost-effectiveness of each scenario against the first (:func:`cost_effectiveness`)."""

    names: list[str]
    per_replication: pd.DataFrame  # scenario, replication, outputs...
    table: pd.DataFrame  # one row per scenario x output
    effect: str = DEFAULT_EFFECT
    currency: str = DEFAULT_COSTS.currency
    reps_per_draw: int = 1
    wtp_max: float | None = None
    ce_table: pd.DataFrame | None = field(default=None, repr=False)
    ceac_table: pd.DataFrame | None = field(default=None, repr=False)

    def cost_effectiveness(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(incremental table, CEAC table), computed once (:func:`cost_effectiveness`)."""
        if self.ce_table is None or self.ceac_table is None:
            self.ce_table, self.ceac_table = cost_effectiveness(
                self.names, self.per_replication, self.effect, self.wtp_max, self.reps_per_draw
            )
        return self.ce_table, self.ceac_table


_interval = ce.t_interval


def _clear(lo: Any, hi: Any) -> int:
    """+1 / -1 when a difference's 95% interval lies above / below zero, else 0."""
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return 0
    return 1 if lo > 0 else -1 if hi < 0 else 0


def verdicts(table: pd.DataFrame) -> pd.Series:
    """The verdict of each non-baseline row of a comparison table (scenario, output, diff_ci_low,
    diff_ci_high): "better" / "worse" for outputs with a direction whose interval excludes zero,
    "higher" / "lower" for outputs without one (:data:`OUTPUTS`), "no clear difference" otherwise; a
    per-session rate (:data:`PER_SESSION_RATES`) that rose while delivery clearly fell (fewer sessions
    held or a larger share cancelled) reads "higher, but fewer sessions held" rather than "better"."""
    out = pd.Series(np.nan, index=table.index, dtype=object)
    has = table["diff_ci_low"].notna() | table["diff_ci_high"].notna() if "diff_ci_low" in table else None
    if has is None:
        return out
    fell: dict[str, bool] = {}
    for name, t in table[has].groupby("scenario"):
        by = t.set_index("output")
        held = _clear(*by.loc["sessions_held", ["diff_ci_low", "diff_ci_high"]]) if "sessions_held" in by.index else 0
        cancelled = (
            _clear(*by.loc["sessions_cancelled_share", ["diff_ci_low", "diff_ci_high"]])
            if "sessions_cancelled_share" in by.index
            else 0
        )
        fell[name] = held < 0 or cancelled > 0
    for i in table.index[has]:
        row = table.loc[i]
        direction = OUTPUTS.get(row["output"], ("", None))[1]
        sign = _clear(row["diff_ci_low"], row["diff_ci_high"])
        if sign == 0:
            out[i] = "no clear difference"
        elif direction is None:
            out[i] = "higher" if sign > 0 else "lower"
        elif row["output"] in PER_SESSION_RATES and sign > 0 and fell.get(row["scenario"], False):
            out[i] = "higher, but fewer sessions held"
        else:
            out[i] = "better" if (sign > 0) == direction else "worse"
    return out


def summarise(names: Sequence[str], per_rep: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% CI of each output per scenario, the paired difference from the first and its verdict
    (:func:`verdicts`)."""
    rows: list[dict[str, Any]] = []
    base = per_rep[per_rep["scenario"] == names[0]].set_index("replication").sort_index()
    for name in names:
        cur = per_rep[per_rep["scenario"] == name].set_index("replication").sort_index()
        for col, (label, _) in OUTPUTS.items():
            m, lo, hi, n = _interval(cur[col].to_numpy(dtype=float))
            row = {"scenario": name, "output": col, "label": label, "mean": m, "ci_low": lo, "ci_high": hi, "n": n}
            if name != names[0]:
                d = (cur[col] - base[col]).to_numpy(dtype=float)
                dm, dlo, dhi, _ = _interval(d)
                row.update(difference=dm, diff_ci_low=dlo, diff_ci_high=dhi)
            rows.append(row)
    t = pd.DataFrame(rows)
    if "difference" not in t.columns:
        return t
    t["verdict"] = verdicts(t)
    return t


def cost_effectiveness(
    names: Sequence[str],
    per_rep: pd.DataFrame,
    effect: str = DEFAULT_EFFECT,
    wtp_max: float | None = None,
    reps_per_draw: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each scenario against the first: incremental cost and effect (paired 95% intervals; with
    ``reps_per_draw`` > 1, over the means of consecutive groups of replications that share a parameter
    draw), the ICER or dominance (:mod:`sim.planning.cost_effectiveness`), and the CEAC over a
    willingness to pay from 0 to ``wtp_max`` per unit of effect (default: three times the baseline's
    cost per unit of effect, rounded up). Returns (table, ceac)."""
    if effect not in EFFECTS:
        raise ValueError(f"effect: expected one of {', '.join(EFFECTS)}, got {effect!r}")
    base = per_rep[per_rep["scenario"] == names[0]].sort_values("replication", kind="stable")
    if wtp_max is None:
        e = float(base[effect].mean())
        wtp_max = 3 * float(base["total_cost"].mean()) / e if e > 0 else float(base["total_cost"].mean())
    wtp = ce.wtp_grid(wtp_max)
    rows, curves = [], []
    for name in names[1:]:
        cur = per_rep[per_rep["scenario"] == name].sort_values("replication", kind="stable")
        pair = cur.merge(base, on="replication", suffixes=("", "_base"))
        dc = (pair["total_cost"] - pair["total_cost_base"]).to_numpy(float)
        de = (pair[effect] - pair[effect + "_base"]).to_numpy(float)
        groups = pair["replication"].to_numpy() // max(int(reps_per_draw), 1)
        gc = pd.Series(dc).groupby(groups).mean().to_numpy()
        ge = pd.Series(de).groupby(groups).mean().to_numpy()
        inc = ce.incremental(gc, ge, np.zeros_like(gc), np.zeros_like(ge))
        inc["replications"] = len(dc)
        rows.append({"scenario": name, "baseline": names[0], "effect": effect, **inc})
        curves.append(pd.DataFrame({"scenario": name, "wtp": wtp, "prob_cost_effective": ce.ceac(dc, de, wtp)}))
    return pd.DataFrame(rows), pd.concat(curves, ignore_index=True)


def currency_of(scenarios: Sequence[Any]) -> str:
    """The one currency of the scenarios' unit costs (costs in different currencies cannot be compared)."""
    cur = {(getattr(s, "costs", None) or DEFAULT_COSTS).currency for s in scenarios}
    if len(cur) != 1:
        raise ValueError(f"costs.currency must be the same in every scenario to compare costs, got {sorted(cur)}")
    return cur.pop()


@dataclass(frozen=True)
class CompareOptions:
    """How a comparison runs and what its cost-effectiveness section weighs: ``workers`` and
    ``scheduler`` of the runner's pool, ``progress`` (a bar), ``effect`` (one of :data:`EFFECTS`) and
    ``wtp_max`` (top of the willingness-to-pay axis per unit of effect; default three times the
    baseline's cost per unit, :func:`cost_effectiveness`)."""

    workers: int | None = None
    scheduler: str | None = None
    progress: bool = False
    effect: str = DEFAULT_EFFECT
    wtp_max: float | None = None


def compare_scenarios(
    scenarios: Sequence[Any], replications: int, seed: int | None = None, options: CompareOptions | None = None
) -> Comparison:
    """Run ``replications`` of every scenario with one seed (common random numbers) and compare.

    The first scenario is the baseline. ``seed`` defaults to the baseline scenario's seed.
    """
    return run_comparison(scenarios, replications, seed, options or CompareOptions())


def run_comparison(
    scenarios: Sequence[Any],
    replications: int,
    seed: int | None,
    options: CompareOptions,
    draws: Sequence[Callable[[int], Any]] | None = None,
) -> Comparison:
    """The comparison of :func:`compare_scenarios` and of ``compare --parameter-uncertainty``
    (:func:`sim.uncertainty.compare_with_parameter_uncertainty`): replications ``0 .. replications-1``
    of every scenario with root ``seed`` (default: the baseline's) on one pool; with ``draws``,
    ``draws[i](r)`` is the parameter set of scenario ``i``'s replication ``r``."""
    if len(scenarios) < 2:
        raise ValueError("compare needs at least two scenarios")
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must differ to be compared: {names}")
    if options.effect not in EFFECTS:
        raise ValueError(f"effect: expected one of {', '.join(EFFECTS)}, got {options.effect!r}")
    currency = currency_of(scenarios)
    seed = scenarios[0].seed if seed is None else seed
    parts = []
    with ReplicationPool(workers=options.workers, scheduler=options.scheduler) as pool:
        for i, sc in enumerate(scenarios):
            per = None if draws is None else [draws[i](r) for r in range(replications)]
            df = map_replications(
                outputs_for(sc),
                sc,
                replications,
                seed=seed,
                parameters_per_rep=per,
                pool=pool,
                progress=options.progress,
            )
            df = df.sort_values("replication", kind="stable").reset_index(drop=True)
            df.insert(0, "scenario", sc.name)
            parts.append(df)
    per_rep = pd.concat(parts, ignore_index=True)
    return Comparison(names, per_rep, summarise(names, per_rep), options.effect, currency, wtp_max=options.wtp_max)
