"""Shared preparation of the evaluation datasets for the tables, tests and summaries.

Turns the frames of ``sim.datasets.to_frames`` (or of :func:`sim.analysis.io.read_directory`) into
float-coded numpy-friendly frames: nullable integer answers become float with NaN, so that
vectorised ``groupby`` sums and counts skip missing answers the way the paper's "N (%)" and
"mean (SD)" do (percentages are of those who answered).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import instruments as ins

PAPER_WAVES = ("initial", "later")


@dataclass
class Prepared:
    """The datasets ready for analysis: persons = providers + consumers, one replication index."""

    persons: pd.DataFrame
    caregivers: pd.DataFrame | None
    sessions: pd.DataFrame | None
    replications: np.ndarray
    waves: tuple[str, ...]


def _floatify(df: pd.DataFrame) -> pd.DataFrame:
    """Nullable integers and booleans as float (NaN for blanks); strings as plain object columns
    (row filters then copy numpy arrays instead of Arrow buffers, which dominated a chunk's cost).
    A new frame built in one go (replacing the columns of a copy one by one cost twice as much)."""
    cols: dict = {}
    for c in df.columns:
        s = df[c]
        dt = s.dtype
        if (
            pd.api.types.is_integer_dtype(dt) and pd.api.types.is_extension_array_dtype(dt)
        ) or pd.api.types.is_bool_dtype(dt):
            cols[c] = s.to_numpy(dtype="float64", na_value=np.nan)
        elif isinstance(dt, pd.StringDtype):
            cols[c] = pd.Series(s.to_numpy(dtype=object, na_value=np.nan), index=df.index, dtype=object, copy=False)
        else:
            cols[c] = s.copy()
    out = pd.DataFrame(cols, index=df.index, columns=df.columns)
    out.attrs = copy.deepcopy(df.attrs)
    return out


def wave_order(waves, persons: pd.DataFrame | None = None) -> tuple[str, ...]:
    """Waves in study order: the paper's ``initial`` before ``later``; otherwise by first recruitment
    day when known, then by name. Between-wave tests are "earlier minus later" (the paper's sign)."""
    ws = sorted({str(w) for w in waves})
    start: dict[str, float] = {}
    if persons is not None and "recruited_day" in persons.columns:
        start = persons.groupby("wave")["recruited_day"].min().to_dict()
    rank = {w: i for i, w in enumerate(PAPER_WAVES)}
    return tuple(sorted(ws, key=lambda w: (rank.get(w, len(rank)), start.get(w, np.inf), w)))


def prepare(frames: dict[str, pd.DataFrame]) -> Prepared:
    """Combine and float-code the frames; ``replication`` defaults to 0 when absent (real data)."""
    persons = _persons(frames)
    cg, ss = (
        _with_replication(_floatify(_read_columns(frames[k], k))) if frames.get(k) is not None else None
        for k in ("caregivers", "sessions")
    )
    reps = set()
    for df in (persons, cg, ss):
        if df is not None and len(df):
            reps.update(pd.unique(df["replication"]).tolist())
    replications = np.array(sorted(int(r) for r in reps), dtype=np.int64)
    waves = wave_order(persons["wave"].unique() if len(persons) else [], persons if len(persons) else None)
    return Prepared(persons, cg, ss, replications, waves)


def _persons(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Providers and consumers in one table with a ``role`` column."""
    parts = []
    for key, role in (("providers", "provider"), ("consumers", "consumer")):
        df = frames.get(key)
        if df is None:
            continue
        df = _floatify(df.drop(columns=[c for c in UNREAD_PERSON_COLUMNS if c in df.columns]))
        if "role" not in df.columns:
            df["role"] = role
        parts.append(df)
    return _with_replication(pd.concat(parts, ignore_index=True, sort=False) if parts else pd.DataFrame())


def _read_columns(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """``df`` with only the columns of :data:`READ_COLUMNS` ``[table]`` it has (the others are not
    converted: the sessions' identifiers and lists were a fifth of a chunk's preparation)."""
    keep = [c for c in df.columns if c in READ_COLUMNS[table]]
    return df if len(keep) == len(df.columns) else df[keep]


def _with_replication(df: pd.DataFrame) -> pd.DataFrame:
    if "replication" not in df.columns:
        df["replication"] = 0
    return df


#: The paper's six "demographic variables" (Bonferroni 0.05/6 = 8.33e-3, Results) are age, gender,
#: education, marital status, living alone and employment; diagnosis and onset age are clinical.
DEMOGRAPHIC = ("age", "gender", "education", "marital_status", "lives_alone", "employed")
CLINICAL = ("diagnosis", "onset_age")
BASELINE_ORDER = ("age", "gender", "education", "marital_status", "lives_alone", "employed", "diagnosis", "onset_age")

PROVIDER_BINARY = tuple(it.column for it in ins.PROVIDER_SATISFACTION if it.kind == "binary")
PROVIDER_LIKERT = tuple(it.column for it in ins.PROVIDER_SATISFACTION if it.kind != "binary")
CONSUMER_BINARY = tuple(it.column for it in ins.CONSUMER_SATISFACTION if it.kind == "binary")
CONSUMER_LIKERT = tuple(it.column for it in ins.CONSUMER_SATISFACTION if it.kind != "binary")
BENEFITS = tuple(it.column for it in ins.PROVIDER_BENEFITS)
STRESS = tuple(it.column for it in ins.PROVIDER_STRESS_REASONS)
CAREGIVER_BINARY = tuple(
    it.column for it in ins.CAREGIVER_ATTITUDE + ins.CAREGIVER_MEMBER_BENEFITS + ins.CAREGIVER_SELF_BENEFITS
)

#: Identifiers and text of the providers' and consumers' tables that no table, test or summary reads
#: (left out of the prepared persons: converting their strings was a third of the preparation).
UNREAD_PERSON_COLUMNS = ("community", "scheduling", "setting", "person_id", "status", "caregiver_id", "replaces")

#: The columns of the caregivers' and sessions' tables that the tables, tests and summaries read.
READ_COLUMNS: dict[str, tuple[str, ...]] = {
    "caregivers": ("replication", "participated", "gender", "age", "member_role", *CAREGIVER_BINARY),
    "sessions": ("replication", "wave", "status", "before_follow_up", "format", "content"),
}


#: Display order of rows: Table 1's variables, then the instruments' items as the paper lists them.
ITEM_ORDER: dict[str, int] = {}
for _c in (
    BASELINE_ORDER
    + tuple(it.column for it in ins.PROVIDER_SATISFACTION)
    + STRESS
    + tuple(it.column for it in ins.CONSUMER_SATISFACTION)
    + BENEFITS
    + CAREGIVER_BINARY
):
    ITEM_ORDER.setdefault(_c, len(ITEM_ORDER))


def label(column: str) -> str:
    """The paper's printed label of an item or baseline variable (falls back to the column name)."""
    return _LABELS.get(column, column.replace("_", " "))


_LABELS: dict[str, str] = {}
for _items in (
    ins.PROVIDER_SATISFACTION,
    ins.PROVIDER_STRESS_REASONS,
    ins.PROVIDER_BENEFITS,
    ins.CAREGIVER_ATTITUDE,
    ins.CAREGIVER_MEMBER_BENEFITS,
    ins.CAREGIVER_SELF_BENEFITS,
):
    for _it in _items:
        _LABELS.setdefault(_it.column, _it.label)
for _it in ins.CONSUMER_SATISFACTION:
    _LABELS.setdefault(_it.column, _it.label)
_LABELS["cons:sat_overall"] = ins.CONSUMER_SATISFACTION[0].label
_LABELS["cons:willing_continue"] = ins.CONSUMER_SATISFACTION[-1].label
_LABELS.update(
    {
        "age": "Age",
        "gender": "Gender",
        "education": "Education",
        "marital_status": "Current marital status",
        "lives_alone": "Lives alone",
        "employed": "Current employment",
        "diagnosis": "Diagnosis",
        "onset_age": "First onset age",
        "evaluated": "Completed follow-up evaluation",
    }
)
