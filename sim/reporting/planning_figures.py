"""The planner's report's figures (``figures/planning_*.png``): monthly bands by wave and setting, the
causes of lost sessions, doctor utilisation and costs, from the planning summary
(:class:`sim.planning.summary.PlanningSummary`); the report's text is :mod:`sim.reporting.planning`.
A figure whose data the run did not produce is not drawn (None)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..planning.summary import PlanningSummary
from ..planning.tables import CANCEL_REASONS
from .figures import pyplot, save_figure

CAUSE_TEXT = {
    "no_providers": "fewer than two providers available",
    "plan_not_reviewed": "Service Plan Form not reviewed by the community doctor in time",
    "venue_unavailable": "venue unavailable",
    "rescheduled": "rescheduled and dropped (unstructured timing)",
    "other": "other",
}


def _band(ax: Any, s: PlanningSummary, column: str, scope: str, group: str, label: str, **kw: Any) -> None:
    x = s.series(column, scope)
    x = x[x["group"] == group]
    if not len(x):
        return
    (line,) = ax.plot(x["month"], x["mean"], label=label, **kw)
    if s.replications > 1 and s.percentile_reps > 1:
        ax.fill_between(x["month"], x["q025"], x["q975"], color=line.get_color(), alpha=0.15, lw=0)


def _by_wave_panel(ax: Any, s: PlanningSummary, column: str, title: str) -> None:
    for w in s.groups("wave"):
        _band(ax, s, column, "wave", w, f"wave {w}")
    _band(ax, s, column, "district", "all", "district", color="black", lw=2)
    ax.set_title(title)
    ax.set_xlabel("month")
    ax.legend(fontsize=7, ncol=2)


def _figure_sessions(d: Path, s: PlanningSummary) -> str | None:
    if not s.has("sessions_held"):
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    _by_wave_panel(axes[0], s, "sessions_held", "Sessions held per month")
    _band(axes[1], s, "sessions_cancelled", "district", "all", "district: cancelled", color="tab:red")
    settings = s.groups("setting")
    for g in settings if len(settings) > 1 else []:
        _band(axes[1], s, "sessions_cancelled", "setting", g, f"{g}: cancelled", ls="--")
    axes[1].set_title("Sessions cancelled per month")
    axes[1].set_xlabel("month")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, d / "planning_sessions.png")


def _figure_caseload(d: Path, s: PlanningSummary) -> str | None:
    if not s.has("enrolled"):
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    _by_wave_panel(axes[0], s, "enrolled", "Consumers enrolled (month end)")
    _by_wave_panel(axes[1], s, "waiting", "Waiting list (month end)")
    fig.tight_layout()
    return save_figure(fig, d / "planning_caseload.png")


def _figure_staff(d: Path, s: PlanningSummary) -> str | None:
    if not s.has("in_post"):
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for col, label in (
        ("in_post", "in post"),
        ("in_training", "in training"),
        ("on_leave", "on leave"),
        ("recruiting", "being recruited"),
    ):
        _band(axes[0], s, col, "district", "all", label)
    axes[0].set_title("Providers in the district (month end)")
    axes[0].set_xlabel("month")
    axes[0].legend(fontsize=7)
    _by_wave_panel(axes[1], s, "in_post", "Providers in post, by wave")
    fig.tight_layout()
    return save_figure(fig, d / "planning_staff.png")


def _figure_bottlenecks(d: Path, s: PlanningSummary) -> str | None:
    t = s.totals
    causes = [c for c in (*CANCEL_REASONS, "other") if f"lost_{c}" in t.columns and t[f"lost_{c}"].sum() > 0]
    if not causes:
        return None
    causes.sort(key=lambda c: float(t[f"lost_{c}"].mean()))
    m = np.array([t[f"lost_{c}"].mean() for c in causes])
    lo = np.array([t[f"lost_{c}"].quantile(0.025) for c in causes])
    hi = np.array([t[f"lost_{c}"].quantile(0.975) for c in causes])
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(causes) + 1.5))
    # A rare cause (lost in a few replications only) has a mean above its 97.5% quantile: no bar end below it.
    err = [np.clip(m - lo, 0, None), np.clip(hi - m, 0, None)]
    ax.barh(range(len(causes)), m, xerr=err, color="tab:red", alpha=0.7)
    ax.set_yticks(range(len(causes)))
    ax.set_yticklabels([CAUSE_TEXT.get(c, c) for c in causes], fontsize=8)
    ax.set_xlabel("sessions lost over the run (mean, 95% of replications)")
    ax.set_title("Bottlenecks: what cancels sessions")
    fig.tight_layout()
    return save_figure(fig, d / "planning_bottlenecks.png")


def _figure_utilisation(d: Path, s: PlanningSummary) -> str | None:
    if not s.has("doctor_busy_days"):
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    settings = s.groups("setting")  # one line per setting only when there are two
    for scope, groups in (("setting", settings if len(settings) > 1 else []), ("district", ["all"])):
        for g in groups:
            a = s.series("doctor_busy_days", scope)
            b = s.series("doctor_service_days", scope)
            a, b = a[a["group"] == g], b[b["group"] == g]
            u = a["mean"].to_numpy() / np.where(b["mean"].to_numpy() > 0, b["mean"].to_numpy(), np.nan)
            style = {"color": "black", "lw": 2} if scope == "district" else {"lw": 1}
            ax.plot(a["month"], 100 * u, label="district" if scope == "district" else g, **style)
    ax.set_ylabel("% of doctor hours busy")
    ax.set_xlabel("month")
    ax.set_title("Community doctor utilisation (mean over communities in service)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, d / "planning_utilisation.png")


FIGURES: dict[str, Callable[[Path, PlanningSummary], str | None]] = {
    "sessions": _figure_sessions,
    "caseload": _figure_caseload,
    "staff": _figure_staff,
    "utilisation": _figure_utilisation,
    "bottlenecks": _figure_bottlenecks,
}


def figure_costs(d: Path, s: PlanningSummary, spec: Any) -> str | None:
    from ..planning.summary import monthly_costs

    if spec is None:
        return None
    mc = monthly_costs(s, spec)
    if not len(mc):
        return None
    cats = [c for c in mc.columns if c not in ("group", "month")]
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].stackplot(mc["month"], *[mc[c] for c in cats], labels=[c.replace("_", " ") for c in cats], alpha=0.8)
    axes[0].set_title(f"Cost per month by category (mean, {spec.currency})")
    axes[0].set_xlabel("month")
    axes[0].legend(fontsize=7, loc="upper left")
    by_wave = monthly_costs(s, spec, "wave")
    if len(by_wave):
        by_wave["total"] = by_wave[cats].sum(axis=1)
        for g in dict.fromkeys(by_wave["group"]):
            x = by_wave[by_wave["group"] == g]
            axes[1].plot(x["month"], x["total"].cumsum(), label=f"wave {g}")
        tot = mc[cats].sum(axis=1).cumsum()
        axes[1].plot(mc["month"], tot, color="black", lw=2, label="district")
    axes[1].set_title(f"Cumulative cost (mean, {spec.currency})")
    axes[1].set_xlabel("month")
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:,.0f}")
    fig.tight_layout()
    return save_figure(fig, d / "planning_costs.png")
