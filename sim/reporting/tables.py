"""CSV tables written byte-stably (see :mod:`sim.reporting`)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

FloatFormat = str | Callable[[float], str]  # a %-format, or a function of the value (as pandas takes)


def write_csv(df: pd.DataFrame, path: Path, float_format: FloatFormat = "%.6g") -> None:
    """``df`` without its index, floats in ``float_format``, ``\\n`` line ends: the bytes of
    ``df.to_csv(path, index=False, float_format=..., lineterminator="\\n")``, through :func:`csv_text`."""
    if df.columns.empty:
        df.to_csv(path, index=False, float_format=float_format, lineterminator="\n")
        return
    with open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write(csv_text(df, float_format))


def csv_text(df: pd.DataFrame, float_format: FloatFormat = "%.6g", header: bool = True) -> str:
    """The text ``df.to_csv(index=False, float_format=..., lineterminator="\\n")`` writes, formatted
    column by column (several times faster for long tables of numbers and short strings). Columns
    of other kinds than numbers, booleans and strings fall back to pandas."""
    if isinstance(df.columns, pd.MultiIndex) or not df.columns.is_unique:  # header rows, or ambiguous columns
        return df.to_csv(index=False, header=header, float_format=float_format, lineterminator="\n")
    cols = []
    for name in df.columns:
        c = _column_text(df[name], float_format)
        if c is None:
            return df.to_csv(index=False, header=header, float_format=float_format, lineterminator="\n")
        cols.append(c)
    return rows_text([str(c) for c in df.columns], cols, header)


def rows_text(names: list[str], cols: list[list[str]], header: bool = True) -> str:
    """CSV text of columns of fields already made text, as ``csv.writer`` (minimal quoting, ``\\n`` line
    ends) writes them, with a header row of ``names`` if ``header``: fields quoted where needed and rows
    joined with "," and "\\n" (several times faster than ``writerows``)."""
    if len(cols) < 2:  # one column: the csv module's rules for a lone empty field
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if header:
            w.writerow(names)
        w.writerows(zip(*cols, strict=True))
        return buf.getvalue()
    head = ",".join(_quoted(names)) + "\n" if header else ""
    return head + "".join([",".join(r) + "\n" for r in zip(*map(_quoted, cols), strict=True)])


_SPECIAL = re.compile(r'[,"\r\n]')


def _quoted(col: list[str]) -> list[str]:
    """The fields as ``csv.writer`` (minimal quoting) writes them: those with a comma, quote or line
    break quoted by the csv module itself, the others as they are (joining rows with "," and "\n" is
    several times faster than ``writerows``)."""
    joined = "\x00".join(col)
    if not any(ch in joined for ch in ',"\r\n'):  # fast scans of the column: few fields ever need quotes
        return col
    special = {v for v in set(col) if _SPECIAL.search(v)}
    if not special:
        return col
    quote = {}
    for v in special:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([v, ""])
        quote[v] = buf.getvalue()[: -len(",\n")]
    return [quote.get(v, v) for v in col]


def _column_text(s: pd.Series, float_format: FloatFormat) -> list[str] | None:
    dt = s.dtype
    if pd.api.types.is_extension_array_dtype(dt) and not isinstance(dt, pd.StringDtype):
        return None  # nullable numbers, categoricals: pandas' own rules
    if pd.api.types.is_bool_dtype(dt):
        return ["True" if v else "False" for v in s.to_numpy().tolist()]
    if pd.api.types.is_integer_dtype(dt):
        return [str(v) for v in s.to_numpy().tolist()]
    if pd.api.types.is_float_dtype(dt):
        return float_texts(s.to_numpy(dtype=float), float_format)
    return _strings(s)


def float_texts(x: np.ndarray, float_format: FloatFormat) -> list[str]:
    """``float_format % v`` (or ``float_format(v)``, as pandas calls a function) per value ("" for NaN),
    each distinct value formatted once (counts, shares and thresholds repeat); values are told apart by
    their bits, so -0.0 stays "-0"."""
    fmt = float_format.__mod__ if isinstance(float_format, str) else float_format
    bits, inv = np.unique(np.ascontiguousarray(x).view(np.int64), return_inverse=True)
    text = [fmt(v) if v == v else "" for v in bits.view(np.float64).tolist()]
    return [text[i] for i in inv.ravel().tolist()]


def _strings(s: pd.Series) -> list[str] | None:
    """A column of strings (missing -> ""); None when it holds anything else."""
    if isinstance(s.dtype, pd.StringDtype):  # strings or missing: each distinct string made once
        codes, names = pd.factorize(s)
        return np.array([*names.tolist(), ""], dtype=object)[codes].tolist()  # code -1 (missing): ""
    if not pd.api.types.is_object_dtype(s.dtype):
        return None
    vals = s.to_numpy(dtype=object, na_value=None).tolist()
    if all(v is None or isinstance(v, str) for v in vals):
        return ["" if v is None else v for v in vals]
    return None
