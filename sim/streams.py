"""Random-number streams: one independent stream per (replication, source of randomness, community).

Replication ``r`` of a run with root seed ``S`` seeds the streams of community ``c`` from
``SeedSequence(S, spawn_key=(r, c))`` (NumPy's documented way to derive independent seeds: the child
of ``SeedSequence(S)`` with an explicit key): source ``k`` is a PCG64 generator seeded with words
``4k .. 4k+3`` of that sequence's ``generate_state`` (each word a hash of the whole key, so the
sources' seeds are as independent as separately hashed keys would be; a new source added at the end
of :class:`Stream` takes new words and leaves the others unchanged). A community's streams are made
on first use (:class:`CommunityStreams`): hashing one key per community instead of one per source
costs a fifth of the time. The key holds no scenario and no worker information, so results never
depend on chunking, worker count or backend, and two scenarios run with the same seed share random
numbers per source and community (common random numbers) wherever their communities line up.

How the streams are drawn changed three times, outputs being statistically equivalent
(``tests/test_model_equivalence.py``) but not identical to the earlier versions:

- (latest, a change of mechanism rather than of draws only) DOCTOR: supervision requests are drawn at
  each monthly review for the coming month, at the month's stress-dependent rate
  (``sim.model.providers.Supervision``), instead of one gap at a time at the rate of the day of the
  previous request; the DOCTOR stream's uniforms go to plan reviews and supervision in another order,
  and supervision contacts are about 4% more frequent in the paper's study;
- with the per-community key above (before: one ``SeedSequence(S, spawn_key=(r, k, c))`` per source;
  every stream gives other values, with the same distributions);

and earlier, with the model package (``sim/model/``), against the single-module model:

- SESSION_TIMING, STAFFING, CONTENT, ATTENDANCE, DROPOUT and DOCTOR are drawn during the run through
  ``sim.model.uniforms.Uniforms`` (the same uniforms, fetched in blocks);
- SESSION_TIMING: the gaps between candidate unstructured sessions are exponentials by inversion,
  ``-log(1 - u) / rate``, instead of NumPy's ziggurat ``exponential`` (same distribution, other values);
- DOCTOR: plan-review times (also by inversion) are drawn when a plan is registered, at the session's
  announcement, rather than when a doctor starts the review; supervision gaps by inversion.

the other streams (COMMUNITY, BASELINE, PROVIDER_LEAVE, EVALUATION, CAREGIVER, STRESS) and, for
structured scheduling, the session draws were unchanged by that first change.

RECRUITMENT and RECRUIT (the staff pipeline, ``sim.model.training``) and REFERRAL, REFERRED and CASELOAD
(open caseloads, ``sim.model.caseload``) were added at the end of :class:`Stream`: a stream's seed words
are taken from its fixed integer id (and a SeedSequence's first words do not depend on how many are
asked for), so adding them changed no other stream's draws; they are drawn only when a scenario has a
``staff_pipeline`` or ``caseload`` section.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum

import numpy as np
from numpy.random.bit_generator import ISeedSequence


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


WORDS_PER_STREAM = 4  # 64-bit words of seed per PCG64 generator (what PCG64 asks a SeedSequence for)


class _Seed(ISeedSequence):
    """Seed words already drawn from a SeedSequence, handed to one bit generator."""

    __slots__ = ("words",)

    def __init__(self, words: np.ndarray):
        self.words = words

    def generate_state(self, n_words: int, dtype=np.uint32) -> np.ndarray:
        if n_words != WORDS_PER_STREAM or np.dtype(dtype) != np.uint64:
            raise ValueError("a stream seed holds four 64-bit words")
        return self.words


class CommunityStreams(Mapping):
    """The generators of one community in one replication, by :class:`Stream`, made on first use."""

    __slots__ = ("_made", "_words", "community", "replication", "seed")

    def __init__(self, seed: int, replication: int, community: int):
        self.seed, self.replication, self.community = seed, replication, community
        self._words: np.ndarray | None = None
        self._made: dict[Stream, np.random.Generator] = {}

    def __getitem__(self, source: Stream) -> np.random.Generator:
        gen = self._made.get(source)
        if gen is None:
            k = WORDS_PER_STREAM * int(source)
            if self._words is None or len(self._words) < k + WORDS_PER_STREAM:
                # Words for the streams up to STAFFING (every run draws those) or up to ``source``: hashing
                # costs per word, and a sequence's first words do not depend on how many are asked for.
                n = max(int(source), int(Stream.STAFFING)) + 1
                seq = np.random.SeedSequence(self.seed, spawn_key=(self.replication, self.community))
                self._words = seq.generate_state(WORDS_PER_STREAM * n, np.uint64)
            seed = _Seed(self._words[k : k + WORDS_PER_STREAM])
            gen = self._made[source] = np.random.Generator(np.random.PCG64(seed))
        return gen

    def __iter__(self):
        return iter(Stream)

    def __len__(self) -> int:
        return len(Stream)


def stream(seed: int, replication: int, source: Stream, community: int) -> np.random.Generator:
    """The generator of one source of randomness for one community in one replication."""
    return CommunityStreams(seed, replication, community)[source]
