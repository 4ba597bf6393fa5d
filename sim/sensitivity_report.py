"""Files of a sensitivity study (:mod:`sim.sensitivity`): ``sobol.csv``, ``outputs.csv``, ``samples.csv``,
``spec.yaml``, ``report.md`` and ``sensitivity.png``. Presentation only; the numbers come from
:class:`~sim.sensitivity.SobolResult`. Everything written is a function of the result (no clock), so
the same scenario, spec and seed give the same bytes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .reporting import console, pyplot, save_figure
from .sensitivity import OUTPUT_LABELS, SobolResult, Spec

CLEAR_ST = 0.05  # ST below this: no clear effect (in the plain-language lines)
NOISY = 0.5  # noise share above this: the indices of that output mostly measure replication noise


def _ci(x: float, h: float) -> str:
    return f"{x:.2f} [{x - h:.2f}, {x + h:.2f}]"


def driver_sentence(label: str, rows: pd.DataFrame, status: str, noise_share: float) -> str:
    """'<output> is driven mostly by X (ST = ...), then Y (...)' from one output's rows of ``sobol.csv``."""
    if status != "ok":
        reason = (
            "none of the varied parameters moves it"
            if "same value" in status
            else "it has no value at some points (e.g. nobody left to evaluate)"
        )
        return f"- **{label}**: {status}; {reason}."
    r = rows.sort_values("ST", ascending=False, kind="stable")
    top = r.iloc[0]
    if top["ST"] < CLEAR_ST:
        text = f"- **{label}**: no varied parameter has a clear effect (largest ST = {top['ST']:.2f}"
        text += f", `{top['parameter']}`)"
    else:
        text = f"- **{label}** is driven mostly by `{top['parameter']}` (ST = {_ci(top['ST'], top['ST_conf'])})"
        others = [x for x in r.iloc[1:3].itertuples() if x.ST >= CLEAR_ST]
        if others:
            text += ", then " + ", ".join(f"`{x.parameter}` (ST = {_ci(x.ST, x.ST_conf)})" for x in others)
        if len(r) > 1 and top["ST"] - top["ST_conf"] <= r.iloc[1]["ST"] + r.iloc[1]["ST_conf"]:
            text += f"; the intervals of `{top['parameter']}` and `{r.iloc[1]['parameter']}` overlap"
        inter = float(r["ST"].sum() - r["S1"].sum())
        if inter > 0.1:
            text += f"; interactions matter (sum of ST - sum of S1 = {inter:.2f})"
    if math.isfinite(noise_share):
        text += f". Replication noise is about {noise_share:.0%} of its variance over the design"
        if noise_share > NOISY:
            text += ": these indices mostly measure noise (raise --reps-per-point or --n)"
    return text + "."


def _index_table(res: SobolResult, index: str, title: str) -> list[str]:
    """Markdown lines: a section with one row per parameter, one column per output, ``index`` [95% CI]."""
    lines = ["", f"## {title} {index} [95% CI]", ""]
    lines += ["| parameter | " + " | ".join(res.outputs) + " |", "|---" * (len(res.outputs) + 1) + "|"]
    for f in res.factors:
        cells = []
        for out in res.outputs:
            r = res.table[(res.table["output"] == out) & (res.table["parameter"] == f.name)].iloc[0]
            cells.append("-" if not math.isfinite(r[index]) else _ci(r[index], r[index + "_conf"]))
        lines.append(f"| `{f.name}` | " + " | ".join(cells) + " |")
    return lines


def report_text(res: SobolResult) -> str:
    m = res.meta
    D = len(res.factors)
    lines = [
        f"# Global sensitivity: {m.get('scenario', '')}",
        "",
        f"Sobol' indices (Saltelli design, SALib) of {len(res.outputs)} planner outputs over {D} parameters: "
        f"N = {res.n} base points, N(2D+2) = {len(res.X)} parameter sets, {res.Y_reps.shape[1]} replication(s) "
        f"per set with common random numbers (replication k of every set uses seed {m.get('seed')} and "
        f"replication number k), {len(res.X) * res.Y_reps.shape[1]:,} replications in all. "
        f"Ranges: {m.get('spec') or 'spec'}; every other parameter keeps the scenario's value.",
        "",
        "**S1** (first order): the share of an output's variance over the design that one parameter explains alone. "
        "**ST** (total): the share it explains with all its interactions; ST near 0 means the output does not "
        "depend on the parameter within its range. Intervals are 95% bootstrap intervals "
        f"({m.get('num_resamples')} resamples). An output is each set's mean over its replications, so what "
        "replication noise remains shows up as interaction; more replications per set lower it.",
        "",
        "## Which parameter drives which output",
        "",
    ]
    for _, s in res.summary.iterrows():
        rows = res.table[res.table["output"] == s["output"]]
        lines.append(driver_sentence(s["label"], rows, s["status"], s["noise_share"]))
    lines += _index_table(res, "ST", "Total-order indices")
    lines += _index_table(res, "S1", "First-order indices")
    lines += ["", "## Outputs", "", "| output | label | mean | SD over the design | replication noise share |"]
    lines += ["|---|---|---|---|---|"]
    for _, s in res.summary.iterrows():
        noise = f"{s['noise_share']:.0%}" if math.isfinite(s["noise_share"]) else "-"
        lines.append(f"| {s['output']} | {s['label']} | {s['mean']:.4g} | {s['sd']:.3g} | {noise} |")
    lines += ["", "## Parameters", "", "| parameter | distribution | source |", "|---|---|---|"]
    for f in res.factors:
        lines.append(f"| `{f.name}` | {f.describe()} | {f.source} |")
    lines += [
        "",
        "![ST (bars, 95% CI) and S1 (dots) per output and parameter](sensitivity.png)",
        "",
        "Files: `sobol.csv` (S1, S1_conf, ST, ST_conf per output x parameter; *_conf are 95% half-widths), "
        "`outputs.csv` (this summary), `samples.csv` (every parameter set and its outputs, mean over replications), "
        "`spec.yaml` (the ranges, usable as `--spec`).",
        "",
    ]
    return "\n".join(lines)


