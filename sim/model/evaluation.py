"""The follow-up evaluation (Methods, "Procedure"): who is still in the programme at each wave's
follow-up month, what they experienced, and their interview answers.

- :class:`FollowUp` (one SimPy process per community) takes a :class:`Snapshot` on the follow-up day:
  the people tables' rows and each person's exposure, summed from the session records
  (``sim.model.records.exposure``).
- :func:`interview` draws the answers (``sim.follow_up``) of every provider, consumer and caregiver
  of all communities at once (vectorised), each community's share from its own EVALUATION and
  CAREGIVER streams, so a community's answers do not depend on which other communities exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from .. import instruments as ins
from ..follow_up import (
    CONSUMER_REFERENCE_SESSIONS,
    PROVIDER_REFERENCE_SESSIONS,
    REFERENCE_ON_TIME_SHARE,
    CommunityContext,
    dose,
    interview_caregivers,
    interview_consumers,
    interview_providers,
)
from ..parameters import ModelParameters
from ..streams import Stream
from .community import N_CATEGORIES, CommunityState
from .records import Exposure, exposure

BASELINE_COLUMNS = ("age", "gender", "education", "marital_status", "lives_alone", "employed", "diagnosis", "onset_age")
PROVIDER_ANSWER_COLUMNS = tuple(
    [it.column for it in ins.PROVIDER_SATISFACTION]
    + [it.column for it in ins.PROVIDER_STRESS_REASONS]
    + [it.column for it in ins.PROVIDER_BENEFITS]
)
CONSUMER_ANSWER_COLUMNS = tuple(
    [it.column for it in ins.CONSUMER_SATISFACTION] + [it.column for it in ins.CONSUMER_BENEFITS]
)
CAREGIVER_ANSWER_COLUMNS = tuple(
    it.column for it in ins.CAREGIVER_ATTITUDE + ins.CAREGIVER_MEMBER_BENEFITS + ins.CAREGIVER_SELF_BENEFITS
)


@dataclass
class Snapshot:
    """One community at its follow-up day."""

    day: float
    providers: dict[str, list]  # rows of the providers table, answers still to add
    consumers: dict[str, list]
    exposure: Exposure
    prov_sessions: list[int]  # sessions staffed before follow-up
    con_sessions: list[int]  # sessions attended before follow-up
    prov_on_time: list[float]  # on-time share of staffed sessions (the reference share if none)
    con_on_time: list[float]  # on-time share of attended sessions (the reference share if none)
    sessions_held: int  # sessions held before follow-up
    sessions_cancelled: int  # sessions due before follow-up and cancelled
    held_share: float  # share of the community's sessions due before follow-up that were held


class FollowUp:
    """The follow-up evaluation of one community (one SimPy process)."""

    def __init__(self, env: simpy.Environment, c: CommunityState, replication: int):
        self.env, self.c, self.replication = env, c, replication

    def run(self):
        yield self.env.timeout(self.c.follow_up - self.env.now)
        self.c.snapshot = take_snapshot(self.c, self.replication, self.env.now)


def take_snapshot(c: CommunityState, replication: int, now: float) -> Snapshot:
    assert c.consumers is not None
    ex = exposure(c.records, len(c.providers), len(c.consumers))
    c.doctors.advance(now)
    staffed = [a + b for a, b in zip(ex.prov_led, ex.prov_assisted, strict=True)]
    held = cancelled = 0
    for r in c.records:
        if r.before_follow_up:
            if r.cancel_reason:
                cancelled += 1
            else:
                held += 1
    return Snapshot(
        day=now,
        providers=_provider_rows(c, ex, replication, now),
        consumers=_consumer_rows(c, ex, replication, now),
        exposure=ex,
        prov_sessions=staffed,
        con_sessions=ex.con_attended,
        prov_on_time=_share_or(ex.prov_on_time, staffed, REFERENCE_ON_TIME_SHARE),
        con_on_time=_share_or(ex.con_on_time, ex.con_attended, REFERENCE_ON_TIME_SHARE),
        sessions_held=held,
        sessions_cancelled=cancelled,
        held_share=held / (held + cancelled) if held + cancelled else 0.0,
    )


def _share_or(num: list[int], den: list[int], default: float) -> list[float]:
    return [a / b if b else default for a, b in zip(num, den, strict=True)]


def _common_rows(
    c: CommunityState, replication: int, ids: list[str], baseline: dict[str, list], role: str, now: float
) -> dict[str, list]:
    n = len(ids)
    rows: dict[str, list] = {
        "replication": [replication] * n,
        "community": [c.name] * n,
        "wave": [c.spec.wave] * n,
        "scheduling": [c.spec.scheduling] * n,
        "setting": [c.spec.setting] * n,
        "person_id": list(ids),
        "role": [role] * n,
    }
    for col in BASELINE_COLUMNS:
        rows[col] = list(baseline[col])
    rows["recruited_day"] = [c.start] * n
    rows["follow_up_day"] = [now] * n
    return rows


def _provider_rows(c: CommunityState, ex: Exposure, replication: int, now: float) -> dict[str, list]:
    provs = c.providers
    baseline = {col: [q.baseline[col] for q in provs] for col in BASELINE_COLUMNS}
    rows = _common_rows(c, replication, [q.pid for q in provs], baseline, "provider", now)
    rows["recruited_day"] = [q.recruited_day for q in provs]  # a replacement's own (sim.model.training)
    rows.update(_career_rows(c, now))
    rows["sessions_led"] = ex.prov_led
    rows["sessions_assisted"] = ex.prov_assisted
    rows["leave_episodes"] = [sum(1 for a, _ in q.leave_spells if a <= now) for q in provs]
    rows["leave_days"] = [  # a list: mypyc compiles sum() over a generator as a loop, not as Python's sum
        round(sum([max(0.0, min(b, now) - a) for a, b in q.leave_spells], 0.0), 3) for q in provs
    ]
    rows["supervision_contacts"] = [q.supervision_by(now) for q in provs]
    rows["stressed"] = [int(q.stressed) for q in provs]
    rows["stressed_months"] = [q.stressed_months for q in provs]
    rows["categories_met"] = ex.prov_categories
    rows["on_time_share"] = _shares(
        ex.prov_on_time, [a + b for a, b in zip(ex.prov_led, ex.prov_assisted, strict=True)]
    )
    return rows


def _career_rows(c: CommunityState, now: float) -> dict[str, list]:
    provs = c.providers
    status = [q.status_on(now) for q in provs]
    return {
        "status": status,
        "exit_day": [q.exit_day if q.exit_day is not None and q.exit_day <= now else None for q in provs],
        "retained": [int(s != "quit") for s in status],
        "evaluated": [int(s == "active") for s in status],
        "caregiver_id": [q.pid + "/G" for q in provs],
        "training_end_day": [q.training_end for q in provs],
    }


def _consumer_rows(c: CommunityState, ex: Exposure, replication: int, now: float) -> dict[str, list]:
    cons = c.consumers
    assert cons is not None
    rows = _common_rows(c, replication, cons.pids, cons.baseline, "consumer", now)
    retained = [day > now for day in cons.exit_day]
    rows["status"] = ["active" if ok else "dropped_out" for ok in retained]
    rows["exit_day"] = [None if ok else float(d) for ok, d in zip(retained, cons.exit_day, strict=True)]
    rows["retained"] = [int(ok) for ok in retained]
    rows["evaluated"] = rows["retained"]
    rows["caregiver_id"] = [pid + "/G" for pid in cons.pids]
    inv, att = ex.con_invited, ex.con_attended
    rows["sessions_invited"] = inv
    rows["sessions_attended"] = att
    rows["attendance_rate"] = _shares(att, inv)
    rows["meets_attendance_requirement"] = [int(i > 0 and a / i > 0.4) for a, i in zip(att, inv, strict=True)]
    rows["categories_met"] = ex.con_categories
    rows["on_time_share"] = _shares(ex.con_on_time, att)
    if c.caseload is not None:  # open caseload: who waits, who left and why (sim.model.caseload)
        rows.update(c.caseload.follow_up_columns(now))
    return rows


def _shares(num: list[int], den: list[int]) -> list[float | None]:
    return [round(a / b, 6) if b else None for a, b in zip(num, den, strict=True)]


# --- Interviews ------------------------------------------------------------------------------------
class StackedGenerator:
    """Draws for people of several communities at once, each community's share from its own
    stream, so a community's answers do not depend on which other communities exist."""

    def __init__(self, generators: list[np.random.Generator], sizes: list[int]):
        self.generators, self.sizes = generators, sizes

    def _draw(self, method: str, size) -> np.ndarray:
        if size is None:
            return np.concatenate([getattr(g, method)(n) for g, n in zip(self.generators, self.sizes, strict=True)])
        if isinstance(size, int):
            size = (size,)
        k = size[:-1]
        return np.concatenate(
            [getattr(g, method)((*k, n)) for g, n in zip(self.generators, self.sizes, strict=True)], axis=-1
        )

    def random(self, size=None) -> np.ndarray:
        return self._draw("random", size)

    def standard_normal(self, size=None) -> np.ndarray:
        return self._draw("standard_normal", size)


