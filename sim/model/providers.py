"""Providers over time: stress, temporary leave and return, quitting, and supervision.

- :class:`ProviderCareer` (reviewed at each of the community's month boundaries, in the same SimPy
  process as the dropout review, ``sim.model.rollout.monthly_reviews``): for every provider still in
  the programme (leave and quitting only from the end of training),

  1. stress is updated from the month just ended (a state that persists, ``stress_persistence_logit``):
     ``logit P(stressed) = logit(stress_base_prob) + stress_structured_logit c_struct
     + stress_workload_logit (sessions staffed - STRESS_REFERENCE_SESSIONS_PER_MONTH)
     + stress_cancellation_logit (share of the community's sessions postponed or cancelled)
     + supervision_stress_logit (supervision contacts received) + stress_persistence_logit (stressed before - 1/2)``
     (Discussion: the lack of structure 'compounded whatever stress they experienced'; Results:
     'too heavy workload' among the reasons; supervision helping is an ASSUMPTION);
  2. leave (Results: a provider "asked for a temporary leave due to taking care of sick spouse")
     and quitting are competing hazards over the coming month; quitting is more likely when
     stressed (``stress_quit_log_hr``) and less likely after supervision (``supervision_quit_log_hr``);
     the event falls on a day uniform in the month; a leave lasts an exponential time with mean
     ``provider_leave_mean_months``, then the provider is active again.

  A community left with fewer than two active providers holds no session (``sim.model.staffing``),
  unless the scenario's ``staff_pipeline`` replaces those who quit (``sim.model.training``), which
  ``ProviderCareer`` tells of each quit and leave as it decides them.
- :class:`Supervision`: "non-scheduled supervision depending on peer service providers' needs"
  (Methods): an available provider asks for supervision at ``supervision_rate_per_month`` (times
  ``supervision_stress_multiplier`` while stressed, times ``experienced_supervision_multiplier`` in a
  wave whose doctors know the programme); a contact occupies a community doctor for
  ``supervision_days`` (first come, first served with plan reviews, ``sim.model.doctors``); a
  provider with a request still waiting does not ask again. The rate changes only with the stress
  state, that is at the monthly review, so each review draws the provider's requests of the coming
  month (a Poisson process at that month's rate: exponential gaps from the review day) and registers
  them with the doctors ahead of their days, and needs no SimPy event; the doctors' queue lets a
  request lapse if the provider's previous one is not done on its day (``sim.model.doctors``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import simpy
from scipy.special import logit

from ..parameters import ModelParameters
from ..scenario import DAYS_PER_MONTH
from ..streams import Stream
from .community import CommunityState, Provider

if TYPE_CHECKING:
    from .training import Recruitment

STRESS_REFERENCE_SESSIONS_PER_MONTH = 4.0  # about one session a week (Methods: 'once every one or 2 weeks')


class ProviderCareer:
    """Stress, leave, return and quitting of one community's providers (one SimPy process)."""

    def __init__(self, env: simpy.Environment, c: CommunityState, p: ModelParameters):
        self.env, self.c, self.p = env, c, p
        self.u = c.uniforms[Stream.PROVIDER_LEAVE]
        self.leave_rate = p.provider_leave_hazard_per_month
        self.log_quit = math.log(p.provider_quit_hazard_per_month) if p.provider_quit_hazard_per_month > 0 else None
        self.stress_lp0 = float(logit(p.stress_base_prob)) + p.stress_structured_logit * c.c_struct
        self.k_work, self.k_cancel = p.stress_workload_logit, p.stress_cancellation_logit
        self.k_sup, self.k_pers = p.supervision_stress_logit, p.stress_persistence_logit
        self.supervision = c.supervision = Supervision(c, p)  # replacements joining mid-month use it too
        # The community's recruitment of replacements (scenario staff_pipeline, sim.model.training), told
        # of every quit and leave as it is decided; None: nobody is replaced (the paper's study).
        self.recruitment: Recruitment | None = None

    def run(self):
        """Alone: one review a month from the end of training (``sim.model.rollout`` runs it with
        the dropout review, at the community's month boundaries, sharing the month's disrupted share)."""
        env, c = self.env, self.c
        yield env.timeout(c.training_end - env.now)
        while env.now < c.end:
            window = min(DAYS_PER_MONTH, c.end - env.now)
            self.review(env.now, window, c.close_month())
            yield env.timeout(window)

    def review(self, now: float, window: float, disrupted: float) -> None:
        """Update stress from the month just ended (``disrupted``: the share of the community's
        sessions postponed or cancelled), then decide leave and quitting for the coming one."""
        c = self.c
        c.forget_available()
        provs = [q for q in c.providers if q.exit_day is None or q.exit_day > now]
        u = self.u.take(5 * len(provs))
        c.doctors.advance(now)
        month_ago, end = now - DAYS_PER_MONTH, now + window
        counting = now < c.follow_up
        k_work, k_sup, k_pers = self.k_work, self.k_sup, self.k_pers
        lp_month = self.stress_lp0 + self.k_cancel * disrupted
        for k, q in enumerate(provs):
            supervised = 0
            for r in reversed(q.supervision):  # contacts ended in the past month (at most a few)
                if r.end is not None and r.end <= month_ago:
                    break
                supervised += r.end is not None and r.end <= now
            if now > q.training_end:
                # stress from the month just ended (the formula in the module docstring)
                lp = (
                    lp_month
                    + k_work * (q.month_staffed - STRESS_REFERENCE_SESSIONS_PER_MONTH)
                    + k_sup * supervised
                    + k_pers * (q.stressed - 0.5)
                )
                q.stressed = u[5 * k] * (1.0 + math.exp(-lp)) < 1.0
            if counting:
                q.stressed_months += q.stressed
            q.month_staffed = 0
            start = q.leave_spells[-1][1] if q.leave_spells else now  # back from leave on this day
            if start < end and q.training_end < end:
                start = max(now, start, q.training_end)
                self._career(q, start, end - start, supervised, u[5 * k + 1 : 5 * k + 5])
            if q.training_end < end:
                self.supervision.plan(q, max(now, q.training_end), end)

    def _career(self, q: Provider, now: float, window: float, supervised: int, u) -> None:
        """Leave or quit in [now, now + window) under constant competing hazards (the first event's
        day by inversion of the exponential truncated to the window)."""
        p = self.p
        u_event, u_which, u_day, u_len = u
        quit_rate = 0.0
        if self.log_quit is not None:
            quit_rate = math.exp(
                self.log_quit + p.stress_quit_log_hr * q.stressed + p.supervision_quit_log_hr * (supervised > 0)
            )
        total = (quit_rate + self.leave_rate) * window / DAYS_PER_MONTH
        p_event = -math.expm1(-total)
        if total <= 0 or u_event >= p_event:
            return
        day = now - math.log1p(-u_day * p_event) / total * window
        if u_which * (quit_rate + self.leave_rate) < quit_rate:
            q.exit_day = day
            if self.recruitment is not None:
                self.recruitment.quit(q, day)
        else:
            length = -math.log1p(-u_len) * p.provider_leave_mean_months * DAYS_PER_MONTH
            q.leave_spells.append([day, day + length])
            if self.recruitment is not None:
                self.recruitment.leave(q, day, length)


class Supervision:
    """Supervision requests of one community's providers, drawn a month at a time (no SimPy process)."""

    def __init__(self, c: CommunityState, p: ModelParameters):
        self.doctors = c.doctors
        self.u = c.uniforms[Stream.DOCTOR]
        base = p.supervision_rate_per_month / DAYS_PER_MONTH
        if c.experienced:
            base *= p.experienced_supervision_multiplier
        self.rates = (base, base * p.supervision_stress_multiplier)  # per day (not stressed, stressed)
        self.length = p.supervision_days

    def plan(self, prov: Provider, start: float, end: float) -> None:
        """Register ``prov``'s requests in [start, end) at the rate of their current stress state: the
        arrivals of a Poisson process (exponential gaps by inversion), kept on the days the provider
        is available (leave and quitting are decided a month ahead, ``ProviderCareer``)."""
        rate = self.rates[prov.stressed]
        if rate <= 0:
            return
        t = start
        while True:
            t -= math.log1p(-self.u.one()) / rate
            if t >= end:
                return
            if prov.available(t):
                last = prov.supervision[-1] if prov.supervision else None
                prov.supervision.append(self.doctors.register(t, self.length, "supervision", last))
