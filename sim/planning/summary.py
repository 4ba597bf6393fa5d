"""The planner's figures per replication, and their means and 95% intervals over replications.

Statistics only (the report is :mod:`sim.reporting.planning`). Two tables per chunk of replications,
both computed in the worker from the chunk's datasets (``docs/data_dictionary.md``) by
:func:`planning_chunk`:

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

:class:`PlanningAccumulator` adds the chunks one at a time: running means and squared deviations over all
replications (means and the 95% confidence interval of each mean), the 2.5-97.5% percentiles of each
monthly figure over the first :data:`PERCENTILE_REPS_MAX` replications (so memory stays flat however
many replications run), and the per-replication totals (one small row each). The result is the same
whether the replications come in one chunk or many (``tests/test_planning.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..scenario import DAYS_PER_MONTH

PERCENTILE_REPS_MAX = 200  # monthly percentiles use the replications with index below this (a 2.5% tail
# of 200 is 5 replications: enough for a band on a figure; keeps a 1,000-replication run as small as 250)
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
    (:func:`priced`) without the worker knowing them. None when this version computes no costs."""
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


# cost category (sim.planning.costs.CATEGORIES) -> its unit cost in the scenario's costs: section
UNIT_COST_OF = {
    "provider_stipends": "provider_session",
    "doctor_time": "doctor_hour",
    "training": "trainer_half_day",
    "venue": "venue_hour",
    "coordination": "coordinator_month",
}
# monthly quantity (MONTHLY_COLUMNS) behind each cost category, and its factor to the unit
MONTHLY_QUANTITY_OF = {
    "provider_stipends": (("provider_sessions",), 1.0),
    "doctor_time": (("doctor_hours_review", "doctor_hours_supervision"), 1.0),
    "training": (("trainer_half_days",), 1.0),
    "venue": (("venue_hours",), 1.0),
    "coordination": (("service_days",), 1.0 / DAYS_PER_MONTH),
}


def priced(quantities: pd.DataFrame, spec: Any) -> pd.DataFrame:
    """:func:`cost_quantities` rows at the unit costs of ``spec`` (a ``CostSpec``): each category's cost,
    ``total_cost`` and ``cost_per_<effect>`` (blank where the effect is zero)."""
    out = quantities.copy()
    cats = [c for c in UNIT_COST_OF if c in out.columns]
    for c in cats:
        out[c] = out[c].astype(float) * float(getattr(spec, UNIT_COST_OF[c]))
    out["total_cost"] = out[cats].sum(axis=1)
    for col in [c for c in out.columns if c.startswith("cost_per_")]:
        n = out[col[len("cost_per_") :]].astype(float)
        out[col] = (out["total_cost"] / n.where(n > 0)).astype(float)
    return out


def monthly_costs(summary: PlanningSummary, spec: Any, scope: str = "district") -> pd.DataFrame:
    """Mean cost per month by category (columns) for each group of ``scope``: the monthly mean quantities
    times the unit costs (exact for means: costs are linear in the quantities). Empty when the run has
    no resource table."""
    rows = {}
    for cat, (cols, factor) in MONTHLY_QUANTITY_OF.items():
        if not all(summary.has(c) for c in cols):
            continue
        q = sum(summary.series(c, scope).set_index(["group", "month"])["mean"] for c in cols)
        rows[cat] = q * factor * float(getattr(spec, UNIT_COST_OF[cat]))
    return pd.DataFrame(rows).reset_index() if rows else pd.DataFrame()


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


@dataclass
class PlanningSummary:
    """The planner's figures over replications.

    ``monthly``: per (scope, group, month) and column: ``mean``, ``ci_low``/``ci_high`` (95% CI of the
    mean, normal approximation), ``q025``/``q975`` (2.5-97.5% percentiles over replications: 95% of
    replications fall within) in long form (columns scope, group, month, column, mean, ...).
    ``totals``: one row per replication. ``replications``: how many; ``percentile_reps``: how many the
    monthly percentiles use."""

    monthly: pd.DataFrame
    totals: pd.DataFrame
    replications: int
    percentile_reps: int
    cost_quantities: pd.DataFrame | None = None  # cost_quantities rows of every replication (None: no costs)

    def series(self, column: str, scope: str = "district") -> pd.DataFrame:
        """Rows of ``monthly`` for one column and scope (group, month, mean, q025, q975, ...)."""
        m = self.monthly
        return m[(m["column"] == column) & (m["scope"] == scope)].reset_index(drop=True)

    def has(self, column: str) -> bool:
        return bool((self.monthly["column"] == column).any())

    def groups(self, scope: str) -> list[str]:
        return list(dict.fromkeys(self.monthly.loc[self.monthly["scope"] == scope, "group"]))


