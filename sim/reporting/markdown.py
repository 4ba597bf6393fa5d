"""Markdown text: tables, number formats, joining blocks (see :mod:`sim.reporting`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def md_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A markdown table, one line per row, ending in a newline; ``|`` inside a cell becomes ``/``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def fmt_num(x: float | None, nd: int) -> str:
    """``x`` with ``nd`` decimals; "–" when missing or not finite."""
    return "–" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


def fmt_p(p: float) -> str:
    """A p-value: "< 0.001", three decimals, or "–" when not finite."""
    if not np.isfinite(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def join_blocks(blocks: Iterable[str]) -> str:
    """Non-blank blocks, each ending in one newline, with at most one blank line anywhere."""
    text = "\n".join(x.strip("\n") + "\n" for x in blocks if x.strip())
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text
