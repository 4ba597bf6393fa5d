"""Writing result folders all-or-nothing: into a temporary folder beside the destination, then
moved into place, so an interrupted or failed command never leaves a half-written folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path


def move_into_place(tmp: Path, dest: Path) -> None:
    """Replace ``dest`` by the finished folder ``tmp`` (an existing ``dest`` is moved aside first)."""
    old = None
    if dest.exists():
        old = dest.parent / f".{dest.name}.old-{os.getpid()}"
        if old.exists():
            shutil.rmtree(old)
        os.replace(dest, old)
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_folder(dest: Path | str, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp)`` on a fresh temporary folder next to ``dest``, then move it into place;
    on any error the temporary folder is removed and ``dest`` is left as it was."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        writer(tmp)
        move_into_place(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