class _Stack:
    """Per-person arrays over all communities: each community's providers, or consumers, or its
    members (providers then consumers) in community order."""

    def __init__(self, communities: list[CommunityState]):
        self.communities = communities
        # the providers at follow-up (replacements may join later, sim.model.training)
        self.n_prov = [len(c.snapshot.providers["person_id"]) if c.snapshot else len(c.providers) for c in communities]
        self.n_con = [len(c.consumers or ()) for c in communities]
        self.n_people = [a + b for a, b in zip(self.n_prov, self.n_con, strict=True)]
        # members (each community's providers, then its consumers) as positions in all the providers
        # followed by all the consumers
        prov_at, con_at = np.cumsum([0, *self.n_prov]), sum(self.n_prov) + np.cumsum([0, *self.n_con])
        self.member_order = np.concatenate(
            [np.r_[prov_at[i] : prov_at[i + 1], con_at[i] : con_at[i + 1]] for i in range(len(communities))]
        ).astype(np.int64)

    def per(self, values: list, sizes: list[int]) -> np.ndarray:
        return np.repeat(np.asarray(values, dtype=float), sizes)

    def context(self, sizes: list[int]) -> CommunityContext:
        cs = self.communities
        return CommunityContext(
            self.per([c.c_struct for c in cs], sizes),
            self.per([c.c_exp for c in cs], sizes),
            self.per([c.effect for c in cs], sizes),
            self.per([c.snapshot.held_share if c.snapshot else 0.0 for c in cs], sizes),
        )

    def members(self, prov_values: np.ndarray, con_values: np.ndarray) -> np.ndarray:
        """Per-member values from the providers' and the consumers' (along the last axis: rows of several
        columns at once)."""
        return np.concatenate([prov_values, con_values], axis=-1)[..., self.member_order]


