"""The text of ``report.md``, laid out like the paper's Results, one function per section.

Response rates and Table 1; providers (Table 2, stress, Table 3); consumers (Table 4); caregivers;
sessions; with many replications the share of replications in which each test was significant.
Each simulated cell stands beside the paper's printed figure. Markdown helpers: :mod:`sim.reporting`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import instruments as ins
from ..reporting import fmt_num, fmt_p, join_blocks, md_table
from . import prep as P
from . import stats as S
from .labels import PAPER_FAMILY_TEXT, PAPER_TEST_TEXT, TABLE_TITLES, row_label
from .tables import paper_cells


class CellText:
    """Aggregated and paper cells by (table, row, column), formatted for the report's tables."""

    def __init__(self, agg: pd.DataFrame, single: bool, with_paper: bool = True):
        self.single = single
        self.with_paper = with_paper
        self.a = {
            (t, r, c): (m, lo, hi)
            for t, r, c, m, lo, hi in agg[["table", "row", "column", "mean", "q025", "q975"]].itertuples(index=False)
        }
        pc = paper_cells() if with_paper else paper_cells().iloc[:0]
        self.p = {(t, r, c): v for t, r, c, v in pc.itertuples(index=False)}

    def get(self, t, r, c):
        return self.a.get((t, r, c), (np.nan, np.nan, np.nan))

    def count(self, t, r, g) -> str:
        n, nlo, nhi = self.get(t, r, f"{g}_n")
        pct = self.get(t, r, f"{g}_pct")[0]
        if (t, r, f"{g}_n") not in self.a:
            return ""
        if self.single:
            return f"{fmt_num(n, 0)}" + (f" ({fmt_num(pct, 1)}%)" if np.isfinite(pct) else "")
        interval = f"{fmt_num(n, 1)} [{fmt_num(nlo, 0)}–{fmt_num(nhi, 0)}]"
        return interval + (f" ({fmt_num(pct, 0)}%)" if np.isfinite(pct) else "")

    def mean_sd(self, t, r, g) -> str:
        if (t, r, f"{g}_mean") not in self.a:
            return ""
        m, lo, hi = self.get(t, r, f"{g}_mean")
        sd = self.get(t, r, f"{g}_sd")[0]
        if self.single:
            return f"{fmt_num(m, 2)} ({fmt_num(sd, 2)})"
        return f"{fmt_num(m, 2)} [{fmt_num(lo, 2)}–{fmt_num(hi, 2)}] (SD {fmt_num(sd, 2)})"

    def value(self, t, r, g, nd=3) -> str:
        if (t, r, f"{g}_value") not in self.a:
            return ""
        m, lo, hi = self.get(t, r, f"{g}_value")
        return fmt_num(m, nd) if self.single else f"{fmt_num(m, nd)} [{fmt_num(lo, nd)}–{fmt_num(hi, nd)}]"

    def cell(self, t: str, r: str, g: str) -> str:
        """N (%) when the cell is a count, else mean (SD)."""
        s = self.count(t, r, g)
        return s if s else self.mean_sd(t, r, g)

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


def rows_of(agg: pd.DataFrame, table: str) -> list[str]:
    rows = agg.loc[agg["table"] == table, "row"]
    return list(dict.fromkeys(rows))


def groups_table(c: CellText, agg: pd.DataFrame, table: str, groups: list[str], with_paper: bool = True) -> str:
    header = ["Item"]
    with_paper = with_paper and c.with_paper
    for g in groups:
        header += [f"{g} (simulated)"] + ([f"{g} (paper)"] if with_paper else [])
    rows = []
    for r in rows_of(agg, table):
        row = [row_label(r, table)]
        for g in groups:
            row.append(c.cell(table, r, g))
            if with_paper:
                row.append(c.paper(table, r, g))
        rows.append(row)
    return md_table(header, rows)


