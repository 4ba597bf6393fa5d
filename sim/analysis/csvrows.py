"""A table's CSV rows carried with it, formatted where it was computed (in a runner worker).

Writing ``tests.csv`` (about 110 rows per replication) was the largest serial step after a run:
formatting a million numbers in the parent while the workers sat idle. :func:`attach` stores the
rows' CSV text in ``df.attrs`` with a fingerprint of the table's numbers; :func:`rows` returns that
text only while the fingerprint still matches (pandas copies ``attrs`` through filters and sorts,
so a changed table falls back to formatting it again). The text is exactly what
``df.to_csv(index=False, header=False, float_format=FLOAT_FORMAT, lineterminator="\\n")`` writes.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from ..reporting.tables import csv_text

FLOAT_FORMAT = "%.6g"
KEY = "csv_rows"


def fingerprint(df: pd.DataFrame) -> str:
    """A digest of ``df``'s length, column names and numeric columns (to tell a carried result stale)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((len(df), list(df.columns))).encode())
    for c in df.columns:
        if pd.api.types.is_numeric_dtype(df[c].dtype):
            h.update(np.ascontiguousarray(df[c].to_numpy(dtype=float, na_value=np.nan)).tobytes())
    return h.hexdigest()


def attach(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its CSV rows (no header) in ``df.attrs``; returns ``df``."""
    df.attrs[KEY] = (fingerprint(df), csv_text(df, FLOAT_FORMAT, header=False))
    return df


def rows(df: pd.DataFrame) -> str:
    """The CSV rows of ``df`` (no header): the attached text when still valid, else formatted now."""
    got = df.attrs.get(KEY)
    if got is not None and got[0] == fingerprint(df):
        return got[1]
    return csv_text(df, FLOAT_FORMAT, header=False)


def header(df: pd.DataFrame) -> str:
    return csv_text(df.iloc[:0], FLOAT_FORMAT, header=True)
