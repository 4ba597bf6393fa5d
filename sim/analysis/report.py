"""Write the analysis: ``tests.csv``, ``test_summary.csv``, ``tables/*.csv``, ``report.md``, ``figures/*.png``.

The report is laid out like the paper's Results (response rates and Table 1; providers: Table 2,
stress, Table 3; consumers: Table 4; caregivers; sessions) with the paper's printed figure beside
each simulated one. With one replication it shows that replication's values and tests; with many,
the mean and 2.5-97.5 percentiles of each cell across replications and, for each test, the share
of replications in which it was significant after Bonferroni correction (what a study like this
one would have found: the seed of a power analysis, Monte Carlo SE sqrt(p(1-p)/R)).

Bounded memory: :func:`write_analysis` also takes the per-chunk tables as an iterable and streams
them. With more than 10,000 replications, medians and 2.5-97.5% percentiles are over the first
10,000 replications (index below 10,000); means and shares over all N (stated in report.md).

Output is deterministic: rows sorted, floats written with fixed formats, PNGs without software
or time metadata.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .. import instruments as ins
from . import prep as P
from . import stats as S
from .tables import paper_cells

FLOAT_FORMAT = "%.6g"
TABLE_TITLES = {
    "retention": "Response (retention) rates by wave",
    "table1": "Table 1. Participants' demographics at baseline",
    "tableS1": "Table S1. Demographics at baseline, initial vs later communities",
    "table2": "Table 2. Service satisfaction among peer service providers at follow-up",
    "tableS2": "Table S2. Provider satisfaction, initial vs later communities",
    "stress_reasons": "Reasons for stress among providers (Results text)",
    "table3": "Table 3. Perceived benefit among providers and consumers at follow-up",
    "tableS3": "Table S3. Perceived benefit, initial vs later communities",
    "table4": "Table 4. Service satisfaction among consumers at follow-up",
    "tableS4": "Table S4. Consumer satisfaction, initial vs later communities",
    "caregivers": "Caregivers (Results, 'Caregivers')",
    "sessions": "Sessions held before follow-up (Methods, intervention)",
}

# Which printed test goes with which simulated (family, item).
PAPER_TEST_TEXT = {
    ("retention.provider", "evaluated"): ins.PAPER_TESTS["provider_retention_by_wave"]["text"],
    ("retention.consumer", "evaluated"): ins.PAPER_TESTS["consumer_retention_by_wave"]["text"],
    ("T3.provider_vs_consumer", "ben_work_skill"): ins.PAPER_TESTS["work_skill_provider_vs_consumer"]["text"],
    **{("S4.consumer", c): f"t = {t:.3f}, p = {p:.3f}" for c, (t, p) in ins.CONSUMER_WAVE_T.items()},
}
PAPER_FAMILY_TEXT = {
    "S1.": ins.PAPER_TEST_FAMILIES["baseline_initial_vs_later"],
    "dropout.demographics.consumer.initial": ins.PAPER_TEST_FAMILIES["dropout_initial"],
    "dropout.clinical.consumer.initial": ins.PAPER_TEST_FAMILIES["dropout_initial"],
    "dropout.demographics.consumer.later": ins.PAPER_TEST_FAMILIES["dropout_later"],
    "dropout.clinical.consumer.later": ins.PAPER_TEST_FAMILIES["dropout_later"],
    "S2.provider": ins.PAPER_TEST_FAMILIES["provider_satisfaction_by_wave"],
    "S3.": ins.PAPER_TEST_FAMILIES["benefit_by_wave"],
    "S4.consumer": ins.PAPER_TEST_FAMILIES["consumer_satisfaction_by_wave"],
    "T3.provider_vs_consumer": ins.PAPER_TEST_FAMILIES["benefit_provider_vs_consumer"],
}


# ------------------------------------------------------------------------------------------------
# Aggregation
# ------------------------------------------------------------------------------------------------
def aggregate_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """Per cell: mean, 2.5% and 97.5% percentiles and number of replications with a value."""
    g = cells.groupby(["table", "row", "column"], sort=False)["value"]
    out = pd.DataFrame(
        {
            "mean": g.mean(),
            "q025": g.quantile(0.025),
            "q975": g.quantile(0.975),
            "reps": g.count(),
        }
    ).reset_index()
    return out


def summarise_tests(tests: pd.DataFrame) -> pd.DataFrame:
    """Per test across replications: share significant (Bonferroni), share p < 0.05, MC SE, etc."""
    t = tests.copy()
    t["computable"] = t["test"] != S.NOT_COMPUTABLE
    t["p05"] = t["p"] < 0.05
    t["_order"] = t.groupby(["family", "groups", "item"], sort=False).ngroup()
    g = t.groupby(["_order", "family", "population", "groups", "item"], sort=True)
    out = pd.DataFrame(
        {
            "replications": g.size(),
            "computable": g["computable"].sum(),
            "threshold": g["threshold"].first(),
            "test_used": g["test"].agg(
                lambda s: "; ".join(f"{k} {v}" for k, v in s.value_counts().sort_index().items())
            ),
            "median_statistic": g["statistic"].median(),
            "median_p": g["p"].median(),
            "share_p_below_0.05": g["p05"].mean(),
            "share_significant": g["significant"].mean(),
        }
    ).reset_index()
    R = out["replications"].astype(float)
    ps = out["share_significant"]
    out["mc_se"] = np.sqrt(ps * (1 - ps) / R)
    out["paper"] = [PAPER_TEST_TEXT.get((f, i), "") for f, i in zip(out["family"], out["item"], strict=False)]
    return out.drop(columns="_order")


# ------------------------------------------------------------------------------------------------
# Formatting helpers
# ------------------------------------------------------------------------------------------------
def _num(x: float, nd: int) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


class _Cells:
    """Lookup of aggregated and paper cells by (table, row, column)."""

    def __init__(self, agg: pd.DataFrame, single: bool):
        self.single = single
        self.a = {
            (t, r, c): (m, lo, hi)
            for t, r, c, m, lo, hi in agg[["table", "row", "column", "mean", "q025", "q975"]].itertuples(index=False)
        }
        pc = paper_cells()
        self.p = {(t, r, c): v for t, r, c, v in pc.itertuples(index=False)}

    def get(self, t, r, c):
        return self.a.get((t, r, c), (np.nan, np.nan, np.nan))

    def count(self, t, r, g) -> str:
        n, nlo, nhi = self.get(t, r, f"{g}_n")
        pct = self.get(t, r, f"{g}_pct")[0]
        if (t, r, f"{g}_n") not in self.a:
            return ""
        if self.single:
            return f"{_num(n, 0)}" + (f" ({_num(pct, 1)}%)" if np.isfinite(pct) else "")
        return f"{_num(n, 1)} [{_num(nlo, 0)}–{_num(nhi, 0)}]" + (f" ({_num(pct, 0)}%)" if np.isfinite(pct) else "")

    def mean_sd(self, t, r, g) -> str:
        if (t, r, f"{g}_mean") not in self.a:
            return ""
        m, lo, hi = self.get(t, r, f"{g}_mean")
        sd = self.get(t, r, f"{g}_sd")[0]
        if self.single:
            return f"{_num(m, 2)} ({_num(sd, 2)})"
        return f"{_num(m, 2)} [{_num(lo, 2)}–{_num(hi, 2)}] (SD {_num(sd, 2)})"

    def value(self, t, r, g, nd=3) -> str:
        if (t, r, f"{g}_value") not in self.a:
            return ""
        m, lo, hi = self.get(t, r, f"{g}_value")
        return _num(m, nd) if self.single else f"{_num(m, nd)} [{_num(lo, nd)}–{_num(hi, nd)}]"

    def paper(self, t, r, g) -> str:
        n, pct = self.p.get((t, r, f"{g}_n")), self.p.get((t, r, f"{g}_pct"))
        m, sd = self.p.get((t, r, f"{g}_mean")), self.p.get((t, r, f"{g}_sd"))
        v = self.p.get((t, r, f"{g}_value"))
        if n is not None:
            return f"{n:.0f}" + (f" ({pct:.1f}%)" if pct is not None else "")
        if m is not None:
            return f"{m:.2f}" + (f" ({sd:.3g})" if sd is not None else "")
        if v is not None:
            return f"{v:g}"
        return ""


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


_CONSUMER_LABELS = {it.column: it.label for it in ins.CONSUMER_SATISFACTION}


def _row_label(row: str, table: str = "") -> str:
    if table in ("table4", "tableS4", "S4.consumer") and row in _CONSUMER_LABELS:
        return _CONSUMER_LABELS[row]
    if "=" in row:
        var, lv = row.split("=", 1)
        return f"{P.label(var)}: {lv.replace('_', ' ')}"
    return P.label(row)


def _rows_of(agg: pd.DataFrame, table: str) -> list[str]:
    rows = agg.loc[agg["table"] == table, "row"]
    return list(dict.fromkeys(rows))


def _cell(c: _Cells, t: str, r: str, g: str) -> str:
    s = c.count(t, r, g)
    return s if s else c.mean_sd(t, r, g)


def _groups_table(c: _Cells, agg: pd.DataFrame, table: str, groups: list[str], with_paper: bool = True) -> str:
    header = ["Item"]
    for g in groups:
        header += [f"{g} (simulated)"] + ([f"{g} (paper)"] if with_paper else [])
    rows = []
    for r in _rows_of(agg, table):
        row = [_row_label(r, table)]
        for g in groups:
            row.append(_cell(c, table, r, g))
            if with_paper:
                row.append(c.paper(table, r, g))
        rows.append(row)
    return _md_table(header, rows)


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _tests_section(tests: pd.DataFrame, summary: pd.DataFrame, single: bool, prefix: tuple[str, ...]) -> str:
    sel = summary[summary["family"].str.startswith(prefix)]
    if sel.empty:
        return "_No tests (this comparison needs two groups)._\n"
    if single:
        t = tests[tests["family"].str.startswith(prefix)]
        rows = [
            [
                f,
                g,
                _row_label(i, f),
                te,
                _num(s, 3),
                _num(d, 1),
                _fmt_p(p),
                f"{thr:.3g}",
                "yes" if sig else "no",
                PAPER_TEST_TEXT.get((f, i), ""),
                n,
            ]
            for f, g, i, te, s, d, p, thr, sig, n in t[
                ["family", "groups", "item", "test", "statistic", "df", "p", "threshold", "significant", "note"]
            ].itertuples(index=False)
        ]
        return _md_table(
            [
                "Family",
                "Groups",
                "Item",
                "Test",
                "Statistic",
                "df",
                "p",
                "Bonferroni threshold",
                "Significant",
                "Paper",
                "Note",
            ],
            rows,
        )
    rows = [
        [
            f,
            g,
            _row_label(i, f),
            f"{thr:.3g}",
            _num(ms, 3),
            _fmt_p(mp),
            f"{p05:.2f}",
            f"{sig:.2f} ± {se:.2f}",
            f"{comp}/{R}",
            pap,
        ]
        for f, g, i, thr, ms, mp, p05, sig, se, comp, R, pap in sel[
            [
                "family",
                "groups",
                "item",
                "threshold",
                "median_statistic",
                "median_p",
                "share_p_below_0.05",
                "share_significant",
                "mc_se",
                "computable",
                "replications",
                "paper",
            ]
        ].itertuples(index=False)
    ]
    fam_notes = sorted(
        {txt for pre, txt in PAPER_FAMILY_TEXT.items() if any(pre.startswith(x) or x.startswith(pre) for x in prefix)}
    )
    notes = "".join(f"Paper: {t}.\n\n" for t in fam_notes)
    return notes + _md_table(
        [
            "Family",
            "Groups",
            "Item",
            "Bonferroni threshold",
            "Median statistic",
            "Median p",
            "Share p < 0.05",
            "Share significant (Bonferroni) ± MC SE",
            "Computable",
            "Paper",
        ],
        rows,
    )


# ------------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------------
def _yerr(m, lo, hi) -> np.ndarray:
    """Error bars from the mean to the percentiles; clipped at 0 (beyond 10,000 replications the mean
    covers all replications, the percentiles the first 10,000, so the mean may fall outside)."""
    m, lo, hi = (np.asarray(x, dtype=float) for x in (m, lo, hi))
    return np.maximum(np.array([m - lo, hi - m]), 0)


def _savefig(fig, path: Path) -> None:
    fig.savefig(path, dpi=100, metadata={"Software": None})


def write_figures(
    out_dir: Path, agg: pd.DataFrame, summary: pd.DataFrame, frames: dict | None, waves: list[str], single: bool
) -> list[str]:
    """Retention by wave, satisfaction distributions by wave, benefits providers vs consumers,
    test power (many replications), content shares; returns the file names written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "peer-support-sim", "font.size": 9})
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    A = agg.set_index(["table", "row", "column"])
    pc = paper_cells().set_index(["table", "row", "column"])["paper"]

    def val(t, r, c):
        try:
            x = A.loc[(t, r, c)]
            return float(x["mean"]), float(x["q025"]), float(x["q975"])
        except KeyError:
            return np.nan, np.nan, np.nan

    # 1. Retention by wave
    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels, xs = [], 0
    for role in ("provider", "consumer"):
        for w in waves:
            m, lo, hi = val("retention", role, f"{w}_pct")
            ax.bar(xs, m, color="#4c72b0" if role == "provider" else "#dd8452", alpha=0.8)
            if not single and np.isfinite(m):
                ax.errorbar(xs, m, yerr=_yerr([m], [lo], [hi]), color="k", capsize=3)
            p = pc.get(("retention", role, f"{w}_pct"))
            if p is not None:
                ax.plot(xs, p, "k*", ms=10, label="paper" if xs == 0 else None)
            labels.append(f"{role}\n{w}")
            xs += 1
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel("% evaluated at follow-up")
    ax.set_ylim(0, 105)
    ax.set_title("Retention by wave" + ("" if single else " (mean, 95% interval)"))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right")
    fig.tight_layout()
    _savefig(fig, fig_dir / "retention_by_wave.png")
    plt.close(fig)
    written.append("retention_by_wave.png")

    # 2. Satisfaction item distributions by wave (answers pooled over replications)
    if frames is not None:
        pr = P.prepare(frames)
        ev = pr.persons[pr.persons["evaluated"] == 1] if len(pr.persons) else pr.persons
        panels = [("provider", c) for c in P.PROVIDER_LIKERT if c != "confidence"] + [
            ("consumer", c) for c in P.CONSUMER_LIKERT
        ]
        panels = [(r, c) for r, c in panels if c in ev.columns]
        if panels:
            ncol = 4
            nrow = int(np.ceil(len(panels) / ncol))
            fig, axes = plt.subplots(nrow, ncol, figsize=(12, 2.6 * nrow), squeeze=False)
            for ax, (role, c) in zip(axes.flat, panels, strict=False):
                d = ev[ev["role"] == role]
                width = 0.8 / max(len(waves), 1)
                for k, w in enumerate(waves):
                    x = d.loc[d["wave"] == w, c].dropna()
                    share = np.array([(x == v).mean() if len(x) else 0.0 for v in range(1, 6)])
                    ax.bar(np.arange(1, 6) + (k - (len(waves) - 1) / 2) * width, share, width=width, label=w)
                ax.set_title(f"{role}: {P.label(c)}"[:48], fontsize=8)
                ax.set_xticks(range(1, 6))
                ax.set_ylim(0, 1)
            for ax in list(axes.flat)[len(panels) :]:
                ax.axis("off")
            axes.flat[0].legend(fontsize=7)
            fig.suptitle("Satisfaction answers (1-5) by wave, share of evaluated answering")
            fig.tight_layout()
            _savefig(fig, fig_dir / "satisfaction_by_wave.png")
            plt.close(fig)
            written.append("satisfaction_by_wave.png")
    else:
        # Without answers: means by wave from the S2/S4 tables
        items = [("tableS2", c) for c in P.PROVIDER_LIKERT] + [("tableS4", c) for c in P.CONSUMER_LIKERT]
        fig, ax = plt.subplots(figsize=(10, 4.5))
        width = 0.8 / max(len(waves), 1)
        for k, w in enumerate(waves):
            ms = [val(t, c, f"{w}_mean")[0] for t, c in items]
            ax.bar(np.arange(len(items)) + (k - (len(waves) - 1) / 2) * width, ms, width=width, label=w)
        ax.set_xticks(
            range(len(items)), [textwrap.fill(P.label(c), 24) for _, c in items], rotation=60, ha="right", fontsize=7
        )
        ax.legend()
        ax.set_title("Mean satisfaction by wave")
        fig.tight_layout()
        _savefig(fig, fig_dir / "satisfaction_by_wave.png")
        plt.close(fig)
        written.append("satisfaction_by_wave.png")

    # 3. Benefit items, providers vs consumers
    fig, ax = plt.subplots(figsize=(10, 5))
    items = list(P.BENEFITS)
    for k, (role, colr) in enumerate((("provider", "#4c72b0"), ("consumer", "#dd8452"))):
        x = np.arange(len(items)) + (k - 0.5) * 0.38
        vals = np.array([val("table3", c, f"{role}_pct") for c in items])
        ax.bar(x, vals[:, 0], width=0.38, color=colr, alpha=0.8, label=f"{role}s (simulated)")
        if not single:
            ax.errorbar(
                x, vals[:, 0], yerr=_yerr(vals[:, 0], vals[:, 1], vals[:, 2]), fmt="none", color="k", capsize=2, lw=0.8
            )
        pv = [pc.get(("table3", c, f"{role}_pct"), np.nan) for c in items]
        ax.plot(x, pv, "k*", ms=7, label="paper" if k == 0 else None)
    ax.set_xticks(
        range(len(items)), [textwrap.fill(P.label(c), 24) for c in items], rotation=60, ha="right", fontsize=7
    )
    ax.set_ylabel("% answering yes")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7)
    ax.set_title("Perceived benefit (Table 3): providers vs consumers")
    fig.tight_layout()
    _savefig(fig, fig_dir / "benefits_providers_vs_consumers.png")
    plt.close(fig)
    written.append("benefits_providers_vs_consumers.png")

    # 4. Share of replications with a significant result (many replications)
    if not single and len(summary):
        s = summary[~summary["family"].str.startswith("dropout.")]
        fig, ax = plt.subplots(figsize=(7, max(3, 0.16 * len(s))))
        y = np.arange(len(s))[::-1]
        ax.barh(y, s["share_significant"], xerr=1.96 * s["mc_se"], color="#55a868", alpha=0.85)
        ax.set_yticks(y, [f"{f}: {P.label(i)}"[:60] for f, i in zip(s["family"], s["item"], strict=False)], fontsize=6)
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of replications significant (Bonferroni within family)")
        ax.set_title("Power of the paper's design (per test)")
        fig.tight_layout()
        _savefig(fig, fig_dir / "test_power.png")
        plt.close(fig)
        written.append("test_power.png")

    # 5. Content shares of sessions
    if ("sessions", "held", "all_value") in A.index:
        cats = list(ins.CONTENT_CATEGORIES)
        vals = np.array([val("sessions", f"content={c}", "all_value") for c in cats])
        fig, ax = plt.subplots(figsize=(8, 3.5))
        ax.bar(range(len(cats)), vals[:, 0], color="#8172b3", alpha=0.85, label="simulated")
        if not single:
            ax.errorbar(
                range(len(cats)),
                vals[:, 0],
                yerr=_yerr(vals[:, 0], vals[:, 1], vals[:, 2]),
                fmt="none",
                color="k",
                capsize=2,
            )
        pv = [ins.PAPER_TOP_CONTENT_SHARES.get(c, np.nan) for c in cats]
        ax.plot(range(len(cats)), pv, "k*", ms=9, label="paper")
        ax.set_xticks(range(len(cats)), [c.replace("_", " ") for c in cats], rotation=40, ha="right", fontsize=7)
        ax.set_ylabel("share of sessions held")
        ax.legend(fontsize=7)
        ax.set_title("Session content (Methods: top three 19%, 16%, 15%)")
        fig.tight_layout()
        _savefig(fig, fig_dir / "session_content.png")
        plt.close(fig)
        written.append("session_content.png")
    return written