SINGLE_TEST_HEADER = [
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
]
SINGLE_TEST_COLUMNS = ["family", "groups", "item", "test", "statistic", "df", "p", "threshold", "significant", "note"]
MANY_TEST_HEADER = [
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
]
MANY_TEST_COLUMNS = [
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


def _without_paper(table: str) -> str:
    """A markdown table without its "Paper" column (a scenario that is not the paper's study)."""
    lines = table.splitlines()
    if not lines:
        return table
    cells = [ln.split(" | ") for ln in lines]
    head = [c.strip("| ") for c in cells[0]]
    if "Paper" not in head:
        return table
    k = head.index("Paper")
    header = [h for i, h in enumerate(head) if i != k]
    rows = [[c.strip("| ") for i, c in enumerate(r) if i != k] for r in cells[2:]]
    return md_table(header, rows)


def _single_tests_table(tests: pd.DataFrame, prefix: tuple[str, ...]) -> str:
    """One replication: each test with its statistic, p and verdict."""
    t = tests[tests["family"].str.startswith(prefix)]
    rows = [
        [
            f,
            g,
            row_label(i, f),
            te,
            fmt_num(s, 3),
            fmt_num(d, 1),
            fmt_p(p),
            f"{thr:.3g}",
            "yes" if sig else "no",
            PAPER_TEST_TEXT.get((f, i), ""),
            n,
        ]
        for f, g, i, te, s, d, p, thr, sig, n in t[SINGLE_TEST_COLUMNS].itertuples(index=False)
    ]
    return md_table(SINGLE_TEST_HEADER, rows)


def _many_tests_table(sel: pd.DataFrame, prefix: tuple[str, ...], notes: bool = True) -> str:
    """Many replications: per test, the share significant and the paper's printed test."""
    rows = [
        [
            f,
            g,
            row_label(i, f),
            f"{thr:.3g}",
            fmt_num(ms, 3),
            fmt_p(mp),
            f"{p05:.2f}",
            f"{sig:.2f} ± {se:.2f}",
            f"{comp}/{R}",
            pap,
        ]
        for f, g, i, thr, ms, mp, p05, sig, se, comp, R, pap in sel[MANY_TEST_COLUMNS].itertuples(index=False)
    ]
    fam_notes = sorted(
        {txt for pre, txt in PAPER_FAMILY_TEXT.items() if any(pre.startswith(x) or x.startswith(pre) for x in prefix)}
    )
    text = "".join(f"Paper: {t}.\n\n" for t in fam_notes) if notes else ""
    return text + md_table(MANY_TEST_HEADER, rows)


def tests_section(
    tests: pd.DataFrame, summary: pd.DataFrame, single: bool, prefix: tuple[str, ...], with_paper: bool
) -> str:
    """The tests of the families starting with ``prefix``."""
    sel = summary[summary["family"].str.startswith(prefix)]
    if sel.empty:
        return "_No tests (this comparison needs two groups)._\n"
    if not with_paper:
        text = _single_tests_table(tests, prefix) if single else _many_tests_table(sel, prefix, notes=False)
        return _without_paper(text)
    return _single_tests_table(tests, prefix) if single else _many_tests_table(sel, prefix)


@dataclass
class ReportInputs:
    """What ``report.md`` shows: the single replication's tests (one replication), the aggregated
    cells, the test summary, the waves, the replication count and the figure file names."""

    scenario_name: str
    tests: pd.DataFrame
    agg: pd.DataFrame
    summary: pd.DataFrame
    waves: list[str]
    n_reps: int
    figures: list[str]
    partial: bool = False
    median_reps_max: int = 10_000
    with_paper: bool = True  # False: the scenario is not the paper's study (no paper column)

    @property
    def single(self) -> bool:
        return self.n_reps == 1

    def tests_for(self, *prefix: str) -> str:
        return tests_section(self.tests, self.summary, self.single, prefix, self.with_paper)

    def role_waves(self) -> list[str]:
        return [f"{r}_{w}" for r in ("provider", "consumer") for w in self.waves]


def _introduction(ri: ReportInputs) -> list[str]:
    what = (
        "one replication (values)"
        if ri.single
        else f"{ri.n_reps} replications (mean [2.5%–97.5%] of each cell across replications)"
    )
    L = [
        f"# Analysis report: {ri.scenario_name}\n",
        f"Analysed: {what}. {'Paper' if ri.with_paper else 'Methods from'}: Fan et al. (2019), BMC Psychiatry 19:360. "
        f"Waves: {', '.join(ri.waves) or 'none'}.\n",
        "## Statistical analyses (rules used)\n",
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
        "'not computable' with the reason, and count as not significant.\n",
    ]
    beside = "; paper's printed figure beside it" if ri.with_paper else ""
    if ri.single:
        L.append(f"Cells: simulated value{beside}.\n")
    else:
        L.append(f"Cells: mean across replications [2.5%–97.5% percentiles]{beside}.\n")
    if ri.partial:
        m = ri.median_reps_max
        L.append(
            f"Note: {ri.n_reps} replications: medians and 2.5-97.5% percentiles over the first {m:,} "
            f"replications (replication index below {m:,}); means and shares over all {ri.n_reps}.\n"
        )
    return L


def _retention_row(ri: ReportInputs, c: CellText, role: str, w: str) -> list[str]:
    sim_ = c.get("retention", role, f"{w}_evaluated")
    rec = c.get("retention", role, f"{w}_recruited")[0]
    pct = c.get("retention", role, f"{w}_pct")
    interval = f"{fmt_num(sim_[0], 1)} [{fmt_num(sim_[1], 0)}–{fmt_num(sim_[2], 0)}]"
    ev = fmt_num(sim_[0], 0) if ri.single else interval
    pk = ins.PAPER_RETENTION.get((role, w)) if ri.with_paper else None
    paper = f"{pk[0]}/{pk[1]} ({100 * pk[0] / pk[1]:.0f}%)" if pk else ""
    return [role, w, fmt_num(rec, 0), ev, f"{fmt_num(pct[0], 1)}%", *([paper] if ri.with_paper else [])]


def _participants(ri: ReportInputs, c: CellText) -> list[str]:
    rows = [_retention_row(ri, c, role, w) for role in ("provider", "consumer") for w in ri.waves]
    return [
        "## Participant characteristics and response rates\n",
        md_table(
            [
                "Role",
                "Wave",
                "Recruited",
                "Evaluated (simulated)",
                "% evaluated",
                *(["Paper"] if ri.with_paper else []),
            ],
            rows,
        ),
        "\nRetention, initial vs later:\n\n",
        ri.tests_for("retention."),
        *_table_section(
            ri,
            c,
            "table1",
            ["provider", "consumer"],
            "dropout.",
            "\nCompleters vs dropouts on baseline variables, within each wave:\n\n",
        ),
        *_table_section(ri, c, "tableS1", ri.role_waves(), "S1.", with_paper=False),
    ]


def _table_section(
    ri: ReportInputs, c: CellText, table: str, groups: list[str], tests: str = "", lead: str = "\n", **kw: bool
) -> list[str]:
    """One table of the paper as a ``###`` section beside the paper's figures, then (``tests``: a family
    prefix) its tests after ``lead``."""
    out = [f"\n### {TABLE_TITLES[table]}\n\n", groups_table(c, ri.agg, table, groups, **kw)]
    return [*out, lead, ri.tests_for(tests)] if tests else out


def _providers(ri: ReportInputs, c: CellText) -> list[str]:
    return [
        "\n## Peer service providers\n",
        *_table_section(ri, c, "table2", ["all"]),
        *_table_section(ri, c, "stress_reasons", ["all"]),
        *_table_section(ri, c, "tableS2", list(ri.waves), "S2."),
        *_table_section(
            ri, c, "table3", ["provider", "consumer"], "T3.", "\nProviders vs consumers on each benefit item:\n\n"
        ),
        *_table_section(ri, c, "tableS3", ri.role_waves(), "S3."),
    ]


def _consumers(ri: ReportInputs, c: CellText) -> list[str]:
    return [
        "\n## Consumers\n",
        *_table_section(ri, c, "table4", ["all"]),
        *_table_section(ri, c, "tableS4", list(ri.waves), "S4."),
    ]


def _caregivers_and_sessions(ri: ReportInputs, c: CellText) -> list[str]:
    L: list[str] = []
    if (ri.agg["table"] == "caregivers").any():
        L.append(f"\n## {TABLE_TITLES['caregivers']}\n\n")
        L.append(groups_table(c, ri.agg, "caregivers", ["all", "provider", "consumer"]))
    if (ri.agg["table"] == "sessions").any():
        L.append(f"\n## {TABLE_TITLES['sessions']}\n\n")
        rows = [
            [
                row_label(r).replace("content: ", "content = "),
                c.value("sessions", r, "all"),
                *([c.paper("sessions", r, "all")] if ri.with_paper else []),
            ]
            + [c.value("sessions", r, w) for w in ri.waves]
            for r in rows_of(ri.agg, "sessions")
        ]
        paper_col = ["all (paper)"] if ri.with_paper else []
        L.append(md_table(["Row", "all (simulated)", *paper_col, *list(ri.waves)], rows))
    return L


def _power_and_figures(ri: ReportInputs) -> list[str]:
    L: list[str] = []
    if not ri.single:
        L.append("\n## Share of replications in which each test was significant\n\n")
        L.append(
            "What a study like this one would have found: share of replications with p below the Bonferroni "
            "threshold of the test's family (± Monte Carlo SE). Full list: `test_summary.csv`.\n\n"
        )
        s = ri.summary[ri.summary["paper"] != ""]
        rows = [
            [f, P.label(i), f"{sig:.2f} ± {se:.2f}", *([p] if ri.with_paper else [])]
            for f, i, sig, se, p in s[["family", "item", "share_significant", "mc_se", "paper"]].itertuples(index=False)
        ]
        L.append(md_table(["Family", "Item", "Share significant", *(["Paper"] if ri.with_paper else [])], rows))
    if ri.figures:
        L.append("\n## Figures\n\n")
        L += [f"![{f}](figures/{f})\n\n" for f in ri.figures]
    return L


def render_report(ri: ReportInputs) -> str:
    """The whole ``report.md``."""
    c = CellText(ri.agg, ri.single, ri.with_paper)
    blocks = [
        *_introduction(ri),
        *_participants(ri, c),
        *_providers(ri, c),
        *_consumers(ri, c),
        *_caregivers_and_sessions(ri, c),
        *_power_and_figures(ri),
    ]
    return join_blocks(blocks)
