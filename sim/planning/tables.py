"""The planner's figures of one chunk of replications, computed in the worker from the chunk's datasets
(``docs/data_dictionary.md``) by :func:`planning_chunk` (statistics only; the report is
:mod:`sim.reporting.planning`); their summary over replications is :mod:`sim.planning.summary`.

- ``planning_monthly``: one row per (replication, scope, group, month), ``scope`` being ``district``
  (group ``all``), ``wave`` (group = the wave) or ``setting`` (``urban`` / ``rural``); a month is a
  whole month since the scenario's day 0 (``sim.scenario.DAYS_PER_MONTH`` days). Every month from 0 to
  the last community's end appears for every group (zeros where nothing happened), so means over
  replications are over all of them. Columns: :data:`MONTHLY_COLUMNS` (those whose table is absent
  are left out). Its size does not grow with the communities: 200 communities in three waves give as
  many rows as three.
- ``planning_totals``: one row per replication: flows over the whole run (sessions, losses by cause,
  referrals, exits, training), stocks at the end and at their peak, people served, retained and
  reporting a benefit, and the training cohorts (``training.csv``).
- ``planning_costs`` (when this version computes costs): per replication, the quantity behind each cost
  category (:func:`cost_quantities`), priced in the parent (:func:`sim.planning.summary.priced`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..scenario import DAYS_PER_MONTH

KEYS = ["scope", "group", "month"]
CANCEL_REASONS = ("no_providers", "plan_not_reviewed", "venue_unavailable", "rescheduled")
SESSION_COLUMNS = (
    "sessions_due",  # sessions held or cancelled in the month
    "sessions_held",
    "sessions_cancelled",
    *(f"lost_{r}" for r in CANCEL_REASONS),
    "lost_other",  # a cancel reason this version does not know
    "attendances",  # consumers attending held sessions
    "provider_sessions",  # providers staffing held sessions (the unit of a per-session stipend)
    "session_hours",  # hours of held sessions (duration_min / 60)
)
CASELOAD_COLUMNS = ("referred", "enrolled", "waiting", "started", "dropped_out", "graduated", "wait_days_total")
STAFF_COLUMNS = ("in_post", "on_leave", "in_training", "recruiting", "quit", "trained")
RESOURCE_COLUMNS = (
    "service_days",  # days of service in the month, summed over communities (coordination is paid by them)
    "provider_hours",
    "doctor_hours_review",
    "doctor_hours_supervision",
    "venue_hours",
    "trainer_half_days",
    "doctor_busy_days",  # doctor_utilisation x service_days, summed (utilisation = / doctor_service_days)
    "doctor_service_days",  # service days of the rows with a doctor utilisation
)
MONTHLY_COLUMNS = ("communities_in_service", *SESSION_COLUMNS, *CASELOAD_COLUMNS, *STAFF_COLUMNS, *RESOURCE_COLUMNS)
STOCKS = ("enrolled", "waiting", "in_post", "on_leave", "in_training", "recruiting", "communities_in_service")
# The stock columns are month-end counts: a run's total is not their sum (see replication_totals).


def month_of(day: Any) -> np.ndarray:
    """Whole months since day 0 (``floor(day / DAYS_PER_MONTH)``)."""
    return np.floor(np.asarray(day, dtype=float) / DAYS_PER_MONTH).astype(np.int64)


def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    """``df[col]`` as floats, blanks and non-numbers 0 (zeros when the column is absent)."""
    if col not in df.columns:
        return np.zeros(len(df))
    s = df[col]
    if s.dtype.kind not in "iufb":
        s = pd.to_numeric(s, errors="coerce")
    x = s.to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(x), 0.0, x)


def _key_sums(values: np.ndarray, key: np.ndarray, sort: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Sums of the rows of ``values`` per ``key`` (rows with a NaN key left out): the keys, one row of sums
    each. pandas' grouped sum, so each sum adds the same terms in the same order by the same method as
    grouping the rows by their names would (the same floats to the last bit)."""
    s = pd.DataFrame(values, copy=False).groupby(key, sort=sort).sum()
    return s.index.to_numpy(), s.to_numpy(dtype=float)