# ------------------------------------------------------------------------------------------------
# The report
# ------------------------------------------------------------------------------------------------
def render_report(
    scenario_name: str,
    tests: pd.DataFrame,
    agg: pd.DataFrame,
    summary: pd.DataFrame,
    waves: list[str],
    n_reps: int,
    figures: list[str],
    partial: bool = False,
) -> str:
    single = n_reps == 1
    c = _Cells(agg, single)
    L: list[str] = []
    L.append(f"# Analysis report: {scenario_name}\n")
    what = (
        "one replication (values)"
        if single
        else f"{n_reps} replications (mean [2.5%–97.5%] of each cell across replications)"
    )
    L.append(
        f"Analysed: {what}. Paper: Fan et al. (2019), BMC Psychiatry 19:360. Waves: {', '.join(waves) or 'none'}.\n"
    )
    L.append("## Statistical analyses (rules used)\n")
    L.append(
        "- Descriptive: N (%) for discrete and mean (SD) for continuous variables; follow-up items among those "
        "evaluated, percentages of those who answered.\n"
        f"- {S.CHI2_RULE}\n- {S.T_RULE}\n"
        "- Bonferroni within each family of comparisons: threshold = 0.05 / (tests in the family), shown per test "
        "(the paper: 0.05/6 = 8.33 × 10⁻³ for six demographic variables). Families: retention by wave per role (1 "
        "test); "
        "completers vs dropouts per role and wave, demographics (6) and clinical (2); initial vs later on demographics "
        "(S1), provider satisfaction (S2, 11), benefits (S3, 14 per role), consumer satisfaction (S4, 7); providers vs "
        "consumers on benefits (Table 3, 14).\n"
        "- Degenerate comparisons (empty group, constant outcome, fewer than two answers, SDs of 0) are reported as "
        "'not computable' with the reason, and count as not significant.\n"
    )
    if single:
        L.append("Cells: simulated value; paper's printed figure beside it.\n")
    else:
        L.append("Cells: mean across replications [2.5%–97.5% percentiles]; paper's printed figure beside it.\n")
    if partial:
        L.append(
            f"Note: {n_reps} replications: medians and 2.5-97.5% percentiles over the first {MEDIAN_REPS_MAX:,} "
            f"replications (replication index below {MEDIAN_REPS_MAX:,}); means and shares over all {n_reps}.\n"
        )

    L.append("## Participant characteristics and response rates\n")
    rows = []
    for role in ("provider", "consumer"):
        for w in waves:
            sim_ = c.get("retention", role, f"{w}_evaluated")
            rec = c.get("retention", role, f"{w}_recruited")[0]
            pct = c.get("retention", role, f"{w}_pct")
            ev = _num(sim_[0], 0) if single else f"{_num(sim_[0], 1)} [{_num(sim_[1], 0)}–{_num(sim_[2], 0)}]"
            pk = ins.PAPER_RETENTION.get((role, w))
            rows.append(
                [
                    role,
                    w,
                    _num(rec, 0),
                    ev,
                    f"{_num(pct[0], 1)}%",
                    f"{pk[0]}/{pk[1]} ({100 * pk[0] / pk[1]:.0f}%)" if pk else "",
                ]
            )
    L.append(_md_table(["Role", "Wave", "Recruited", "Evaluated (simulated)", "% evaluated", "Paper"], rows))
    L.append("\nRetention, initial vs later:\n\n")
    L.append(_tests_section(tests, summary, single, ("retention.",)))
    L.append(f"\n### {TABLE_TITLES['table1']}\n\n")
    L.append(_groups_table(c, agg, "table1", ["provider", "consumer"]))
    L.append("\nCompleters vs dropouts on baseline variables, within each wave:\n\n")
    L.append(_tests_section(tests, summary, single, ("dropout.",)))
    L.append(f"\n### {TABLE_TITLES['tableS1']}\n\n")
    L.append(
        _groups_table(
            c, agg, "tableS1", [f"{r}_{w}" for r in ("provider", "consumer") for w in waves], with_paper=False
        )
    )
    L.append("\n")
    L.append(_tests_section(tests, summary, single, ("S1.",)))

    L.append("\n## Peer service providers\n")
    L.append(f"\n### {TABLE_TITLES['table2']}\n\n")
    L.append(_groups_table(c, agg, "table2", ["all"]))
    L.append(f"\n### {TABLE_TITLES['stress_reasons']}\n\n")
    L.append(_groups_table(c, agg, "stress_reasons", ["all"]))
    L.append(f"\n### {TABLE_TITLES['tableS2']}\n\n")
    L.append(_groups_table(c, agg, "tableS2", list(waves)))
    L.append("\n")
    L.append(_tests_section(tests, summary, single, ("S2.",)))
    L.append(f"\n### {TABLE_TITLES['table3']}\n\n")
    L.append(_groups_table(c, agg, "table3", ["provider", "consumer"]))
    L.append("\nProviders vs consumers on each benefit item:\n\n")
    L.append(_tests_section(tests, summary, single, ("T3.",)))
    L.append(f"\n### {TABLE_TITLES['tableS3']}\n\n")
    L.append(_groups_table(c, agg, "tableS3", [f"{r}_{w}" for r in ("provider", "consumer") for w in waves]))
    L.append("\n")
    L.append(_tests_section(tests, summary, single, ("S3.",)))

    L.append("\n## Consumers\n")
    L.append(f"\n### {TABLE_TITLES['table4']}\n\n")
    L.append(_groups_table(c, agg, "table4", ["all"]))
    L.append(f"\n### {TABLE_TITLES['tableS4']}\n\n")
    L.append(_groups_table(c, agg, "tableS4", list(waves)))
    L.append("\n")
    L.append(_tests_section(tests, summary, single, ("S4.",)))

    if (agg["table"] == "caregivers").any():
        L.append(f"\n## {TABLE_TITLES['caregivers']}\n\n")
        L.append(_groups_table(c, agg, "caregivers", ["all", "provider", "consumer"]))
    if (agg["table"] == "sessions").any():
        L.append(f"\n## {TABLE_TITLES['sessions']}\n\n")
        rows = [
            [
                _row_label(r).replace("content: ", "content = "),
                c.value("sessions", r, "all"),
                c.paper("sessions", r, "all"),
            ]
            + [c.value("sessions", r, w) for w in waves]
            for r in _rows_of(agg, "sessions")
        ]
        L.append(_md_table(["Row", "all (simulated)", "all (paper)", *list(waves)], rows))

    if not single:
        L.append("\n## Share of replications in which each test was significant\n\n")
        L.append(
            "What a study like this one would have found: share of replications with p below the Bonferroni "
            "threshold of the test's family (± Monte Carlo SE). Full list: `test_summary.csv`.\n\n"
        )
        s = summary[summary["paper"] != ""]
        rows = [
            [f, P.label(i), f"{sig:.2f} ± {se:.2f}", p]
            for f, i, sig, se, p in s[["family", "item", "share_significant", "mc_se", "paper"]].itertuples(index=False)
        ]
        L.append(_md_table(["Family", "Item", "Share significant", "Paper"], rows))
    if figures:
        L.append("\n## Figures\n\n")
        L += [f"![{f}](figures/{f})\n\n" for f in figures]
    text = "\n".join(x.strip("\n") + "\n" for x in L if x.strip())
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


