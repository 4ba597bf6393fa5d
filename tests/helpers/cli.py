"""Running the documented command line (``python cli.py ...``) in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_cli(
    *args: object, cwd: Path | str | None = None, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess:
    """``python cli.py ARGS`` from this checkout (its ``sim`` package), text output captured; ``env`` adds
    environment variables. Never raises on a non-zero exit: tests assert the code and the message."""
    environ = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "COLUMNS": "200",
        **env,
    }
    return subprocess.run(
        [sys.executable, str(REPO / "cli.py"), *map(str, args)],
        cwd=cwd if cwd is not None else REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