@dataclass
class _Layout:
    """The rows of ``planning_monthly``: replication (sorted), then (scope, group) in :data:`labels` order
    (the district, the waves, then the settings, each in order of first appearance in ``communities``),
    then month 0 .. ``months`` - 1. A community's wave and setting are those of its first row."""

    reps: np.ndarray
    labels: list[tuple[str, str]]
    names: pd.Index  # community names
    wave: np.ndarray  # per community (position in names): its label's position in labels
    setting: np.ndarray
    months: int

    @classmethod
    def of(cls, communities: pd.DataFrame) -> _Layout:
        c = communities
        name = c["community"].astype(str)
        first = ~name.duplicated().to_numpy()
        wave = c["wave"].astype(str).to_numpy()[first]
        setting = c["setting"].astype(str).to_numpy()[first] if "setting" in c.columns else np.full(len(wave), "urban")
        waves, settings = list(dict.fromkeys(wave)), list(dict.fromkeys(setting))
        at = {w: 1 + i for i, w in enumerate(waves)}
        at_s = {s: 1 + len(waves) + i for i, s in enumerate(settings)}
        end = pd.to_numeric(c["end_day"], errors="coerce").max() if len(c) else 0.0
        last = int(np.ceil(float(end) / DAYS_PER_MONTH - 1e-9)) - 1 if end and end > 0 else 0
        return cls(
            reps=np.sort(pd.unique(c["replication"])),
            labels=[("district", "all"), *(("wave", w) for w in waves), *(("setting", s) for s in settings)],
            names=pd.Index(name.to_numpy()[first]),
            wave=np.array([at[w] for w in wave], dtype=np.int64),
            setting=np.array([at_s[s] for s in setting], dtype=np.int64),
            months=max(last, 0) + 1,
        )

    @property
    def rows(self) -> int:
        return len(self.reps) * len(self.labels) * self.months

    def community_of(self, community: pd.Series) -> np.ndarray:
        """Each row's community as its position in :attr:`names` (-1: not a community of the chunk)."""
        codes, uniques = pd.factorize(community)
        at = self.names.get_indexer(pd.Index(uniques).astype(str))
        return np.append(at, -1)[codes]

    def sum_into(self, out: np.ndarray, cols: slice, values: np.ndarray, rows: pd.DataFrame, month: Any) -> None:
        """Add ``values`` (one per row of ``rows``, whose replication and community they are, in the
        given ``month``) into ``out[:, cols]``, summed per replication and (scope, group, month): one grouped
        sum per scope over the rows in their order (rows of another replication, an unknown community or
        outside the months are left out, the district still counting a row of an unknown community)."""
        month = np.asarray(month, dtype=np.int64)
        ok = (month >= 0) & (month < self.months)
        values, month = values[ok], month[ok]
        all_reps, rep_at = np.unique(rows["replication"].to_numpy()[ok], return_inverse=True)
        where = np.searchsorted(self.reps, all_reps).clip(0, len(self.reps) - 1)
        out_rep = np.where(self.reps[where] == all_reps, where, -1)
        comm = self.community_of(rows["community"])[ok]
        span = len(self.labels) * self.months
        base = rep_at * span + month
        unknown = comm < 0
        for scope, label in enumerate((np.zeros(len(comm), np.int64), self.wave[comm], self.setting[comm])):
            key = base + label * self.months
            if scope > 0 and unknown.any():
                # no wave or setting for a row of an unknown community: a NaN key, left out of the sums
                key = np.where(unknown, np.nan, key)
            codes, sums = _key_sums(values, key)
            codes = codes.astype(np.int64)
            r = out_rep[codes // span]
            keep = r >= 0
            out[r[keep] * span + codes[keep] % span, cols] = sums[keep]  # one group per row of out

    def frame(self, out: np.ndarray, columns: list[str]) -> pd.DataFrame:
        n_labels, m = len(self.labels), self.months
        scope = [s for s, _ in self.labels]
        group = [g for _, g in self.labels]
        keys = {
            "replication": np.repeat(self.reps, n_labels * m),
            "scope": pd.array(np.tile(np.repeat(np.array(scope, dtype=object), m), len(self.reps)), dtype="str"),
            "group": pd.array(np.tile(np.repeat(np.array(group, dtype=object), m), len(self.reps)), dtype="str"),
            "month": np.tile(np.arange(m, dtype=np.int64), len(self.reps) * n_labels),
        }
        return pd.concat([pd.DataFrame(keys), pd.DataFrame(out, columns=columns, copy=False)], axis=1)


def _session_values(ses: pd.DataFrame) -> np.ndarray:
    """Per session: :data:`SESSION_COLUMNS`."""
    reason = ses["cancel_reason"].fillna("").astype(str).to_numpy() if "cancel_reason" in ses.columns else ""
    held = (ses["status"].astype(str) == "held").to_numpy()
    out = np.zeros((len(ses), len(SESSION_COLUMNS)))
    out[:, 0] = 1.0
    out[:, 1] = held
    out[:, 2] = ~held
    known = np.zeros(len(ses), dtype=bool)
    for i, r in enumerate(CANCEL_REASONS):
        hit = (~held) & (reason == r)
        out[:, 3 + i] = hit
        known |= hit
    k = 3 + len(CANCEL_REASONS)
    out[:, k] = (~held) & ~known
    out[:, k + 1] = np.where(held, _num(ses, "n_attended"), 0.0)
    out[:, k + 2] = np.where(held, _num(ses, "n_providers"), 0.0)
    out[:, k + 3] = np.where(held, _num(ses, "duration_min") / 60.0, 0.0)
    return out


def _table_values(df: pd.DataFrame, table: str) -> np.ndarray:
    """The per-community monthly columns of ``caseload``, ``staff`` or ``resources`` (PLAN schema)."""
    if table == "caseload":
        cols = [_num(df, c) for c in CASELOAD_COLUMNS[:-1]]
        cols.append(_num(df, "mean_wait_days") * cols[CASELOAD_COLUMNS.index("started")])
    elif table == "staff":
        cols = [_num(df, c) for c in STAFF_COLUMNS]
    else:
        cols = [_num(df, c) for c in RESOURCE_COLUMNS[:-2]]
        # Utilisation weighted by service days, as sim.planning.resources.utilisation weighs it (one
        # row per community-month: weight 1 when the table gives no service days).
        w = cols[0] if "service_days" in df.columns else np.ones(len(df))
        if "doctor_utilisation" in df.columns:
            util = pd.to_numeric(df["doctor_utilisation"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            ok = ~np.isnan(util)
            cols.append(np.where(ok, np.where(ok, util, 0.0) * w, 0.0))
        else:
            ok = np.zeros(len(df), dtype=bool)
            cols.append(np.zeros(len(df)))
        cols.append(np.where(ok, w, 0.0))
    return np.column_stack(cols) if len(df) else np.zeros((0, len(cols)))


def _table_month(df: pd.DataFrame) -> np.ndarray:
    return pd.to_numeric(df["month"], errors="coerce").fillna(0).astype(np.int64).to_numpy()


def _in_service(communities: pd.DataFrame, lay: _Layout) -> np.ndarray:
    """Communities in service (services running, start_day to end_day) per row of the layout."""
    start = month_of(communities["start_day"])
    end = np.ceil(pd.to_numeric(communities["end_day"], errors="coerce").to_numpy(float) / DAYS_PER_MONTH - 1e-9)
    m = np.arange(lay.months)
    live = (m[None, :] >= start[:, None]) & (m[None, :] < end[:, None])
    r, k = np.nonzero(live)
    rep = np.searchsorted(lay.reps, communities["replication"].to_numpy()[r])
    span = len(lay.labels) * lay.months
    comm = lay.names.get_indexer(communities["community"].astype(str).to_numpy())[r]
    out = np.zeros(lay.rows)
    for label in (np.zeros(len(r), np.int64), lay.wave[comm], lay.setting[comm]):
        out += np.bincount(rep * span + label * lay.months + m[k], minlength=lay.rows)  # counts: exact
    return out


def monthly_chunk(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``planning_monthly`` of a chunk: one row per (replication, scope, group, month), see the module
    docstring. Tables the chunk lacks (e.g. ``caseload`` before open caseloads exist) leave their
    columns out."""
    com = frames.get("communities")
    if com is None or not len(com):
        return pd.DataFrame(columns=["replication", *KEYS])
    lay = _Layout.of(com)
    parts: list[tuple[str, tuple[str, ...]]] = []
    ses = frames.get("sessions")
    if ses is not None and len(ses.columns):
        parts.append(("sessions", SESSION_COLUMNS))
    for table, cols in (("caseload", CASELOAD_COLUMNS), ("staff", STAFF_COLUMNS), ("resources", RESOURCE_COLUMNS)):
        df = frames.get(table)
        if df is not None and "month" in df.columns:
            parts.append((table, cols))
    columns = ["communities_in_service", *(c for _, cols in parts for c in cols)]
    out = np.zeros((lay.rows, len(columns)))
    out[:, 0] = _in_service(com, lay)
    at = 1
    for table, cols in parts:
        df = frames[table]
        if len(df):
            if table == "sessions":
                values, month = _session_values(df), month_of(df["day"])
            else:
                values, month = _table_values(df, table), _table_month(df)
            lay.sum_into(out, slice(at, at + len(cols)), values, df, month)
        at += len(cols)
    return lay.frame(out, columns)


def replication_totals(frames: dict[str, pd.DataFrame], monthly: pd.DataFrame | None = None) -> pd.DataFrame:
    """``planning_totals`` of a chunk: one row per replication (see the module docstring)."""
    m = monthly_chunk(frames) if monthly is None else monthly
    district = (m["scope"] == "district").to_numpy(dtype=bool) if len(m) else np.zeros(0, dtype=bool)
    if not district.any():
        return pd.DataFrame(columns=["replication"])
    cols = [c for c in MONTHLY_COLUMNS if c in m.columns]
    flows = [c for c in cols if c not in STOCKS]
    stocks = [c for c in cols if c in STOCKS]
    rep = m["replication"].to_numpy()[district]
    x = m[cols].to_numpy(dtype=float)[district]
    g = pd.DataFrame(x, copy=False).groupby(rep, sort=True)
    sums, peaks = g.sum(), g.max()
    reps = sums.index.to_numpy()
    # the last month of each replication (of rows with the same month, the last one)
    month = m["month"].to_numpy()[district]
    order = np.lexsort((np.arange(len(rep)), month, np.searchsorted(reps, rep)))
    last = order[np.r_[np.flatnonzero(np.diff(np.searchsorted(reps, rep[order]))), len(order) - 1]]
    out: dict[str, np.ndarray] = {c: sums[cols.index(c)].to_numpy() for c in flows}
    for c in stocks:
        out[f"{c}_end"] = x[last, cols.index(c)]
        out[f"{c}_peak"] = peaks[cols.index(c)].to_numpy()
    out["community_months"] = sums[cols.index("communities_in_service")].to_numpy()
    out.update(_people(frames, reps))
    out.update(_training(frames, reps))
    t = pd.DataFrame(out).fillna(0.0).astype(float)
    t.insert(0, "replication", reps)
    return t


def _per_rep(table: pd.DataFrame, reps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's position in ``reps`` and which rows are of those replications."""
    r = table["replication"].to_numpy()
    at = np.searchsorted(reps, r).clip(0, len(reps) - 1)
    return at, reps[at] == r


def _people(frames: dict[str, pd.DataFrame], reps: np.ndarray) -> dict[str, np.ndarray]:
    """Per replication (``reps``): providers recruited; consumers enrolled (at some time), served (attended
    at least one session), retained (``retained``: still in the programme at follow-up), evaluated, and
    reporting a benefit (evaluated and answering yes to Table 3's mood item, ``ben_mood``, the item
    most consumers named; the definitions of ``sim.planning.costs.cost_per_replication``). Counts of
    people: sums of 0/1, exact in any order."""
    out = {}
    pro = frames.get("providers")
    if pro is not None and len(pro):
        at, ok = _per_rep(pro, reps)
        out["providers_recruited"] = np.bincount(at[ok], minlength=len(reps)).astype(float)
    con = frames.get("consumers")
    if con is not None and len(con):
        served = (
            pd.to_numeric(con["enrolled_day"], errors="coerce").notna().to_numpy()
            if "enrolled_day" in con.columns
            else np.ones(len(con), dtype=bool)
        )
        attended = _num(con, "sessions_attended") >= 1 if "sessions_attended" in con.columns else served
        evaluated = _num(con, "evaluated") > 0
        at, ok = _per_rep(con, reps)
        for c, v in (
            ("consumers_enrolled", served),
            ("consumers_served", attended),
            ("consumers_retained", _num(con, "retained") > 0),
            ("consumers_evaluated", evaluated),
            ("consumers_benefit", evaluated & (_num(con, "ben_mood") > 0)),
        ):
            out[c] = np.bincount(at[ok], weights=v[ok].astype(float), minlength=len(reps))
    return out


def _training(frames: dict[str, pd.DataFrame], reps: np.ndarray) -> dict[str, np.ndarray]:
    """Per replication (``reps``) from ``training.csv``: cohorts (all, and the staff pipeline's), trainees,
    trainer half-days (all, and the pipeline's), the mean wait of a trainee between recruitment and
    training, and the mean training lead time (wait + course), days (NaN without trainees)."""
    tr = frames.get("training")
    if tr is None or not len(tr) or "trainees" not in tr.columns:
        return {}
    n = _num(tr, "trainees")
    course = _num(tr, "end_day") - _num(tr, "start_day")
    # the staff pipeline's cohorts (the founding trainings are given by the rollout's own team)
    pipeline = (tr["kind"].astype(str) == "pipeline").to_numpy() if "kind" in tr.columns else np.ones(len(tr), bool)
    half, wait = _num(tr, "trainer_half_days"), _num(tr, "queue_wait_days")
    names = ("cohorts", "pipeline_cohorts", "trainees", "training_trainer_half_days", "pipeline_trainer_half_days")
    pipe_half, lead = np.where(pipeline, half, 0.0), (wait + course) * n
    values = np.column_stack([np.ones(len(tr)), pipeline.astype(float), n, half, pipe_half, wait * n, lead])
    keys, sums = _key_sums(values, tr["replication"].to_numpy(), sort=True)
    at = np.searchsorted(keys, reps).clip(0, len(keys) - 1)
    s = np.where((keys[at] == reps)[:, None], sums[at], np.nan)
    out = {c: s[:, i] for i, c in enumerate(names)}
    per = np.where(s[:, 2] > 0, s[:, 2], np.nan)
    out["training_wait_days"] = s[:, 5] / per
    out["training_lead_days"] = s[:, 6] / per
    return out


def cost_quantities(frames: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """Per replication, the quantity behind each cost category and the effects costs are divided by:
    :func:`sim.planning.costs.cost_per_replication` at unit costs of 1, so each category column is its
    quantity (provider sessions, doctor hours, trainer half-days, venue hours, coordinator months). Costs
    are linear in the unit costs, so the parent multiplies by the scenario's prices
    (:func:`sim.planning.summary.priced`) without the worker knowing them. None when this version computes no costs."""
    try:
        from .cost_spec import CostSpec
        from .costs import cost_per_replication
    except ImportError:
        return None
    if any(frames.get(t) is None or not len(frames[t]) for t in ("communities", "consumers")):
        return None  # nothing to cost (tables of a model's run are never missing)
    if frames.get("sessions") is None:
        return None  # (a run that held no session has the table, empty: its training and coordination cost)
    unit = CostSpec(provider_session=1.0, doctor_hour=1.0, trainer_half_day=1.0, venue_hour=1.0, coordinator_month=1.0)
    return cost_per_replication(frames, unit)


def planning_chunk(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The planning tables of a chunk (the runner's per-chunk hook stores them beside the analysis):
    ``planning_monthly``, ``planning_totals`` and, when this version computes costs, ``planning_costs``
    (:func:`cost_quantities`)."""
    m = monthly_chunk(frames)
    out = {"planning_monthly": m, "planning_totals": replication_totals(frames, m)}
    q = cost_quantities(frames)
    if q is not None:
        out["planning_costs"] = q
    return out
