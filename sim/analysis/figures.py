"""The analysis figures (``figures/*.png``), the paper's printed figure beside each simulated one.

One function per figure: retention by wave (Results, response rates), satisfaction answers by
wave (Tables S2/S4), perceived benefit of providers vs consumers (Table 3), the share of
replications in which each test was significant (many replications), and session content
(Methods: "top three 19%, 16%, 15%"). Files are written through :mod:`sim.reporting`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from .. import instruments as ins
from ..forked import Forked, in_child
from ..reporting import figure_dir, pyplot, save_figure
from . import prep as P
from .tables import paper_cells

PROVIDER_COLOUR, CONSUMER_COLOUR = "#4c72b0", "#dd8452"


def yerr(m, lo, hi) -> np.ndarray:
    """Error bars from the mean to the percentiles; clipped at 0 (beyond 10,000 replications the mean
    covers all replications, the percentiles the first 10,000, so the mean may fall outside)."""
    m, lo, hi = (np.asarray(x, dtype=float) for x in (m, lo, hi))
    return np.maximum(np.array([m - lo, hi - m]), 0)


@dataclass
class FigureData:
    """What the figures draw: aggregated cells (mean, 2.5%, 97.5%), the paper's cells, the waves,
    and whether this is one replication (no intervals). (The power figure draws the test summary.)"""

    agg: pd.DataFrame
    waves: list[str]
    single: bool
    with_paper: bool = True  # False: no paper markers (the scenario is not the paper's study)

    def __post_init__(self) -> None:
        self.cells = {
            (t, r, c): (float(m), float(lo), float(hi))
            for t, r, c, m, lo, hi in self.agg[["table", "row", "column", "mean", "q025", "q975"]].itertuples(
                index=False
            )
        }
        pc = paper_cells() if self.with_paper else paper_cells().iloc[:0]
        self.paper = {(t, r, c): v for t, r, c, v in pc.itertuples(index=False)}

    def val(self, t: str, r: str, c: str) -> tuple[float, float, float]:
        return self.cells.get((t, r, c), (np.nan, np.nan, np.nan))

    def vals(self, t: str, rows: list[str], c: str) -> np.ndarray:
        """(len(rows), 3): mean, 2.5% and 97.5% per row."""
        return np.array([self.val(t, r, c) for r in rows]).reshape(len(rows), 3)


def _bars_with_intervals(ax, x, v: np.ndarray, single: bool, err: dict, **bar) -> None:
    """Bars of the means with (many replications) error bars to the 2.5% and 97.5% percentiles."""
    ax.bar(x, v[:, 0], **bar)
    if not single:
        ax.errorbar(x, v[:, 0], yerr=yerr(v[:, 0], v[:, 1], v[:, 2]), fmt="none", color="k", capsize=2, **err)


def retention_figure(fd: FigureData, fig_dir: Path) -> str:
    """Share evaluated at follow-up by role and wave, with the paper's figure."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels: list[str] = []
    for role in ("provider", "consumer"):
        for w in fd.waves:
            xs = len(labels)
            m, lo, hi = fd.val("retention", role, f"{w}_pct")
            ax.bar(xs, m, color=PROVIDER_COLOUR if role == "provider" else CONSUMER_COLOUR, alpha=0.8)
            if not fd.single and np.isfinite(m):
                ax.errorbar(xs, m, yerr=yerr([m], [lo], [hi]), color="k", capsize=3)
            p = fd.paper.get(("retention", role, f"{w}_pct"))
            if p is not None:
                ax.plot(xs, p, "k*", ms=10, label="paper" if xs == 0 else None)
            labels.append(f"{role}\n{w}")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel("% evaluated at follow-up")
    ax.set_ylim(0, 105)
    ax.set_title("Retention by wave" + ("" if fd.single else " (mean, 95% interval)"))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right")
    fig.tight_layout()
    return save_figure(fig, fig_dir / "retention_by_wave.png")


def _satisfaction_panels(ev: pd.DataFrame) -> list[tuple[str, str]]:
    panels = [("provider", c) for c in P.PROVIDER_LIKERT if c != "confidence"]
    panels += [("consumer", c) for c in P.CONSUMER_LIKERT]
    return [(r, c) for r, c in panels if c in ev.columns]


def satisfaction_answers_figure(fd: FigureData, frames: dict, fig_dir: Path) -> str | None:
    """Answer distributions (1-5) of each satisfaction item by wave, pooled over replications."""
    pr = P.prepare(frames)
    ev = pr.persons[pr.persons["evaluated"] == 1] if len(pr.persons) else pr.persons
    panels = _satisfaction_panels(ev)
    if not panels:
        return None
    plt = pyplot()
    ncol = 4
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(12, 2.6 * nrow), squeeze=False)
    width = 0.8 / max(len(fd.waves), 1)
    for ax, (role, c) in zip(axes.flat, panels, strict=False):
        d = ev[ev["role"] == role]
        for k, w in enumerate(fd.waves):
            x = d.loc[d["wave"] == w, c].dropna()
            share = np.array([(x == v).mean() if len(x) else 0.0 for v in range(1, 6)])
            ax.bar(np.arange(1, 6) + (k - (len(fd.waves) - 1) / 2) * width, share, width=width, label=w)
        ax.set_title(f"{role}: {P.label(c)}"[:48], fontsize=8)
        ax.set_xticks(range(1, 6))
        ax.set_ylim(0, 1)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Satisfaction answers (1-5) by wave, share of evaluated answering")
    fig.tight_layout()
    return save_figure(fig, fig_dir / "satisfaction_by_wave.png")