MEDIAN_REPS_MAX = 10_000  # medians and percentiles use the replications with index below this


def _chunks_of(x: Any) -> Iterator[pd.DataFrame]:
    """The chunks of ``x``: a DataFrame (one chunk), a callable returning an iterator, or an iterable."""
    if x is None:
        return iter(())
    if isinstance(x, pd.DataFrame):
        return iter((x,))
    if callable(x):
        return iter(x())
    return iter(x)


def _local_keys(df: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, list[tuple]]:
    """Per row, the index of its key in the chunk's first-appearance order, and those keys."""
    local = df.groupby(keys, sort=False).ngroup().to_numpy()
    first = df.drop_duplicates(keys)
    return local, list(first[keys].itertuples(index=False, name=None))


class _TestsAccumulator:
    """:func:`summarise_tests` by streaming: counts over all replications; medians of the statistic
    and p over the replications with index below ``MEDIAN_REPS_MAX`` (compact float64 columns)."""

    KEYS: ClassVar[list[str]] = ["family", "population", "groups", "item"]

    def __init__(self) -> None:
        self.ids: dict[tuple, int] = {}
        self.order: dict[tuple, int] = {}
        self.key_order: list[int] = []
        self.size: list[int] = []
        self.computable: list[int] = []
        self.threshold: list[float] = []
        self.tests: list[dict[str, int]] = []
        self.p05: list[int] = []
        self.sig: list[int] = []
        self.sig_n: list[int] = []
        self.kept: list[pd.DataFrame] = []
        self.n_reps = 0
        self.max_rep = -1

    def add(self, t: pd.DataFrame) -> None:
        if not len(t):
            return
        t = t.dropna(subset=self.KEYS)
        local, keys = _local_keys(t, self.KEYS)
        gid = np.empty(len(keys), dtype=np.int64)
        for j, k in enumerate(keys):
            i = self.ids.get(k)
            if i is None:
                i = self.ids[k] = len(self.size)
                o = (k[0], k[2], k[3])
                self.key_order.append(self.order.setdefault(o, len(self.order)))
                self.size.append(0), self.computable.append(0), self.threshold.append(np.nan), self.tests.append({})
                self.p05.append(0), self.sig.append(0), self.sig_n.append(0)
            gid[j] = i
        g = gid[local]
        n = np.bincount(local, minlength=len(keys))
        comp = np.bincount(local, weights=(t["test"] != S.NOT_COMPUTABLE).to_numpy(dtype=float), minlength=len(keys))
        p05 = np.bincount(local, weights=(t["p"] < 0.05).to_numpy(dtype=float), minlength=len(keys))
        sig = pd.to_numeric(t["significant"], errors="coerce").astype(float).to_numpy()
        sig_ok = ~np.isnan(sig)
        sig_s = np.bincount(local[sig_ok], weights=sig[sig_ok], minlength=len(keys))
        sig_n = np.bincount(local[sig_ok], minlength=len(keys))
        thr = t.groupby(local, sort=True)["threshold"].first().reindex(range(len(keys))).to_numpy()
        vc = t.groupby([local, t["test"].to_numpy()], sort=False).size()
        for j, i in enumerate(gid):
            self.size[i] += int(n[j])
            self.computable[i] += round(comp[j])
            self.p05[i] += round(p05[j])
            self.sig[i] += round(sig_s[j])
            self.sig_n[i] += int(sig_n[j])
            if np.isnan(self.threshold[i]):
                self.threshold[i] = thr[j]
        for (j, name), c in vc.items():
            d = self.tests[gid[j]]
            d[name] = d.get(name, 0) + int(c)
        reps = t["replication"].to_numpy()
        self.n_reps += int(pd.unique(reps).size)
        keep = reps < MEDIAN_REPS_MAX
        if keep.any():
            self.kept.append(
                pd.DataFrame(
                    {
                        "gid": g[keep],
                        "statistic": t["statistic"].to_numpy(dtype=float)[keep],
                        "p": t["p"].to_numpy(dtype=float)[keep],
                    }
                )
            )

    def summary(self) -> pd.DataFrame:
        if not self.size:
            return pd.DataFrame(columns=["family", "item", "paper", "share_significant", "mc_se"])
        keys = list(self.ids)
        kept = (
            pd.concat(self.kept, ignore_index=True)
            if self.kept
            else pd.DataFrame({"gid": [], "statistic": [], "p": []})
        )
        med = kept.groupby("gid", sort=True)[["statistic", "p"]].median().reindex(range(len(keys)))
        self.kept = []
        size = np.array(self.size, dtype=np.int64)
        out = pd.DataFrame(
            {
                "_order": np.array(self.key_order, dtype=np.int64),
                "family": [k[0] for k in keys],
                "population": [k[1] for k in keys],
                "groups": [k[2] for k in keys],
                "item": [k[3] for k in keys],
                "replications": size,
                "computable": np.array(self.computable, dtype=np.int64),
                "threshold": np.array(self.threshold, dtype=float),
                "test_used": ["; ".join(f"{k} {v}" for k, v in sorted(d.items())) for d in self.tests],
                "median_statistic": med["statistic"].to_numpy(),
                "median_p": med["p"].to_numpy(),
                "share_p_below_0.05": np.array(self.p05, dtype=float) / size,
                "share_significant": np.array(self.sig, dtype=float) / np.array(self.sig_n, dtype=float),
            }
        )
        out = out.sort_values(["_order", "family", "population", "groups", "item"], kind="stable").reset_index(
            drop=True
        )
        R = out["replications"].astype(float)
        ps = out["share_significant"]
        out["mc_se"] = np.sqrt(ps * (1 - ps) / R)
        out["paper"] = [PAPER_TEST_TEXT.get((f, i), "") for f, i in zip(out["family"], out["item"], strict=False)]
        return out.drop(columns="_order")


