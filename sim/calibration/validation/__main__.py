"""``python -m sim.calibration.validation``: the same command as ``python cli.py validate``
(:mod:`sim.calibration.validation.command`)."""

import sys

from .command import main

if __name__ == "__main__":
    sys.exit(main())
