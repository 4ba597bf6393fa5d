"""Shared names of the power analysis: the consumer outcomes a trial could compare and the error type."""

from __future__ import annotations

from typing import Literal

from .. import instruments as ins

Kind = Literal["binary", "continuous"]

#: the 1-5 satisfaction items of Table 4 are treated as continuous.
OUTCOMES: dict[str, tuple[str, Kind]] = {
    **{it.column: (it.label, "binary") for it in ins.CONSUMER_SATISFACTION if it.kind == "binary"},
    **{it.column: (it.label, "binary") for it in ins.CONSUMER_BENEFITS},
    **{it.column: (it.label, "continuous") for it in ins.CONSUMER_SATISFACTION if it.kind == "likert"},
}

#: Stream id of the trial draws in :func:`simulated_power` (``SeedSequence(seed, spawn_key=(STREAM, k))``).
SIMULATED_POWER_STREAM = 7301
#: Upper bound on clusters per arm (and on a design's clusters): a trial of the peer-support service will
#: not randomise more communities than a large city has, and simulated trials hold arrays of
#: trials x clusters in memory (ASSUMPTION; 1,000 per arm is far above any realistic plan).
MAX_CLUSTERS = 1000
#: Likert range: control means for continuous outcomes must lie inside it.
LIKERT_RANGE = (1.0, 5.0)


class PowerError(ValueError):
    """Bad input to the power analysis (one-line message)."""
