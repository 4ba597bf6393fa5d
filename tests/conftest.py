"""Shared fixtures: the shipped scenario files, a small scenario (object or YAML file), a fresh output
folder, and ``run_cli`` (the documented command line in a subprocess). Helpers live in tests/helpers/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import fakemodel
from helpers.cli import REPO
from helpers.cli import run_cli as _run_cli


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def scenario_paths() -> dict[str, Path]:
    """The shipped scenarios by file stem: paper_study, initial_wave, later_wave, district_scale_up."""
    return {p.stem: p for p in sorted((REPO / "scenarios").glob("*.yaml"))}


@pytest.fixture
def small_scenario() -> Callable[..., object]:
    """``small_scenario(**changes)``: two small communities (tests/helpers/fakemodel.py), validated."""
    return fakemodel.small_scenario


@pytest.fixture
def small_yaml(tmp_path: Path) -> Callable[..., Path]:
    """``small_yaml(name='small.yaml', **changes)``: the small scenario written as a YAML file in tmp_path."""

    def write(name: str = "small.yaml", **changes: object) -> Path:
        return fakemodel.write_small_yaml(tmp_path / name, **changes)

    return write


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """A destination that does not exist yet (``tmp_path/out``)."""
    return tmp_path / "out"


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., object]:
    """``run_cli(*args, cwd=None, timeout=300, **env) -> CompletedProcess`` (tests/helpers/cli.py)."""
    return _run_cli