class PlanningAccumulator:
    """Adds ``planning_monthly`` / ``planning_totals`` chunks (in replication order, any chunking) and
    summarises them; memory is flat in the replications beyond :data:`PERCENTILE_REPS_MAX` (only running
    sums and one small row per replication are kept).

    The mean and variance of each monthly figure are updated one replication at a time, as pandas'
    grouped mean (compensated sum) and variance (Welford's update) visit the rows of one chunk holding
    every replication: the same floats however the replications are chunked (README, 'Running
    replications locally')."""

    def __init__(self, percentile_reps_max: int = PERCENTILE_REPS_MAX):
        self.cap = percentile_reps_max
        self.keys: dict[tuple, int] = {}  # (scope, group, month) -> row, in order of first appearance
        self.cols: list[str] = []
        shape = (0, 0)
        self.sum, self.comp, self.nobs = np.zeros(shape), np.zeros(shape), np.zeros(shape)  # pandas' group_mean
        self.wmean, self.m2, self.wn = np.zeros(shape), np.zeros(shape), np.zeros(shape)  # pandas' group_var
        self.n = 0
        self.kept: list[pd.DataFrame] = []
        self.totals: list[pd.DataFrame] = []
        self.costs: list[pd.DataFrame] = []

    def add(
        self, monthly: pd.DataFrame | None, totals: pd.DataFrame | None = None, costs: pd.DataFrame | None = None
    ) -> None:
        if monthly is not None and len(monthly):
            self._merge(monthly)
            m = monthly.set_index(["replication", *KEYS])
            keep = m[m.index.get_level_values("replication") < self.cap]
            if len(keep):
                self.kept.append(keep.astype(np.float32))
        if totals is not None and len(totals):
            self.totals.append(totals)
        if costs is not None and len(costs):
            self.costs.append(costs)

    def _grow(self, keys: int, cols: int) -> None:
        """Room for new keys or columns: earlier replications count as zeros there (the monthly grid holds
        zeros, not gaps)."""
        k0, c0 = self.sum.shape
        if (keys, cols) == (k0, c0):
            return

        def grown(a: np.ndarray, fill: float) -> np.ndarray:
            out = np.full((keys, cols), fill)
            out[:k0, :c0] = a
            return out

        self.sum, self.comp, self.wmean, self.m2 = (grown(a, 0.0) for a in (self.sum, self.comp, self.wmean, self.m2))
        self.nobs, self.wn = grown(self.nobs, float(self.n)), grown(self.wn, float(self.n))

    def _merge(self, monthly: pd.DataFrame) -> None:
        """Add a chunk's replications, one at a time in their order (a key a replication lacks is 0)."""
        cols = [c for c in monthly.columns if c not in ("replication", *KEYS)]
        for c in cols:
            if c not in self.cols:
                self.cols.append(c)
        kcode, kuniq = pd.MultiIndex.from_frame(monthly[KEYS]).factorize()
        row = np.array([self.keys.setdefault(tuple(k), len(self.keys)) for k in kuniq], dtype=np.int64)
        rcode, runiq = pd.factorize(monthly["replication"])
        self._grow(len(self.keys), len(self.cols))
        A = np.zeros((len(runiq), len(self.keys), len(self.cols)))
        at = np.array([self.cols.index(c) for c in cols], dtype=np.int64)
        A[rcode[:, None], row[kcode][:, None], at[None, :]] = monthly[cols].to_numpy(dtype=float)
        for x in A:
            ok = ~np.isnan(x)
            y = x - self.comp
            t = self.sum + y
            comp = (t - self.sum) - y
            comp[comp != comp] = 0.0
            self.sum, self.comp = np.where(ok, t, self.sum), np.where(ok, comp, self.comp)
            self.nobs = self.nobs + ok
            wn, old = self.wn + ok, self.wmean
            with np.errstate(invalid="ignore", divide="ignore"):
                new = np.where(ok, old + (x - old) / np.where(ok, wn, 1), old)
                self.m2 = np.where(ok, self.m2 + (x - new) * (x - old), self.m2)
            self.wmean, self.wn = new, wn
        self.n += len(runiq)

    def add_chunks(
        self, monthly: Iterable[pd.DataFrame], totals: Iterable[pd.DataFrame] = (), costs: Iterable[pd.DataFrame] = ()
    ) -> None:
        for m in monthly:
            self.add(m)
        for t in totals:
            self.add(None, t)
        for c in costs:
            self.add(None, None, c)

    def result(self) -> PlanningSummary:
        totals = (
            pd.concat(self.totals, ignore_index=True).sort_values("replication", kind="stable").reset_index(drop=True)
            if self.totals
            else pd.DataFrame(columns=["replication"])
        )
        costs = (
            pd.concat(self.costs, ignore_index=True).sort_values("replication", kind="stable").reset_index(drop=True)
            if self.costs
            else None
        )
        if not self.keys or self.n == 0:
            empty = pd.DataFrame(columns=[*KEYS, "column", "mean", "ci_low", "ci_high", "q025", "q975"])
            return PlanningSummary(empty, totals, len(totals), 0, costs)
        keys = pd.MultiIndex.from_tuples(list(self.keys), names=KEYS)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = pd.DataFrame(self.sum / self.nobs, index=keys, columns=self.cols)
            # pandas' var(ddof=0) times n: the sum of squared deviations, over n - 1
            var = pd.DataFrame(self.m2 / self.wn * self.n, index=keys, columns=self.cols).clip(lower=0.0)
        var = var / max(self.n - 1, 1)
        half = 1.96 * np.sqrt(var / self.n)
        kept = pd.concat(self.kept) if self.kept else None
        lo, hi, k = _percentiles(kept, keys, list(mean.columns))
        long = {
            "mean": mean,
            "ci_low": mean - half,
            "ci_high": mean + half,
            "q025": lo,
            "q975": hi,
        }
        parts = [df.stack(future_stack=True).rename(name) for name, df in long.items()]
        out = pd.concat(parts, axis=1)
        out.index = out.index.set_names([*KEYS, "column"])
        out = out.reset_index()
        out["month"] = out["month"].astype(np.int64)
        # by figure; within it, the district, then the waves in the scenario's order, then the settings
        out = out.sort_values("column", kind="stable").reset_index(drop=True)
        return PlanningSummary(out, totals, self.n, k, costs)