def satisfaction_means_figure(fd: FigureData, fig_dir: Path) -> str:
    """Without the answers: mean satisfaction by wave from Tables S2/S4."""
    plt = pyplot()
    items = [("tableS2", c) for c in P.PROVIDER_LIKERT] + [("tableS4", c) for c in P.CONSUMER_LIKERT]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / max(len(fd.waves), 1)
    for k, w in enumerate(fd.waves):
        ms = [fd.val(t, c, f"{w}_mean")[0] for t, c in items]
        ax.bar(np.arange(len(items)) + (k - (len(fd.waves) - 1) / 2) * width, ms, width=width, label=w)
    ax.set_xticks(
        range(len(items)), [textwrap.fill(P.label(c), 24) for _, c in items], rotation=60, ha="right", fontsize=7
    )
    ax.legend()
    ax.set_title("Mean satisfaction by wave")
    fig.tight_layout()
    return save_figure(fig, fig_dir / "satisfaction_by_wave.png")


def benefits_figure(fd: FigureData, fig_dir: Path) -> str:
    """Perceived benefit (Table 3), providers vs consumers, with the paper's percentages."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 5))
    items = list(P.BENEFITS)
    for k, (role, colr) in enumerate((("provider", PROVIDER_COLOUR), ("consumer", CONSUMER_COLOUR))):
        x = np.arange(len(items)) + (k - 0.5) * 0.38
        v = fd.vals("table3", items, f"{role}_pct")
        _bars_with_intervals(
            ax, x, v, fd.single, {"lw": 0.8}, width=0.38, color=colr, alpha=0.8, label=f"{role}s (simulated)"
        )
        if fd.with_paper:
            pv = [fd.paper.get(("table3", c, f"{role}_pct"), np.nan) for c in items]
            ax.plot(x, pv, "k*", ms=7, label="paper" if k == 0 else None)
    ax.set_xticks(
        range(len(items)), [textwrap.fill(P.label(c), 24) for c in items], rotation=60, ha="right", fontsize=7
    )
    ax.set_ylabel("% answering yes")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7)
    ax.set_title("Perceived benefit (Table 3): providers vs consumers")
    fig.tight_layout()
    return save_figure(fig, fig_dir / "benefits_providers_vs_consumers.png")


def power_figure(summary: pd.DataFrame, fig_dir: Path) -> str | None:
    """Share of replications in which each test was significant (Bonferroni within its family): one bar
    per test, under a header row per family (and pair of groups, where a family compares several); None
    (no figure) when no test but the dropout families' is in ``summary``."""
    s = summary[~summary["family"].str.startswith("dropout.")]
    if not len(s):
        return None
    plt = pyplot()
    labels, heads, shares, errors = _power_rows(s)
    n = len(labels)
    height = max(3.0, 0.16 * n + 0.9)
    fig, ax = plt.subplots(figsize=(7, height))
    y = np.arange(n)[::-1]
    ax.barh(y, shares, xerr=errors, color="#55a868", alpha=0.85)
    ax.set_yticks([])
    to_axis = ax.get_yaxis_transform()  # x in axes units, y in data units
    for row, text, head in zip(y, labels, heads, strict=True):  # plain texts: lighter than tick objects
        ax.text(
            -0.015, row, text, transform=to_axis, ha="right", va="center", fontsize=6, weight="bold" if head else None
        )
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of replications significant (Bonferroni within family)")
    ax.set_title("Power of the paper's design (per test)")
    # margins for the widest label, measured, instead of tight_layout (which lays out every label once more)
    longest = sorted((t for t, h in zip(labels, heads, strict=True) if not h), key=len)[-3:]
    width_in = max(
        [_text_width_in(t, 6, bold=True) for t, h in zip(labels, heads, strict=True) if h]
        + [_text_width_in(t, 6) for t in longest]
    )
    fig.subplots_adjust(left=min(0.6, (width_in + 0.15) / 7), right=0.97, top=1 - 0.4 / height, bottom=0.55 / height)
    return save_figure(fig, fig_dir / "test_power.png")


