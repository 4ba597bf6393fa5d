"""Session records (one per session, held or cancelled) and what they add up to per person.

A :class:`SessionRecord` keeps who staffed a session and who was invited to and attended it as
indices into the community's providers and consumers, so each person's exposure (sessions
attended, on time, content categories met, the providers met) is a sum over records
(:func:`exposure`); the ``sessions`` table is written from the same records (:func:`session_columns`).
Columns are documented in ``docs/data_dictionary.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from .. import instruments as ins

N_CATEGORIES = len(ins.CONTENT_CATEGORIES)


class SessionRecord(NamedTuple):
    """One session as it ended: held (``cancel_reason == ""``) or cancelled.

    A named tuple: made once per session and read column by column (``zip(*records)``) when the
    tables are built, which costs less than an object with attributes set one by one."""

    seq: int  # the community's session number, from 1
    announced_day: float
    day: float  # held, or cancelled, on this day
    postponements: int
    before_follow_up: bool
    cancel_reason: str = ""  # no_providers | plan_not_reviewed | venue_unavailable | rescheduled
    content: int = -1  # index into instruments.CONTENT_CATEGORIES
    group: bool = True
    outdoor: bool = False
    duration_min: float | None = None
    staff: tuple[int, ...] = ()  # provider indices, the lead first
    invited: tuple[int, ...] = ()  # consumer indices
    attended: tuple[int, ...] = ()  # consumer indices

    @property
    def held(self) -> bool:
        return not self.cancel_reason

    @property
    def on_time(self) -> bool:
        """Held on its announced day (not postponed)."""
        return not self.cancel_reason and self.postponements == 0


@dataclass
class Exposure:
    """Per-person totals over the sessions held before follow-up (lists, one entry per person)."""

    con_invited: list[int]
    con_attended: list[int]
    con_on_time: list[int]  # attended sessions held on time
    con_categories: list[int]  # content categories met at an attended session (of 8)
    prov_led: list[int]
    prov_assisted: list[int]
    prov_on_time: list[int]  # staffed sessions held on time
    prov_categories: list[int]  # content categories met at a staffed session (of 8)


def exposure(records: list[SessionRecord], n_providers: int, n_consumers: int) -> Exposure:
    """Sum the held sessions before follow-up into each person's exposure. Plain Python: a community's
    few dozen people and sessions cost less this way than as NumPy calls; the categories a person met
    are kept as the bits of an integer (bit k: category k)."""
    con_att, con_on, con_cat = ([0] * n_consumers for _ in range(3))
    led, assisted, prov_on, prov_cat = ([0] * n_providers for _ in range(4))
    invitations = []
    for r in records:
        if not r.before_follow_up or r.cancel_reason:
            continue
        on_time = r.postponements == 0
        bit = 1 << r.content
        invitations.append(r.invited)
        for k in r.attended:
            con_att[k] += 1
            con_on[k] += on_time
            con_cat[k] |= bit
        staff = r.staff
        led[staff[0]] += 1
        for k in staff[1:]:
            assisted[k] += 1
        for k in staff:
            prov_on[k] += on_time
            prov_cat[k] |= bit
    return Exposure(
        con_invited=invitation_counts(invitations, n_consumers),
        con_attended=con_att,
        con_on_time=con_on,
        con_categories=[m.bit_count() for m in con_cat],
        prov_led=led,
        prov_assisted=assisted,
        prov_on_time=prov_on,
        prov_categories=[m.bit_count() for m in prov_cat],
    )


def invitation_counts(invitations: list[tuple[int, ...]], n_consumers: int) -> list[int]:
    """How many of the sessions ``invitations`` (each session's invited consumer indices) invited each
    consumer. The group sessions of a closed cohort invite everyone still in, as one tuple shared by the
    sessions until someone leaves (``sim.model.consumers.Attendance``): each distinct tuple is counted
    once, times its sessions."""
    counts = [0] * n_consumers
    sessions: dict[int, list] = {}
    for invited in invitations:
        seen = sessions.get(id(invited))
        if seen is None:
            sessions[id(invited)] = [invited, 1]
        else:
            seen[1] += 1
    for invited, m in sessions.values():
        for k in invited:
            counts[k] += m
    return counts


SESSION_COLUMNS = (
    "replication",
    "community",
    "wave",
    "scheduling",
    "session_id",
    "announced_day",
    "day",
    "status",
    "cancel_reason",
    "postponements",
    "on_time",
    "content",
    "format",
    "venue",
    "duration_min",
    "lead_provider",
    "providers",
    "n_providers",
    "n_invited",
    "n_attended",
    "attendees",
    "before_follow_up",
)


def session_columns(
    records: list[SessionRecord], replication: int, community, provider_ids: list[str], consumer_ids: list[str]
) -> dict[str, list]:
    """The ``sessions`` table of one community (``community``: its scenario spec), in SESSION_COLUMNS order."""
    n, name = len(records), community.name
    cols: dict[str, list] = {
        "replication": [replication] * n,
        "community": [name] * n,
        "wave": [community.wave] * n,
        "scheduling": [community.scheduling] * n,
    }
    if not n:
        return cols | {col: [] for col in SESSION_COLUMNS[4:]}
    # The records' columns: a SessionRecord whose every field is a tuple with one entry per session
    # (typed Any: the NamedTuple's field types describe one record, not its columns).
    r: Any = SessionRecord._make(zip(*records, strict=True))
    cols["session_id"] = [f"{name}#{seq:04d}" for seq in r.seq]
    cols["announced_day"] = list(r.announced_day)
    cols["day"] = list(r.day)
    cols.update(_delivery_columns(r))
    cols["duration_min"] = list(r.duration_min)
    cols.update(_people_columns(r, provider_ids, consumer_ids))
    cols["before_follow_up"] = [int(b) for b in r.before_follow_up]
    return {col: cols[col] for col in SESSION_COLUMNS}


def _delivery_columns(r: Any) -> dict[str, list]:
    """status ... venue, from the records' columns ``r``; blank content, format and venue if cancelled."""
    held = [not reason for reason in r.cancel_reason]
    categories = ins.CONTENT_CATEGORIES
    return {
        "status": ["held" if h else "cancelled" for h in held],
        "cancel_reason": list(r.cancel_reason),
        "postponements": list(r.postponements),
        "on_time": [int(h and k == 0) for h, k in zip(held, r.postponements, strict=True)],
        "content": [categories[k] if h else "" for h, k in zip(held, r.content, strict=True)],
        "format": [("group" if g else "individual") if h else "" for h, g in zip(held, r.group, strict=True)],
        "venue": [
            ("outdoor" if o else "rehabilitation_centre") if h else "" for h, o in zip(held, r.outdoor, strict=True)
        ],
    }


def _people_columns(r: Any, provider_ids: list[str], consumer_ids: list[str]) -> dict[str, list]:
    """lead_provider ... attendees, from the records' columns ``r``."""
    provider, consumer = provider_ids.__getitem__, consumer_ids.__getitem__
    return {
        "lead_provider": [provider_ids[s[0]] if s else "" for s in r.staff],
        "providers": [";".join(map(provider, s)) for s in r.staff],
        "n_providers": list(map(len, r.staff)),
        "n_invited": list(map(len, r.invited)),
        "n_attended": list(map(len, r.attended)),
        "attendees": [";".join(map(consumer, a)) for a in r.attended],
    }
