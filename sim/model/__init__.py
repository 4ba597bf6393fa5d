"""The SimPy model of the peer-support rollout: one replication as a pure function of scenario + seed.

Each mechanism of the paper's Methods (Fan et al. 2019) is one class; ``RolloutModel`` only wires them
(``README.md``, "What is modelled", maps each to the paper):

- ``community.build_community``: a community's people (Table 1 baselines, interests, stress,
  attendance propensities), its community effect and timetable;
- ``sessions.Timetable`` / ``sessions.ProviderInitiated``: when sessions are due (structured /
  unstructured scheduling); ``sessions.SessionDelivery``: hold, postpone or cancel each session;
- ``staffing.Staffing``: at least two providers, the least-used leads, the lead picks the content;
- ``plan_review.PlanReview`` and ``doctors.Doctors``: the community doctor's Service Plan Form review;
- ``providers.ProviderCareer`` (stress, leave, return, quitting) and ``providers.Supervision`` (the
  coming month's supervision requests, drawn at the same monthly review);
- ``training.Recruitment`` and ``training.TrainingCentre``: replacing providers who quit (scenario
  ``staff_pipeline``), recruited and trained in cohorts by the district's trainers;
- ``consumers.Attendance`` and ``consumers.Dropout``; ``caseload.Caseload`` (open caseloads: referrals,
  the waiting list, graduation);
- ``evaluation.FollowUp`` and ``evaluation.interview``: the follow-up evaluation (``sim.follow_up``);
- ``records.SessionRecord`` / ``records.exposure``: what happened, and each person's exposure;
- ``collect.collect``: the tables of ``docs/data_dictionary.md`` (``staff_tables``: staff and training).
- ``uniforms.Uniforms``: the uniforms of one random stream (``sim/streams.py``), fetched in blocks.

Time is in days from the start of the study; months are 365.25/12 days.
"""

from __future__ import annotations

from .. import native

native.use_compiled(__path__)  # the mypyc-compiled modules, if built from exactly these sources (sim/native.py)

from .evaluation import CAREGIVER_ANSWER_COLUMNS, CONSUMER_ANSWER_COLUMNS, PROVIDER_ANSWER_COLUMNS
from .records import SESSION_COLUMNS, SessionRecord
from .rollout import ReplicationResult, RolloutModel, simulate_replication

__all__ = [
    "CAREGIVER_ANSWER_COLUMNS",
    "CONSUMER_ANSWER_COLUMNS",
    "PROVIDER_ANSWER_COLUMNS",
    "SESSION_COLUMNS",
    "ReplicationResult",
    "RolloutModel",
    "SessionRecord",
    "simulate_replication",
]
