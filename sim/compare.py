"""Scenario comparison for planners: the same replications of several scenarios, paired differences.

Every scenario is run with the same root seed and replication numbers, so replication ``r`` of each
draws from the same streams per community and source of randomness (common random numbers,
``sim.streams``). Differences against the first (baseline) scenario are therefore paired by
replication, and their confidence intervals are much narrower than those of independent runs
wherever the scenarios' communities line up. A client of :mod:`sim.runner`; no model code here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .reporting import md_table, pyplot, save_figure, write_csv
from .runner import ReplicationPool, map_replications

#: Planner outputs per replication: name -> (label, higher is better).
OUTPUTS: dict[str, tuple[str, bool]] = {
    "sessions_held": ("Sessions held before follow-up", True),
    "sessions_cancelled_share": ("Share of scheduled sessions cancelled", False),
    "consumers_recruited": ("Consumers recruited", True),
    "consumer_completion": ("Consumers completing follow-up (share of recruited)", True),
    "provider_completion": ("Providers completing follow-up (share of recruited)", True),
    "consumer_attendance": ("Consumers' mean attendance rate", True),
    "consumer_meets_40pct": ("Consumers attending > 40% of sessions (share)", True),
    "consumer_satisfied": ("Evaluated consumers satisfied overall (share)", True),
    "consumer_mood_benefit": ("Evaluated consumers reporting better mood (share)", True),
    "consumer_willing": ("Evaluated consumers willing to continue (share)", True),
    "provider_stressed": ("Evaluated providers finding the role stressful (share)", False),
    "plan_not_reviewed": ("Sessions cancelled for want of a doctor's plan review", False),
}


def planner_outputs(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per replication of :data:`OUTPUTS`, from one chunk's tables (runs in the workers)."""
    cons, prov, ses = frames["consumers"], frames["providers"], frames["sessions"]
    reps = np.unique(np.concatenate([cons["replication"].to_numpy(), prov["replication"].to_numpy()]))
    out = pd.DataFrame(index=pd.Index(reps, name="replication"))
    before = ses[ses["before_follow_up"] == 1]
    out["sessions_held"] = (before["status"] == "held").groupby(before["replication"]).sum()
    out["sessions_cancelled_share"] = (before["status"] == "cancelled").groupby(before["replication"]).mean()
    out["plan_not_reviewed"] = (before["cancel_reason"] == "plan_not_reviewed").groupby(before["replication"]).sum()
    g = cons.groupby("replication")
    out["consumers_recruited"] = g.size()
    out["consumer_completion"] = g["evaluated"].mean()
    out["consumer_attendance"] = g["attendance_rate"].mean()
    out["consumer_meets_40pct"] = g["meets_attendance_requirement"].mean()
    ev = cons[cons["evaluated"] == 1].groupby("replication")
    out["consumer_satisfied"] = ev["sat_overall"].mean()
    out["consumer_mood_benefit"] = ev["ben_mood"].mean()
    out["consumer_willing"] = ev["willing_continue"].mean()
    out["provider_completion"] = prov.groupby("replication")["evaluated"].mean()
    out["provider_stressed"] = prov[prov["evaluated"] == 1].groupby("replication")["stressful"].mean()
    out = out.fillna({"sessions_held": 0, "plan_not_reviewed": 0}).astype(float)
    return out.reset_index()[["replication", *OUTPUTS]]


@dataclass
class Comparison:
    """Per-replication outputs of each scenario and the summary table of paired differences."""

    names: list[str]
    per_replication: pd.DataFrame  # scenario, replication, outputs...
    table: pd.DataFrame  # one row per scenario x output


def _interval(x: np.ndarray) -> tuple[float, float, float, int]:
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return np.nan, np.nan, np.nan, 0
    m = float(x.mean())
    if n < 2:
        return m, np.nan, np.nan, n
    h = float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return m, m - h, m + h, n


