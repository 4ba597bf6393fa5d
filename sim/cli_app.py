"""The command-line application: ``python cli.py COMMAND`` (or the ``peer-support-sim`` script).

Each command is a module of ``sim/commands/`` (run, analyze, calibrate, power, compare, sensitivity, web for
``app``, native for ``build-native``); ``recovery`` and ``validate`` live with the calibration
(``sim/calibration/cli.py``, ``sim/calibration/validation/command.py``). What they share, and the one path
every error takes (one line on stderr, exit code 2), is ``sim/commands/common.py``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import __version__
from .calibration.cli import recovery
from .calibration.validation.command import validate
from .commands.analyze import analyze
from .commands.calibrate import calibrate
from .commands.common import App
from .commands.compare import compare
from .commands.native import build_native
from .commands.power import power
from .commands.run import run
from .commands.sensitivity import sensitivity
from .commands.web import web_app

app = App(no_args_is_help=True, add_completion=False, rich_markup_mode=None)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"peer-support-sim {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the package version and exit"),
    ] = False,
) -> None:
    """peer-support-sim: a SimPy model of a community peer-support service (Fan et al. 2019)."""


for _command in (run, analyze, calibrate, power, compare, sensitivity):
    app.command()(_command)
app.command("app")(web_app)
app.command("recovery")(recovery)
app.command("validate")(validate)
app.command("build-native")(build_native)
