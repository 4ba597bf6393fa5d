"""The community doctors: a first-come first-served pool of ``n`` doctors.

Methods: each session needs a Service Plan Form reviewed by the community doctor, who also offers
"non-scheduled supervision depending on peer service providers' needs". Both are requests for one
doctor's time, served in order of arrival by whichever doctor is free first.

A request's length is known when it is made (a plan review's length is drawn at submission; a
supervision contact has a fixed length) and nobody jumps the queue, so each request's start and end
follow from the doctors' free times (the Kiefer-Wolfowitz recursion of the multi-server first-come
first-served queue) and no SimPy event is needed. A request may be registered before it arrives (a
session registers its plan when its day is announced; a provider's supervision requests are
registered a month ahead, ``sim.model.providers.Supervision``). The queue is advanced lazily to the
day an outcome is asked for: a request is started only once a doctor is free and the day has come,
so a request withdrawn before it starts (the plan of a cancelled session, ``sim.model.plan_review``)
takes no doctor time. A request that ``follows`` another (the same provider's previous supervision
request) lapses if, on its day, that one is not yet done: a provider with a request still waiting
does not ask again. The queue decides it when the request's day comes, since the previous request's
end is known by then.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from operator import attrgetter


class Request:
    """One request for a doctor's time; ``end`` is set once it is served."""

    __slots__ = ("arrival", "end", "follows", "kind", "length", "owner", "withdrawn")

    def __init__(self, arrival: float, length: float, kind: str, owner: str = "", follows: Request | None = None):
        self.arrival, self.length, self.kind, self.owner = arrival, length, kind, owner
        self.end: float | None = None  # set when a doctor starts it
        self.withdrawn = False  # withdrawn, or lapsed (see follows); never started
        self.follows = follows  # lapses if this earlier request (or the last before it not withdrawn) is not done

    def lapses(self) -> bool:
        """On its day, the request it follows is not done yet (that one arrived earlier, so the queue
        has started it, or withdrawn it: then the one before counts)."""
        prev = self.follows
        while prev is not None and prev.withdrawn:
            prev = prev.follows
        return prev is not None and (prev.end is None or prev.end > self.arrival)


class Doctors:
    """``n`` doctors serving requests first come, first served (shared by a ``doctor_pool``).

    ``owner`` (a community's name) tags the requests registered here, so each request's doctor time
    can be attributed to the community that asked (``sim.planning.resources``); a shared pool gives
    each community a :meth:`desk`.
    """

    __slots__ = ("_order", "free_at", "n", "owner", "pool", "started", "waiting")

    def __init__(self, n: int, owner: str = "", pool: str = "", shared: Doctors | None = None):
        if n < 1:
            raise ValueError("a doctor pool needs at least one doctor")
        self.n, self.owner, self.pool = n, owner, pool
        # a desk of a shared pool (see desk) shares the pool's doctors and queue
        self.free_at: list[float] = shared.free_at if shared else [0.0] * n  # a heap: the day each doctor is free
        self.waiting: list[tuple[float, int, Request]] = shared.waiting if shared else []  # by arrival, registration
        self._order: Iterator[int] = shared._order if shared else itertools.count()
        self.started: list[Request] = shared.started if shared else []  # started requests (served, busy_days)

    def desk(self, owner: str) -> Doctors:
        """The same doctors and queue (shared lists, no copy) registering requests for ``owner``: one
        community's access to a shared pool."""
        return Doctors(self.n, owner, self.pool, shared=self)

    def register(
        self, arrival: float, length: float, kind: str = "plan_review", follows: Request | None = None
    ) -> Request:
        """A request for ``length`` days of a doctor, arriving on day ``arrival`` (lapsing if the request it
        ``follows`` is not done by then)."""
        req = Request(arrival, length, kind, self.owner, follows)
        heapq.heappush(self.waiting, (arrival, next(self._order), req))
        return req

    def advance(self, now: float) -> None:
        """Start, in order of arrival, every request a doctor can start by day ``now``."""
        waiting, free_at = self.waiting, self.free_at
        while waiting and waiting[0][0] <= now and free_at[0] <= now:
            _, _, r = heapq.heappop(waiting)
            if r.withdrawn:
                continue
            if r.follows is not None and r.lapses():
                r.withdrawn = True
                continue
            r.end = max(r.arrival, free_at[0]) + r.length
            heapq.heapreplace(free_at, r.end)
            self.started.append(r)

    @property
    def served(self) -> dict[str, int]:
        """Requests started, by kind (plan_review | supervision)."""
        out: dict[str, int] = {}
        for r in self.started:
            out[r.kind] = out.get(r.kind, 0) + 1
        return out

    @property
    def busy_days(self) -> dict[str, float]:
        """Doctor days spent, by kind."""
        out: dict[str, float] = {}
        for r in self.started:
            out[r.kind] = out.get(r.kind, 0.0) + r.length
        return out

    def end_of(self, req: Request, now: float) -> float:
        """The day ``req`` is done if a doctor has started it by day ``now``, else infinity."""
        self.advance(now)
        return req.end if req.end is not None else float("inf")

    def withdraw(self, req: Request, now: float) -> None:
        """Take back a request on day ``now``: if no doctor has started it, it takes no doctor time."""
        self.advance(now)
        if req.end is None:
            req.withdrawn = True


REQUEST_COLUMNS = ("replication", "community", "doctor_pool", "kind", "arrival_day", "start_day", "end_day")


def request_columns(replication: int, pools: list[Doctors], until: list[float]) -> dict[str, list]:
    """The ``doctor_requests`` table (docs/data_dictionary.md): every request a doctor started, one row
    each, pool by pool in the order they started. Each pool's queue is first advanced to its ``until``
    day (its communities' last day of services), so requests waiting then are served as they would be;
    call this after the other tables are collected (it moves the queue on)."""
    cols: dict[str, list] = {k: [] for k in REQUEST_COLUMNS}
    for d, end in zip(pools, until, strict=True):
        d.advance(end)
        started = d.started
        cols["community"] += map(attrgetter("owner"), started)
        cols["doctor_pool"] += [d.pool] * len(started)
        cols["kind"] += map(attrgetter("kind"), started)
        cols["arrival_day"] += map(attrgetter("arrival"), started)
        cols["start_day"] += [r.end - r.length for r in started]  # type: ignore[operator]  # started: end set
        cols["end_day"] += map(attrgetter("end"), started)
    cols["replication"] = [replication] * len(cols["kind"])
    return cols
