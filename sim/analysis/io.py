"""Read and validate a folder of evaluation CSVs in the format of ``docs/data_dictionary.md``.

``python cli.py analyze DIR`` must work on real evaluation data, so every problem is reported as
:class:`DatasetError`, whose ``str()`` is one line naming the file and the column, e.g.
``consumers.csv: column 'sat_richness': expected whole numbers 1-5, found 'good' (row 3)``.
Required columns are those marked **A** in the data dictionary; ``replication`` is optional (a
single replication 0 when absent); ``sessions.csv`` is optional.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import instruments as ins
from . import prep as P


class DatasetError(ValueError):
    """Bad analysis input; ``str()`` is one line: ``FILE: column 'C': what is wrong``."""


_COMMON = ("community", "wave", "person_id", "role", "evaluated")
_BASE_CONT = tuple(ins.BASELINE_CONTINUOUS)
_BASE_CAT = tuple(ins.BASELINE_CATEGORICAL)
_BEN = P.BENEFITS

# file -> {column: kind}; kinds: str, label (a string no row may leave blank: a person's wave places them
# in the between-wave tables and tests), num, int01, likert, score10, cat:<var>, role (provider/consumer),
# label_role (a role no row may leave blank)
REQUIRED: dict[str, dict[str, str]] = {
    "providers.csv": {
        **dict.fromkeys(("community", "person_id"), "str"),
        "wave": "label",
        "role": "label_role",
        **dict.fromkeys(_BASE_CONT, "num"),
        **{c: f"cat:{c}" for c in _BASE_CAT},
        "evaluated": "int01",
        **dict.fromkeys(P.PROVIDER_BINARY, "int01"),
        **{c: "likert" for c in P.PROVIDER_LIKERT if c != "confidence"},
        "confidence": "score10",
        **dict.fromkeys(_BEN, "int01"),
    },
    "consumers.csv": {
        **dict.fromkeys(("community", "person_id"), "str"),
        "wave": "label",
        "role": "label_role",
        **dict.fromkeys(_BASE_CONT, "num"),
        **{c: f"cat:{c}" for c in _BASE_CAT},
        "evaluated": "int01",
        **dict.fromkeys(P.CONSUMER_BINARY, "int01"),
        **dict.fromkeys(P.CONSUMER_LIKERT, "likert"),
        **dict.fromkeys(_BEN, "int01"),
    },
    "caregivers.csv": {
        **dict.fromkeys(("caregiver_id", "community", "wave"), "str"),
        "member_role": "role",
        "gender": "cat:gender",
        "age": "num",
        "participated": "int01",
        **dict.fromkeys(P.CAREGIVER_BINARY, "int01"),
    },
}
# Optional columns that are type-checked when present.
OPTIONAL: dict[str, dict[str, str]] = {
    "providers.csv": {
        "replication": "rep",
        "retained": "int01",
        **dict.fromkeys(P.STRESS, "int01"),
        "recruited_day": "num",
    },
    "consumers.csv": {"replication": "rep", "retained": "int01", "recruited_day": "num"},
    "caregivers.csv": {"replication": "rep"},
    "sessions.csv": {
        "replication": "rep",
        "status": "str",
        "before_follow_up": "int01",
        "format": "str",
        "content": "str",
        "wave": "str",
    },
}
SESSIONS_REQUIRED = ("wave", "status", "before_follow_up", "format", "content")


def _fail(file: str, col: str, msg: str) -> DatasetError:
    return DatasetError(f"{file}: column '{col}': {msg}".replace("\n", " "))


def _first_bad(s: pd.Series, bad: pd.Series) -> str:
    i = int(np.flatnonzero(bad.to_numpy())[0])
    return f"found {str(s.iloc[i])!r} (row {i + 1})"


def _check(df: pd.DataFrame, file: str, col: str, kind: str) -> pd.Series:
    """Coerce one column to its type, or raise a one-line DatasetError."""
    s = df[col]
    if kind.startswith("label") and s.isna().any():
        row = int(np.flatnonzero(s.isna().to_numpy())[0]) + 1
        raise _fail(file, col, f"blank value (row {row}); every person needs one")
    if kind in ("str", "label"):
        return s.astype("string").astype(object).where(s.notna(), None)
    if kind in ("role", "label_role"):
        ok = {"provider", "consumer"}
        bad = s.notna() & ~s.astype(str).isin(ok)
        if bad.any():
            raise _fail(file, col, f"expected provider/consumer, {_first_bad(s, bad)}")
        return s
    if kind.startswith("cat:"):
        levels = set(ins.BASELINE_CATEGORICAL[kind[4:]])
        bad = s.notna() & ~s.astype(str).isin(levels)
        if bad.any():
            raise _fail(
                file, col, f"expected one of {'/'.join(ins.BASELINE_CATEGORICAL[kind[4:]])}, {_first_bad(s, bad)}"
            )
        return s
    x = pd.to_numeric(s, errors="coerce")
    bad = s.notna() & x.isna()
    if bad.any():
        raise _fail(file, col, f"expected a number, {_first_bad(s, bad)}")
    x = x.astype(float)
    if kind == "num":
        return x
    lo, hi, what = {
        "int01": (0, 1, "0/1"),
        "likert": (1, 5, "whole numbers 1-5"),
        "score10": (0, 10, "whole numbers 0-10"),
        "rep": (0, np.inf, "whole numbers >= 0"),
    }[kind]
    bad = x.notna() & ((x != np.round(x)) | (x < lo) | (x > hi))
    if bad.any():
        raise _fail(file, col, f"expected {what}, {_first_bad(s, bad)}")
    if kind == "rep":
        if x.isna().any():
            raise _fail(file, col, f"blank replication (row {int(np.flatnonzero(x.isna().to_numpy())[0]) + 1})")
        return x.astype(np.int64)
    if kind == "int01" and col == "evaluated" and x.isna().any():
        raise _fail(
            file, col, f"blank value (row {int(np.flatnonzero(x.isna().to_numpy())[0]) + 1}); expected 0/1 for everyone"
        )
    return x.astype("Int64") if not x.isna().all() else x


def read_csv(path: Path, required: bool = True) -> pd.DataFrame | None:
    """Read one CSV as text (types are checked column by column afterwards); where ``TABLE.csv`` is absent,
    ``TABLE.parquet`` (``run --format parquet``) is read instead, as the same text."""
    source = _source(path)
    if source.suffix == ".parquet":
        return _read_parquet(source)
    if not path.exists():
        if required:
            raise DatasetError(f"{path}: file not found")
        return None
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=True, na_values=[""])
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{path}: file is empty (expected a header row)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot parse CSV: {str(exc).splitlines()[0]}") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        why = str(exc).splitlines()[0].replace(f" '{path}'", "")  # pyarrow names the file again
        raise DatasetError(f"{path}: cannot read Parquet: {why}") from None
    text = df.astype(str)
    return text.where(df.notna() & (text != ""), None)  # as read from a CSV: a blank cell is missing


def validate(df: pd.DataFrame, file: str) -> pd.DataFrame:
    """Check required columns exist and all known columns have the documented type."""
    req = REQUIRED.get(file, {})
    if file == "sessions.csv":
        req = {c: OPTIONAL["sessions.csv"][c] for c in SESSIONS_REQUIRED}
    for col in req:
        if col not in df.columns:
            raise _fail(file, col, "missing (required: see docs/data_dictionary.md)")
    out = df.copy()
    for col, kind in {**OPTIONAL.get(file, {}), **req}.items():
        if col in out.columns:
            out[col] = _check(out, file, col, kind)
    if "replication" not in out.columns:
        out["replication"] = np.int64(0)
    return out


def _source(path: Path) -> Path:
    """The file a table was read from: ``TABLE.csv``, or ``TABLE.parquet`` where only that exists."""
    return path.with_suffix(".parquet") if not path.exists() and path.with_suffix(".parquet").exists() else path


def read_directory(in_dir: Path | str) -> dict[str, pd.DataFrame]:
    """providers.csv, consumers.csv, caregivers.csv (required) and sessions.csv (optional) as frames (each
    also as ``.parquet``)."""
    d = Path(in_dir)
    if not d.is_dir():
        raise DatasetError(f"{d}: not a directory")
    frames: dict[str, pd.DataFrame] = {}
    for name, key, required in (
        ("providers.csv", "providers", True),
        ("consumers.csv", "consumers", True),
        ("caregivers.csv", "caregivers", True),
        ("sessions.csv", "sessions", False),
    ):
        df = read_csv(d / name, required)
        if df is not None:
            try:
                frames[key] = validate(df, name)
            except DatasetError as exc:  # name the file with its folder, as the reading errors do
                raise DatasetError(f"{_source(d / name)}{str(exc)[len(name) :]}") from None
    if not len(frames["providers"]) and not len(frames["consumers"]):
        raise DatasetError(f"{d}: providers, consumers: no rows (nobody to analyse)")
    return frames


def in_the_programme(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """``frames`` with the consumers who had joined a group by follow-up only
    (:func:`sim.datasets.joined_by_follow_up`): with an open caseload ``consumers.csv`` also lists people
    still waiting, or referred after follow-up, who were never in the programme the paper's analysis
    describes. The closed cohort's frames come back as they are."""
    cons = frames.get("consumers")
    if cons is None or "enrolled_day" not in cons.columns or "follow_up_day" not in cons.columns:
        return frames
    from ..datasets import joined_by_follow_up

    joined = joined_by_follow_up(cons)
    return frames if joined.all() else {**frames, "consumers": cons[joined].reset_index(drop=True)}
