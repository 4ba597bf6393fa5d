"""Result collection: the tables of one replication (``docs/data_dictionary.md``), as columns."""

from __future__ import annotations

from ..parameters import ModelParameters
from .caseload import caseload_columns
from .community import CommunityState
from .doctors import request_columns
from .evaluation import concat_rows, interview
from .records import session_columns
from .staff_tables import provider_pipeline_columns, staff_columns, training_columns
from .training import Recruit, TrainingCentre


def collect(
    p: ModelParameters, replication: int, communities: list[CommunityState], centre: TrainingCentre | None = None
) -> dict[str, dict[str, list]]:
    """providers, consumers, caregivers (with answers), sessions, communities and caseload; staff and training
    (``centre``: the staff pipeline, ``sim.model.training``, if the scenario has one)."""
    tables = interview(p, replication, communities)
    tables["providers"].update(provider_pipeline_columns(communities))
    tables["sessions"] = concat_rows(
        [
            session_columns(c.records, replication, c.spec, [q.pid for q in c.providers], c.consumers.pids)
            for c in communities
            if c.consumers is not None
        ]
    )
    tables["communities"] = _communities(replication, communities)
    tables["caseload"] = concat_rows([caseload_columns(replication, c) for c in communities])
    recruits: dict[int, list[Recruit]] = {}
    for r in centre.recruits if centre is not None else ():
        recruits.setdefault(r.community.index, []).append(r)
    tables["staff"] = concat_rows([staff_columns(replication, c, recruits.get(c.index, [])) for c in communities])
    tables["training"] = training_columns(replication, communities, centre)
    tables["doctor_requests"] = _doctor_requests(replication, communities)  # last: it advances the queues
    return tables


def _doctor_requests(replication: int, cs: list[CommunityState]) -> dict[str, list]:
    """Each distinct doctor pool once (a shared pool serves several communities), in community order."""
    pools: dict[int, tuple] = {}
    for c in cs:
        key = id(c.doctors.started)  # a shared pool's desks share one list of started requests
        d, end = pools.get(key, (c.doctors, c.end))
        pools[key] = (d, max(end, c.end))
    return request_columns(replication, [d for d, _ in pools.values()], [e for _, e in pools.values()])


def _communities(replication: int, cs: list[CommunityState]) -> dict[str, list]:
    return {
        "replication": [replication] * len(cs),
        "community": [c.name for c in cs],
        "wave": [c.spec.wave for c in cs],
        "scheduling": [c.spec.scheduling for c in cs],
        "setting": [c.spec.setting for c in cs],
        "start_day": [c.start for c in cs],
        "follow_up_day": [c.follow_up for c in cs],
        "end_day": [c.end for c in cs],
        "timetable_weeks": [c.timetable_weeks for c in cs],
        "doctors": [c.doctors.n for c in cs],
        **_community_outcomes(cs),
    }


def _community_outcomes(cs: list[CommunityState]) -> dict[str, list]:
    snaps = [c.snapshot for c in cs if c.snapshot is not None]
    assert len(snaps) == len(cs)
    return {
        "providers_recruited": [len(c.providers) for c in cs],
        "consumers_recruited": [len(c.consumers or ()) for c in cs],
        "community_effect": [round(c.effect, 6) for c in cs],
        "sessions_held": [snap.sessions_held for snap in snaps],
        "sessions_cancelled": [snap.sessions_cancelled for snap in snaps],
        # Methods: 'The ratio of peer service providers to consumers was between 1:3 and 1:5'.
        "providers_active_at_follow_up": [sum(s == "active" for s in snap.providers["status"]) for snap in snaps],
        "consumers_enrolled_at_follow_up": [sum(s == "active" for s in snap.consumers["status"]) for snap in snaps],
    }
