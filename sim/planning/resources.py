"""Resource use per replication x community x month, utilisation, and the bottleneck ranking.

Statistics only (no presentation): every function takes the tables of one chunk of replications (the
``frames`` of ``sim.datasets.to_frames``: ``sessions``, ``communities``, ``doctor_requests`` and, when
the scenario has them, ``training``) and works replication by replication, so a big run is handled
chunk by chunk with flat memory. Columns are documented in ``docs/data_dictionary.md`` (resources.csv).

What is counted (Methods of Fan et al. 2019 for the activities; the hours are ASSUMPTIONs stated here):

- provider hours: a held session's duration times the providers who staffed it ("at least two service
  providers, one of whom leads"), plus the trainees' hours of pre-service training ("five half-days");
- community doctor hours: plan reviews (a Service Plan Form reviewed before each session) and
  non-scheduled supervision, from the per-request log ``doctor_requests``. The model's doctors serve
  one request at a time, seven days a week, each for a number of calendar days
  (``plan_review_mean_days``, ``supervision_days``). ASSUMPTION: a doctor gives the programme
  :data:`DOCTOR_HOURS_PER_BUSY_DAY` working hour per calendar day occupied (a community doctor reviews
  a plan or sees a provider alongside clinical work: a mean 0.5-day review is 30 minutes of work;
  plausible range 0.5 to 8 hours, 8 being a whole working day). Utilisation is occupied days over the
  doctors' calendar days in service, the model queue's own server utilisation, so it does not depend
  on this assumption;
- venue hours: held sessions at the rehabilitation centre (outdoor sessions use no room);
  ASSUMPTION: the room is available to the programme :data:`VENUE_HOURS_PER_WEEK` hours a week;
- trainer half-days: from ``training`` (one row per training cohort) when present, shared equally
  among the cohort's communities, in the month the cohort starts (a cohort that starts before its
  community's first month counts in that first month);
- sessions lost per cause: cancelled sessions by ``cancel_reason`` (sessions.csv).

Months are whole months since the scenario's day 0 (``month = floor(day / (365.25 / 12))``); a
community has a row for every month from its start to its end of services, and a month's quantities
count what happened in it (doctor time that spans a month boundary is split between the months).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..scenario import DAYS_PER_MONTH
from .cost_effectiveness import t_interval

DOCTOR_HOURS_PER_BUSY_DAY = 1.0  # ASSUMPTION (module docstring): working hours per calendar day occupied
VENUE_HOURS_PER_WEEK = 8.0  # ASSUMPTION: one working day a week of the rehabilitation centre's room
HALF_DAY_HOURS = 3.5  # ASSUMPTION: hours of one training half-day (half a 7-hour working day)
TRAINER_HALF_DAYS_PER_WEEK = 2.0  # ASSUMPTION: one training team's pace when the scenario gives none
WEEKS_PER_MONTH = DAYS_PER_MONTH / 7

#: Cancellation cause (sessions.csv ``cancel_reason``) -> the constraint that cancelled the session.
CAUSE_RESOURCE: dict[str, str] = {
    "no_providers": "providers (fewer than two available)",
    "plan_not_reviewed": "community doctors (plan review)",
    "venue_unavailable": "venue",
    "rescheduled": "scheduling (unstructured timing; no resource)",
}
LOST_COLUMNS = {cause: f"lost_{cause}" for cause in CAUSE_RESOURCE}

RESOURCE_COLUMNS = (
    "replication",
    "community",
    "wave",
    "setting",
    "month",
    "service_days",
    "sessions_due",
    "sessions_held",
    *LOST_COLUMNS.values(),
    "lost_other",
    "provider_sessions",
    "provider_hours",
    "provider_training_hours",
    "doctor_pool",
    "doctor_requests_review",
    "doctor_requests_supervision",
    "doctor_hours_review",
    "doctor_hours_supervision",
    "doctor_wait_days",
    "doctor_utilisation",
    "venue_hours",
    "venue_utilisation",
    "trainer_half_days",
)


class _Rows:
    """The rows of resources.csv (replication x community x month of services) and how to find an event's
    row: community ``i`` of the communities table has months ``first[i]`` .. ``first[i] + count[i] - 1``
    at rows ``offset[i]`` ..; an event outside them counts in the nearest of its community's months."""

    def __init__(self, communities: pd.DataFrame):
        c = communities
        self.start, self.end = c["start_day"].to_numpy(float), c["end_day"].to_numpy(float)
        self.first = _month_of(self.start)
        last = np.maximum(np.ceil(self.end / DAYS_PER_MONTH).astype(np.int64) - 1, self.first)
        self.count = last - self.first + 1
        self.offset = np.cumsum(self.count) - self.count
        self.n = int(self.count.sum())
        self.community = np.repeat(np.arange(len(c)), self.count)  # the community of each row
        self.month = self.first[self.community] + (np.arange(self.n) - self.offset[self.community])
        lo = np.maximum(self.month * DAYS_PER_MONTH, self.start[self.community])
        hi = np.minimum((self.month + 1) * DAYS_PER_MONTH, self.end[self.community])
        self.service_days = np.clip(hi - lo, 0.0, None)
        # (replication, community name) -> position in the communities table, by a sorted integer key
        self._names = pd.Index(pd.unique(c["community"].to_numpy()))
        key = c["replication"].to_numpy(np.int64) * len(self._names) + self._names.get_indexer(c["community"])
        self._order = np.argsort(key, kind="stable")
        self._keys = key[self._order]

    def communities_of(self, table: pd.DataFrame) -> np.ndarray:
        """Position in the communities table of each row of ``table`` (-1 if its community is unknown)."""
        code = self._names.get_indexer(table["community"])
        key = table["replication"].to_numpy(np.int64) * len(self._names) + code
        pos = np.clip(np.searchsorted(self._keys, key), 0, max(len(self._keys) - 1, 0))
        found = (code >= 0) & (len(self._keys) > 0) & (self._keys[pos] == key) if len(self._keys) else code < -1
        return np.where(found, self._order[pos] if len(self._keys) else -1, -1)

    def row_of(self, comm: np.ndarray, month: np.ndarray) -> np.ndarray:
        """Row of community positions ``comm`` (all >= 0) in ``month`` (clipped into its months)."""
        return self.offset[comm] + np.clip(month - self.first[comm], 0, self.count[comm] - 1)

    def add(self, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``weights`` summed into their rows."""
        return np.bincount(rows, weights=weights, minlength=self.n).astype(float)


def community_months(communities: pd.DataFrame) -> pd.DataFrame:
    """One row per replication x community x month of services, with the days of the month in service."""
    ix, c = _Rows(communities), communities
    return pd.DataFrame(
        {
            "replication": c["replication"].to_numpy()[ix.community],
            "community": c["community"].to_numpy()[ix.community],
            "wave": c["wave"].to_numpy()[ix.community],
            "setting": c["setting"].to_numpy()[ix.community],
            "month": ix.month,
            "service_days": ix.service_days,
        }
    )


def _month_of(day: pd.Series | np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(day, dtype=float) / DAYS_PER_MONTH).astype(np.int64)


def _split_by_month(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intervals [start, end) split at month boundaries: (interval index, month, days in that month)."""
    m0, m1 = _month_of(start), _month_of(end)
    k = np.maximum(m1 - m0 + 1, 1)
    idx = np.repeat(np.arange(len(start)), k)
    month = m0[idx] + (np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k))
    days = np.minimum(end[idx], (month + 1) * DAYS_PER_MONTH) - np.maximum(start[idx], month * DAYS_PER_MONTH)
    return idx, month, np.clip(days, 0.0, None)


