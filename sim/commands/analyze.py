"""``python cli.py analyze``: the paper's statistics on evaluation data in the documented format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .common import command_line, fail, load, out_option


def analyze(
    directory: Annotated[
        Path,
        typer.Argument(
            help="folder with providers, consumers, caregivers (sessions optional) as .csv or .parquet files"
        ),
    ],
    out: Annotated[Path | None, out_option("DIRECTORY: the results are added beside the data")] = None,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="continuous/Likert test: t (paper's rule: Welch if Levene p<0.05), student, welch, mwu",
        ),
    ] = "t",
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="replace files this tool did not write (in DIRECTORY, or an existing --out folder)"
        ),
    ] = False,
    scenario: Annotated[
        Path | None,
        typer.Option(
            "--scenario",
            help="the scenario YAML the data were simulated from: the report is then run's (the planning summary "
            "first for a scenario that is not the paper's study); default: the one DIRECTORY/manifest.json names, "
            "if unchanged since the run",
        ),
    ] = None,
) -> None:
    """Analyse evaluation data in the documented CSV format (docs/data_dictionary.md) with the paper's
    statistics; write tests.csv, test_summary.csv, tables/, report.md and figures/ (and, for data that
    ``run`` simulated from a scenario, its planning/ tables and summary, as ``run`` does)."""
    from ..analysis import analyze_directory, read_directory
    from ..outputs import claim, write_folder
    from ..planning.paper import is_paper_study

    if method not in ("t", "student", "welch", "mwu"):
        raise fail(f"--method: expected t, student, welch or mwu, got {method!r}")
    sc = load(scenario) if scenario is not None else _scenario_of_run(directory)
    if scenario is not None:
        _check_communities(sc, scenario, directory)
    paper = sc is None or is_paper_study(sc)
    in_place = out is None or (out.exists() and directory.exists() and out.resolve() == directory.resolve())
    dest = directory if in_place else out
    assert dest is not None

    def write(tmp: Path) -> None:
        frames = read_directory(directory)  # read once: the planning tables use the same people and sessions
        name = sc.name if sc else None
        analyze_directory(directory, tmp, method=method, with_paper=paper, scenario_name=name, frames=frames)
        if sc is not None:
            from ..reporting.planning import write_planning_of_folder

            if not write_planning_of_folder(directory, tmp, sc, paper, frames):
                typer.echo(f"note: {directory} lacks tables that run writes: no planning summary", err=True)

    with claim(dest, force=force, merge=in_place, option="DIRECTORY" if in_place else "--out"):
        write_folder(dest, write, force=force, merge=in_place, command=command_line())
    typer.echo(f"analysis written to {dest}")


def _check_communities(sc: Any, file: Path, directory: Path) -> None:
    """``--scenario`` must be the one the data were simulated from: the same communities as
    ``directory/communities.csv`` (when there is one)."""
    import pandas as pd

    table = directory / "communities.csv"
    if not table.is_file():
        return
    try:
        found = set(pd.read_csv(table, usecols=["community"], dtype=str)["community"].dropna())
    except (ValueError, OSError, pd.errors.ParserError):
        return  # not run's table: the analysis reports what is wrong with the data it needs
    expected = {c.name for c in sc.expanded_communities()}
    if found != expected:
        raise fail(
            f"--scenario {file}: not the scenario of {directory}: {len(found ^ expected)} communities differ "
            f"from {table} (e.g. {sorted(found ^ expected)[0]!r})"
        )


def _scenario_of_run(directory: Path) -> Any:
    """The scenario ``directory/manifest.json`` (written by ``run``) names, when its file is unchanged since
    the run (the SHA-256 the manifest and the loaded scenario carry); None otherwise (evaluation data of a
    programme, or a scenario since edited, moved or no longer valid: a note says so)."""
    import json

    from ..scenario import ScenarioError, load_scenario

    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        file, digest = manifest.get("scenario_file"), manifest.get("scenario_sha256")
    except (OSError, ValueError, AttributeError):
        return None  # no manifest of a run here
    if not isinstance(file, str) or not isinstance(digest, str):
        return None
    try:
        sc = load_scenario(file)
    except ScenarioError:
        sc = None
    if sc is None or sc.source_sha256 != digest:
        typer.echo(
            f"note: {directory / 'manifest.json'}: scenario {file} not found or changed since the run; "
            "the paper-style analysis only (--scenario FILE for run's report)",
            err=True,
        )
        return None
    typer.echo(f"scenario: {file} (named in {directory / 'manifest.json'})")
    return sc
