"""The staff pipeline (scenario ``staff_pipeline``, ``sim/scenario_pipeline.py``): replacing providers.

The paper's providers had schizophrenia or bipolar disorder, 'stable at least 6 months', were
'recommended by community doctors' and trained by 'a psychiatrist and a clinical psychologist' in
'five half-days'; no candidate was excluded during training (Methods), so every trainee joins.
Without a ``staff_pipeline`` section nobody replaces a provider who quits (the paper's study).
With it:

- :class:`Recruitment` (one per community): a vacancy opens on the day a provider quits
  (``replace_quitters``) or starts a leave of at least ``long_leave_months`` (``cover_leave``), when the
  community's providers (founders in training included, quitters and, with ``cover_leave``, those on
  a long leave excluded) plus its replacements still in the pipeline fall below its target, the
  community's ``providers``. Finding a candidate in stable recovery takes an exponential time with mean
  ``recruitment_months`` (ASSUMPTION; stream RECRUITMENT); the recruit's baseline, interests and stress
  are drawn as for the founders (``community.draw_replacement``; stream RECRUIT), and the recruit
  waits for a cohort.
- :class:`TrainingCentre` (the district, one SimPy process): ``trainers`` training teams, a
  ``simpy.Resource`` shared by all communities. Launch rule: a cohort forms when ``cohort_size``
  recruits are waiting (from any community) or the longest-waiting one has waited ``max_wait_weeks``;
  it then waits for a free team and takes the recruits waiting at that moment (oldest first, at most
  ``cohort_size``). It trains for ``training_half_days`` at ``half_days_per_week``; when it ends, its
  trainees join their communities (appended to ``CommunityState.providers``, so sessions, staffing,
  careers and supervision see them). A recruit whose community's services end before their cohort
  starts is not trained. A provider back from a covered leave returns to their post, so a community
  may stand above its target until its next quit.

Training lead time (vacancy to joining) = recruitment + wait for a cohort and a team + training: an
output of the simulation (``training.csv``, ``staff.csv``, ``docs/data_dictionary.md``). The founding
providers keep the paper's training (``training_days``, given by the rollout's own team, not by the
district's ``trainers``); ``training.csv`` lists it as one cohort per community.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import simpy

from ..parameters import ModelParameters
from ..scenario import DAYS_PER_MONTH
from ..scenario_pipeline import StaffPipeline
from ..streams import Stream, stream
from .community import CommunityState, Provider, draw_replacement
from .uniforms import Uniforms

WEEK = 7.0


@dataclass(slots=True)
class Recruit:
    """One vacancy of one community, from the day it opens until its recruit joins."""

    community: CommunityState
    opened: float  # day the vacancy opened
    replaces: str  # person_id of the provider whose quit or leave opened it
    provider: Provider | None = None  # the recruit, once found (recruited_day = provider.recruited_day)
    cohort: int | None = None  # number of the cohort that trained them (training.csv)

    @property
    def found(self) -> Provider:
        """The recruit of a vacancy whose recruit has been found (waiting for training, or trained)."""
        assert self.provider is not None
        return self.provider

    @property
    def joined(self) -> bool:
        return self.provider is not None and self.provider.index >= 0


@dataclass
class Cohort:
    """One cohort of trainees (a row of training.csv)."""

    number: int
    start: float
    end: float
    trainees: list[Recruit] = field(default_factory=list)


class TrainingCentre:
    """The district's training teams and the recruits waiting for a cohort (one SimPy process)."""

    def __init__(self, env: simpy.Environment, spec: StaffPipeline, p: ModelParameters, first_cohort: int = 1):
        self.env, self.spec, self.p = env, spec, p
        self.teams = simpy.Resource(env, capacity=max(spec.trainers, 1))
        self.waiting: list[Recruit] = []
        self.cohorts: list[Cohort] = []
        self.recruits: list[Recruit] = []  # every vacancy opened, in the order opened
        self.next_number = first_cohort
        self._arrival = env.event()
        env.process(self.run())

    def enrol(self, recruit: Recruit) -> None:
        """A recruit is found and waits for a cohort."""
        self.waiting.append(recruit)
        if not self._arrival.triggered:
            self._arrival.succeed()

    def run(self):
        """Form cohorts by the launch rule (module docstring) and start each on a free training team."""
        env, spec = self.env, self.spec
        max_wait = spec.max_wait_weeks * WEEK
        while True:
            while not self._still_needed():
                self._arrival = env.event()
                yield self._arrival
            deadline = self.waiting[0].found.recruited_day + max_wait
            while len(self.waiting) < spec.cohort_size and env.now < deadline:
                self._arrival = env.event()
                yield self._arrival | env.timeout(deadline - env.now)
            team = self.teams.request()
            yield team
            if not self._still_needed():
                self.teams.release(team)
                continue
            trainees, self.waiting = self.waiting[: spec.cohort_size], self.waiting[spec.cohort_size :]
            cohort = Cohort(self.next_number, env.now, env.now + spec.training_days, trainees)
            self.next_number += 1
            self.cohorts.append(cohort)
            env.process(self.train(cohort, team))

    def _still_needed(self) -> bool:
        """Drop the waiting recruits whose community's services have ended; is anyone left?"""
        now = self.env.now
        self.waiting = [r for r in self.waiting if r.community.end > now]
        return bool(self.waiting)

    def train(self, cohort: Cohort, team):
        for r in cohort.trainees:
            r.cohort = cohort.number
            r.found.training_start = cohort.start
        yield self.env.timeout(cohort.end - self.env.now)
        self.teams.release(team)
        for r in cohort.trainees:
            self._join(r.community, r.found)

    def _join(self, c: CommunityState, prov: Provider) -> None:
        """The trained recruit joins the community's providers (sessions see them from now) and asks for
        supervision from now to the end of the community's month (then at its monthly reviews)."""
        prov.training_end = self.env.now
        prov.index = len(c.providers)
        c.providers.append(prov)
        c.forget_available()
        if c.supervision is not None and self.env.now < c.month_end:
            c.supervision.plan(prov, self.env.now, c.month_end)


