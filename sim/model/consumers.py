"""Consumers: who attends each session, and who drops out.

- :class:`Attendance`: everyone still in the programme is invited to a group session (one of them,
  at random, to an individual session) and attends with their own propensity (Methods: attendance
  "required to be more than 40%").
- :class:`Dropout`: a piecewise-constant hazard. At each month boundary (the start of the
  community's services, then every month) the monthly hazard of every consumer still in the
  programme is set from their attendance share over the month just ended (if invited), the share of
  the month's sessions postponed or cancelled, the community effect and a rural setting, and holds
  for the coming month (or shorter last window). Those facts change only at month boundaries, so
  one review per month is all the events the hazard needs (about 70 of a paper_study replication's
  events); within the month a consumer drops out with probability ``1 - exp(-h * window)``, on a day
  uniform within it, and sessions after that day never see them.

With an open caseload (``sim.model.caseload``) only consumers in a group are invited and at risk:
those on the waiting list are neither, and a consumer who starts within a month is at risk for the
rest of it at that month's hazard (``Caseload._start``).
"""

from __future__ import annotations

import math

import simpy

from ..parameters import ModelParameters
from ..scenario import DAYS_PER_MONTH
from ..streams import Stream
from .community import CommunityState, Consumers


class Attendance:
    """Invitations and attendance of one community's sessions."""

    def __init__(self, c: CommunityState):
        assert c.consumers is not None
        self.consumers = c.consumers
        self.caseload = c.caseload
        self.u = c.uniforms[Stream.ATTENDANCE]
        # Closed cohort: those still in the programme, kept until the first of their exit days or until
        # a dropout review sets new ones (``Consumers.reviews``), so a session need not scan everyone.
        self._in: tuple[int, ...] = ()
        self._in_until, self._in_reviews = -math.inf, -1

    def session(self, now: float, group: bool, u_pick: float) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(invited, attended) consumer indices of a session held at ``now``, in index order. One
        attendance uniform is drawn per consumer of the community (invited or not), so the draws of
        a session do not depend on who is invited; the work is over those invited only."""
        cons = self.consumers
        n = len(cons.pids)
        if self.caseload is None:
            invited = self._still_in(now)
        else:  # those in a group; nobody on the waiting list
            self.caseload.advance(now)
            invited = tuple(self.caseload.in_groups(now))
        if not group and invited:
            invited = (invited[int(u_pick * len(invited))],)
        u, propensity = self.u.take(n), cons.propensity
        attended = tuple([k for k in invited if u[k] < propensity[k]])
        cons.month_invitations.append(invited)
        month_attended = cons.month_attended
        for k in attended:
            month_attended[k] += 1
        return invited, attended

    def _still_in(self, now: float) -> tuple[int, ...]:
        """The closed cohort's consumers still in the programme on day ``now`` (exit day after it)."""
        cons = self.consumers
        if now >= self._in_until or cons.reviews != self._in_reviews:
            exit_day = cons.exit_day
            self._in = tuple([k for k in range(len(exit_day)) if exit_day[k] > now])
            self._in_until = min([exit_day[k] for k in self._in], default=math.inf)
            self._in_reviews = cons.reviews
        return self._in


class Dropout:
    """The dropout process of one community (one SimPy process, one event a month)."""

    def __init__(self, env: simpy.Environment, c: CommunityState, p: ModelParameters):
        self.env, self.c, self.p = env, c, p
        self.u = c.uniforms[Stream.DROPOUT]
        self.log_h0: float | None = None  # None: no dropout at all
        if p.consumer_dropout_hazard_per_month > 0:
            self.log_h0 = math.log(p.consumer_dropout_hazard_per_month) + p.dropout_community_loading * c.effect
            self.log_h0 += p.rural_dropout_log_hr if c.rural else 0.0

    def run(self):
        """Alone: one review a month from the start of services (``sim.model.rollout`` runs the
        month's reviews of dropout and provider careers in one process)."""
        env, c = self.env, self.c
        yield env.timeout(c.start - env.now)
        while env.now < c.end:
            window = min(DAYS_PER_MONTH, c.end - env.now)
            self.month(env.now, window, c.close_month())
            yield env.timeout(window)

    def month(self, now: float, window: float, disrupted: float) -> None:
        """The review at a month boundary: the month's disrupted share sets the coming month's hazard."""
        p = self.p
        if self.log_h0 is not None:
            self.review(now, window, self.log_h0 + p.dropout_cancellation_log_hr * disrupted)

    def review(self, now: float, window: float, log_h: float) -> None:
        """Decide who drops out in [now, now + window) at log hazard ``log_h`` plus their attendance shift."""
        if self.c.caseload is not None:
            self._review_open(now, window, log_h)
            return
        cons = self.consumers
        n = len(cons)
        u, when = self.u.take(n), self.u.take(n)
        beta = self.p.dropout_attendance_log_hr
        exit_day, invited, attended = cons.exit_day, cons.month_invited(), cons.month_attended
        for k in range(n):
            if exit_day[k] != math.inf:
                continue
            lh = log_h + beta * (attended[k] / invited[k] - 0.5) if invited[k] else log_h
            if u[k] < -math.expm1(-math.exp(lh) * window / DAYS_PER_MONTH):
                exit_day[k] = now + when[k] * window
        cons.reviews += 1
        cons.start_month()

    def _review_open(self, now: float, window: float, log_h: float) -> None:
        """:meth:`review` with an open caseload: those in a group on ``now`` are at risk (whoever starts
        later in the month is decided on starting, at ``log_h``); an exit may be graduation first."""
        caseload = self.c.caseload
        assert caseload is not None
        caseload.advance(now)
        caseload.month = (now, now + window, log_h)
        cons = self.consumers
        n = len(cons)
        u, when = self.u.take(n), self.u.take(n)
        beta = self.p.dropout_attendance_log_hr
        invited, attended = cons.month_invited(), cons.month_attended
        caseload.prune(now)
        for k in caseload.members:
            lh = log_h + beta * (attended[k] / invited[k] - 0.5) if invited[k] else log_h
            if u[k] < -math.expm1(-math.exp(lh) * window / DAYS_PER_MONTH):
                caseload.exit(k, now + when[k] * window, "dropped_out")
        cons.start_month()

    @property
    def consumers(self) -> Consumers:
        assert self.c.consumers is not None
        return self.c.consumers
