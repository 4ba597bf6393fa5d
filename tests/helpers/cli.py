"""Running the documented command line (``python cli.py ...``), as a user would.

``run_cli`` calls the same entry point as ``cli.py`` (``sim.cli_app.app``) in this process: the working
folder, ``sys.argv``, the environment and both output streams are those of a fresh ``python cli.py`` call,
and the result is a ``CompletedProcess``. It saves the interpreter start and the imports of every call
(about 2 s of CPU each), and the runner's worker processes are forked from an interpreter that has
already imported the model. ``process=True`` runs a real ``python cli.py`` subprocess instead: for what
only a process shows (signals, exit of the interpreter, ``PYTHONPATH``), and one end-to-end check per
command family.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def _as_a_fresh_call(argv: list[str], cwd: Path | str, env: dict[str, str]) -> Iterator[None]:
    """cwd, argv and environment of ``python cli.py ARGV``, restored afterwards."""
    old_cwd, old_argv, old_env = os.getcwd(), sys.argv, dict(os.environ)
    os.chdir(cwd)
    sys.argv = [str(REPO / "cli.py"), *argv]
    os.environ.update(env)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.argv = old_argv
        os.environ.clear()
        os.environ.update(old_env)


def run_cli(
    *args: object, cwd: Path | str | None = None, timeout: float = 300, process: bool = False, **env: str
) -> subprocess.CompletedProcess:
    """``python cli.py ARGS`` from this checkout (its ``sim`` package), text output captured; ``env`` adds
    environment variables. Never raises on a non-zero exit: tests assert the code and the message.
    In this process unless ``process`` (see the module docstring); ``timeout`` applies to a subprocess."""
    argv = [str(a) for a in args]
    cwd = cwd if cwd is not None else REPO
    env = {"COLUMNS": "200", **env}
    if process:
        environ = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            **env,
        }
        return subprocess.run(
            [sys.executable, str(REPO / "cli.py"), *argv],
            cwd=cwd,
            env=environ,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    from sim.cli_app import app

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with _as_a_fresh_call(argv, cwd, env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            app(argv, prog_name="cli.py")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return subprocess.CompletedProcess([sys.executable, "cli.py", *argv], code, out.getvalue(), err.getvalue())
