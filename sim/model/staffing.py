"""Staffing a session: "at least two service providers, one of whom leads" (Methods).

The least-used provider (fewest sessions led) leads, the next least-used assist, up to
``max_providers_per_session``; ties are broken at random. The lead picks the content from their
menu "according to their own interest or strength" (Methods): all eight categories under structured
scheduling, their few favourites otherwise (``sim.model.community.Provider.menu``).
"""

from __future__ import annotations

import bisect

from ..parameters import ModelParameters
from ..streams import Stream
from .community import CommunityState, Provider

MIN_PROVIDERS_PER_SESSION = 2  # Methods: "at least two service providers, one of whom leads"


class Staffing:
    """Who staffs a session and what it is about."""

    def __init__(self, c: CommunityState, p: ModelParameters):
        self.rng_staff = c.rng[Stream.STAFFING]
        self.rng_content = c.rng[Stream.CONTENT]
        self.max_staff = p.max_providers_per_session

    def pick(self, available: list[Provider]) -> tuple[tuple[int, ...], int]:
        """(provider indices, lead first; content category index) for a session about to be held."""
        keys = self.rng_staff.random(len(available)).tolist()
        order = sorted(range(len(available)), key=lambda i: (available[i].led, keys[i]))
        staff = [available[i] for i in order[: self.max_staff]]
        cats, cum = staff[0].menu
        content = cats[min(bisect.bisect_right(cum, self.rng_content.random()), len(cats) - 1)]
        return tuple(q.index for q in staff), content
