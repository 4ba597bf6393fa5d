"""Random-number streams: one independent stream per (replication, source of randomness, community).

Replication ``r`` of a run with root seed ``S`` draws source ``k`` of community ``c`` from
``SeedSequence(S, spawn_key=(r, k, c))`` (NumPy's documented way to derive independent streams: the
r-th child of ``SeedSequence(S)`` by an explicit key). The key holds no scenario and no worker
information, so results never depend on chunking, worker count or backend, and two scenarios run with
the same seed share random numbers per source and community (common random numbers) wherever their
communities line up.

How the streams are drawn changed once, with the model package (``sim/model/``), outputs being
statistically equivalent (``tests/test_model_equivalence.py``) but not identical to the earlier
single-module model:

- SESSION_TIMING, STAFFING, CONTENT, ATTENDANCE, DROPOUT and DOCTOR are drawn during the run through
  :class:`Uniforms` (the same uniforms, fetched in blocks);
- SESSION_TIMING: the gaps between candidate unstructured sessions are exponentials by inversion,
  ``-log(1 - u) / rate``, instead of NumPy's ziggurat ``exponential`` (same distribution, other values);
- DOCTOR: plan-review times (also by inversion) are drawn when a plan is registered, at the session's
  announcement, rather than when a doctor starts the review; supervision gaps by inversion.

RECRUITMENT and RECRUIT (the staff pipeline, ``sim.model.training``) and REFERRAL, REFERRED and CASELOAD
(open caseloads, ``sim.model.caseload``) were added later, at the end: a stream's identity is its fixed
integer id, so adding them changed no other stream's draws, and they are created only when a scenario
has a ``staff_pipeline`` or ``caseload`` section.

All other streams (COMMUNITY, BASELINE, PROVIDER_LEAVE, EVALUATION, CAREGIVER, STRESS) and, for
structured scheduling, the session draws are unchanged: with supervision off and instant plan reviews
a structured community gives the same sessions, byte for byte, as before.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """Fixed integer ids of the sources of randomness. Never renumber: it changes every result."""

    COMMUNITY = 0  # community effect, timetable interval
    BASELINE = 1  # baseline characteristics of providers and consumers (Table 1)
    ATTENDANCE = 2  # consumers' propensities and per-session attendance
    DROPOUT = 3  # consumer dropout
    PROVIDER_LEAVE = 4  # provider temporary leave, return and quitting
    SESSION_TIMING = 5  # unstructured session arrivals and rescheduling, venue, format, duration
    CONTENT = 6  # provider interests and session content
    DOCTOR = 7  # community doctors' plan review and supervision
    EVALUATION = 8  # follow-up interview answers of providers and consumers
    CAREGIVER = 9  # caregivers and their answers
    STRESS = 10  # provider stress state
    STAFFING = 11  # choice of lead and assistants
    RECRUITMENT = 12  # staff pipeline: time to find a replacement provider (sim.model.training)
    RECRUIT = 13  # staff pipeline: a replacement provider's baseline, interests and stress
    REFERRAL = 14  # open caseload: referral counts and days (sim.model.caseload)
    REFERRED = 15  # open caseload: referred consumers' baselines and attendance propensities
    CASELOAD = 16  # open caseload: graduation times, dropout in the month a consumer starts


# Drawn only by the staff pipeline (``sim.model.training``), which creates them itself.
PIPELINE_STREAMS = (Stream.RECRUITMENT, Stream.RECRUIT)
# Drawn only with an open caseload (``sim.model.caseload``), which creates them itself.
CASELOAD_STREAMS = (Stream.REFERRAL, Stream.REFERRED, Stream.CASELOAD)


def stream(seed: int, replication: int, source: Stream, community: int) -> np.random.Generator:
    """The generator of one source of randomness for one community in one replication."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(replication, int(source), community)))
    )


class Uniforms:
    """The uniform draws of one stream, fetched in blocks and handed out as Python floats.

    ``take(k)`` returns exactly the values ``rng.random(k)`` would (NumPy's generators fill an array
    of uniforms one 64-bit draw after another, so a block split in pieces equals the pieces drawn one
    by one), at a fraction of the cost of a NumPy call per draw. Once a stream is wrapped, draw from it
    only through the wrapper: a direct draw from ``rng`` would skip the values already fetched.
    """

    __slots__ = ("block", "buf", "pos", "rng")

    def __init__(self, rng: np.random.Generator, block: int = 256):
        self.rng, self.block = rng, block
        self.buf: list[float] = []
        self.pos = 0

    def take(self, k: int) -> list[float]:
        pos, end = self.pos, self.pos + k
        if end > len(self.buf):
            self.buf = self.buf[pos:] + self.rng.random(max(self.block, k)).tolist()
            pos, end = 0, k
        self.pos = end
        return self.buf[pos:end]

    def one(self) -> float:
        pos = self.pos
        if pos >= len(self.buf):
            self.buf = self.rng.random(self.block).tolist()
            pos = 0
        self.pos = pos + 1
        return self.buf[pos]
