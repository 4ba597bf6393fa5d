"""State shared by the pages: the working scenario mapping, its validation, and error display."""

from __future__ import annotations

from typing import Any

import streamlit as st

from .. import backend, forms

DEFAULT_SCENARIO = "later_wave"


def load_mapping(data: dict[str, Any], label: str) -> None:
    """Make ``data`` (already validated) the working scenario; the form's widgets start afresh."""
    st.session_state["parts"] = forms.mapping_parts(data)
    st.session_state["label"] = label
    st.session_state["form_version"] = st.session_state.get("form_version", 0) + 1


def ensure_scenario() -> None:
    """Start every session with the shipped later_wave scenario."""
    if "parts" not in st.session_state:
        text = backend.shipped_scenarios()[DEFAULT_SCENARIO]
        data, _ = backend.validate_text(text, f"{DEFAULT_SCENARIO}.yaml")
        load_mapping(data, f"{DEFAULT_SCENARIO}.yaml")


def current_mapping() -> dict[str, Any]:
    """The working scenario as a mapping in the shape of a scenario YAML."""
    ensure_scenario()
    return forms.scenario_mapping(**st.session_state["parts"])


def current() -> tuple[dict[str, Any], Any, str | None]:
    """``(mapping, validated scenario or None, one-line error or None)``."""
    data = current_mapping()
    try:
        return data, backend.validate(data, "scenario form"), None
    except backend.AppInputError as exc:
        return data, None, str(exc)


def scenario_caption(sc: Any) -> str:
    n = len(sc.expanded_communities())
    return (
        f"Scenario **{sc.name}**: {n} communit{'y' if n == 1 else 'ies'}, {len(sc.waves)} wave(s), "
        f"{sum(c.consumers for c in sc.expanded_communities())} consumers, horizon {sc.horizon:g} months "
        "(edit it on the Scenario page)"
    )


def needs_valid_scenario() -> tuple[dict[str, Any], Any] | None:
    """The working scenario, or an error box pointing to the Scenario page (then ``None``)."""
    data, sc, err = current()
    if err:
        st.error(err)
        st.info("Fix the scenario on the Scenario page first.")
        return None
    st.markdown(scenario_caption(sc))
    return data, sc
