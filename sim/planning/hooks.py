"""The runner's per-chunk hook for ``run``: the paper-style analysis (:func:`sim.analysis.analyze_chunk`)
and the planner's tables (:func:`sim.planning.summary.planning_chunk`), both computed in the worker so
the parent only streams small tables (memory flat in the replications)."""

from __future__ import annotations

import pandas as pd

from .summary import planning_chunk


def analysis_and_planning(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """``analyze_chunk(frames)`` plus ``planning_monthly`` and ``planning_totals``."""
    from ..analysis import analyze_chunk

    out = dict(analyze_chunk(frames))
    out.update(planning_chunk(frames))
    return out
