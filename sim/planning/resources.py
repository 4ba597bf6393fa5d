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
from scipy import stats

from ..scenario import DAYS_PER_MONTH

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


def community_months(communities: pd.DataFrame) -> pd.DataFrame:
    """One row per replication x community x month of services, with the days of the month in service."""
    c = communities
    first = np.floor(c["start_day"].to_numpy(float) / DAYS_PER_MONTH).astype(np.int64)
    last = np.maximum(np.ceil(c["end_day"].to_numpy(float) / DAYS_PER_MONTH).astype(np.int64) - 1, first)
    k = last - first + 1
    idx = np.repeat(np.arange(len(c)), k)
    month = first[idx] + (np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k))
    lo = np.maximum(month * DAYS_PER_MONTH, c["start_day"].to_numpy(float)[idx])
    hi = np.minimum((month + 1) * DAYS_PER_MONTH, c["end_day"].to_numpy(float)[idx])
    out = pd.DataFrame(
        {
            "replication": c["replication"].to_numpy()[idx],
            "community": c["community"].to_numpy()[idx],
            "wave": c["wave"].to_numpy()[idx],
            "setting": c["setting"].to_numpy()[idx],
            "month": month,
            "service_days": np.clip(hi - lo, 0.0, None),
        }
    )
    return out


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


