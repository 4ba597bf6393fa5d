"""``python cli.py app``: start the Streamlit server on the app's entry script (sim/app/main.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MAIN = Path(__file__).with_name("main.py")
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding this copy of the sim package


def command(port: int = 8501, host: str = "127.0.0.1") -> list[str]:
    """The ``streamlit run`` command: headless, no usage statistics, uploads at most 1 MB (the app
    itself refuses scenario files over sim.app.backend.MAX_UPLOAD_BYTES), no file watcher."""
    return [
        sys.executable, "-m", "streamlit", "run", str(MAIN),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.maxUploadSize", "1",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        "--client.showErrorDetails", "false",
    ]  # fmt: skip


def environment(max_reps: int | None = None, workers: int | None = None) -> dict[str, str]:
    """The server's environment: this copy of ``sim`` first on the path; the app's caps."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
    if max_reps is not None:
        env["PEER_SUPPORT_APP_MAX_REPS"] = str(max_reps)
    if workers is not None:
        env["PEER_SUPPORT_APP_WORKERS"] = str(workers)
    return env


def serve(port: int = 8501, host: str = "127.0.0.1", max_reps: int | None = None, workers: int | None = None) -> int:
    """Run the server in the foreground until Ctrl-C (on POSIX this process becomes the server)."""
    import importlib.util

    if importlib.util.find_spec("streamlit") is None:
        print("error: the app needs streamlit: pip install -e '.[app]'", file=sys.stderr)
        return 2
    print(f"peer-support-sim app: http://{host}:{port}  (Ctrl-C to stop)", flush=True)
    cmd, env = command(port, host), environment(max_reps, workers)
    if hasattr(os, "execve"):  # become the server: stopping this process stops it (no orphan)
        os.execve(cmd[0], cmd, env)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0
