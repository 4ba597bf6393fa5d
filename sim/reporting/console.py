"""Console output with rich (see :mod:`sim.reporting`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def console(stderr: bool = False) -> Any:
    """A rich Console on stdout (or stderr, for progress and messages beside piped output)."""
    from rich.console import Console

    return Console(stderr=stderr)


def rich_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]] = (), left: Iterable[str] = ()) -> Any:
    """A rich Table; columns named in ``left`` are left-aligned, the others right-aligned."""
    from rich.table import Table

    lefts = set(left)
    t = Table(title=title)
    for c in columns:
        t.add_column(c, justify="left" if c in lefts else "right")
    for r in rows:
        t.add_row(*r)
    return t
