"""CSV tables written byte-stably (see :mod:`sim.reporting`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def write_csv(df: pd.DataFrame, path: Path, float_format: str = "%.6g") -> None:
    """``df`` without its index, floats in ``float_format``, ``\\n`` line ends."""
    df.to_csv(path, index=False, float_format=float_format, lineterminator="\n")
