"""Plan review: the community doctor reviews each session's Service Plan Form (Methods).

A session's plan is submitted ``plan_lead_days`` before its announced day; a doctor takes it when
free (first come, first served with the supervision requests, ``sim.model.doctors``) and reviews it
for an exponential time with mean ``plan_review_mean_days`` (times ``experienced_review_factor`` in
a wave that inherits the programme's experience: doctors who know the programme). A session whose
plan is not reviewed by the time it is due is postponed (``sim.model.sessions``); the plan of a
cancelled session is withdrawn, so a doctor who has not started it spends no time on it.
"""

from __future__ import annotations

import math

from ..parameters import ModelParameters
from ..streams import Stream
from .community import CommunityState
from .doctors import Request


class PlanReview:
    """The Service Plan Form reviews of one community."""

    def __init__(self, c: CommunityState, p: ModelParameters):
        self.doctors = c.doctors
        self.u = c.uniforms[Stream.DOCTOR]
        self.mean_days = p.plan_review_mean_days * (p.experienced_review_factor if c.experienced else 1.0)

    def submit(self, day: float) -> Request:
        """A plan to be submitted on ``day`` (registered now, at or before ``day``)."""
        # exponential review time by inversion
        length = -math.log1p(-self.u.one()) * self.mean_days if self.mean_days > 0 else 0.0
        return self.doctors.register(day, length)

    def withdraw(self, plan: Request, now: float) -> None:
        """The session is cancelled: take its plan back from the doctor's queue."""
        self.doctors.withdraw(plan, now)

    def reviewed(self, plan: Request, now: float) -> bool:
        """Whether the plan's review is complete on day ``now``."""
        end = plan.end  # set once a doctor has started it (sim.model.doctors)
        return (end if end is not None else self.doctors.end_of(plan, now)) <= now
