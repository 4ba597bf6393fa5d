"""Target ids -> columns of :func:`sim.analysis.summaries.paper_summaries`.

Count targets are compared as proportions, so each has a numerator column and the denominator the
paper used (its "of n"): evaluated providers (12), evaluated consumers (42), consumers evaluated in
a wave (26, 16), recruited per role and wave (7, 6, 32, 22), participating caregivers (32) or the
caregivers of providers / consumers (10, 22). Nothing is computed here beyond that division.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_DIRECT = {
    "sessions.total": "sessions.held",
    "sessions.group_share": "sessions.group_share",
    "caregiver.age.mean": "caregiver.age.mean",
}
#: Caregiver targets whose columns are not ``caregiver.<item>.yes`` of all participating caregivers.
_CAREGIVER = {
    "of_providers": ("caregiver.of_provider", "evaluated.provider"),
    "of_consumers": ("caregiver.of_consumer", "evaluated.consumer"),
    "female": ("caregiver.female", "caregiver.n"),
    "member_qualified": ("caregiver.member_qualified.yes", "caregiver.of_provider"),
    "expect_member_provider": ("caregiver.expect_member_provider.yes", "caregiver.of_consumer"),
}


def columns_for(tid: str) -> tuple[str, str | None]:
    """(numerator or value column, denominator column or None) of a target id."""
    if tid in _DIRECT:
        return _DIRECT[tid], None
    parts = tid.split(".")
    head = parts[0]
    if head == "retention":
        _, role, wave = parts
        return f"retention.{role}.{wave}.evaluated", f"retention.{role}.{wave}.recruited"
    if head == "content":
        return f"sessions.share.{parts[1]}", None
    if tid == "provider.confidence_answered":
        return "provider.confidence.n", "evaluated.provider"
    if tid.startswith("consumer.ben_mood.") and len(parts) == 3:
        wave = parts[2]
        return f"consumer.ben_mood.yes.{wave}", f"retention.consumer.{wave}.evaluated"
    if head in ("provider", "consumer"):
        if len(parts) >= 3:  # .mean / .sd / .t / .mean.<wave>
            return tid, None
        return f"{head}.{parts[1]}.yes", f"evaluated.{head}"
    if head == "caregiver":
        return _CAREGIVER.get(parts[1], (f"caregiver.{parts[1]}.yes", "caregiver.n"))
    raise KeyError(f"no summary column for target {tid!r}")


def target_values(summaries: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """One column per target id (count targets as proportions; NaN where not computable)."""
    out = {}
    n = len(summaries)
    for tid in ids:
        num, den = columns_for(tid)
        x = summaries[num].to_numpy(dtype=float) if num in summaries.columns else np.full(n, np.nan)
        if den is not None:
            d = summaries[den].to_numpy(dtype=float) if den in summaries.columns else np.full(n, np.nan)
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.where(d > 0, x / np.where(d > 0, d, 1.0), np.nan)
        out[tid] = x
    return pd.DataFrame(out, index=summaries.index)
