"""Session scheduling and holding: when sessions are due, and whether each goes ahead.

- :class:`Timetable` (structured scheduling, later wave): "a fixed service timetable (once every one
  or 2 weeks)" (Methods); the first slot is one interval after training ends.
- :class:`ProviderInitiated` (unstructured scheduling, initial wave): provider-initiated sessions
  whose rate ramps up over the first months ("a slow ramp-up of services especially during the first
  6 months", Discussion).
- :class:`SessionDelivery`: the community's session process: announce, submit the Service Plan Form
  (``sim.model.plan_review``; registered when the session is announced, so waiting for the
  submission day needs no event), then hold the session or postpone it, and cancel it after
  ``max_postponements`` (or when the next timetable slot arrives). A session is held when at least two
  providers are available (``sim.model.staffing``), its plan is reviewed, the venue is free (outdoor
  sessions need no venue) and, for unstructured scheduling, it is not rescheduled.
"""

from __future__ import annotations

import itertools
import math

import simpy

from ..parameters import ModelParameters
from ..scenario import DAYS_PER_MONTH
from ..streams import Stream
from .community import CommunityState, Provider
from .consumers import Attendance
from .doctors import Request
from .plan_review import PlanReview
from .records import SessionRecord
from .staffing import MIN_PROVIDERS_PER_SESSION, Staffing

WEEK = 7.0
# A held session's record from its 13 fields in order, without the named tuple's Python-level
# constructor (one call fewer per session; the same SessionRecord).
_new_record = tuple.__new__


class Timetable:
    """Fixed slots every ``timetable_weeks`` weeks from the end of training."""

    def __init__(self, c: CommunityState):
        self.interval = (c.timetable_weeks or 0) * WEEK
        self.next_slot = c.training_end + self.interval
        self.deadline = self.next_slot  # a postponed session is cancelled when the next slot comes

    def next(self, now: float) -> float:
        announced = self.next_slot
        self.next_slot += self.interval
        self.deadline = self.next_slot
        return announced


class ProviderInitiated:
    """A Poisson process of provider-initiated sessions whose rate ramps up over
    ``unstructured_ramp_months`` from ``unstructured_initial_rate_fraction`` f0 of the full rate
    ``unstructured_max_sessions_per_week``, as f0 + (1 - f0) (t / ramp)^``unstructured_ramp_shape``
    (slow at first: providers who must initiate every session learn to; Discussion: 'slow ramp-up of
    services especially during the first 6 months'); drawn by thinning."""

    deadline = math.inf

    def __init__(self, c: CommunityState, p: ModelParameters):
        self.u = c.uniforms[Stream.SESSION_TIMING]
        self.top = p.unstructured_max_sessions_per_week / WEEK
        self.ramp = p.unstructured_ramp_months * DAYS_PER_MONTH
        self.f0 = p.unstructured_initial_rate_fraction
        self.shape = p.unstructured_ramp_shape
        self.start, self.end = c.start, c.end

    def next(self, now: float) -> float:
        t = now
        while t < self.end:
            gap_u, keep_u = self.u.take(2)
            t += -math.log1p(-gap_u) / self.top  # exponential gap by inversion
            frac = self.f0 + (1 - self.f0) * min((t - self.start) / self.ramp, 1.0) ** self.shape
            if keep_u < frac:
                return t
        return math.inf


