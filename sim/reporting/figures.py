"""Figure files: the Agg backend and byte-stable PNGs (see :mod:`sim.reporting`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed; safe in workers and CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_dir(out_dir: Path) -> Path:
    """``out_dir / "figures"``, created if missing."""
    d = Path(out_dir) / "figures"
    d.mkdir(parents=True, exist_ok=True)
    return d


def save_figure(fig: Any, path: Path, dpi: int = 100) -> str:
    """Write ``fig`` as a PNG without the software tag (so the bytes do not depend on the matplotlib
    version string), close it and return the file name. A layout already applied (``tight_layout``)
    is kept as it is: without a layout engine ``savefig`` skips its extra layout pass (one draw less;
    the same pixels)."""
    fig.set_layout_engine(None)
    fig.savefig(path, dpi=dpi, metadata={"Software": None})
    pyplot().close(fig)
    return Path(path).name
