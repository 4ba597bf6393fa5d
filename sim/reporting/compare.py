"""The comparison's files and words (:mod:`sim.compare` computes it): ``comparison.csv``,
``per_replication.csv``, ``cost_effectiveness.csv``, ``ceac.csv``, ``report.md`` and the figures
``comparison.png``, ``ce_plane.png``, ``ceac.png``; numbers as a person writes them (:func:`plain`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..compare import EFFECTS, OUTPUTS, Comparison
from ..planning import cost_effectiveness as ce
from .figures import pyplot, save_figure
from .markdown import md_table
from .tables import write_csv


def _digits(scale: float) -> int:
    """Decimals for numbers of this size: 0 from 100, 1 from 10, 2 from 1, else 3."""
    return 0 if scale >= 100 else 1 if scale >= 10 else 2 if scale >= 1 else 3


def plain(x: Any, signed: bool = False, scale: float | None = None) -> str:
    """A number as a person writes it: thousands separators, no exponent, decimals by magnitude
    (``1,234``, ``56.7``, ``0.123``; by ``scale`` when given, so an estimate and its interval share their
    decimals); ``-`` for a missing value, ``0`` for a value that rounds to zero."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "-"
    if not np.isfinite(v):
        return "-"
    digits = _digits(abs(v) if scale is None else scale)
    text = f"{v:{'+' if signed else ''},.{digits}f}"
    if float(text.replace(",", "")) == 0:
        return "0"
    return text


def plain_interval(m: Any, lo: Any, hi: Any, signed: bool = True) -> str:
    """``+12.3 [+4.5, +20.1]``: an estimate and its 95% interval in plain numbers with one number of
    decimals (set by the largest of the three)."""
    vals = [abs(float(v)) for v in (m, lo, hi) if v is not None and np.isfinite(float(v))]
    scale = max(vals) if vals else 0.0
    return f"{plain(m, signed, scale)} [{plain(lo, signed, scale)}, {plain(hi, signed, scale)}]"


def csv_number(x: float) -> str:
    """A CSV cell: six significant digits, never an exponent (``2000``, not ``2e+03``)."""
    return np.format_float_positional(x, precision=6, unique=False, fractional=False, trim="-")


