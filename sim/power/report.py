"""Presentation of a design's power (``cli.py power DESIGN.yaml``): ``report.md``, ``power.csv``,
``joint_power.csv`` (several outcomes), ``process_inputs.csv``, ``searches.csv``, ``power_curve.png``,
``schedule.png`` and the console tables. No statistics here: everything comes from :mod:`.run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..reporting import console, pyplot, rich_table, save_figure
from .run import DesignResult

ANALYSIS_LABEL = {
    "cluster_t": "cluster-level t (ANCOVA with a baseline)",
    "mixed": "linear mixed model (MixedLM, cluster-period means)",
    "gee": "GEE exchangeable, Mancl-DeRouen SEs",
    "individual_t": "two-sample t",
}


def _fmt(x: Any, nd: int = 3) -> str:
    if isinstance(x, (float, np.floating)):
        return "–" if not np.isfinite(x) else f"{x:.{nd}f}"
    return str(x)


def _inputs_lines(r: DesignResult) -> list[str]:
    p = r.plan
    d = p.design
    lines = [
        "| input | value | source |",
        "|---|---|---|",
        f"| design | {d.type} | design |",
    ]
    if d.type != "individual":
        lines += [
            f"| clusters (communities) | {p.clusters} | design |",
            f"| periods | {p.X.shape[1]} ({d.period_months:g} months each) | design |",
            f"| consumers recruited per community, m | {p.m:.3g} | {p.sources.get('cluster_size')} |",
            f"| CV of community sizes | {p.cv:.3g} | {p.sources.get('cluster_size_cv')} |",
            f"| implementation lag: share of the effect in the first period | {p.lag:.3g} | "
            f"{p.sources.get('implementation_lag')} |",
        ]
    else:
        lines.append(f"| consumers recruited per arm | {d.individuals_per_arm} | design |")
    lines += [
        f"| share measured, by period | {', '.join(f'{x:.3f}' for x in p.retention)} | {p.sources.get('attrition')} |",
        f"| secular trend per period | {d.secular_trend:g} | design (user input) |",
    ]
    for o in p.outcomes:
        lines += [
            f"| {o.name}: usual-care {'rate' if o.kind == 'binary' else 'mean'} | {o.control:g} | design (user) |",
            f"| {o.name}: effect (peer support - usual care) | {o.effect:.4g} | {o.sources.get('effect')} |",
            f"| {o.name}: ICC | {o.icc:.4f} | {o.sources.get('icc')} |",
        ]
        if o.kind == "continuous":
            lines.append(f"| {o.name}: SD | {o.sd:.3g} | design or simulation |")
    return lines


def _power_lines(t: pd.DataFrame) -> list[str]:
    sim = "power" in t.columns
    head = "| clusters | size | outcome | analysis | analytic (HH/GLS) |"
    sep = "|---|---|---|---|---|"
    if "power_cluster_t_analytic" in t.columns and t["power_cluster_t_analytic"].notna().any():
        head += " analytic cluster t | design effect |"
        sep += "---|---|"
    if sim:
        head += (
            " simulated ± MC SE | without failures | adjusted | converged / singular / failed | type I error (flag) |"
        )
        sep += "---|---|---|---|---|"
    lines = [head, sep]
    for _, x in t.iterrows():
        s = (
            f"| {x['clusters']} | {x['cluster_size']:.3g} | {x['outcome']} | {x.get('analysis', '–')} | "
            f"{_fmt(x['power_analytic'])} |"
        )
        if "power_cluster_t_analytic" in t.columns and t["power_cluster_t_analytic"].notna().any():
            s += f" {_fmt(x['power_cluster_t_analytic'])} | {_fmt(x['power_design_effect'])} |"
        if sim:
            flag = " **FLAG**" if bool(x.get("type1_flag", False)) else ""
            t1 = f"{_fmt(x.get('type1_error', np.nan))}{flag}" if "type1_error" in t.columns else "–"
            s += (
                f" {x['power']:.3f} ± {x['mc_se']:.3f} | {_fmt(x['power_without_failures'])} | "
                f"{_fmt(x['power_adjusted'])} | "
                f"{x['converged']:.2f} / {x['singular']:.2f} / {x['not_converged']:.2f} | "
                f"{t1} |"
            )
        lines.append(s)
    return lines


def write_report(out: Path, r: DesignResult, command: str = "") -> None:
    """All files into ``out`` (a fresh temporary folder: the caller moves it into place)."""
    out = Path(out)
    d = r.plan.design
    r.table.to_csv(out / "power.csv", index=False, float_format="%.6g", lineterminator="\n")
    if not r.joint.empty:
        r.joint.to_csv(out / "joint_power.csv", index=False, float_format="%.6g", lineterminator="\n")
    pd.DataFrame(r.searches).to_csv(out / "searches.csv", index=False, float_format="%.6g", lineterminator="\n")
    if r.process is not None:
        r.process.design.table.to_csv(out / "process_inputs.csv", index=False, float_format="%.6g", lineterminator="\n")
        pd.DataFrame({"retention": r.process.retention, "ramp_up": r.process.ramp}).rename_axis(
            "month_since_start"
        ).to_csv(out / "process_by_month.csv", float_format="%.6g", lineterminator="\n")
        if not r.process.icc_by_wave.empty:
            r.process.icc_by_wave.to_csv(out / "icc_by_wave.csv", index=False, float_format="%.6g", lineterminator="\n")
    alpha = d.alpha
    lines = [
        f"# Power: {d.name}",
        "",
        d.description,
        "",
        f"Design file `{d.source_path}`; scenario `{d.scenario}` ({d.replications} simulated studies for the "
        f"process data); {d.trials} simulated trials per point (seed {d.seed}); two-sided alpha {alpha:g}; "
        f"target power {d.target_power:g}; multiplicity: {d.multiplicity}.",
        "",
        "## Inputs",
        "",
        *_inputs_lines(r),
        "",
        "## Power",
        "",
        *_power_lines(r.table),
        "",
    ]
    if "type1_flag" in r.table.columns and r.table["type1_flag"].fillna(False).astype(bool).any():
        bad = r.table[r.table["type1_flag"].fillna(False).astype(bool)]
        lines += [
            "**Type I error differs from alpha by more than 3 Monte Carlo SEs** for: "
            + "; ".join(f"{x['analysis']} ({x['outcome']}, {x['clusters']} clusters)" for _, x in bad.iterrows())
            + ". Its nominal power is not to be trusted there.",
            "",
        ]
    if not r.joint.empty:
        lines += [
            f"## Several outcomes ({d.multiplicity})",
            "",
            "| clusters | analysis | all of them | at least one |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {x['clusters']} | {x['analysis']} | {x['power_all_of']:.3f} ± {x['mc_se_all_of']:.3f} | "
            f"{x['power_at_least_one']:.3f} ± {x['mc_se_at_least_one']:.3f} |"
            for _, x in r.joint.iterrows()
        ]
        lines.append("")
    lines += [
        f"## Searches (analytic, target power {d.target_power:g})",
        "",
        "| outcome | fewest clusters | smallest community size (design's clusters) | minimum detectable effect |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {s['outcome']} | {_fmt(s['fewest_clusters'])} | {_fmt(s['smallest_cluster_size'])} | "
        f"{_fmt(s['minimum_detectable_effect'], 4)} |"
        for s in r.searches
    ]
    lines += [
        "",
        "## Methods",
        "",
        "- *Analytic*: Hussey & Hughes (2007) model (fixed period effects, random community intercept) on "
        "cluster-period means, variance of the effect by generalised least squares (their closed form for complete "
        "designs; Kasza et al. 2022 for incomplete and batched ones), normal approximation, two-sided; the effect "
        "shrunk by the implementation lag; varying community sizes inflate the cluster-period variance by 1 + CV². "
        "With several outcomes the searches use alpha / K.",
        "- *Simulated*: trials drawn from the same model with the process inputs (community sizes gamma-distributed "
        "with the simulated CV, consumers measured per period by the simulated retention, binary answers with a "
        "community effect on the rate scale), analysed by: "
        + "; ".join(f"{k}: {v}" for k, v in ANALYSIS_LABEL.items())
        + ". GEE estimates are log odds ratios; the others differences.",
        "- Fits are classified converged, singular (a variance component at zero: usable) or not converged "
        "(counted as not significant in *simulated*, left out in *without failures*). Monte Carlo SE "
        "sqrt(p(1 - p)/trials). Every point is also simulated under the null; a type I error more than 3 Monte "
        "Carlo SEs from alpha is flagged.",
        "",
    ]
    if command:
        lines += ["Command: `" + command + "`", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    _figures(out, r)


def _figures(out: Path, r: DesignResult) -> None:
    plt = pyplot()

    t = r.table
    d = r.plan.design
    x_col = "clusters" if t["clusters"].nunique() > 1 or t["cluster_size"].nunique() == 1 else "cluster_size"
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for o, g in t.groupby("outcome", sort=False):
        ana = g.drop_duplicates(x_col).sort_values(x_col)
        ax.plot(ana[x_col], ana["power_analytic"], "-", label=f"{o}: analytic (HH/GLS)")
        if "power" in g.columns:
            for an, h in g.groupby("analysis", sort=True):
                h = h.sort_values(x_col)
                lo = np.clip(h["power"] - 1.96 * h["mc_se"], 0, 1)
                hi = np.clip(h["power"] + 1.96 * h["mc_se"], 0, 1)
                ax.plot(h[x_col], h["power"], "o--", ms=4, label=f"{o}: {an} (simulated)")
                ax.fill_between(h[x_col], lo, hi, alpha=0.2)
    ax.axhline(d.target_power, color="grey", lw=0.8, ls=":")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("communities (total)" if x_col == "clusters" else "consumers per community")
    ax.set_ylabel("power (band: 95% Monte Carlo interval)")
    ax.set_title(f"{d.name}", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save_figure(fig, out / "power_curve.png", dpi=110)
    if d.type in ("stepped_wedge", "parallel_baseline"):
        X = r.plan.X
        fig, ax = plt.subplots(figsize=(5, max(2.5, 0.08 * X.shape[0] + 1)))
        ax.imshow(np.ma.masked_invalid(X), aspect="auto", cmap="Blues", vmin=-0.3, vmax=1.2, interpolation="nearest")
        ax.set_xlabel(f"period ({d.period_months:g} months)")
        ax.set_ylabel("community")
        ax.set_title("schedule: dark = peer support, light = usual care, blank = not measured", fontsize=8)
        fig.tight_layout()
        save_figure(fig, out / "schedule.png", dpi=110)


def print_result(r: DesignResult, out_dir: Path) -> None:
    con = console()
    cols = ["clusters", "outcome", "analysis", "analytic", "simulated ± MC SE", "w/o failures", "type I"]
    t = rich_table(f"Power: {r.plan.design.name} ({r.plan.design.type})", cols)
    for _, x in r.table.iterrows():
        sim = f"{x['power']:.3f} ± {x['mc_se']:.3f}" if "power" in x else "–"
        t1 = _fmt(x.get("type1_error", np.nan)) + (" !" if bool(x.get("type1_flag", False)) else "")
        t.add_row(
            str(x["clusters"]),
            str(x["outcome"]),
            str(x.get("analysis", "–")),
            _fmt(x["power_analytic"]),
            sim,
            _fmt(x.get("power_without_failures", np.nan)),
            t1,
        )
    con.print(t)
    for s in r.searches:
        con.print(
            f"{s['outcome']}: fewest clusters {s['fewest_clusters']}, smallest community size "
            f"{s['smallest_cluster_size']}, minimum detectable effect {_fmt(s['minimum_detectable_effect'], 4)} "
            f"(target power {s['target_power']:g})"
        )
    con.print(f"Backend: {r.backend}. Written to [bold]{out_dir}[/bold]")
