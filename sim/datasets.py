"""From replications to the synthetic evaluation datasets (pandas), and byte-stable CSV writing.

Tables and columns are documented in ``docs/data_dictionary.md``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .model import CAREGIVER_ANSWER_COLUMNS, CONSUMER_ANSWER_COLUMNS, PROVIDER_ANSWER_COLUMNS, ReplicationResult
from .reporting.tables import rows_text

TABLES = (
    "providers",
    "consumers",
    "caregivers",
    "sessions",
    "communities",
    "caseload",
    "staff",
    "training",
    "doctor_requests",
    "resources",
)
# Derived from the other tables of the same chunk, not by the model (``sim.planning.resources``).
DERIVED_TABLES = ("resources",)

# Integer columns that may hold missing values: written as whole numbers with blank cells.
NULLABLE_INT_COLUMNS = frozenset(
    PROVIDER_ANSWER_COLUMNS + CONSUMER_ANSWER_COLUMNS + CAREGIVER_ANSWER_COLUMNS + ("timetable_weeks",)
)
FLOAT_FORMAT = "%.10g"


def to_frames(results: Sequence[ReplicationResult]) -> dict[str, pd.DataFrame]:
    """Concatenate replications into one DataFrame per table, rows in replication order."""
    ordered = sorted(results, key=lambda r: r.replication)
    frames: dict[str, pd.DataFrame] = {}
    for table in (t for t in TABLES if t not in DERIVED_TABLES):
        cols: dict[str, list] = {}
        for res in ordered:
            part = res.columns.get(table)
            if part is None:
                continue
            if not cols:
                cols = {k: [] for k in part}
            for k, v in part.items():
                cols[k].extend(v)
        df = pd.DataFrame(cols)
        for col in df.columns.intersection(list(NULLABLE_INT_COLUMNS)):
            df[col] = df[col].astype("Int64")
        frames[table] = df
    if "resources" in TABLES:
        from .planning.resources import resource_use

        frames["resources"] = resource_use(frames)
    return frames


def joined_by_follow_up(consumers: pd.DataFrame) -> pd.Series:
    """Rows of ``consumers`` who had joined a group by their follow-up day. With an open caseload
    ``consumers.csv`` has a row for everyone referred, also those still waiting or referred after
    follow-up; the share kept or evaluated is of those who joined (docs/data_dictionary.md). Without
    ``enrolled_day`` (the closed cohort) everyone recruited joined."""
    if "enrolled_day" not in consumers.columns:
        return pd.Series(True, index=consumers.index)
    enrolled = pd.to_numeric(consumers["enrolled_day"], errors="coerce")
    return enrolled.notna() & (enrolled <= pd.to_numeric(consumers["follow_up_day"], errors="coerce"))


def write_table(df: pd.DataFrame, path: Path | str | Any, header: bool = True, mode: str = "w") -> None:
    """Write one table as CSV with fixed formatting, so equal data gives equal bytes.

    The bytes are those of ``df.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\\n")``
    (same minimal quoting), with each column turned into text in one pass and the rows joined as text
    (:func:`sim.reporting.tables.rows_text`): pandas formats value by value through several calls, which
    made writing cost as much as simulating for large scenarios."""
    if df.columns.empty:
        df.to_csv(path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n", header=header, mode=mode)
        return
    text = rows_text([str(c) for c in df.columns], [_csv_text(df[col]) for col in df.columns], header)
    if isinstance(path, (str, os.PathLike)):
        with open(path, mode, newline="", encoding="utf-8") as fh:
            fh.write(text)
    else:  # an open text file (or buffer)
        path.write(text)


def _csv_text(s: pd.Series) -> list[str]:
    """One column's cells as ``to_csv`` writes them: floats in ``FLOAT_FORMAT``, other values as ``str``,
    missing values blank."""
    values = s.tolist()
    if s.dtype.kind == "f" and isinstance(s.dtype, np.dtype):
        fmt = FLOAT_FORMAT
        return [fmt % x if x == x else "" for x in values]
    if s.dtype.kind in "iub" and isinstance(s.dtype, np.dtype):  # NumPy integers and booleans: never missing
        return [str(x) for x in values]
    return ["" if missing else str(x) for x, missing in zip(values, s.isna().tolist(), strict=True)]


# Parquet (``run --format parquet``): the same tables, typed and compressed, for large runs.
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3}


def to_arrow(df: pd.DataFrame) -> Any:
    """One table as a ``pyarrow.Table`` without the index or pandas metadata (so equal data gives equal bytes
    whatever pandas version wrote it); blank integer answers stay integers with nulls."""
    import pyarrow as pa

    return pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)


def conform(table: Any, schema: Any) -> Any:
    """``table`` with exactly ``schema``'s columns and types (a column missing from a chunk is all null;
    a column that is blank throughout a chunk takes the type it has elsewhere)."""
    import pyarrow as pa

    n = table.num_rows
    cols = [table.column(f.name) if f.name in table.column_names else pa.nulls(n, f.type) for f in schema]
    return pa.table({f.name: c.cast(f.type) for f, c in zip(schema, cols, strict=True)}, schema=schema)


def write_parquet_table(df: pd.DataFrame, path: Path | str) -> None:
    """Write one table as Parquet with fixed options, so equal data gives equal bytes."""
    import pyarrow.parquet as pq

    pq.write_table(to_arrow(df), path, **PARQUET_OPTIONS)