def write_comparison(comp: Comparison, out_dir: Path) -> None:
    """``comparison.csv`` (summary), ``per_replication.csv``, ``report.md`` and ``comparison.png``; the
    cost-effectiveness files ``cost_effectiveness.csv``, ``ceac.csv``, ``ce_plane.png`` and ``ceac.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table, curve = comp.cost_effectiveness()
    write_csv(comp.table, out_dir / "comparison.csv", float_format=csv_number)
    write_csv(comp.per_replication, out_dir / "per_replication.csv", float_format=csv_number)
    write_csv(table, out_dir / "cost_effectiveness.csv", float_format=csv_number)
    write_csv(curve, out_dir / "ceac.csv", float_format=csv_number)
    (out_dir / "report.md").write_text(comparison_markdown(comp), encoding="utf-8")
    comparison_figure(comp, out_dir / "comparison.png")
    ce_plane_figure(comp, out_dir / "ce_plane.png")
    ceac_figure(comp, out_dir / "ceac.png")


def difference_text(r: Any) -> str:
    """``+12.3 [+4.5, +20.1]`` in plain numbers (:func:`plain_interval`)."""
    return plain_interval(r["difference"], r["diff_ci_low"], r["diff_ci_high"])


def comparison_markdown(comp: Comparison) -> str:
    """The text of ``report.md``: per scenario, each output against the baseline with its paired difference,
    then the cost-effectiveness section."""
    base = comp.names[0]
    lines = [
        f"# Scenario comparison (baseline: {base})",
        "",
        f"{comp.per_replication['replication'].nunique()} replications of each scenario with one seed: "
        "replication r of every scenario shares its random numbers per community (common random numbers), "
        "so differences are paired by replication. Intervals are 95% t intervals over replications.",
        "",
        "Verdicts: better / worse only for outputs with a direction; counts set by the design (consumers "
        "recruited) and costs read higher / lower. A per-session rate (attendance) that rose while fewer "
        "sessions were held reads 'higher, but fewer sessions held': compare sessions attended per consumer.",
        "",
    ]
    t = comp.table
    for name in comp.names[1:]:
        rows = []
        for col, (label, _) in OUTPUTS.items():
            b = t[(t["scenario"] == base) & (t["output"] == col)].iloc[0]
            r = t[(t["scenario"] == name) & (t["output"] == col)].iloc[0]
            verdict = r["verdict"] if isinstance(r["verdict"], str) else "not available"  # undefined in one
            rows.append([label, plain(b["mean"]), plain(r["mean"]), difference_text(r), verdict])
        table = md_table(["output", base, name, "difference [95% CI]", "verdict"], rows)
        lines += [f"## {name} vs {base}", "", *table.rstrip("\n").split("\n"), ""]
    return "\n".join(lines + cost_effectiveness_markdown(comp))


def _status_text(r: Any, currency: str, unit: str) -> str:
    status = r["status"]
    if status == ce.STATUS_ICER:
        return f"{plain(r['icer'])} {currency} per extra {unit}"
    if status == ce.STATUS_SW:
        return f"saves {plain(r['icer'])} {currency} per {unit} given up"
    return {
        "dominates": "dominates (at least as effective, no dearer)",
        "dominated": "dominated (no more effective, no cheaper)",
    }.get(status, status)


def cost_effectiveness_sentences(comp: Comparison) -> list[str]:
    """One plain sentence per scenario: incremental cost and effect with their intervals, and the ICER or
    dominance (printed by ``cli.py compare``)."""
    table, _ = comp.cost_effectiveness()
    unit, cur = EFFECTS[comp.effect], comp.currency
    return [
        f"{r['scenario']} vs {r['baseline']}: incremental cost "
        f"{plain_interval(r['delta_cost'], r['delta_cost_ci_low'], r['delta_cost_ci_high'])} {cur}, "
        f"incremental effect {plain_interval(r['delta_effect'], r['delta_effect_ci_low'], r['delta_effect_ci_high'])}"
        f" ({comp.effect}): {_status_text(r, cur, unit)}"
        for _, r in table.iterrows()
    ]


def cost_effectiveness_markdown(comp: Comparison) -> list[str]:
    """The cost-effectiveness section of ``report.md``."""
    table, curve = comp.cost_effectiveness()
    unit = EFFECTS[comp.effect]
    cur = comp.currency
    lines = [
        "## Cost-effectiveness",
        "",
        f"Incremental cost (whole simulated period, {cur}) and incremental effect ({comp.effect}: per {unit}) "
        f"of each scenario against {comp.names[0]}, paired by replication, with 95% intervals. The ICER "
        "(incremental cost per unit of effect) is given only where both differences are clear; otherwise the "
        "scenario dominates, is dominated, or shows no clear difference (a ratio whose denominator may be "
        "zero means nothing). Unit costs: the scenario's `costs:` section (illustrative defaults when absent). "
        "Plane: `ce_plane.png`; acceptability curve: `ceac.png`, `ceac.csv` (the share of paired "
        "replications in which the scenario is cost-effective at each willingness to pay).",
        "",
    ]
    rows = []
    for _, r in table.iterrows():
        c = curve[curve["scenario"] == r["scenario"]]
        half = c.loc[c["prob_cost_effective"] >= 0.5, "wtp"]
        rows.append(
            [
                r["scenario"],
                plain_interval(r["delta_cost"], r["delta_cost_ci_low"], r["delta_cost_ci_high"]),
                plain_interval(r["delta_effect"], r["delta_effect_ci_low"], r["delta_effect_ci_high"]),
                _status_text(r, cur, unit),
                plain(half.iloc[0]) if len(half) else f"above {plain(c['wtp'].max())}",
            ]
        )
    lines += (
        md_table(
            [
                "scenario",
                f"incremental cost ({cur})",
                "incremental effect",
                "ICER or dominance",
                f"lowest WTP with P(cost-effective) >= 0.5 ({cur} per {unit})",
            ],
            rows,
        )
        .rstrip("\n")
        .split("\n")
    )
    return [*lines, ""]


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
        _plain_axis(ax.xaxis)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def _plain_axis(axis: Any) -> None:
    """Tick labels in plain numbers (no offset or exponent)."""
    from matplotlib.ticker import FuncFormatter

    def fmt(v: float, _pos: Any) -> str:
        lo, hi = axis.get_view_interval()
        return plain(v, scale=max(abs(lo), abs(hi)))

    axis.set_major_formatter(FuncFormatter(fmt))


def ce_plane_figure(comp: Comparison, path: Path) -> str:
    """The cost-effectiveness plane: each paired replication's (incremental effect, incremental cost) per
    scenario, its mean (large marker) and the willingness-to-pay line at the middle of the CEAC's range."""
    plt = pyplot()
    _, curve = comp.cost_effectiveness()
    per = comp.per_replication
    base = per[per["scenario"] == comp.names[0]].set_index("replication")
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for i, name in enumerate(comp.names[1:]):
        cur = per[per["scenario"] == name].set_index("replication")
        de, dc = cur[comp.effect] - base[comp.effect], cur["total_cost"] - base["total_cost"]
        colour = f"C{i}"
        ax.scatter(de, dc, s=8, alpha=0.35, color=colour)
        ax.scatter([de.mean()], [dc.mean()], s=80, color=colour, edgecolor="k", zorder=3, label=name)
    ax.axhline(0, color="k", lw=0.7)
    ax.axvline(0, color="k", lw=0.7)
    wtp = float(curve["wtp"].max()) / 2 if len(curve) else 0.0
    if wtp > 0:
        x = np.array(ax.get_xlim())
        ax.plot(
            x,
            wtp * x,
            ls="--",
            color="grey",
            lw=0.8,
            label=f"WTP {plain(wtp)} {comp.currency} per {EFFECTS[comp.effect]}",
        )
        ax.set_xlim(*x)
    ax.set_xlabel(f"incremental effect ({comp.effect})")
    ax.set_ylabel(f"incremental cost ({comp.currency})")
    ax.set_title(f"Cost-effectiveness plane against {comp.names[0]} (one dot per paired replication)", fontsize=9)
    _plain_axis(ax.xaxis)
    _plain_axis(ax.yaxis)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def ceac_figure(comp: Comparison, path: Path) -> str:
    """The cost-effectiveness acceptability curve of each scenario against the baseline."""
    plt = pyplot()
    _, curve = comp.cost_effectiveness()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, c in curve.groupby("scenario", sort=False):
        ax.plot(c["wtp"], c["prob_cost_effective"], label=str(name))
    ax.axhline(0.5, color="grey", lw=0.6, ls=":")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"willingness to pay ({comp.currency} per {EFFECTS[comp.effect]})")
    ax.set_ylabel("probability cost-effective")
    ax.set_title(f"Cost-effectiveness acceptability against {comp.names[0]}", fontsize=9)
    _plain_axis(ax.xaxis)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