def _column(snaps: list[Snapshot], table: str, key: str) -> np.ndarray:
    return np.array([x for s in snaps for x in getattr(s, table)[key]], dtype=float)


def _array(snaps: list[Snapshot], key: str) -> np.ndarray:
    return np.array([x for s in snaps for x in getattr(s, key)], dtype=float)


def _is(snaps: list[Snapshot], table: str, key: str, level: str) -> np.ndarray:
    return np.array([x == level for s in snaps for x in getattr(s, table)[key]], dtype=bool)


def interview(p: ModelParameters, replication: int, communities: list[CommunityState]) -> dict[str, dict[str, list]]:
    """The providers, consumers and caregivers tables with everyone's answers (blank where not evaluated)."""
    snaps = [c.snapshot for c in communities if c.snapshot is not None]
    assert len(snaps) == len(communities)
    st = _Stack(communities)
    eval_rng = StackedGenerator([c.rng[Stream.EVALUATION] for c in communities], st.n_prov)
    prov_eval = _column(snaps, "providers", "evaluated") == 1
    prov_ans = interview_providers(
        p,
        st.context(st.n_prov),
        _column(snaps, "providers", "stressed"),
        _array(snaps, "prov_sessions"),
        _array(snaps, "prov_on_time"),
        _column(snaps, "providers", "categories_met") / N_CATEGORIES,
        eval_rng,
    )
    eval_rng.sizes = st.n_con
    con_eval = _column(snaps, "consumers", "evaluated") == 1
    con_ans = interview_consumers(
        p,
        st.context(st.n_con),
        _array(snaps, "con_sessions"),
        _array(snaps, "con_on_time"),
        _column(snaps, "consumers", "categories_met") / N_CATEGORIES,
        eval_rng,
    )
    prov_ans, prov_lists = _blanked(prov_ans, prov_eval, PROVIDER_ANSWER_COLUMNS)
    con_ans, con_lists = _blanked(con_ans, con_eval, CONSUMER_ANSWER_COLUMNS)
    care_rows, care_ans, took_part = _caregivers(
        p, replication, st, snaps, prov_ans, con_ans, st.members(prov_eval, con_eval)
    )
    _, care_lists = _blanked(care_ans, took_part, CAREGIVER_ANSWER_COLUMNS)
    prov_rows = concat_rows([s.providers for s in snaps])
    con_rows = concat_rows([s.consumers for s in snaps])
    prov_rows.update(zip(PROVIDER_ANSWER_COLUMNS, prov_lists, strict=True))
    con_rows.update(zip(CONSUMER_ANSWER_COLUMNS, con_lists, strict=True))
    care_rows.update(zip(CAREGIVER_ANSWER_COLUMNS, care_lists, strict=True))
    return {"providers": prov_rows, "consumers": con_rows, "caregivers": care_rows}