def _power_rows(s: pd.DataFrame) -> tuple[list[str], list[bool], list[float], list[float]]:
    """(labels, header row or not, share significant, 1.96 x Monte Carlo SE) of the power figure, top
    to bottom: a header row naming each family (with its groups where the family has several pairs)."""
    pairs = s.groupby("family", sort=False)["groups"].nunique()
    labels: list[str] = []
    heads: list[bool] = []
    shares: list[float] = []
    errors: list[float] = []
    last = None
    for fam, groups, item, share, se in zip(
        s["family"], s["groups"], s["item"], s["share_significant"], s["mc_se"], strict=True
    ):
        if (fam, groups) != last:
            last = (fam, groups)
            labels.append((f"{fam} ({groups})" if pairs[fam] > 1 else fam)[:60])
            heads.append(True)
            shares.append(np.nan)
            errors.append(np.nan)
        labels.append(P.label(item)[:60])
        heads.append(False)
        shares.append(float(share))
        errors.append(1.96 * float(se))
    return labels, heads, shares, errors


def _text_width_in(text: str, size: float, bold: bool = False) -> float:
    """Width in inches of ``text`` in the default font at ``size`` points."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(size=size, weight="bold" if bold else "normal")
    width, _, _ = text_to_path.get_text_width_height_descent(text, prop, ismath=False)
    return width / 72


def content_figure(fd: FigureData, fig_dir: Path) -> str:
    """Shares of session content (Methods, intervention), with the paper's top three."""
    plt = pyplot()
    cats = list(ins.CONTENT_CATEGORIES)
    v = fd.vals("sessions", [f"content={c}" for c in cats], "all_value")
    fig, ax = plt.subplots(figsize=(8, 3.5))
    _bars_with_intervals(ax, range(len(cats)), v, fd.single, {}, color="#8172b3", alpha=0.85, label="simulated")
    if fd.with_paper:
        pv = [ins.PAPER_TOP_CONTENT_SHARES.get(c, np.nan) for c in cats]
        ax.plot(range(len(cats)), pv, "k*", ms=9, label="paper")
    ax.set_xticks(range(len(cats)), [c.replace("_", " ") for c in cats], rotation=40, ha="right", fontsize=7)
    ax.set_ylabel("share of sessions held")
    ax.legend(fontsize=7)
    ax.set_title("Session content" + (" (Methods: top three 19%, 16%, 15%)" if fd.with_paper else ""))
    fig.tight_layout()
    return save_figure(fig, fig_dir / "session_content.png")


def write_figures(
    out_dir: Path,
    agg: pd.DataFrame,
    summary: pd.DataFrame,
    frames: dict | None,
    waves: list[str],
    single: bool,
    with_paper: bool = True,
) -> list[str]:
    """Write the figures into ``out_dir/figures``; returns the file names written. ``frames`` (the
    datasets, optional) give the answer distributions; without them the satisfaction figure shows means.
    ``with_paper=False`` (a scenario that is not the paper's study): no paper markers."""
    return start_figures(out_dir, agg, frames, waves, single, with_paper).finish(summary)


def start_figures(
    out_dir: Path, agg: pd.DataFrame, frames: dict | None, waves: list[str], single: bool, with_paper: bool = True
) -> PendingFigures:
    """Start :func:`write_figures` before the test summary is known: the figures drawn from the cells
    alone are drawn in a forked child process (:mod:`sim.forked`: when fork is available and this is the
    only thread, as in ``cli.py run``/``analyze``; a server thread draws them itself, at ``finish``)
    while this process goes on (the end of ``cli.py run``: it writes ``tests.csv``); ``finish(summary)``
    draws the power figure here (about half the drawing) and returns every file name, in order. The
    files are the same bytes either way (same code and settings, inherited by the fork); a failed
    child's figures are drawn here."""
    plt = pyplot()
    plt.rcParams.update({"svg.hashsalt": "peer-support-sim", "font.size": 9})
    fd = FigureData(agg, waves, single, with_paper)
    fig_dir = figure_dir(out_dir)
    jobs: list[Callable[[], str | None]] = [partial(retention_figure, fd, fig_dir)]
    if frames is not None:
        jobs.append(partial(satisfaction_answers_figure, fd, frames, fig_dir))
    else:
        jobs.append(partial(satisfaction_means_figure, fd, fig_dir))
    jobs.append(partial(benefits_figure, fd, fig_dir))
    after = []  # the figures drawn after the power figure (the order of the names)
    if ("sessions", "held", "all_value") in fd.cells:
        after.append(partial(content_figure, fd, fig_dir))
    return PendingFigures(in_child(partial(_draw, jobs + after)), len(jobs), fig_dir, single)


class PendingFigures:
    """The figures of :func:`start_figures`, being drawn; :meth:`finish` completes them."""

    def __init__(self, drawing: Forked, n_before: int, fig_dir: Path, single: bool):
        self.drawing, self.n_before, self.fig_dir, self.single = drawing, n_before, fig_dir, single

    def finish(self, summary: pd.DataFrame) -> list[str]:
        """Draw the power figure (many replications, with tests) here, wait for the others; every file
        name written, in the order of the report."""
        power = power_figure(summary, self.fig_dir) if not self.single and len(summary) else None
        names = self.drawing.join()
        names = [*names[: self.n_before], power, *names[self.n_before :]]
        return [w for w in names if w is not None]


def _draw(jobs: list[Callable[[], str | None]]) -> list[str | None]:
    return [job() for job in jobs]