def _session_quantities(ix: _Rows, s: pd.DataFrame) -> dict[str, np.ndarray]:
    comm = ix.communities_of(s)
    ok = comm >= 0
    s = s[ok]
    rows = ix.row_of(comm[ok], _month_of(s["day"]))
    held = (s["status"] == "held").to_numpy()
    reason = s["cancel_reason"].fillna("").astype(str).to_numpy()
    n_prov = np.where(held, s["n_providers"].to_numpy(float), 0.0)
    hours = np.where(held, s["duration_min"].fillna(0).to_numpy(float) / 60.0, 0.0)
    indoor = held & (s["venue"].fillna("").astype(str).to_numpy() == "rehabilitation_centre")
    return {
        "sessions_due": ix.add(rows, np.ones(len(s))),
        "sessions_held": ix.add(rows, held),
        **{col: ix.add(rows, reason == cause) for cause, col in LOST_COLUMNS.items()},
        "lost_other": ix.add(rows, ~held & ~np.isin(reason, list(LOST_COLUMNS))),
        "provider_sessions": ix.add(rows, n_prov),
        "provider_hours": ix.add(rows, hours * n_prov),
        "venue_hours": ix.add(rows, np.where(indoor, hours, 0.0)),
    }


def _pools(ix: _Rows, communities: pd.DataFrame, r: pd.DataFrame, comm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each community's doctor pool: (pool number, shared within a replication; pool name or "")."""
    name = np.full(len(communities), "", dtype=object)
    pooled = (comm >= 0) & (r["doctor_pool"].fillna("").astype(str).to_numpy() != "")
    name[comm[pooled]] = r["doctor_pool"].to_numpy()[pooled]
    rep = communities["replication"].to_numpy()
    label = np.where(name != "", name, "\0" + communities["community"].to_numpy().astype(str))  # own doctors
    number = pd.factorize(pd.MultiIndex.from_arrays([rep, label]))[0]
    return number, name


def _doctor_quantities(ix: _Rows, communities: pd.DataFrame, r: pd.DataFrame) -> dict[str, np.ndarray]:
    comm = ix.communities_of(r)
    start, end = r["start_day"].to_numpy(float), r["end_day"].to_numpy(float)
    review = (r["kind"] == "plan_review").to_numpy()
    ok = comm >= 0
    first = ix.row_of(comm[ok], _month_of(start[ok]))
    wait = np.maximum(start - r["arrival_day"].to_numpy(float), 0.0)[ok]  # no rounding below zero
    n = ix.add(first, np.ones(len(first)))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "doctor_requests_review": ix.add(first, review[ok]),
            "doctor_requests_supervision": ix.add(first, ~review[ok]),
            "doctor_wait_days": np.where(n > 0, ix.add(first, wait) / n, np.nan),
        }
    idx, month, days = _split_by_month(start, end)  # doctor time split at month boundaries
    keep = comm[idx] >= 0
    idx, month, days = idx[keep], month[keep], days[keep]
    rows = ix.row_of(comm[idx], month)
    hours = days * DOCTOR_HOURS_PER_BUSY_DAY
    out["doctor_hours_review"] = ix.add(rows, np.where(review[idx], hours, 0.0))
    out["doctor_hours_supervision"] = ix.add(rows, np.where(review[idx], 0.0, hours))
    # utilisation of each row's doctors (its own, or its pool's): occupied days within services over the
    # doctors' days in service (for a pool: the days of its member longest in service that month)
    number, name = _pools(ix, communities, r, comm)
    m0 = int(min(ix.month.min(), month.min() if len(month) else 0))
    span = int(max(ix.month.max(), month.max() if len(month) else 0)) - m0 + 1
    row_key = number[ix.community] * span + (ix.month - m0)
    c = comm[idx]  # the part of each request within its month and within its community's services
    hi = np.minimum.reduce([end[idx], (month + 1) * DAYS_PER_MONTH, ix.end[c]])
    busy_days = np.clip(hi - np.maximum.reduce([start[idx], month * DAYS_PER_MONTH, ix.start[c]]), 0.0, None)
    busy_key = number[comm[idx]] * span + (month - m0)
    keys, inv = np.unique(np.concatenate([row_key, busy_key]), return_inverse=True)
    cap = np.zeros(len(keys))
    np.maximum.at(cap, inv[: ix.n], communities["doctors"].to_numpy(float)[ix.community] * ix.service_days)
    busy = np.bincount(inv[ix.n :], weights=busy_days, minlength=len(keys))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["doctor_utilisation"] = np.where(cap[inv[: ix.n]] > 0, busy[inv[: ix.n]] / cap[inv[: ix.n]], np.nan)
    out["doctor_pool"] = name[ix.community]
    return out


