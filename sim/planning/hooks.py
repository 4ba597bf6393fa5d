"""The runner's per-chunk hook for ``run``: the paper-style analysis (:func:`sim.analysis.report_chunk`)
and the planner's tables (:func:`sim.planning.tables.planning_chunk`), both computed in the worker so
the parent only streams small tables (memory flat in the replications)."""

from __future__ import annotations

import pandas as pd

from .tables import planning_chunk


def analysis_and_planning(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """``report_chunk(frames)`` (tests and cells) plus the planning tables (``planning_monthly``,
    ``planning_totals`` and, with costs, ``planning_costs``)."""
    from ..analysis import report_chunk

    out = dict(report_chunk(frames))
    out.update(planning_chunk(frames))
    return out
