"""``python cli.py app``: start the planners' web app (``sim/app/``)."""

from __future__ import annotations

import typer

from .common import fail, workers_option


def web_app(
    port: int = typer.Option(8501, "--port", help="port to listen on"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (default: this machine only)"),
    max_reps: int | None = typer.Option(
        None, "--max-reps", min=1, help="replications allowed per request (default 500)"
    ),
    workers: workers_option("worker processes shared by all users (default 2)") = None,
) -> None:
    """Start the planners' web app (Streamlit) and print its address; Ctrl-C stops it."""
    from ..app.launch import serve

    if not 0 < port < 65536:
        raise fail(f"--port: expected 1-65535, got {port}")
    raise typer.Exit(serve(port, host, max_reps, workers))
