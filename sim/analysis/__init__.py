"""Analysis of evaluation datasets with the statistics of Fan et al. (2019).

Library entry points (the CLI's ``run`` and ``analyze`` sit on top of them):

- :func:`analyze_chunk` (frames -> {"tests", "cells", "summaries"}) for one chunk of replications
  (:func:`report_chunk`: the same without "summaries", the per-chunk hook of ``run``);
- :func:`write_analysis` (out_dir, tests, cells, frames, scenario_name) writes the outputs;
- :func:`analyze_directory` (in_dir, out_dir) for a folder of CSVs (``cli.py analyze DIR``);
- :func:`sim.analysis.summaries.paper_summaries` for calibration (one row per replication).

Tests and choice rules: :mod:`sim.analysis.stats`; families and Bonferroni:
:mod:`sim.analysis.compare`; tables: :mod:`sim.analysis.tables`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import compare, csvrows, prep, stats, tables
from .accumulators import ChunkCells
from .io import DatasetError, in_the_programme, read_directory
from .report import write_analysis
from .summaries import paper_summaries

__all__ = [
    "DatasetError",
    "analyze_chunk",
    "analyze_directory",
    "paper_summaries",
    "read_directory",
    "report_chunk",
    "write_analysis",
]


def analyze_chunk(frames: dict[str, pd.DataFrame], method: stats.ContinuousMethod = "t") -> dict[str, pd.DataFrame]:
    """Analyse the replications in ``frames`` (the output of ``sim.datasets.to_frames``).

    Returns ``tests`` (one row per test per replication: replication, family, population, item,
    groups, test, statistic, df, p, p_bonferroni, threshold, significant, n1, n2, est1, est2,
    note), ``cells`` (table, row, column, replication, value) and ``summaries`` (one row per
    replication: :func:`paper_summaries`). Chunks can be concatenated: nothing depends on other
    replications. ``method``: "t" (the paper's rule), "student", "welch" or "mwu".

    ``tests.attrs`` carries the chunk's rows as ``tests.csv`` text (:func:`sim.analysis.csvrows.attach`):
    formatted here, in the worker, so that :func:`write_analysis` only concatenates; likewise
    ``cells.attrs`` carries the cells in the streaming accumulator's layout
    (:class:`sim.analysis.accumulators.ChunkCells`).
    """
    pr = prep.prepare(in_the_programme(frames))
    return {**_report_tables(pr, method), "summaries": paper_summaries(pr).reset_index()}


def report_chunk(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """:func:`analyze_chunk` without ``summaries``: what :func:`write_analysis` reads (``tests`` and
    ``cells``), the per-chunk hook of ``cli.py run`` and the app (the per-replication summaries are
    for calibration, which calls :func:`paper_summaries` itself). Its cells' table, row and column are
    pandas categoricals (a chunk's cells pickle to under half the bytes on their way to the parent)."""
    return _report_tables(prep.prepare(in_the_programme(frames)), "t", compact=True)


def _report_tables(pr: prep.Prepared, method: stats.ContinuousMethod, compact: bool = False) -> dict[str, pd.DataFrame]:
    blocks = tables.table_blocks(pr)
    layout = None  # the accumulator's layout of the cells, straight from the blocks (no re-parsing)
    if len(pr.replications):
        keys, matrix = tables.cells_matrix(blocks, pr.replications)
        layout = ChunkCells.of_matrix(keys, pr.replications, matrix)
    return {
        "tests": csvrows.attach(compare.run_tests(pr, method=method)),
        "cells": ChunkCells.carry(tables.cells_frame(blocks, categorical=compact), layout),
    }


def analyze_directory(
    in_dir: Path | str,
    out_dir: Path | str | None = None,
    method: stats.ContinuousMethod = "t",
    with_paper: bool = True,
    scenario_name: str | None = None,
    frames: dict[str, pd.DataFrame] | None = None,
) -> Path:
    """Read providers/consumers/caregivers(/sessions).csv from ``in_dir``, analyse, write to ``out_dir``.

    ``out_dir`` defaults to ``in_dir``. Bad input raises :class:`DatasetError` (one line naming file
    and column). ``with_paper=False``: no paper figures beside the simulated ones (data of a scenario that
    is not the paper's study, as ``run`` writes them). ``scenario_name`` titles the report (default: the
    folder's name). ``frames``: the folder's tables if already read (:func:`read_directory`). Returns the
    output directory.
    """
    frames = read_directory(in_dir) if frames is None else frames
    res = analyze_chunk(frames, method=method)
    out = Path(out_dir) if out_dir is not None else Path(in_dir)
    write_analysis(
        out,
        res["tests"],
        res["cells"],
        frames,
        scenario_name=scenario_name or Path(in_dir).resolve().name,
        with_paper=with_paper,
    )
    return out
