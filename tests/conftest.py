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


# The default suite's longest tests (5 s or more of one core each, `pytest --durations`), longest first.
# They are started first so that the two xdist workers end together: a long test picked up last keeps
# one worker busy while the other idles (longest-processing-time-first scheduling). Only the order
# changes; a name missing from this list (or no longer a test) just keeps its place in collection order.
# Tests of an xdist group (the browser session) keep their order: xdist sends the group as one unit.
LONGEST_FIRST = (
    "test_run_writes_datasets_and_manifest_same_bytes_any_backend",
    "test_tiny_calibration_is_identical_on_one_and_two_workers",
    "test_cli_compare_writes_report_and_refuses_bad_input",
    "test_killed_run_resumed_equals_uninterrupted",
    "test_cli_run_on_dask_same_bytes_as_local",
    "test_analytic_retention_posterior_matches_grid",
    "test_report_opens_with_the_planning_summary_only_when_not_the_papers_study",
    "test_write_analysis_from_chunk_iterables_same_bytes",
    "test_tiny_model_study_shape_determinism_and_cli",
    "test_killed_process_resumes_to_same_bytes",
    "test_figures_drawn_in_a_forked_child_are_the_bytes_drawn_in_one_process",
    "test_mixed_model_power_matches_hussey_hughes_small",
    "test_pool_started_off_the_main_thread_uses_a_forkserver_that_does_not_rerun_the_main_script",
    "test_cli_run_parquet_then_analyze",
    "test_cli_design_bad_input_and_a_small_run",
    "test_compare_uses_common_draws_and_reports_the_split",
    "test_write_analysis_beyond_median_cap",
    "test_malformed_scenario_corpus_in_process",
    "test_sigkill_workers_exit_and_resume_is_byte_identical",
    "test_fortnightly_timetable_holds_half_the_sessions",
    "test_run_page_shows_figures_and_the_planning_outputs",
    "test_falsification_accepts_the_calibrated_point_and_rejects_dropout_x10",
    "test_cli_analyze_exit_codes",
    "test_dask_same_bytes_as_local",
    "test_write_analysis_outputs_and_is_byte_stable",
    "test_baseline_draws_match_table1_within_sampling_error",
    "test_command_writes_all_files",
)
_RANK = {name: i for i, name in enumerate(LONGEST_FIRST)}


def _shares_a_module_fixture(item: pytest.Item) -> bool:
    """Whether the test uses a module- or class-scoped fixture: moved away from its module's other tests,
    it would build that fixture once more."""
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info is not None else ()
    return any(d and d[-1].scope in ("module", "class", "package") for d in defs)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest tests first (LONGEST_FIRST); then, whole, the modules of long tests that share a module
    fixture with their neighbours; then the rest, each group in collection order (a stable sort)."""
    n = len(_RANK)

    def long(item: pytest.Item) -> bool:
        return getattr(item, "originalname", item.name) in _RANK

    together = {item.module for item in items if long(item) and _shares_a_module_fixture(item)}

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("xdist_group") is not None:
            return n + 1
        if item.module in together:
            return n
        return _RANK.get(getattr(item, "originalname", item.name), n + 1)

    items.sort(key=rank)
