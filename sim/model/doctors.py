"""The community doctors: a first-come first-served pool of ``n`` doctors.

Methods: each session needs a Service Plan Form reviewed by the community doctor, who also offers
"non-scheduled supervision depending on peer service providers' needs". Both are requests for one
doctor's time, served in order of arrival by whichever doctor is free first.

A request's length is known when it is made (a plan review's length is drawn at submission; a
supervision contact has a fixed length) and nobody jumps the queue, so each request's start and end
follow from the doctors' free times when it arrives (the Kiefer-Wolfowitz recursion of the
multi-server first-come first-served queue) and no SimPy event is needed. A request may be
registered before it arrives (a session registers its plan when its day is announced); requests are
served in order of arrival when an outcome is asked for at day ``t``, by which time every request
arriving by ``t`` has been registered (plans ahead of time, supervision requests when they arrive).
"""

from __future__ import annotations

import heapq
import itertools


class Request:
    """One request for a doctor's time; ``end`` is set once it is served."""

    __slots__ = ("arrival", "end", "length")

    def __init__(self, arrival: float, length: float):
        self.arrival, self.length = arrival, length
        self.end: float | None = None


class Doctors:
    """``n`` doctors serving requests first come, first served (shared by a ``doctor_pool``)."""

    __slots__ = ("_order", "free_at", "n", "waiting")

    def __init__(self, n: int):
        if n < 1:
            raise ValueError("a doctor pool needs at least one doctor")
        self.n = n
        self.free_at = [0.0] * n  # a heap: the day each doctor next becomes free
        self.waiting: list[tuple[float, int, Request]] = []  # a heap by arrival, then registration
        self._order = itertools.count()

    def register(self, arrival: float, length: float) -> Request:
        """A request for ``length`` days of a doctor, arriving on day ``arrival``."""
        req = Request(arrival, length)
        heapq.heappush(self.waiting, (arrival, next(self._order), req))
        return req

    def end_of(self, req: Request, now: float) -> float:
        """The day ``req`` is (or will be) done, asked on day ``now`` >= its arrival."""
        waiting, free_at = self.waiting, self.free_at
        while waiting and waiting[0][0] <= now:
            _, _, r = heapq.heappop(waiting)
            start = max(r.arrival, free_at[0])
            r.end = start + r.length
            heapq.heapreplace(free_at, r.end)
        assert req.end is not None, "a request is asked for before it arrives"
        return req.end
