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
        self.u_staff = c.uniforms[Stream.STAFFING]
        self.u_content = c.uniforms[Stream.CONTENT]
        self.max_staff = p.max_providers_per_session
        self.providers = c.providers  # the community's list itself: replacements join it (sim.model.training)

    def pick(self, available: list[Provider]) -> tuple[tuple[int, ...], int]:
        """(provider indices, lead first; content category index) for a session about to be held."""
        keys = self.u_staff.take(len(available))
        ranked = sorted(
            [(q.led, key, q.index) for q, key in zip(available, keys, strict=True)]
        )  # (led, tie-break, index)
        staff = tuple([r[2] for r in ranked[: self.max_staff]])
        cats, cum = self.providers[staff[0]].menu
        content = cats[min(bisect.bisect_right(cum, self.u_content.one()), len(cats) - 1)]
        return staff, content