def _clip_to_rows(df: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """``df``'s month clipped into its community's range of months (events on the last day of services
    or before the first month count in the nearest month of the community)."""
    rng = rows.groupby(["replication", "community"], sort=False)["month"].agg(["min", "max"])
    b = rng.reindex(pd.MultiIndex.from_arrays([df["replication"], df["community"]])).to_numpy()
    df = df.assign(month=np.clip(df["month"].to_numpy(), b[:, 0], b[:, 1]).astype(np.int64))
    return df


def _session_quantities(sessions: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    s = sessions
    held = (s["status"] == "held").to_numpy()
    reason = s["cancel_reason"].fillna("").astype(str).to_numpy()
    n_prov = s["n_providers"].to_numpy(float)
    hours = np.where(held, s["duration_min"].fillna(0).to_numpy(float) / 60.0, 0.0)
    indoor = held & (s["venue"].fillna("").astype(str).to_numpy() == "rehabilitation_centre")
    q = {
        "replication": s["replication"].to_numpy(),
        "community": s["community"].to_numpy(),
        "month": _month_of(s["day"]),
        "sessions_due": np.ones(len(s)),
        "sessions_held": held.astype(float),
        **{col: (reason == cause).astype(float) for cause, col in LOST_COLUMNS.items()},
        "lost_other": (~held & ~np.isin(reason, list(LOST_COLUMNS))).astype(float),
        "provider_sessions": np.where(held, n_prov, 0.0),
        "provider_hours": hours * np.where(held, n_prov, 0.0),
        "venue_hours": np.where(indoor, hours, 0.0),
    }
    df = _clip_to_rows(pd.DataFrame(q), rows)
    return df.groupby(["replication", "community", "month"], sort=False).sum()


def _doctor_quantities(requests: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    r = requests
    start, end = r["start_day"].to_numpy(float), r["end_day"].to_numpy(float)
    idx, month, days = _split_by_month(start, end)
    kind = r["kind"].to_numpy()[idx]
    hours = days * DOCTOR_HOURS_PER_BUSY_DAY
    per = pd.DataFrame(
        {
            "replication": r["replication"].to_numpy()[idx],
            "community": r["community"].to_numpy()[idx],
            "month": month,
            "doctor_hours_review": np.where(kind == "plan_review", hours, 0.0),
            "doctor_hours_supervision": np.where(kind == "supervision", hours, 0.0),
        }
    )
    out = _clip_to_rows(per, rows).groupby(["replication", "community", "month"], sort=False).sum()
    started = pd.DataFrame(
        {
            "replication": r["replication"].to_numpy(),
            "community": r["community"].to_numpy(),
            "month": _month_of(start),
            "doctor_requests_review": (r["kind"] == "plan_review").to_numpy(float),
            "doctor_requests_supervision": (r["kind"] == "supervision").to_numpy(float),
            "wait_sum": np.maximum(start - r["arrival_day"].to_numpy(float), 0.0),  # no rounding below zero
            "n": np.ones(len(r)),
        }
    )
    g = _clip_to_rows(started, rows).groupby(["replication", "community", "month"], sort=False).sum()
    g["doctor_wait_days"] = g["wait_sum"] / g["n"]
    return out.join(g.drop(columns=["wait_sum", "n"]), how="outer")


def _pool_keys(communities: pd.DataFrame, requests: pd.DataFrame) -> pd.Series:
    """Each community's doctor pool name (its own doctors: the community's name), by (replication, community)."""
    c = communities.set_index(["replication", "community"])
    pools = pd.Series(c.index.get_level_values("community"), index=c.index, dtype=object)
    if len(requests):
        named = requests.loc[requests["doctor_pool"].fillna("").astype(str) != "", ["replication", "community"]]
        named = named.assign(pool=requests.loc[named.index, "doctor_pool"].astype(str)).drop_duplicates(
            ["replication", "community"]
        )
        pools.loc[pd.MultiIndex.from_frame(named[["replication", "community"]])] = named["pool"].to_numpy()
    return pools


def _doctor_utilisation(rows: pd.DataFrame, communities: pd.DataFrame, requests: pd.DataFrame) -> np.ndarray:
    """Occupied doctor-days / available doctor-days of each row's doctors (its own, or its pool's: then the
    pool's days in service in that month are those of its busiest community, a member's service days)."""
    pools = _pool_keys(communities, requests)
    key = pd.MultiIndex.from_frame(rows[["replication", "community"]])
    pool = pools.reindex(key).to_numpy()
    n_doc = communities.set_index(["replication", "community"])["doctors"].reindex(key).to_numpy(float)
    frame = pd.DataFrame({"replication": rows["replication"], "pool": pool, "month": rows["month"]})
    frame["capacity"] = n_doc * rows["service_days"].to_numpy(float)
    cap = frame.groupby(["replication", "pool", "month"], sort=False)["capacity"].max()
    if len(requests):
        idx, month, days = _split_by_month(requests["start_day"].to_numpy(float), requests["end_day"].to_numpy(float))
        owner = pd.MultiIndex.from_arrays(
            [requests["replication"].to_numpy()[idx], requests["community"].to_numpy()[idx]]
        )
        busy = (
            pd.DataFrame(
                {
                    "replication": requests["replication"].to_numpy()[idx],
                    "pool": pools.reindex(owner).to_numpy(),
                    "month": month,
                    "busy": days,
                }
            )
            .groupby(["replication", "pool", "month"], sort=False)["busy"]
            .sum()
        )
    else:
        busy = pd.Series(dtype=float)
    k = pd.MultiIndex.from_frame(frame[["replication", "pool", "month"]])
    b = busy.reindex(k).fillna(0.0).to_numpy()
    c = cap.reindex(k).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(c > 0, b / c, np.nan)


def _training_quantities(training: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    t = training.assign(community=training["communities"].fillna("").astype(str).str.split(";"))
    t = t.explode("community")
    t = t[t["community"] != ""]
    share = 1.0 / t.groupby(["replication", "cohort"])["community"].transform("size").to_numpy(float)
    half = t["trainer_half_days"].to_numpy(float)
    df = pd.DataFrame(
        {
            "replication": t["replication"].to_numpy(),
            "community": t["community"].to_numpy(),
            "month": _month_of(t["start_day"]),
            "trainer_half_days": half * share,
            "provider_training_hours": t["trainees"].to_numpy(float) * half * HALF_DAY_HOURS * share,
        }
    )
    df = df.merge(rows[["replication", "community"]].drop_duplicates(), on=["replication", "community"])
    return _clip_to_rows(df, rows).groupby(["replication", "community", "month"], sort=False).sum()


def resource_use(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """resources.csv: one row per replication x community x month of services (columns
    :data:`RESOURCE_COLUMNS`, documented in docs/data_dictionary.md).

    ``frames`` needs ``communities`` and ``sessions``; ``doctor_requests`` and ``training`` are used
    when present (their quantities are zero, and doctor utilisation blank, without them).
    """
    comm = frames["communities"]
    rows = community_months(comm)
    key = ["replication", "community", "month"]
    out = rows.set_index(key)
    sessions = frames.get("sessions")
    parts = [_session_quantities(sessions, rows)] if sessions is not None and len(sessions) else []
    requests = frames.get("doctor_requests")
    if requests is not None and len(requests):
        parts.append(_doctor_quantities(requests, rows))
    training = frames.get("training")
    if training is not None and len(training):
        parts.append(_training_quantities(training, rows))
    for p in parts:
        out = out.join(p, how="left")
    out = out.reset_index()
    for col in RESOURCE_COLUMNS:
        if col not in out.columns:
            out[col] = 0.0
    counts = ["sessions_due", "sessions_held", *LOST_COLUMNS.values(), "lost_other", "provider_sessions"]
    counts += ["doctor_requests_review", "doctor_requests_supervision"]
    amounts = ["provider_hours", "provider_training_hours", "doctor_hours_review", "doctor_hours_supervision"]
    amounts += ["venue_hours", "trainer_half_days"]
    out[counts] = out[counts].fillna(0).astype(np.int64)
    out[amounts] = out[amounts].fillna(0.0)
    if requests is None:
        requests = pd.DataFrame(columns=["replication", "community", "doctor_pool", "kind", "start_day", "end_day"])
        out["doctor_utilisation"] = np.nan
    else:
        out["doctor_utilisation"] = _doctor_utilisation(out, comm, requests)
    out["doctor_pool"] = (
        _pool_keys(comm, requests).reindex(pd.MultiIndex.from_frame(out[["replication", "community"]])).to_numpy()
    )
    out.loc[out["doctor_pool"] == out["community"], "doctor_pool"] = ""
    available = VENUE_HOURS_PER_WEEK * out["service_days"].to_numpy(float) / 7.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out["venue_utilisation"] = np.where(available > 0, out["venue_hours"] / available, np.nan)
    return out[list(RESOURCE_COLUMNS)].reset_index(drop=True)


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
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return np.nan, np.nan, np.nan, 0
    m = float(x.mean())
    if n < 2:
        return m, np.nan, np.nan, n
    h = float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return m, max(m - h, 0.0), min(m + h, upper), n


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
