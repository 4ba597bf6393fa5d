"""The commands of ``python cli.py`` (assembled in ``sim/cli_app.py``), one module each."""
