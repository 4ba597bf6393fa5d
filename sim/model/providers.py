"""Providers over time: temporary leave and return, quitting, and supervision.

- :class:`ProviderCareer`: from the end of training, leave (Results: a provider "asked for a
  temporary leave due to taking care of sick spouse") and quitting are competing exponential
  hazards; quitting is more likely when stressed (``stress_quit_log_hr``); a leave lasts an
  exponential time with mean ``provider_leave_mean_months``, then the provider is active again.
- :class:`Supervision`: "non-scheduled supervision depending on peer service providers' needs"
  (Methods): an active provider asks for supervision at ``supervision_rate_per_month`` (times
  ``supervision_stress_multiplier`` when stressed); a contact occupies a community doctor for
  ``supervision_days`` (first come, first served with plan reviews, ``sim.model.doctors``) and the
  next request comes an exponential time after it ends.

Stress itself is drawn per provider at recruitment (``sim.model.community``).
"""

from __future__ import annotations

import math

import simpy

from ..parameters import ModelParameters
from ..scenario import DAYS_PER_MONTH
from ..streams import Stream
from .community import CommunityState, Provider


class ProviderCareer:
    """Leave, return and quitting of one provider (one SimPy process)."""

    def __init__(self, env: simpy.Environment, c: CommunityState, prov: Provider, p: ModelParameters):
        self.env, self.c, self.prov = env, c, prov
        self.rng = c.rng[Stream.PROVIDER_LEAVE]
        self.leave_rate = p.provider_leave_hazard_per_month / DAYS_PER_MONTH
        stress_hr = math.exp(p.stress_quit_log_hr) if prov.stressed else 1.0
        self.quit_rate = p.provider_quit_hazard_per_month / DAYS_PER_MONTH * stress_hr
        self.mean_leave = p.provider_leave_mean_months * DAYS_PER_MONTH

    def _wait(self, rate: float) -> float:
        return self.rng.exponential(1 / rate) if rate > 0 else math.inf

    def run(self):
        env, c, prov = self.env, self.c, self.prov
        yield env.timeout(prov.training_end - env.now)
        while True:
            t_leave, t_quit = self._wait(self.leave_rate), self._wait(self.quit_rate)
            t = min(t_leave, t_quit)
            if env.now + t >= c.end:
                return
            yield env.timeout(t)
            if t_quit <= t_leave:
                prov.status, prov.exit_day = "quit", env.now
                return
            prov.status = "on_leave"
            length = self.rng.exponential(self.mean_leave)
            prov.leave_spells.append([env.now, env.now + length])
            if env.now + length >= c.end:
                return
            yield env.timeout(length)
            prov.status = "active"


class Supervision:
    """Supervision requests of one provider (one SimPy process, one event per request)."""

    def __init__(self, env: simpy.Environment, c: CommunityState, prov: Provider, p: ModelParameters):
        self.env, self.c, self.prov = env, c, prov
        self.u = c.uniforms[Stream.DOCTOR]
        mult = p.supervision_stress_multiplier if prov.stressed else 1.0
        self.mean_gap = 1 / (p.supervision_rate_per_month / DAYS_PER_MONTH * mult)
        self.length = p.supervision_days

    def run(self):
        env, c, prov = self.env, self.c, self.prov
        yield env.timeout(prov.training_end - env.now)
        yield env.timeout(self._gap())
        while env.now < c.end:
            wait_from = env.now
            if prov.status == "active":
                wait_from = c.doctors.end_of(c.doctors.register(env.now, self.length), env.now)
                prov.supervision += wait_from <= c.follow_up
            yield env.timeout(wait_from - env.now + self._gap())

    def _gap(self) -> float:
        """Exponential time to the next request (by inversion)."""
        return -math.log1p(-self.u.one()) * self.mean_gap