def plot(res: SobolResult, path: Path) -> None:
    """One panel per output: ST as bars with 95% CI whiskers, S1 as dots, parameters on the y axis.
    Drawn in matplotlib's default style, whatever another module set globally, so the bytes depend
    on the result only."""
    plt = pyplot()

    with plt.style.context("default"):
        _draw(res, path, plt)


def _draw(res: SobolResult, path: Path, plt) -> None:
    import textwrap

    names = [f.name for f in res.factors]
    k = len(res.outputs)
    fig, axes = plt.subplots(1, k, figsize=(2.6 * k + 3.2, 0.32 * len(names) + 2.0), sharey=True, squeeze=False)
    y = np.arange(len(names))
    summary = res.summary.set_index("output")
    for ax, out in zip(axes[0], res.outputs, strict=True):
        t = res.table[res.table["output"] == out].set_index("parameter").reindex(names)
        st, s1, h = (t[c].to_numpy(float) for c in ("ST", "S1", "ST_conf"))
        title = textwrap.fill(OUTPUT_LABELS.get(out, out), 30)
        noise = float(summary.loc[out, "noise_share"])
        if math.isfinite(noise):
            title += f"\n(replication noise {noise:.0%})"
        if np.all(~np.isfinite(st)):
            ax.text(0.5, 0.5, "not analysed:\nsame value\neverywhere" if "same" in summary.loc[out, "status"]
                    else "not analysed:\nmissing values", ha="center", va="center", transform=ax.transAxes,
                    fontsize=8)  # fmt: skip
            ax.set_xlim(0, 1.05)
        else:
            ax.barh(y, np.nan_to_num(st), xerr=np.nan_to_num(h), color="#4C72B0", alpha=0.8, capsize=2, label="ST")
            ax.plot(s1, y, "o", color="#DD8452", ms=4, label="S1")
            ax.set_xlim(min(0.0, float(np.nanmin(np.r_[st - h, s1]))), max(1.05, float(np.nanmax(st + h)) * 1.02))
        ax.axvline(0, color="grey", lw=0.6)
        ax.axvline(1, color="grey", lw=0.6, ls=":")
        ax.set_title(title, fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0][0].set_yticks(y, names)
    axes[0][0].invert_yaxis()
    handles, labels = [], []
    for ax in axes[0]:
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            break
    if handles:
        fig.legend(handles, labels, loc="upper right", fontsize=7, ncols=2)
    fig.suptitle(
        f"Sobol' indices, {res.meta.get('scenario', '')}: ST (bars, 95% CI) and S1 (dots); N = {res.n}, "
        f"{res.Y_reps.shape[1]} replication(s) per set",
        fontsize=9,
    )
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def write_sensitivity(res: SobolResult, d: Path, spec: Spec | None = None) -> None:
    """Write the study's files into folder ``d`` (call through :func:`sim.outputs.write_folder`)."""
    d = Path(d)
    fmt = {"index": False, "float_format": "%.6g", "lineterminator": "\n"}
    res.table.to_csv(d / "sobol.csv", **fmt)
    res.summary.to_csv(d / "outputs.csv", **fmt)
    samples = pd.DataFrame(res.X, columns=[f.name for f in res.factors])
    samples.insert(0, "point", np.arange(len(samples)))
    for k, out in enumerate(res.outputs):
        samples[out] = res.means[:, k]
    samples.to_csv(d / "samples.csv", **{**fmt, "float_format": "%.10g"})
    spec = spec or Spec(res.factors, res.outputs, str(res.meta.get("spec", "")))
    doc = {"description": f"Sensitivity spec of {res.meta.get('scenario', '')} (ranges from {spec.source})"}
    doc.update(spec.to_dict())
    (d / "spec.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, width=110), encoding="utf-8")
    (d / "report.md").write_text(report_text(res), encoding="utf-8")
    plot(res, d / "sensitivity.png")


def print_summary(res: SobolResult, out_dir: Path, seconds: float) -> None:
    """The command's console summary: one plain-language line per output, then size and time."""
    con = console()
    for _, s in res.summary.iterrows():
        rows = res.table[res.table["output"] == s["output"]]
        con.print(driver_sentence(s["label"], rows, s["status"], s["noise_share"]), markup=False, highlight=False)
    m = res.meta
    con.print(
        f"{m['replications']:,} replications ({m['points']:,} parameter sets x {m['reps_per_point']}) "
        f"in {seconds:.1f} s; written to {out_dir}",
        markup=False,
        highlight=False,
    )
