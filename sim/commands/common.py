"""What every command of the command-line application shares: the error path, the options, the helpers.

Errors take one path: commands raise (a :class:`CommandError`, or the packages' own one-line errors:
``ScenarioError``, ``RunnerError``, ``DestinationError``, ``DatasetError``, ``CalibrationError``,
``PowerError``; or an ``OSError`` while writing) and :meth:`App.__call__` prints ``error: ONE LINE`` to
stderr and exits with code 2 (130 after Ctrl-C; 1 when ``build-native`` cannot compile the model).
typer's own usage errors (a bad flag or value) get the same one line and exit code 2. Every folder a
command writes goes through :mod:`sim.outputs` (refuse a folder the tool did not write unless
``--force``, lock, build beside and move into place).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.main import get_command

from ..scenario import MAX_REPLICATIONS

EXIT_USAGE = 2  # bad input, refused destination, failed write
EXIT_INTERRUPTED = 130  # Ctrl-C


class CommandError(Exception):
    """A user-facing failure of a command: one line and an exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_USAGE) -> CommandError:
    """The error to raise for a one-line failure (``raise fail("--x: ...")``)."""
    return CommandError(message, code)


def _user_error_types() -> tuple[type[BaseException], ...]:
    """The packages' one-line error types (only those of modules already imported: an error can come
    only from a module that ran)."""
    names = {
        "sim.scenario": "ScenarioError",
        "sim.runner": "RunnerError",
        "sim.outputs": "DestinationError",
        "sim.analysis.io": "DatasetError",
        "sim.calibration.cli": "CalibrationError",
        "sim.power": "PowerError",
        "sim.power.schema": "DesignError",
        "sim.sensitivity": "SpecError",
    }
    return tuple(getattr(sys.modules[m], n) for m, n in names.items() if m in sys.modules)


_CLICK_VALUE = re.compile(r"^Invalid value for '([^']+)'(?: / '[^']+')*: ")


def _error_line(exc: BaseException) -> tuple[str, int] | None:
    """``(message, exit code)`` for an error a user can act on; ``None`` for a bug (traceback)."""
    try:  # recent typer vendors click as typer._click
        from typer._click.exceptions import ClickException
    except ImportError:  # pragma: no cover - typer on the click package
        from click.exceptions import ClickException

    if isinstance(exc, CommandError):
        return str(exc), exc.code
    if isinstance(exc, ClickException):
        msg = _CLICK_VALUE.sub(r"\1: ", exc.format_message())
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            msg += f" (see '{ctx.command_path} --help')"
        return msg, EXIT_USAGE
    if isinstance(exc, (KeyboardInterrupt, typer.Abort)):
        return "interrupted; nothing was written", EXIT_INTERRUPTED
    if isinstance(exc, _user_error_types()):
        return str(exc), EXIT_USAGE
    if isinstance(exc, OSError):
        from ..outputs import describe_os_error

        return describe_os_error(exc), EXIT_USAGE
    return None


class App(typer.Typer):
    """A Typer app whose every error ends as one line on stderr (see the module docstring)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("prog_name", program_name())
        try:
            rc = get_command(self)(*args, standalone_mode=False, **kwargs)
        except BaseException as exc:
            if isinstance(exc, SystemExit):
                raise
            if type(exc).__name__ == "NoArgsIsHelpError":  # no command given: the help, as click shows it
                exc.show()  # type: ignore[attr-defined]
                sys.exit(EXIT_USAGE)
            line = _error_line(exc)
            if line is None:
                raise
            typer.echo(f"error: {' '.join(line[0].split())}", err=True)
            sys.exit(line[1])
        if rc == EXIT_INTERRUPTED:  # typer turns Ctrl-C into this exit code
            typer.echo("error: interrupted; nothing was written", err=True)
        sys.exit(rc if isinstance(rc, int) else 0)


def program_name() -> str:
    name = Path(sys.argv[0]).name
    return "cli.py" if name in ("cli.py", "__main__.py") else name


def command_line() -> str:
    return " ".join([program_name(), *sys.argv[1:]])


# --- shared options ---------------------------------------------------------------------------
def workers_option(help_text: str) -> Any:
    """``--workers`` (at least 1; typer's usage error otherwise), with the command's own help text."""
    return Annotated[int | None, typer.Option("--workers", min=1, help=help_text)]


Workers = workers_option("local worker processes (default: all cores; 1 = in-process)")
Scheduler = Annotated[
    str | None, typer.Option("--scheduler", help="address of a Dask scheduler, e.g. tcp://10.0.0.5:8786")
]
Seed = Annotated[int | None, typer.Option("--seed", min=0, help="root seed (default: the scenario's)")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar or summary")]
Force = Annotated[
    bool,
    typer.Option(
        "--force",
        help="replace an existing --out folder that this tool did not write (and, for run, discard the finished "
        "chunks of an interrupted run)",
    ),
]


def out_option(default: str) -> Any:
    return typer.Option(
        "--out",
        help=f"output folder (default: {default}); an existing folder not written by this tool is refused "
        "unless --force",
    )


def replications(value: int, option: str = "--reps", least: int = 1) -> int:
    """A replication count within ``least .. MAX_REPLICATIONS`` (the scenario's ceiling)."""
    if not least <= value <= MAX_REPLICATIONS:
        raise fail(f"{option}: must be between {least} and {MAX_REPLICATIONS:,}, got {value}")
    return value


def load(path: Path) -> Any:
    from ..scenario import load_scenario

    return load_scenario(path)
