"""Write the analysis: ``tests.csv``, ``test_summary.csv``, ``tables/*.csv``, ``report.md``, ``figures/*.png``.

The report is laid out like the paper's Results (:mod:`sim.analysis.markdown`), with the paper's
printed figure beside each simulated one (figures: :mod:`sim.analysis.figures`). With one
replication it shows that replication's values and tests; with many, the mean and 2.5-97.5
percentiles of each cell across replications and, for each test, the share of replications in
which it was significant after Bonferroni correction (what a study like this one would have found:
the seed of a power analysis, Monte Carlo SE sqrt(p(1-p)/R)).

Bounded memory: :func:`write_analysis` also takes the per-chunk tables as an iterable and streams
them (:mod:`sim.analysis.accumulators`). With more than 10,000 replications, medians and 2.5-97.5%
percentiles are over the first 10,000 replications (index below 10,000); means and shares over all
N (stated in report.md).

Output is deterministic: rows sorted, floats written with fixed formats, PNGs without software
or time metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..reporting import write_csv
from . import accumulators as A
from . import csvrows
from . import prep as P
from .accumulators import aggregate_cells, summarise_tests
from .figures import start_figures, write_figures
from .io import in_the_programme
from .labels import row_label
from .markdown import ReportInputs, render_report
from .tables import paper_cells

__all__ = ["FLOAT_FORMAT", "aggregate_cells", "render_report", "summarise_tests", "write_analysis", "write_figures"]

FLOAT_FORMAT = csvrows.FLOAT_FORMAT


def _write_tests_csv(path: Path, tests: Any, ta: A.TestsAccumulator) -> list[pd.DataFrame]:
    """Stream the per-chunk tests into ``tests.csv`` (rows by replication) and ``ta``; returns the
    tests while only one replication has been seen (the single-replication report lists them).
    A chunk's rows come preformatted from :func:`sim.analysis.analyze_chunk` when unchanged."""
    single_tests: list[pd.DataFrame] = []
    with open(path, "wb") as fh:
        header = True
        for t in A.chunks_of(tests):
            if not t["replication"].is_monotonic_increasing:
                t = t.sort_values(["replication"], kind="stable")
            t = t.reset_index(drop=True)
            if header:
                fh.write(csvrows.header(t).encode("utf-8"))
                header = False
            fh.write(csvrows.rows(t).encode("utf-8"))
            ta.add(t)
            single_tests = [*single_tests, t] if ta.n_reps <= 1 else []
    return single_tests


def _write_tables(tdir: Path, agg: pd.DataFrame, single: bool, with_paper: bool = True) -> None:
    """``tables/<table>.csv``: the aggregated cells beside the paper's figures (with ``with_paper``)."""
    paper = paper_cells() if with_paper else paper_cells().iloc[:0, :3]
    tdir.mkdir(exist_ok=True)
    for table in dict.fromkeys(agg["table"]):
        a = agg[agg["table"] == table].merge(paper, on=["table", "row", "column"], how="left")
        a.insert(2, "label", [row_label(r, table) for r in a["row"]])
        if single:
            a = a.rename(columns={"mean": "value"}).drop(columns=["q025", "q975", "reps"])
        write_csv(a.drop(columns="table"), tdir / f"{table}.csv", FLOAT_FORMAT)


def write_analysis(
    out_dir: Path | str,
    tests: Any,
    cells: Any,
    frames: dict | None = None,
    scenario_name: str = "",
    with_paper: bool = True,
) -> None:
    """Write tests.csv, test_summary.csv, tables/*.csv, report.md and figures/*.png into ``out_dir``.

    ``tests``/``cells`` are the outputs of :func:`sim.analysis.analyze_chunk` over all chunks: each
    a DataFrame (the concatenation) or the per-chunk DataFrames in replication order (an iterable,
    or a callable returning an iterator; chunks hold disjoint, increasing replication ranges), read
    once, chunk by chunk, in bounded memory: the files are the same bytes either way. ``frames``
    (optional) gives the answer distributions for the satisfaction figure. ``with_paper=False`` (a
    scenario that is not the paper's study, :func:`sim.planning.paper.is_paper_study`): no paper
    figures beside the simulated ones, in report.md, tables/ or figures/.

    With more than ``MEDIAN_REPS_MAX`` (10,000) replications, medians (of test statistics and p)
    and the 2.5-97.5% percentiles of the cells are taken over the first 10,000 replications
    (replication index below 10,000); means, counts and shares over all replications. The report
    says so. Up to 10,000 replications everything covers all replications.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ca = A.CellsAccumulator()
    for c in A.chunks_of(cells):
        ca.add(c)
    ta = A.TestsAccumulator()
    # The cells count the replications; without cells, the tests do (read first, then).
    tests_first = not ca.ids
    single_tests = _write_tests_csv(out / "tests.csv", tests, ta) if tests_first else []
    n_reps = ca.n_reps if ca.ids else ta.n_reps
    single = n_reps <= 1
    cap = A.MEDIAN_REPS_MAX
    agg = ca.aggregate(all_kept=ca.max_rep < cap)
    waves = _waves_from(ca.keys_frame())
    # the figures drawn from the cells are drawn (in a forked child) while tests.csv is written
    pending = start_figures(
        out, agg, in_the_programme(frames) if frames is not None else None, waves, single, with_paper
    )
    if not tests_first:
        single_tests = _write_tests_csv(out / "tests.csv", tests, ta)
    summary = ta.summary()
    write_csv(summary, out / "test_summary.csv", FLOAT_FORMAT)
    partial = ca.max_rep >= cap or (not ca.ids and ta.n_reps > cap)
    _write_tables(out / "tables", agg, single, with_paper)
    tests_df = (
        pd.concat(single_tests, ignore_index=True) if single and single_tests else pd.DataFrame(columns=["family"])
    )
    figures = pending.finish(summary)
    name = scenario_name or out.name
    ri = ReportInputs(name, tests_df, agg, summary, waves, n_reps, figures, partial, cap, with_paper)
    (out / "report.md").write_text(render_report(ri), encoding="utf-8")


def _waves_from(cells: pd.DataFrame) -> list[str]:
    """The waves, in study order, from the retention table's ``<wave>_recruited`` columns."""
    cols = cells.loc[(cells["table"] == "retention") & (cells["row"] == "provider"), "column"]
    ws = [c[: -len("_recruited")] for c in dict.fromkeys(cols) if c.endswith("_recruited") and not c.startswith("all_")]
    return list(P.wave_order(ws)) if ws else []
