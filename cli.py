"""Command-line entry point: `python cli.py run scenarios/later_wave.yaml` (see `--help`)."""

from sim.cli_app import app

if __name__ == "__main__":
    app()