class SessionDelivery:
    """The session process of one community (one SimPy process)."""

    def __init__(self, env: simpy.Environment, c: CommunityState, p: ModelParameters):
        self.env, self.c, self.p = env, c, p
        self.schedule = Timetable(c) if c.structured else ProviderInitiated(c, p)
        self.review = PlanReview(c, p)
        self.staffing = Staffing(c, p)
        self.attendance = Attendance(c)
        self.u = c.uniforms[Stream.SESSION_TIMING]
        # A wave that inherits the programme's experience has coordinators who keep announced dates
        # (experienced_disruption_factor, sim.parameters); venue availability is the scenario's fact.
        factor = p.experienced_disruption_factor if c.experienced else 1.0
        self.reschedule = 0.0 if c.structured else p.unstructured_reschedule_prob * factor
        self.durations = (p.duration_min_minutes, p.duration_mode_minutes, p.duration_max_minutes)

    def run(self):
        env, c = self.env, self.c
        yield env.timeout(c.training_end - env.now)
        lead_days = self.p.plan_lead_days
        for seq in itertools.count(1):
            now = env.now
            announced = self.schedule.next(now)
            if announced >= c.end:
                return
            plan = self.review.submit(max(now, announced - lead_days))
            yield env.timeout(announced - now)
            yield from self._attempts(seq, announced, plan)

    def _attempts(self, seq: int, announced: float, plan: Request):
        """Try to hold the session on its day; postpone by ``postpone_days`` or cancel."""
        env, c, p = self.env, self.c, self.p
        postponements = 0
        while True:
            now = env.now
            # one attempt's uniforms: venue, outdoor, rescheduled; format, duration, individual's pick
            u = self.u.take(6)
            reason, available, outdoor = self._obstacle(now, postponements, plan, u)
            if not reason:
                self._hold(now, seq, announced, postponements, available, outdoor, u)
                return
            retry = now + p.postpone_days
            if postponements >= p.max_postponements or retry >= c.end or retry >= self.schedule.deadline:
                # A plan the doctor is reviewing: the session waits for it if it can still be held
                # before the next slot, rather than waste the doctor's time (docs/outcome_chain.md).
                done = plan.end
                if reason == "plan_not_reviewed" and done is not None and done < min(c.end, self.schedule.deadline):
                    postponements += 1
                    yield env.timeout(done - now)
                    continue
                self._cancel(now, seq, announced, postponements, reason, plan)
                return
            postponements += 1
            yield env.timeout(p.postpone_days)

    def _obstacle(
        self, now: float, postponements: int, plan: Request, u: list[float]
    ) -> tuple[str, list[Provider], bool]:
        """Why the session cannot go ahead now ('' if it can), the available providers, outdoor or not."""
        p = self.p
        u_venue, u_outdoor, u_resched = u[0], u[1], u[2]
        outdoor = u_outdoor < p.outdoor_share
        available = self.c.available_providers(now)
        if len(available) < MIN_PROVIDERS_PER_SESSION:
            return "no_providers", available, outdoor
        if not self.review.reviewed(plan, now):
            return "plan_not_reviewed", available, outdoor
        if not outdoor and u_venue < p.venue_unavailable_prob:
            return "venue_unavailable", available, outdoor
        if postponements == 0 and u_resched < self.reschedule:  # unstructured scheduling only (0 otherwise)
            return "rescheduled", available, outdoor
        return "", available, outdoor

    def _hold(
        self,
        now: float,
        seq: int,
        announced: float,
        postponements: int,
        available: list[Provider],
        outdoor: bool,
        u: list[float],
    ) -> None:
        c, p = self.c, self.p
        staff, content = self.staffing.pick(available)
        u_format, u_dur, u_pick = u[3], u[4], u[5]
        group = u_format < p.group_share
        invited, attended = self.attendance.session(now, group, u_pick)
        before = now < c.follow_up
        provs = c.providers
        if before:
            provs[staff[0]].led += 1
        for i in staff:
            provs[i].month_staffed += 1
        c.month_sessions += 1
        c.month_disrupted += postponements > 0
        duration = round(triangular(u_dur, *self.durations), 1)
        record = (
            seq,
            announced,
            now,
            postponements,
            before,
            "",
            content,
            group,
            outdoor,
            duration,
            staff,
            invited,
            attended,
        )
        c.records.append(_new_record(SessionRecord, record))

    def _cancel(self, now: float, seq: int, announced: float, postponements: int, reason: str, plan: Request) -> None:
        c = self.c
        self.review.withdraw(plan, now)
        c.month_sessions += 1
        c.month_disrupted += 1
        c.records.append(SessionRecord(seq, announced, now, postponements, now < c.follow_up, reason))


def triangular(u: float, lo: float, mode: float, hi: float) -> float:
    """Inverse CDF of the triangular distribution (Methods: sessions of 40-120 min)."""
    if hi <= lo:
        return lo
    f = (mode - lo) / (hi - lo)
    if u < f:
        return lo + math.sqrt(u * (hi - lo) * (mode - lo))
    return hi - math.sqrt((1 - u) * (hi - lo) * (hi - mode))
