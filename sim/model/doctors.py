"""The community doctors: a first-come first-served pool of ``n`` doctors.

Methods: each session needs a Service Plan Form reviewed by the community doctor, who also offers
"non-scheduled supervision depending on peer service providers' needs". Both are requests for one
doctor's time, served in order of arrival by whichever doctor is free first.

A request's length is known when it is made (a plan review's length is drawn at submission; a
supervision contact has a fixed length), and nobody jumps the queue, so the start and end of each
request follow from the doctors' free times at arrival (the Kiefer-Wolfowitz recursion of the
multi-server first-come first-served queue): no SimPy events are needed. Requests must be booked in
order of arrival, which they are: every process books at its own ``env.now``.
"""

from __future__ import annotations

import heapq


class Doctors:
    """``n`` doctors serving requests first come, first served (shared by a ``doctor_pool``)."""

    __slots__ = ("free_at", "n")

    def __init__(self, n: int):
        if n < 1:
            raise ValueError("a doctor pool needs at least one doctor")
        self.n = n
        self.free_at = [0.0] * n  # a heap: the day each doctor next becomes free

    def book(self, now: float, length: float) -> tuple[float, float]:
        """Book ``length`` days of the first free doctor for a request arriving at ``now``:
        the (start, end) day of the service."""
        start = max(now, self.free_at[0])
        end = start + length
        heapq.heapreplace(self.free_at, end)
        return start, end