def _training_quantities(ix: _Rows, training: pd.DataFrame) -> dict[str, np.ndarray]:
    t = training.assign(community=training["communities"].fillna("").astype(str).str.split(";"))
    t = t.explode("community")
    t = t[t["community"] != ""]
    share = 1.0 / t.groupby(["replication", "cohort"])["community"].transform("size").to_numpy(float)
    comm = ix.communities_of(t)
    ok = comm >= 0
    rows = ix.row_of(comm[ok], _month_of(t["start_day"])[ok])
    half = (t["trainer_half_days"].to_numpy(float) * share)[ok]
    return {
        "trainer_half_days": ix.add(rows, half),
        "provider_training_hours": ix.add(rows, t["trainees"].to_numpy(float)[ok] * half * HALF_DAY_HOURS),
    }


def resource_use(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """resources.csv: one row per replication x community x month of services (columns
    :data:`RESOURCE_COLUMNS`, documented in docs/data_dictionary.md).

    ``frames`` needs ``communities`` and ``sessions``; ``doctor_requests`` and ``training`` are used
    when present (their quantities are zero, and doctor utilisation blank, without the table; an empty
    request log gives utilisation 0 wherever doctors are in service). Vectorised
    over the chunk's replications (no grouping by name), so a chunk costs little beside simulating it.
    """
    comm = frames["communities"]
    ix = _Rows(comm)
    out = community_months(comm)
    zeros = np.zeros(ix.n)
    cols: dict[str, np.ndarray] = dict.fromkeys(RESOURCE_COLUMNS[6:], zeros)
    cols["doctor_utilisation"] = cols["doctor_wait_days"] = np.full(ix.n, np.nan)
    cols["doctor_pool"] = np.full(ix.n, "", dtype=object)
    sessions = frames.get("sessions")
    if sessions is not None and len(sessions):
        cols.update(_session_quantities(ix, sessions))
    requests = frames.get("doctor_requests")
    if requests is not None:  # an empty log too: doctors in service with no request are 0% utilised
        cols.update(_doctor_quantities(ix, comm, requests))
    training = frames.get("training")
    if training is not None and len(training):
        cols.update(_training_quantities(ix, training))
    counts = ["sessions_due", "sessions_held", *LOST_COLUMNS.values(), "lost_other", "provider_sessions"]
    counts += ["doctor_requests_review", "doctor_requests_supervision"]
    for col in RESOURCE_COLUMNS[6:]:
        out[col] = np.rint(cols[col]).astype(np.int64) if col in counts else cols[col]
    available = VENUE_HOURS_PER_WEEK * ix.service_days / 7.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out["venue_utilisation"] = np.where(available > 0, out["venue_hours"].to_numpy() / available, np.nan)
    return out[list(RESOURCE_COLUMNS)]


def trainer_utilisation(
    frames: Mapping[str, pd.DataFrame], trainers: int = 1, half_days_per_week: float = TRAINER_HALF_DAYS_PER_WEEK
) -> pd.DataFrame:
    """Per replication x month: trainer half-days used (cohorts by the month they start) and available
    (``trainers`` teams x ``half_days_per_week``; the scenario's ``staff_pipeline`` gives both, otherwise
    one team, as in the Methods' 'a psychiatrist and a clinical psychologist', at the ASSUMPTION pace
    :data:`TRAINER_HALF_DAYS_PER_WEEK`), and their ratio. Empty without a ``training`` table."""
    t = frames.get("training")
    cols = ["replication", "month", "trainer_half_days", "available_half_days", "trainer_utilisation"]
    if t is None or not len(t):
        return pd.DataFrame(columns=cols)
    used = (
        t.assign(month=_month_of(t["start_day"]))
        .groupby(["replication", "month"])["trainer_half_days"]
        .sum()
        .reset_index()
    )
    used["available_half_days"] = trainers * half_days_per_week * WEEKS_PER_MONTH
    used["trainer_utilisation"] = used["trainer_half_days"] / used["available_half_days"]
    return used[cols]


def utilisation(resources: pd.DataFrame) -> pd.DataFrame:
    """Per replication x month: doctor and venue utilisation over the communities in service (doctor
    utilisation weighted by each row's service days; venue: hours used / hours available summed)."""
    r = resources
    w = r["service_days"].to_numpy(float)
    ok = np.isfinite(r["doctor_utilisation"].to_numpy(float))
    df = pd.DataFrame(
        {
            "replication": r["replication"],
            "month": r["month"],
            "doc": np.where(ok, r["doctor_utilisation"].fillna(0).to_numpy(float) * w, 0.0),
            "w": np.where(ok, w, 0.0),
            "venue_hours": r["venue_hours"],
            "venue_available": VENUE_HOURS_PER_WEEK * w / 7.0,
        }
    )
    g = df.groupby(["replication", "month"]).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        g["doctor_utilisation"] = g["doc"] / g["w"]
        g["venue_utilisation"] = g["venue_hours"] / g["venue_available"]
    return g[["doctor_utilisation", "venue_utilisation"]].reset_index()


def lost_by_cause(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per replication: sessions due (held or cancelled) and sessions lost per cancellation cause (one
    column per cause in :data:`CAUSE_RESOURCE`, plus any other cause found), whole simulated period."""
    s = frames["sessions"]
    reps = np.unique(frames["communities"]["replication"].to_numpy())
    due = s.groupby("replication").size().reindex(reps, fill_value=0)
    lost = s[s["status"] != "held"]
    by = lost.groupby(["replication", "cancel_reason"]).size().unstack(fill_value=0).reindex(reps, fill_value=0)
    for cause in CAUSE_RESOURCE:
        if cause not in by.columns:
            by[cause] = 0
    others = sorted(c for c in by.columns if c not in CAUSE_RESOURCE)
    by = by[[*CAUSE_RESOURCE, *others]]
    by.columns = list(by.columns)
    by.insert(0, "sessions_due", due.to_numpy())
    return by.rename_axis("replication").reset_index()


def _t_interval(x: np.ndarray, upper: float = np.inf) -> tuple[float, float, float, int]:
    """Mean and 95% t interval over replications, kept within [0, ``upper``] (counts and shares)."""
    m, lo, hi, n = t_interval(x)
    return m, float(np.clip(lo, 0.0, upper)), float(np.clip(hi, 0.0, upper)), n  # NaN stays NaN


def bottlenecks(lost: pd.DataFrame | Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The bottleneck ranking: which constraint cancels most sessions.

    ``lost`` is :func:`lost_by_cause` (of one chunk or of several concatenated), or frames. One row per
    cause, most sessions lost first: the resource it points to, sessions lost per replication (mean,
    95% t interval over replications), its share of all lost sessions (mean over replications that
    lost any, with its interval) and its share of the sessions due.
    """
    if not isinstance(lost, pd.DataFrame):
        lost = lost_by_cause(lost)
    causes = [c for c in lost.columns if c not in ("replication", "sessions_due")]
    total = lost[causes].sum(axis=1).to_numpy(float)
    due = lost["sessions_due"].to_numpy(float)
    rows = []
    for cause in causes:
        x = lost[cause].to_numpy(float)
        m, lo, hi, n = _t_interval(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            sm, slo, shi, _ = _t_interval(np.where(total > 0, x / total, np.nan), 1.0)
            dm, dlo, dhi, _ = _t_interval(np.where(due > 0, x / due, np.nan), 1.0)
        rows.append(
            {
                "cause": cause,
                "resource": CAUSE_RESOURCE.get(cause, "other"),
                "lost_mean": m,
                "lost_ci_low": lo,
                "lost_ci_high": hi,
                "share_of_lost": sm,
                "share_of_lost_ci_low": slo,
                "share_of_lost_ci_high": shi,
                "share_of_due": dm,
                "share_of_due_ci_low": dlo,
                "share_of_due_ci_high": dhi,
                "replications": n,
            }
        )
    out = pd.DataFrame(rows).sort_values("lost_mean", ascending=False, kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out