class Recruitment:
    """Vacancies and recruitment of one community's replacement providers."""

    def __init__(
        self,
        env: simpy.Environment,
        c: CommunityState,
        centre: TrainingCentre,
        p: ModelParameters,
        seed: int,
        replication: int,
    ):
        self.env, self.c, self.centre, self.p = env, c, centre, p
        spec = centre.spec
        self.target = c.spec.providers
        self.replace_quitters, self.cover_leave = spec.replace_quitters, spec.cover_leave
        self.long_leave = spec.long_leave_months * DAYS_PER_MONTH
        self.mean_days = spec.recruitment_months * DAYS_PER_MONTH
        self.u = Uniforms(stream(seed, replication, Stream.RECRUITMENT, c.index), block=16)
        self.rng = stream(seed, replication, Stream.RECRUIT, c.index)
        self.pending: list[Recruit] = []  # vacancies whose recruit has not joined yet
        self.found = 0  # replacements recruited so far (numbering after the founders)

    # --- told by sim.model.providers.ProviderCareer as it decides quits and leaves ----------------
    def quit(self, q: Provider, day: float) -> None:
        if self.replace_quitters:
            self.env.process(self._vacancy(day, q.pid))

    def leave(self, q: Provider, day: float, length: float) -> None:
        if self.cover_leave and length >= self.long_leave:
            self.env.process(self._vacancy(day, q.pid))

    def staffed(self, day: float) -> int:
        """Providers counted against the target on ``day``, replacements in the pipeline included."""
        n = 0
        for q in self.c.providers:
            if q.exit_day is not None and q.exit_day <= day:
                continue
            if self.cover_leave and any(a <= day < b and b - a >= self.long_leave for a, b in q.leave_spells):
                continue
            n += 1
        self.pending = [r for r in self.pending if not r.joined]
        return n + len(self.pending)

    def _vacancy(self, day: float, replaces: str):
        """Open a vacancy on ``day`` if the community is below its target, then recruit for it."""
        env = self.env
        yield env.timeout(day - env.now)
        if self.staffed(day) >= self.target:
            return
        r = Recruit(self.c, env.now, replaces)
        self.pending.append(r)
        self.centre.recruits.append(r)
        yield env.timeout(-math.log1p(-self.u.one()) * self.mean_days)  # exponential, by inversion
        self.found += 1
        number = self.c.spec.providers + self.found
        r.provider = draw_replacement(self.c, self.p, self.rng, number, env.now, replaces)
        self.centre.enrol(r)