class _CellsAccumulator:
    """:func:`aggregate_cells` by streaming. With at most ``MEDIAN_REPS_MAX`` replications the result
    is exactly :func:`aggregate_cells` of the concatenation; beyond, means and counts cover all
    replications (sums in replication order, independent of chunking) and the percentiles the
    replications with index below ``MEDIAN_REPS_MAX``. Kept values are float64 matrices per chunk
    (replications x cells, NaN where a replication has no value): 8 bytes per cell and replication."""

    KEYS: ClassVar[list[str]] = ["table", "row", "column"]
    BATCH = 64  # cells aggregated at a time at the end

    def __init__(self) -> None:
        self.ids: dict[tuple, int] = {}
        self.kept: list[np.ndarray] = []
        self.sums = np.zeros(0)
        self.counts = np.zeros(0, dtype=np.int64)
        self.n_reps = 0
        self.max_rep = -1

    def add(self, c: pd.DataFrame) -> None:
        if not len(c):
            return
        c = c.dropna(subset=self.KEYS).sort_values(["replication"], kind="stable")
        local, keys = _local_keys(c, self.KEYS)
        gid = np.empty(len(keys), dtype=np.int64)
        for j, k in enumerate(keys):
            i = self.ids.get(k)
            if i is None:
                i = self.ids[k] = len(self.ids)
            gid[j] = i
        width = len(self.ids)
        if width > len(self.sums):
            grow = width - len(self.sums)
            self.sums = np.concatenate([self.sums, np.zeros(grow)])
            self.counts = np.concatenate([self.counts, np.zeros(grow, dtype=np.int64)])
        g = gid[local]
        reps = c["replication"].to_numpy()
        urep, row = np.unique(reps, return_inverse=True)  # chunk rows sorted by replication
        if len(pd.unique(row * width + g)) != len(g):
            raise ValueError("cells: more than one value for a (table, row, column) in a replication")
        W = np.full((len(urep), width), np.nan)
        W[row, g] = c["value"].to_numpy(dtype=float)
        self.n_reps += len(urep)
        self.max_rep = max(self.max_rep, int(urep[-1]))
        ok = ~np.isnan(W)
        self.counts[:width] += ok.sum(axis=0)
        V = np.where(ok, W, 0.0)
        for r in range(len(V)):  # running sums one replication at a time: the same however chunks are cut
            self.sums[:width] += V[r]
        keep = urep < MEDIAN_REPS_MAX
        if keep.any():
            self.kept.append(W[keep] if not keep.all() else W)

    def keys_frame(self) -> pd.DataFrame:
        keys = list(self.ids)
        return pd.DataFrame({k: [x[j] for x in keys] for j, k in enumerate(self.KEYS)})

    def _column_batch(self, lo: int, hi: int) -> np.ndarray:
        """Kept values of cells lo..hi-1, (replications x cells), NaN-padded for late cells."""
        parts = []
        for W in self.kept:
            part = np.full((len(W), hi - lo), np.nan)
            w = min(W.shape[1], hi) - lo
            if w > 0:
                part[:, :w] = W[:, lo : lo + w]
            parts.append(part)
        return np.concatenate(parts) if parts else np.zeros((0, hi - lo))

    def aggregate(self, all_kept: bool) -> pd.DataFrame:
        out = self.keys_frame()
        n = len(out)
        mean, q025, q975 = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        count = np.zeros(n, dtype=np.int64)
        for lo in range(0, n, self.BATCH):
            hi = min(lo + self.BATCH, n)
            M = self._column_batch(lo, hi)
            ok = ~np.isnan(M)
            gids = np.broadcast_to(np.arange(lo, hi), M.shape)
            # long format in replication order, cells interleaved (the layout aggregate_cells sees: pandas'
            # grouped mean depends on it in the last bits)
            long = pd.DataFrame({"gid": gids[ok], "value": M[ok]})
            g = long.groupby("gid", sort=True)["value"]
            idx = range(lo, hi)
            q025[lo:hi] = g.quantile(0.025).reindex(idx).to_numpy()
            q975[lo:hi] = g.quantile(0.975).reindex(idx).to_numpy()
            mean[lo:hi] = g.mean().reindex(idx).to_numpy()
            count[lo:hi] = g.count().reindex(idx, fill_value=0).to_numpy(dtype=np.int64)
        self.kept = []
        if not all_kept:
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(self.counts > 0, self.sums / np.maximum(self.counts, 1), np.nan)
            count = self.counts.astype(np.int64)
        out["mean"], out["q025"], out["q975"], out["reps"] = mean, q025, q975, count
        return out


