"""Figures and plain-language sentences for the app's pages, from the tables the backend returns.

Bands: the dark band is the 95% confidence interval of the mean over replications, the light band
holds 95% of the replications (what one rollout could look like); see :func:`summaries.band`.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .summaries import band

#: Planner outputs drawn as shares (0-1) on the Run page's completion/attendance figure.
SHARE_OUTPUTS = (
    "consumer_completion",
    "provider_completion",
    "consumer_attendance",
    "consumer_meets_40pct",
    "sessions_cancelled_share",
)
ROLE_COLOURS = {"consumer": "tab:blue", "provider": "tab:orange"}


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes (closed afterwards)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _bands(ax, x, b: pd.DataFrame, colour: str, label: str) -> None:
    ax.fill_between(x, b["p_low"], b["p_high"], color=colour, alpha=0.15, lw=0, label=f"{label}: 95% of replications")
    ax.fill_between(x, b["ci_low"], b["ci_high"], color=colour, alpha=0.4, lw=0, label=f"{label}: 95% CI of the mean")
    ax.plot(x, b["mean"], color=colour, lw=1.8, label=f"{label}: mean")


def sessions_per_month(monthly: pd.DataFrame, replications: int) -> Figure:
    """Sessions held per study month: mean over replications with both 95% bands."""
    b = band(monthly, ["month"], "held")
    fig, ax = plt.subplots(figsize=(7, 3.4))
    _bands(ax, b["month"] + 0.5, b, "tab:green", "sessions")
    ax.set_xlabel("study month")
    ax.set_ylabel("sessions held in the month")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Sessions per month ({replications} replications)", fontsize=10, loc="left")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def retention(enrolled: pd.DataFrame) -> Figure:
    """Share of those recruited still in the programme at the end of each month, per role."""
    d = enrolled[enrolled["recruited"] > 0].assign(share=lambda x: x["enrolled"] / x["recruited"])
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for role, g in d.groupby("role", sort=True):
        b = band(g, ["month"], "share")
        _bands(ax, b["month"] + 1, b, ROLE_COLOURS.get(role, "grey"), f"{role}s")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("end of study month")
    ax.set_ylabel("still in the programme (share of recruited)")
    ax.set_title("Retention over time", fontsize=10, loc="left")
    ax.legend(fontsize=7, loc="lower left", ncol=2)
    fig.tight_layout()
    return fig


def _interval_bars(ax, labels: list[str], m, lo, hi, colour: str) -> None:
    y = np.arange(len(labels))
    ax.barh(y, m, color=colour, alpha=0.6)
    ax.errorbar(
        m, y, xerr=[np.asarray(m) - np.asarray(lo), np.asarray(hi) - np.asarray(m)], fmt="none", ecolor="k", capsize=3
    )
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.tick_params(labelsize=8)


def completion_attendance(key: pd.DataFrame) -> Figure:
    """Completion, attendance and cancellation shares (mean, 95% CI) from :func:`backend.key_table`."""
    t = key.set_index("output").loc[[o for o in SHARE_OUTPUTS if o in set(key["output"])]]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(t) + 1.2))
    _interval_bars(ax, list(t["label"]), t["mean"], t["ci_low"], t["ci_high"], "tab:purple")
    ax.set_xlabel("share (mean over replications, 95% CI)")
    ax.set_title("Completion and attendance", fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def answers(shares: pd.DataFrame, labels: dict[str, str]) -> Figure:
    """Share answering yes among the evaluated, per item and role (mean, 95% CI over replications)."""
    b = band(shares, ["role", "item"], "share")
    order = {it: i for i, it in enumerate(dict.fromkeys(shares["item"]))}
    b = b.assign(o=b["item"].map(order)).sort_values(["role", "o"])
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(b) + 1.2))
    names = [_short(f"{r}: {labels.get(i, i)}", 52) for r, i in zip(b["role"], b["item"], strict=True)]
    _interval_bars(ax, names, b["mean"], b["ci_low"], b["ci_high"], "tab:blue")
    ax.set_xlabel("share answering yes among those evaluated (95% CI)")
    ax.set_title("Answers at follow-up", fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def forest(table: pd.DataFrame, names: list[str], labels: dict[str, tuple[str, bool]]) -> Figure:
    """Paired differences from the baseline (first name) with 95% CIs, one panel per output."""
    others = names[1:]
    fig, axes = plt.subplots(len(labels), 1, figsize=(7, 0.75 * len(labels) * max(1, len(others)) + 1))
    for ax, (col, (label, better_up)) in zip(np.atleast_1d(axes), labels.items(), strict=False):
        t = table[(table["output"] == col) & table["scenario"].isin(others)]
        y = np.arange(len(t))
        colours = ["tab:green" if v == "better" else "tab:red" if v == "worse" else "grey" for v in t["verdict"]]
        for yi, (d, lo, hi, c) in enumerate(
            zip(t["difference"], t["diff_ci_low"], t["diff_ci_high"], colours, strict=True)
        ):
            ax.errorbar([d], [yi], xerr=[[d - lo], [hi - d]], fmt="none", ecolor=c, capsize=3)
        ax.scatter(t["difference"], y, c=colours, zorder=3)
        ax.axvline(0, color="k", lw=0.7)
        ax.set_yticks(y, t["scenario"])
        ax.set_ylim(-0.7, len(t) - 0.3)
        reading = {True: "higher is better", False: "lower is better"}.get(better_up, "no better or worse")
        ax.set_title(f"{label} ({reading})", fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
    fig.suptitle(f"Difference from {names[0]} (paired replications, 95% CI)", fontsize=10, x=0.02, ha="left")
    fig.tight_layout()
    return fig


def power_curve(table: pd.DataFrame, outcome: str, arm_value: float, control: float) -> Figure:
    """Power by communities per arm: normal, cluster-level t and simulated (± 1.96 MC SE)."""
    k = table["clusters_per_arm"].to_numpy()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(k, table["power_normal"], "o--", label="normal (design effect)")
    ax.plot(k, table["power_cluster_t"], "s-", label="cluster-level t, 2(k-1) df (recommended)")
    ax.errorbar(
        k, table["power_simulated"], yerr=1.96 * table["mc_se"], fmt="^", capsize=3, label="simulated (± 1.96 MC SE)"
    )
    ax.axhline(0.8, color="grey", lw=0.8, ls=":")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(k)
    ax.set_xlabel("communities per arm")
    ax.set_ylabel("power")
    ax.set_title(f"{outcome}: peer support {arm_value:.3g} vs usual care {control:g}", fontsize=10, loc="left")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def _amount(x: float, share: bool) -> str:
    if share:
        return f"{abs(x) * 100:.1f} percentage points"
    return f"{abs(x):.3g}" if abs(x) < 10 else f"{abs(x):.0f}"


def describe_difference(label: str, diff: float, lo: float, hi: float, share: bool) -> str:
    """Plain language for one paired difference, e.g. ``"Sessions held before follow-up: about 30 more
    (95% CI 12 to 48 more)"``; shares in percentage points; "no clear difference" when the CI spans 0."""
    if not np.isfinite(diff):
        return f"{label}: not available"

    def signed(x: float) -> str:
        word = ("higher" if x > 0 else "lower") if share else ("more" if x > 0 else "fewer")
        return "no change" if x == 0 else f"{_amount(x, share)} {word}"

    if lo == hi == diff:  # the same in every paired replication (e.g. consumers recruited)
        return f"{label}: {'no difference' if diff == 0 else signed(diff)} in every paired replication"
    ci = f"95% CI {signed(lo)} to {signed(hi)}" if np.isfinite(lo) and np.isfinite(hi) else "no CI"
    clear = np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0)
    head = f"about {signed(diff)}" if clear else f"no clear difference (estimate {signed(diff)})"
    return f"{label}: {head} ({ci})"
