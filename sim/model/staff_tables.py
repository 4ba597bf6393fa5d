"""The staff tables of one replication (``docs/data_dictionary.md``): ``staff`` (each community, each
month: providers in post, on leave, in training, waiting for training, vacancies being recruited for,
quits and newly trained) and ``training`` (one row per cohort: each community's founding training, then
the staff pipeline's cohorts, ``sim.model.training``), and the providers table's pipeline columns.

Built at collection time from the people's days (no SimPy events): every count is a difference of the
numbers of days at or before a month's end (``bisect`` on sorted days), so in_post changes by
exactly trained - quit from one month to the next.
"""

from __future__ import annotations

import math
from bisect import bisect_right

from ..scenario import DAYS_PER_MONTH
from ..scenario_pipeline import TRAINING_HALF_DAYS
from .community import CommunityState
from .training import Recruit, TrainingCentre

STAFF_COLUMNS = (
    "replication",
    "community",
    "wave",
    "setting",
    "month",
    "in_post",
    "on_leave",
    "in_training",
    "awaiting_training",
    "recruiting",
    "quit",
    "trained",
)
TRAINING_COLUMNS = (
    "replication",
    "cohort",
    "start_day",
    "end_day",
    "trainees",
    "communities",
    "trainer_half_days",
    "queue_wait_days",
    "kind",
)


def month_ends(c: CommunityState) -> tuple[int, list[float]]:
    """The community's first month (whole months since day 0) and the end of each of its months (the
    last one cut at the community's end), one per month overlapping [start, end)."""
    first = math.floor(c.start / DAYS_PER_MONTH + 1e-9)
    last = max(first + 1, math.ceil(c.end / DAYS_PER_MONTH - 1e-9))
    return first, [min((m + 1) * DAYS_PER_MONTH, c.end) for m in range(first, last)]


def _counts(days: list[float], ends: list[float]) -> list[int]:
    """How many of ``days`` fall at or before each month end."""
    if not days:
        return [0] * len(ends)
    days = sorted(days)
    return [bisect_right(days, t) for t in ends]


def staff_columns(replication: int, c: CommunityState, recruits: list[Recruit]) -> dict[str, list]:
    """The staff rows of one community; ``recruits``: its staff-pipeline vacancies (joined or not)."""
    first, ends = month_ends(c)
    n = len(ends)
    k = _cumulative(c, recruits, ends)
    s = c.spec
    return {
        "replication": [replication] * n,
        "community": [s.name] * n,
        "wave": [s.wave] * n,
        "setting": [s.setting] * n,
        "month": list(range(first, first + n)),
        "in_post": _minus(k["trained"], k["quit"]),
        "on_leave": _minus(k["leave_from"], k["leave_to"]),
        "in_training": _minus(k["started"], k["trained"]),
        "awaiting_training": _minus(k["found"], k["rec_started"]),
        "recruiting": _minus(k["opened"], k["found"]),
        "quit": _diff(k["quit"]),
        "trained": _diff(k["trained"]),
    }


def _cumulative(c: CommunityState, recruits: list[Recruit], ends: list[float]) -> dict[str, list[int]]:
    """For each kind of day, how many fall at or before each month end (a person counts in a state
    between two of their days: trained to quit, recruited to training start, ...)."""
    provs = c.providers
    found, rec_started = _recruit_days(recruits)
    days = {
        "trained": [q.training_end for q in provs],
        "started": [q.training_start for q in provs[: c.spec.providers]] + rec_started,
        "quit": [q.exit_day for q in provs if q.exit_day is not None],
        "leave_from": [a for q in provs for a, _ in q.leave_spells],
        "leave_to": [b for q in provs for _, b in q.leave_spells],
        "opened": [r.opened for r in recruits],
        "found": found,
        "rec_started": rec_started,
    }
    return {k: _counts(v, ends) for k, v in days.items()}


def _recruit_days(recruits: list[Recruit]) -> tuple[list[float], list[float]]:
    """Each vacancy's day a candidate was found and day training started (infinite: not yet)."""
    found = [r.provider.recruited_day if r.provider else math.inf for r in recruits]
    started = [r.provider.training_start if r.provider and r.cohort is not None else math.inf for r in recruits]
    return found, started


def _minus(a: list[int], b: list[int]) -> list[int]:
    return [x - y for x, y in zip(a, b, strict=True)]


def _diff(cum: list[int]) -> list[int]:
    return [b - a for a, b in zip([0, *cum[:-1]], cum, strict=True)]


def training_columns(replication: int, cs: list[CommunityState], centre: TrainingCentre | None) -> dict[str, list]:
    """One row per founding training (community order), then one per staff-pipeline cohort (launch order)."""
    rows = [
        (k + 1, c.start, c.training_end, c.spec.providers, c.name, TRAINING_HALF_DAYS, 0.0, "founding")
        for k, c in enumerate(cs)
    ]
    if centre is not None:
        for h in centre.cohorts:
            names = sorted({r.community.name for r in h.trainees}, key=[c.name for c in cs].index)
            waits = [h.start - r.found.recruited_day for r in h.trainees]
            half_days = centre.spec.training_half_days
            rows.append(
                (
                    h.number,
                    h.start,
                    h.end,
                    len(h.trainees),
                    ";".join(names),
                    half_days,
                    sum(waits) / len(waits),
                    "pipeline",
                )
            )
    cols: dict[str, list] = {"replication": [replication] * len(rows)}
    for k, col in enumerate(TRAINING_COLUMNS[1:]):
        cols[col] = [row[k] for row in rows]
    return cols


def provider_pipeline_columns(cs: list[CommunityState]) -> dict[str, list]:
    """training_start_day and replaces of the providers table's rows (the providers in each community's
    follow-up snapshot, which come first in its provider list)."""
    start: list[float] = []
    replaces: list[str] = []
    for c in cs:
        assert c.snapshot is not None
        provs = c.providers[: len(c.snapshot.providers["person_id"])]
        start.extend(q.training_start for q in provs)
        replaces.extend(q.replaces for q in provs)
    return {"training_start_day": start, "replaces": replaces}
