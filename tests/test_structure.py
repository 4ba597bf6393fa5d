"""The package's shape: no import cycles between its modules, counting the imports inside functions (a
cycle that only a deferred import keeps from failing still ties two modules together), but not those
made for type checking only (``if TYPE_CHECKING:``; tests/helpers/imports.py reads the graph)."""

from __future__ import annotations

import graphlib

import pytest
from helpers.imports import import_graph


def test_no_import_cycles_in_the_package():
    graph = import_graph()
    assert "sim.calibration.validation.sections" in graph["sim.calibration.report"]  # a deferred import counts
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")
