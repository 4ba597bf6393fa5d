"""One replication of a scenario: the processes of every community, wired on one SimPy environment."""

from __future__ import annotations

import gc
import operator
from dataclasses import dataclass, field
from typing import SupportsIndex

import simpy

from ..parameters import ModelParameters
from ..scenario import DAYS_PER_MONTH, Scenario
from .caseload import Caseload
from .collect import collect
from .community import CommunityState, build_community
from .consumers import Dropout
from .doctors import Doctors
from .evaluation import FollowUp
from .providers import ProviderCareer
from .sessions import SessionDelivery
from .training import Recruitment, TrainingCentre


@dataclass
class ReplicationResult:
    """Everything one replication produced: column-oriented tables and the SimPy event count."""

    replication: int
    events: int
    columns: dict[str, dict[str, list]] = field(default_factory=dict)


class RolloutModel:
    """One replication of a scenario. Build it, then :meth:`run`."""

    def __init__(
        self, scenario: Scenario, replication: SupportsIndex, seed: SupportsIndex, parameters: ModelParameters
    ):
        self.replication: int = operator.index(replication)  # NumPy integers too (as int: the compiled
        self.seed: int = operator.index(seed)  # model's functions take Python ints only)
        self.scenario, self.p = scenario, parameters
        self.env = simpy.Environment()
        self.centre: TrainingCentre | None = None  # the staff pipeline's, once run
        pools = {name: Doctors(n, pool=name) for name, n in scenario.doctor_pools.items()}
        self.communities: list[CommunityState] = [
            build_community(
                scenario,
                parameters,
                self.seed,
                self.replication,
                i,
                spec,
                pools[spec.doctor_pool].desk(spec.name)
                if spec.doctor_pool is not None
                else Doctors(spec.doctors, spec.name),
            )
            for i, spec in enumerate(scenario.expanded_communities())
        ]
        if scenario.caseload is not None:
            for c in self.communities:
                rate = scenario.referrals_per_month(c.spec)
                c.caseload = Caseload(c, parameters, scenario.caseload, rate, self.seed, self.replication)

    def run(self) -> ReplicationResult:
        env, p = self.env, self.p
        pipeline = self.scenario.staff_pipeline
        centre: TrainingCentre | None = None
        if pipeline is not None and pipeline.replacing:  # the staff pipeline (sim.model.training)
            centre = TrainingCentre(env, pipeline, p, first_cohort=len(self.communities) + 1)
        self.centre = centre
        for c in self.communities:
            env.process(SessionDelivery(env, c, p).run())
            careers = ProviderCareer(env, c, p)
            if centre is not None:
                careers.recruitment = Recruitment(env, c, centre, p, self.seed, self.replication)
            env.process(monthly_reviews(env, c, Dropout(env, c, p), careers))
            env.process(FollowUp(env, c, self.replication).run())
        horizon = max(c.end for c in self.communities)
        env.run(until=horizon + 1.0)
        tables = collect(p, self.replication, self.communities, centre)
        return ReplicationResult(self.replication, _events_scheduled(env), tables)


def monthly_reviews(env: simpy.Environment, c: CommunityState, dropout: Dropout, careers: ProviderCareer):
    """The community's month boundaries (from the start of services): the dropout review, then the
    providers' stress, career and supervision review; one SimPy process for both saves an event a month."""
    yield env.timeout(c.start - env.now)
    while env.now < c.end:
        window = min(DAYS_PER_MONTH, c.end - env.now)
        c.month_end = env.now + window
        disrupted = c.close_month()
        dropout.month(env.now, window, disrupted)
        careers.review(env.now, window, disrupted)
        yield env.timeout(window)


def _events_scheduled(env: simpy.Environment) -> int:
    """SimPy events scheduled in this environment (SimPy numbers every event it schedules)."""
    counter = getattr(env, "_eid", None)
    return int(next(counter)) if counter is not None else -1


def simulate_replication(
    scenario: Scenario,
    replication: SupportsIndex,
    seed: SupportsIndex | None = None,
    parameters: ModelParameters | None = None,
) -> ReplicationResult:
    """Run replication ``replication`` of ``scenario``: a pure function of its arguments.

    ``seed`` defaults to the scenario's; ``parameters`` to the scenario's (e.g. a posterior draw
    for runs with parameter uncertainty).
    """
    # A replication allocates many short-lived objects and leaves little cyclic garbage (the
    # environment and its suspended processes): pausing the cyclic garbage collector while it runs
    # saves about a tenth of its time (benchmarks/bench_replications.py); collection resumes after.
    paused = gc.isenabled()
    gc.disable()
    try:
        model = RolloutModel(
            scenario,
            replication,
            scenario.seed if seed is None else seed,
            parameters or scenario.parameters,
        )
        return model.run()
    finally:
        if paused:
            gc.enable()
