"""Open caseloads (scenario ``caseload:``): referrals over time, a waiting list, and exits.

- **Referrals**: community doctors refer consumers at ``referrals_per_month`` per community (a Poisson
  process from the community's start to the end of its services; Methods: participants were
  'recommended by community doctors'; the rate is an ASSUMPTION, the paper reports none). Referred
  consumers get Table 1 baselines and attendance propensities like the founding cohort
  (``community.draw_consumers``), drawn on their own streams (``REFERRAL``, ``REFERRED``) so the
  founding cohort's draws do not change.
- **The waiting list**: the groups have ``floor(available providers x consumers_per_provider)`` places
  (Methods: 'the ratio of peer service providers to consumers was between 1:3 and 1:5'); the
  available providers are those of ``CommunityState.available_providers`` on the day, so places follow
  training, leave, return, quitting and any provider added to the community. A referred consumer
  waits while the groups are full, is not invited to sessions while waiting, and starts, first come
  first served, on the first day a place opens (a provider trains or returns, someone exits).
  The founding cohort is recruited with its providers and enrolled on the community's start day,
  whatever the places (the scenario's ``consumers``).
- **Exits**: dropout (``consumers.Dropout``: the monthly hazard; a consumer who starts within a month
  drops out in the rest of it at that month's hazard) and graduation (recovery): an exponential time
  in the programme with mean ``graduation_months`` (ASSUMPTION, prior Uniform(12, 60) months; null =
  nobody graduates). An exit frees a place.

The waiting list is kept by :meth:`Caseload.advance`, a sweep over the days on which something can
change (a referral, an exit, a provider's change of state while someone waits), run whenever the
model needs the caseload up to date (before a session invites, at each dropout review, at
follow-up, at the end): it needs no SimPy event of its own. :func:`caseload_columns` writes the
``caseload`` table (``docs/data_dictionary.md``) from each consumer's days, for every scenario.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections import deque

import numpy as np

from ..parameters import ModelParameters
from ..scenario import DAYS_PER_MONTH
from ..scenario import Caseload as CaseloadSpec
from ..streams import Stream, stream
from .community import CommunityState, draw_consumers

CASELOAD_COLUMNS = (
    "replication",
    "community",
    "wave",
    "setting",
    "month",
    "referred",
    "enrolled",
    "waiting",
    "started",
    "dropped_out",
    "graduated",
    "mean_wait_days",
)


def referral_days(rng: np.random.Generator, rate_per_month: float, start: float, end: float) -> list[float]:
    """Days of a Poisson process at ``rate_per_month`` on [start, end), ascending: a Poisson number
    of referrals, each on a day uniform in the period (so each month's count is Poisson)."""
    if rate_per_month <= 0 or end <= start:
        return []
    n = int(rng.poisson(rate_per_month * (end - start) / DAYS_PER_MONTH))
    return np.sort(start + (end - start) * rng.random(n)).tolist()


class Caseload:
    """The open caseload of one community: its referrals, waiting list, enrolment and exits."""

    def __init__(
        self, c: CommunityState, p: ModelParameters, spec: CaseloadSpec, rate: float, seed: int, replication: int
    ):
        assert c.consumers is not None
        self.c, self.cons = c, c.consumers
        self.per_provider = spec.consumers_per_provider
        n0 = len(self.cons)
        days = referral_days(stream(seed, replication, Stream.REFERRAL, c.index), rate, c.start, c.end)
        if days:
            people = stream(seed, replication, Stream.REFERRED, c.index)
            base, prop = draw_consumers(c, p, len(days), people, people)
            self.cons.refer([f"{c.name}/C{n0 + i + 1:02d}" for i in range(len(days))], base, prop, days)
        n = len(self.cons)
        u = stream(seed, replication, Stream.CASELOAD, c.index).random((3, n))
        if spec.graduation_months is None:
            self.graduation_gap = [math.inf] * n
        else:
            self.graduation_gap = (-np.log1p(-u[0]) * spec.graduation_months * DAYS_PER_MONTH).tolist()
        self.first_u, self.first_when = u[1].tolist(), u[2].tolist()  # dropout in the month they start
        self.waiting: deque[int] = deque()  # consumer indices, in order of referral
        self.next_referral = n0  # the first consumer not yet referred
        self.exits: list[tuple[float, int]] = []  # heap of (day, consumer) of scheduled exits
        self.members: list[int] = []  # consumers who started, in order (= index order), until they exit
        self.enrolled = 0  # in a group now (started, not exited)
        self.t = c.start  # the caseload is up to date on this day
        # The dropout review's current month: (first day, end day, log hazard), set by consumers.Dropout.
        self.month: tuple[float, float, float | None] = (c.start, c.start, None)
        for k in range(n0):
            self._start(k, c.start)

    def places(self, day: float) -> int:
        """Group places on ``day``: available providers x ``consumers_per_provider``, rounded down."""
        return int(len(self.c.available_providers(day)) * self.per_provider)

    def advance(self, now: float) -> None:
        """Bring the waiting list up to day ``now``: exits, referrals and starts in order of day."""
        # Recheck the places on resuming: providers may have been added since (staff pipeline).
        t_places = self.t if self.waiting else math.inf
        while True:
            t = self._next_day(t_places)
            if t > now:
                break
            t_places = self._step(t)
        self.t = max(self.t, now)

    def _next_day(self, t_places: float) -> float:
        """The next day something can change: a referral, an exit, or (while someone waits) the places."""
        referred, heap = self.cons.referred_day, self.exits
        t_ref = referred[self.next_referral] if self.next_referral < len(referred) else math.inf
        t_exit = heap[0][0] if heap else math.inf
        return min(t_ref, t_exit, t_places if self.waiting else math.inf)

    def _step(self, t: float) -> float:
        """Day ``t``: exits, then referrals join the list, then the list fills the open places; returns
        the next day the places may change (inf when nobody waits)."""
        heap, waiting, exit_day, referred = self.exits, self.waiting, self.cons.exit_day, self.cons.referred_day
        while heap and heap[0][0] <= t:
            day, k = heapq.heappop(heap)
            if exit_day[k] == day:  # not superseded by an earlier exit
                self.enrolled -= 1
        while self.next_referral < len(referred) and referred[self.next_referral] <= t:
            waiting.append(self.next_referral)
            self.next_referral += 1
        if not waiting:
            return math.inf
        places = self.places(t)
        while waiting and self.enrolled < places:
            self._start(waiting.popleft(), t)
        until = self.c.available_until()
        return until if until > t else math.inf

    def _start(self, k: int, day: float) -> None:
        """Consumer ``k`` joins a group on ``day``: their graduation day, and whether they drop out in
        the rest of the current month (``consumers.Dropout`` decides the months after)."""
        cons = self.cons
        cons.enrolled_day[k] = day
        self.enrolled += 1
        self.members.append(k)
        grad = day + self.graduation_gap[k]
        if grad < math.inf:
            self.exit(k, grad, "graduated")
        first, end, log_h = self.month
        if log_h is not None and first <= day < end:
            window = end - day
            if self.first_u[k] < -math.expm1(-math.exp(log_h) * window / DAYS_PER_MONTH):
                self.exit(k, day + self.first_when[k] * window, "dropped_out")

    def exit(self, k: int, day: float, reason: str) -> None:
        """Consumer ``k`` leaves on ``day`` unless they leave earlier anyway."""
        cons = self.cons
        if day < cons.exit_day[k]:
            cons.exit_day[k], cons.exit_reason[k] = day, reason
            heapq.heappush(self.exits, (day, k))

    def in_groups(self, now: float) -> list[int]:
        """Consumers in a group on day ``now`` (started, not exited), in index order."""
        exit_day = self.cons.exit_day
        return [k for k in self.members if exit_day[k] > now]

    def prune(self, now: float) -> None:
        """Forget members who left before ``now`` (they never come back)."""
        self.members = self.in_groups(now)

    def follow_up_columns(self, now: float) -> dict[str, list]:
        """Consumer-table columns at the follow-up day ``now`` (``docs/data_dictionary.md``)."""
        self.advance(now)
        cons = self.cons
        status = [
            _status(ref, enr, ex, why, now)
            for ref, enr, ex, why in zip(
                cons.referred_day, cons.enrolled_day, cons.exit_day, cons.exit_reason, strict=True
            )
        ]
        left = [ex <= now for ex in cons.exit_day]
        return {
            "recruited_day": list(cons.referred_day),
            "status": status,
            "exit_day": [float(d) if gone else None for d, gone in zip(cons.exit_day, left, strict=True)],
            "retained": [int(s in ("active", "graduated")) for s in status],
            "evaluated": [int(s == "active") for s in status],
            "referred_day": list(cons.referred_day),
            "enrolled_day": [d if d <= now else None for d in cons.enrolled_day],
            "exit_reason": [why if gone else "" for why, gone in zip(cons.exit_reason, left, strict=True)],
        }


def _status(referred: float, enrolled: float, exit_day: float, reason: str, now: float) -> str:
    """A consumer's status on day ``now``."""
    if referred > now:
        return "referred_after_follow_up"
    if enrolled > now:
        return "waiting"
    return reason if exit_day <= now else "active"


def caseload_columns(replication: int, c: CommunityState) -> dict[str, list]:
    """The ``caseload`` table of one community: a row per month (whole months since day 0) from its
    start month to its end month. Month-end counts are taken at the end of the month (the community's
    end day for its last month), so that, month by month, consumers referred so far = enrolled +
    waiting + exits so far. Plain Python: a community has a few dozen consumers, and this runs for
    every scenario (the closed cohort too)."""
    cons = c.consumers
    assert cons is not None
    if c.caseload is not None:
        c.caseload.advance(c.end)
    first = math.floor(c.start / DAYS_PER_MONTH + 1e-9)
    rows = max(first + 1, math.ceil(c.end / DAYS_PER_MONTH - 1e-9)) - first
    ends = [(first + i + 1) * DAYS_PER_MONTH for i in range(rows - 1)] + [c.end]
    counts = {k: [0] * rows for k in ("referred", "started", "dropped_out", "graduated")}
    wait = [0.0] * rows
    closed = c.caseload is None
    for ref, enr, ex, why in zip(cons.referred_day, cons.enrolled_day, cons.exit_day, cons.exit_reason, strict=True):
        counts["referred"][bisect.bisect_right(ends, ref)] += 1
        if enr < c.end:
            i = bisect.bisect_right(ends, enr)
            counts["started"][i] += 1
            wait[i] += enr - ref
        if ex < c.end:
            counts["dropped_out" if closed else why][bisect.bisect_right(ends, ex)] += 1
    referred = list(itertools.accumulate(counts["referred"]))
    started = list(itertools.accumulate(counts["started"]))
    left = list(itertools.accumulate(a + b for a, b in zip(counts["dropped_out"], counts["graduated"], strict=True)))
    return {
        "replication": [replication] * rows,
        "community": [c.name] * rows,
        "wave": [c.spec.wave] * rows,
        "setting": [c.spec.setting] * rows,
        "month": list(range(first, first + rows)),
        "referred": counts["referred"],
        "enrolled": [a - b for a, b in zip(started, left, strict=True)],
        "waiting": [a - b for a, b in zip(referred, started, strict=True)],
        "started": counts["started"],
        "dropped_out": counts["dropped_out"],
        "graduated": counts["graduated"],
        "mean_wait_days": [round(w / k, 3) if k else None for w, k in zip(wait, counts["started"], strict=True)],
    }