def _percentiles(kept: pd.DataFrame | None, keys: pd.MultiIndex, cols: list[str]) -> tuple[Any, Any, int]:
    """2.5% and 97.5% percentiles per key and column over the kept replications (missing rows are 0)."""
    if kept is None or not len(kept):
        nan = pd.DataFrame(np.nan, index=keys, columns=cols)
        return nan, nan, 0
    reps = np.sort(kept.index.get_level_values("replication").unique())
    full = pd.MultiIndex.from_tuples([(r, *k) for r in reps for k in keys], names=["replication", *KEYS])
    arr = kept.reindex(columns=cols).reindex(full, fill_value=0.0).fillna(0.0).to_numpy(np.float32)
    arr = arr.reshape(len(reps), len(keys), len(cols))
    lo, hi = np.quantile(arr, [0.025, 0.975], axis=0)
    return pd.DataFrame(lo, index=keys, columns=cols), pd.DataFrame(hi, index=keys, columns=cols), len(reps)


def summarise(monthly: Iterable[pd.DataFrame], totals: Iterable[pd.DataFrame] = ()) -> PlanningSummary:
    """:class:`PlanningSummary` of the chunks (each a DataFrame; one DataFrame is one chunk)."""
    acc = PlanningAccumulator()
    acc.add_chunks(
        [monthly] if isinstance(monthly, pd.DataFrame) else monthly,
        [totals] if isinstance(totals, pd.DataFrame) else totals,
    )
    return acc.result()


def total_summary(totals: pd.DataFrame) -> pd.DataFrame:
    """Per column of ``planning_totals``: mean, 95% CI of the mean and 2.5-97.5% percentiles over replications."""
    t = totals.drop(columns=["replication"], errors="ignore").astype(float)
    n = t.notna().sum()
    mean, sd = t.mean(), t.std(ddof=1)
    half = 1.96 * sd / np.sqrt(n.where(n > 0))
    return (
        pd.DataFrame(
            {
                "mean": mean,
                "ci_low": mean - half,
                "ci_high": mean + half,
                "q025": t.quantile(0.025),
                "q975": t.quantile(0.975),
                "reps": n,
            }
        )
        .rename_axis("column")
        .reset_index()
    )