def summarise(names: Sequence[str], per_rep: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% CI of each output per scenario, and the paired difference from the first."""
    rows: list[dict[str, Any]] = []
    base = per_rep[per_rep["scenario"] == names[0]].set_index("replication").sort_index()
    for name in names:
        cur = per_rep[per_rep["scenario"] == name].set_index("replication").sort_index()
        for col, (label, higher_better) in OUTPUTS.items():
            m, lo, hi, n = _interval(cur[col].to_numpy(dtype=float))
            row = {"scenario": name, "output": col, "label": label, "mean": m, "ci_low": lo, "ci_high": hi, "n": n}
            if name != names[0]:
                d = (cur[col] - base[col]).to_numpy(dtype=float)
                dm, dlo, dhi, _ = _interval(d)
                row.update(difference=dm, diff_ci_low=dlo, diff_ci_high=dhi)
                if np.isfinite(dlo) and np.isfinite(dhi) and (dlo > 0 or dhi < 0):
                    row["verdict"] = "better" if (dm > 0) == higher_better else "worse"
                else:
                    row["verdict"] = "no clear difference"
            rows.append(row)
    return pd.DataFrame(rows)


def compare_scenarios(
    scenarios: Sequence[Any],
    replications: int,
    seed: int | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
) -> Comparison:
    """Run ``replications`` of every scenario with one seed (common random numbers) and compare.

    The first scenario is the baseline. ``seed`` defaults to the baseline scenario's seed.
    """
    if len(scenarios) < 2:
        raise ValueError("compare needs at least two scenarios")
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must differ to be compared: {names}")
    seed = scenarios[0].seed if seed is None else seed
    parts = []
    with ReplicationPool(workers=workers, scheduler=scheduler) as pool:
        for sc in scenarios:
            df = map_replications(planner_outputs, sc, replications, seed=seed, pool=pool, progress=progress)
            df = df.sort_values("replication", kind="stable").reset_index(drop=True)
            df.insert(0, "scenario", sc.name)
            parts.append(df)
    per_rep = pd.concat(parts, ignore_index=True)
    return Comparison(names, per_rep, summarise(names, per_rep))


def write_comparison(comp: Comparison, out_dir: Path) -> None:
    """``comparison.csv`` (summary), ``per_replication.csv``, ``report.md`` and ``comparison.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(comp.table, out_dir / "comparison.csv")
    write_csv(comp.per_replication, out_dir / "per_replication.csv")
    (out_dir / "report.md").write_text(comparison_markdown(comp), encoding="utf-8")
    comparison_figure(comp, out_dir / "comparison.png")


def comparison_markdown(comp: Comparison) -> str:
    """The text of ``report.md``: per scenario, each output against the baseline with its paired difference."""
    base = comp.names[0]
    lines = [
        f"# Scenario comparison (baseline: {base})",
        "",
        f"{comp.per_replication['replication'].nunique()} replications of each scenario with one seed: "
        "replication r of every scenario shares its random numbers per community (common random numbers), "
        "so differences are paired by replication. Intervals are 95% t intervals over replications.",
        "",
    ]
    t = comp.table
    for name in comp.names[1:]:
        rows = []
        for col, (label, _) in OUTPUTS.items():
            b = t[(t["scenario"] == base) & (t["output"] == col)].iloc[0]
            r = t[(t["scenario"] == name) & (t["output"] == col)].iloc[0]
            diff = f"{r['difference']:+.3g} [{r['diff_ci_low']:+.3g}, {r['diff_ci_high']:+.3g}]"
            rows.append([label, f"{b['mean']:.3g}", f"{r['mean']:.3g}", diff, r["verdict"]])
        table = md_table(["output", base, name, "difference [95% CI]", "verdict"], rows)
        lines += [f"## {name} vs {base}", "", *table.rstrip("\n").split("\n"), ""]
    return "\n".join(lines)


def comparison_figure(comp: Comparison, path: Path) -> str:
    """Per output, each scenario's paired difference from the baseline with its 95% interval."""
    plt = pyplot()
    base, others = comp.names[0], comp.names[1:]
    fig, axes = plt.subplots(len(OUTPUTS), 1, figsize=(7, 1.1 * len(OUTPUTS) + 1), sharex=False)
    for ax, (col, (label, _)) in zip(np.atleast_1d(axes), OUTPUTS.items(), strict=False):
        t = comp.table[(comp.table["output"] == col) & (comp.table["scenario"].isin(others))]
        y = np.arange(len(t))
        ax.errorbar(
            t["difference"],
            y,
            xerr=[t["difference"] - t["diff_ci_low"], t["diff_ci_high"] - t["difference"]],
            fmt="o",
            capsize=3,
        )
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(y, t["scenario"])
        ax.set_title(label + f" (difference from {base})", fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