def _blanked(
    ans: dict[str, np.ndarray], answered: np.ndarray, columns: tuple[str, ...]
) -> tuple[dict[str, np.ndarray], list[list[float]]]:
    """The answers in ``columns`` order, blank (NaN) where not ``answered``: as arrays by column, and as
    the table's lists (one matrix operation and one conversion for all the columns)."""
    m = np.where(answered, np.array([ans[col] for col in columns]), np.nan)
    return dict(zip(columns, m, strict=True)), m.tolist()


def _caregivers(
    p: ModelParameters,
    replication: int,
    st: _Stack,
    snaps: list[Snapshot],
    prov_ans: dict[str, np.ndarray],
    con_ans: dict[str, np.ndarray],
    evaluated: np.ndarray,
) -> tuple[dict[str, list], dict[str, np.ndarray], np.ndarray]:
    """Caregivers, community by community (its providers' then its consumers' family members): who
    takes part (Results, 'Caregivers'), their relation, gender and age, and their answers (to be blanked
    where they did not take part, the third value)."""
    cs = st.communities
    n_prov, n_con, n_people = sum(st.n_prov), sum(st.n_con), st.n_people
    is_prov = st.members(np.ones(n_prov, bool), np.zeros(n_con, bool))
    care_rng = StackedGenerator([c.rng[Stream.CAREGIVER] for c in cs], n_people)
    avail = np.where(
        is_prov,
        st.per([c.spec.caregiver_availability.providers for c in cs], n_people),
        st.per([c.spec.caregiver_availability.consumers for c in cs], n_people),
    )
    u_part, u_gender, z_age = care_rng.random(), care_rng.random(), care_rng.standard_normal()
    participated = evaluated & (u_part < avail)
    member_age = st.members(_column(snaps, "providers", "age"), _column(snaps, "consumers", "age"))
    spouse = st.members(*(_is(snaps, t, "marital_status", "currently_married") for t in ("providers", "consumers")))
    female_member = st.members(*(_is(snaps, t, "gender", "female") for t in ("providers", "consumers")))
    gap_mu, gap_sd = p.caregiver_parent_age_gap
    age = np.where(spouse, member_age + 3.0 * z_age, member_age + gap_mu + gap_sd * z_age)
    female = np.where(spouse, ~female_member, u_gender < p.caregiver_parent_female_prob)
    nan_p, nan_c = np.full(n_prov, np.nan), np.full(n_con, np.nan)
    cols = ("sat_overall", "willing_continue", "qualified", *ins.SELF_BENEFIT_COLUMNS)
    answers = st.members(
        np.array([prov_ans.get(col, nan_p) for col in cols]), np.array([con_ans.get(col, nan_c) for col in cols])
    )
    member_answers = dict(zip(cols, answers, strict=True))
    member_dose = st.members(
        dose(_array(snaps, "prov_sessions"), p, PROVIDER_REFERENCE_SESSIONS),
        dose(_array(snaps, "con_sessions"), p, CONSUMER_REFERENCE_SESSIONS),
    )
    care_ans = interview_caregivers(p, st.context(n_people), is_prov, member_dose, member_answers, care_rng)
    member_ids = [m for s in snaps for m in (*s.providers["person_id"], *s.consumers["person_id"])]
    rows: dict[str, list] = {
        "replication": [replication] * len(member_ids),
        "caregiver_id": [m + "/G" for m in member_ids],
        "community": _repeat([c.spec.name for c in cs], n_people),
        "wave": _repeat([c.spec.wave for c in cs], n_people),
        "scheduling": _repeat([c.spec.scheduling for c in cs], n_people),
        "member_id": member_ids,
        "member_role": np.where(is_prov, "provider", "consumer").tolist(),
        "relation": np.where(spouse, "spouse", "parent").tolist(),
        "gender": np.where(female, "female", "male").tolist(),
        "age": np.round(age, 1).tolist(),
        "participated": participated.astype(int).tolist(),
    }
    return rows, care_ans, participated


def _repeat(values: list, sizes: list[int]) -> list:
    return [v for v, k in zip(values, sizes, strict=True) for v in [v] * k]


def concat_rows(parts: list[dict[str, list]]) -> dict[str, list]:
    out: dict[str, list] = {k: [] for k in parts[0]} if parts else {}
    for part in parts:
        for k, v in part.items():
            out[k].extend(v)
    return out