def write_analysis(
    out_dir: Path | str, tests: Any, cells: Any, frames: dict | None = None, scenario_name: str = ""
) -> None:
    """Write tests.csv, test_summary.csv, tables/*.csv, report.md and figures/*.png into ``out_dir``.

    ``tests``/``cells`` are the outputs of :func:`sim.analysis.analyze_chunk` over all chunks: each
    a DataFrame (the concatenation) or the per-chunk DataFrames in replication order (an iterable,
    or a callable returning an iterator; chunks hold disjoint, increasing replication ranges), read
    once, chunk by chunk, in bounded memory: the files are the same bytes either way. ``frames``
    (optional) gives the answer distributions for the satisfaction figure.

    With more than ``MEDIAN_REPS_MAX`` (10,000) replications, medians (of test statistics and p)
    and the 2.5-97.5% percentiles of the cells are taken over the first 10,000 replications
    (replication index below 10,000); means, counts and shares over all replications. The report
    says so. Up to 10,000 replications everything covers all replications.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ta = _TestsAccumulator()
    single_tests: list[pd.DataFrame] = []  # kept only while one replication has been seen (single-replication report)
    with open(out / "tests.csv", "wb") as fh:
        header = True
        for t in _chunks_of(tests):
            t = t.sort_values(["replication"], kind="stable").reset_index(drop=True)
            if header or len(t):
                fh.write(
                    t.to_csv(index=False, header=header, float_format=FLOAT_FORMAT, lineterminator="\n").encode("utf-8")
                )
                header = False
            ta.add(t)
            if ta.n_reps <= 1:
                single_tests.append(t)
            else:
                single_tests = []
    ca = _CellsAccumulator()
    for c in _chunks_of(cells):
        ca.add(c)
    n_reps = ca.n_reps if ca.ids else ta.n_reps
    single = n_reps <= 1
    summary = ta.summary()
    _write_csv(summary, out / "test_summary.csv")
    agg = ca.aggregate(all_kept=ca.max_rep < MEDIAN_REPS_MAX)
    partial = ca.max_rep >= MEDIAN_REPS_MAX or (not ca.ids and ta.n_reps > MEDIAN_REPS_MAX)
    paper = paper_cells()
    tdir = out / "tables"
    tdir.mkdir(exist_ok=True)
    for table in dict.fromkeys(agg["table"]):
        a = agg[agg["table"] == table].merge(paper, on=["table", "row", "column"], how="left")
        a.insert(2, "label", [_row_label(r, table) for r in a["row"]])
        if single:
            a = a.rename(columns={"mean": "value"}).drop(columns=["q025", "q975", "reps"])
        _write_csv(a.drop(columns="table"), tdir / f"{table}.csv")
    waves = _waves_from(ca.keys_frame(), frames)
    tests_df = (
        pd.concat(single_tests, ignore_index=True) if single and single_tests else pd.DataFrame(columns=["family"])
    )
    figures = write_figures(out, agg, summary, frames, waves, single)
    text = render_report(scenario_name or out.name, tests_df, agg, summary, waves, n_reps, figures, partial=partial)
    (out / "report.md").write_text(text, encoding="utf-8")


def _waves_from(cells: pd.DataFrame, frames: dict | None) -> list[str]:
    cols = cells.loc[(cells["table"] == "retention") & (cells["row"] == "provider"), "column"]
    ws = [c[: -len("_recruited")] for c in dict.fromkeys(cols) if c.endswith("_recruited") and not c.startswith("all_")]
    return list(P.wave_order(ws)) if ws else []


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
