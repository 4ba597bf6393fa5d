"""Scenario page: start from a shipped scenario or an upload, edit it, download it as YAML."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from .. import backend, forms
from . import common

SCHEDULING = ["structured", "unstructured"]
SETTINGS = ["urban", "rural"]
OWN_DOCTORS = "(its own doctors)"


def _key(*parts: Any) -> str:
    return ":".join(str(p) for p in (st.session_state.get("form_version", 0), *parts))


def _source() -> None:
    st.subheader("Start from")
    left, right = st.columns(2)
    with left:
        shipped = backend.shipped_scenarios()
        stem = st.selectbox("Shipped scenario", list(shipped), index=list(shipped).index(common.DEFAULT_SCENARIO))
        if st.button("Load shipped scenario"):
            data, _ = backend.validate_text(shipped[stem], f"{stem}.yaml")
            common.load_mapping(data, f"{stem}.yaml")
            st.session_state.pop("upload_error", None)
            st.rerun()
    with right:
        up = st.file_uploader(
            f"…or upload a scenario YAML (at most {backend.MAX_UPLOAD_BYTES // 1000} kB)", type=["yaml", "yml"]
        )
        if up is not None and st.session_state.get("upload_id") != up.file_id:
            st.session_state["upload_id"] = up.file_id
            try:
                data, _ = backend.validate_text(up.getvalue(), up.name)
            except backend.AppInputError as exc:
                st.session_state["upload_error"] = str(exc)
            else:
                st.session_state.pop("upload_error", None)
                common.load_mapping(data, up.name)
                st.rerun()
        if st.session_state.get("upload_error"):
            st.error(st.session_state["upload_error"], icon="⛔")
    st.caption(f"Editing: {st.session_state.get('label', '')}")


def _meta(parts: dict[str, Any]) -> None:
    m = parts["meta"]
    a, b, c, d = st.columns([2, 1, 1, 1])
    m["name"] = a.text_input("Scenario name", value=m.get("name") or "", key=_key("name"))
    m["seed"] = b.number_input("Seed", min_value=0, value=int(m.get("seed") or 20191114), step=1, key=_key("seed"))
    m["replications"] = c.number_input(
        "Replications (cli.py run)", min_value=1, value=int(m.get("replications") or 1), step=1, key=_key("reps")
    )
    h = m.get("horizon_months")
    m["horizon_months"] = d.number_input(
        "Horizon, months (blank: each community's follow-up)",
        min_value=0.0,
        value=None if h is None else float(h),
        step=1.0,
        key=_key("horizon"),
    )
    m["description"] = st.text_input("Description", value=m.get("description") or "", key=_key("description"))
    labels = list(backend.PARAMETER_SETS)
    now = parts.get("parameter_set")
    idx = next((i for i, v in enumerate(backend.PARAMETER_SETS.values()) if v == now), 0 if now else 1)
    parts["parameter_set"] = backend.PARAMETER_SETS[
        st.selectbox("Model parameters", labels, index=idx, key=_key("pset"))
    ]


def _waves_and_pools(parts: dict[str, Any]) -> None:
    left, right = st.columns(2)
    with left:
        st.markdown("**Waves** (communities sharing a follow-up schedule)")
        for i, w in enumerate(parts["waves"]):
            a, b, c = st.columns([2, 2, 1])
            w["name"] = a.text_input("Wave", value=w["name"], key=_key("w", i, "name"))
            w["follow_up_months"] = b.number_input(
                "Follow-up after, months",
                min_value=0.0,
                value=float(w["follow_up_months"] or 12),
                key=_key("w", i, "fu"),
            )
            w["experienced"] = c.checkbox("Experienced", value=bool(w["experienced"]), key=_key("w", i, "exp"))
        x, y = st.columns(2)
        if x.button("Add wave"):
            parts["waves"].append(
                {"name": f"wave{len(parts['waves']) + 1}", "follow_up_months": 12, "experienced": False}
            )
            st.rerun()
        if len(parts["waves"]) > 1 and y.button("Remove last wave"):
            parts["waves"].pop()
            st.rerun()
    with right:
        st.markdown("**Doctor pools** (doctors shared by several communities)")
        for i, p in enumerate(parts["pools"]):
            a, b = st.columns(2)
            p["name"] = a.text_input("Pool", value=p["name"], key=_key("p", i, "name"))
            p["doctors"] = b.number_input("Doctors", min_value=1, value=int(p["doctors"] or 1), key=_key("p", i, "n"))
        x, y = st.columns(2)
        if x.button("Add doctor pool"):
            parts["pools"].append({"name": f"pool{len(parts['pools']) + 1}", "doctors": 1})
            st.rerun()
        if parts["pools"] and y.button("Remove last pool"):
            parts["pools"].pop()
            st.rerun()


def _community_fields(c: dict[str, Any], i: int, waves: list[str], pools: list[str]) -> None:
    a, b, d, e = st.columns(4)
    c["name"] = a.text_input("Name", value=c.get("name") or "", key=_key("c", i, "name"))
    wopts = list(dict.fromkeys([*waves, c.get("wave") or ""]))
    c["wave"] = b.selectbox("Wave", wopts, index=wopts.index(c.get("wave") or ""), key=_key("c", i, "wave"))
    c["start_month"] = d.number_input(
        "Start month", min_value=0.0, value=float(c.get("start_month") or 0), step=1.0, key=_key("c", i, "start")
    )
    c["setting"] = e.selectbox(
        "Setting", SETTINGS, index=SETTINGS.index(c.get("setting") or "urban"), key=_key("c", i, "set")
    )
    a, b, d, e = st.columns(4)
    c["scheduling"] = a.selectbox(
        "Scheduling", SCHEDULING, index=SCHEDULING.index(c.get("scheduling") or "structured"), key=_key("c", i, "sch")
    )
    tt = list(forms.TIMETABLE_CHOICES)
    cur = next((k for k, v in forms.TIMETABLE_CHOICES.items() if v == c.get("timetable_weeks")), tt[0])
    c["timetable_weeks"] = forms.TIMETABLE_CHOICES[
        b.selectbox(
            "Timetable (structured)",
            tt,
            index=tt.index(cur),
            key=_key("c", i, "tt"),
            disabled=c["scheduling"] != "structured",
        )
    ]
    popts = [OWN_DOCTORS, *pools]
    cur_pool = c.get("doctor_pool") if c.get("doctor_pool") in pools else OWN_DOCTORS
    pool = d.selectbox("Doctor pool", popts, index=popts.index(cur_pool), key=_key("c", i, "pool"))
    c["doctor_pool"] = None if pool == OWN_DOCTORS else pool
    c["copies"] = e.number_input("Copies", min_value=1, value=int(c.get("copies") or 1), key=_key("c", i, "copies"))
    a, b, d, _ = st.columns(4)
    c["providers"] = a.number_input(
        "Providers", min_value=0, value=int(c.get("providers") or 2), key=_key("c", i, "prov")
    )
    c["consumers"] = b.number_input(
        "Consumers", min_value=0, value=int(c.get("consumers") or 1), key=_key("c", i, "cons")
    )
    c["doctors"] = d.number_input("Doctors", min_value=1, value=int(c.get("doctors") or 1), key=_key("c", i, "docs"))


def _communities(parts: dict[str, Any]) -> None:
    st.subheader("Communities")
    comms = parts["communities"]
    table = pd.DataFrame([{k: c.get(k) for k in forms.COMMUNITY_FIELDS} for c in comms])
    st.dataframe(table, hide_index=True, width="stretch")
    names = [f"{i + 1}. {c.get('name')}" for i, c in enumerate(comms)]
    i = st.selectbox("Community to edit", range(len(comms)), format_func=lambda j: names[j], key=_key("csel"))
    waves = [w["name"] for w in parts["waves"]]
    pools = [p["name"] for p in parts["pools"]]
    _community_fields(comms[i], i, waves, pools)
    a, b, c = st.columns(3)
    if a.button("Add community"):
        comms.append(
            {
                **forms.COMMUNITY_DEFAULTS,
                **forms.NEW_COMMUNITY,
                "wave": waves[0] if waves else "",
                "name": f"Community {len(comms) + 1}",
            }
        )
        st.rerun()
    if b.button("Duplicate this community"):
        comms.insert(i + 1, {**comms[i], "name": f"{comms[i].get('name')} copy"})
        st.rerun()
    if len(comms) > 1 and c.button("Remove this community"):
        comms.pop(i)
        st.session_state["form_version"] += 1
        st.rerun()


def _parameters(parts: dict[str, Any]) -> None:
    with st.expander("Model parameters a planner would touch (units and sources in sim/parameters.py)"):
        try:
            base = backend.base_parameter_values(parts.get("parameter_set"))
        except backend.AppInputError as exc:
            st.error(str(exc))
            return
        over = parts["parameters"]
        values = {}
        cols = st.columns(3)
        for j, name in enumerate(backend.PLANNER_PARAMETERS):
            v = over.get(name, base[name])
            values[name] = cols[j % 3].number_input(
                name, value=float(v), format="%.6g", help=backend.parameter_description(name), key=_key("par", name)
            )
        parts["parameters"] = forms.parameter_overrides(values, base, kept=over)
        if parts["parameters"]:
            st.caption("Changed from the parameter set: " + ", ".join(sorted(parts["parameters"])))


def page() -> None:
    st.title("Scenario")
    common.ensure_scenario()
    _source()
    parts = st.session_state["parts"]
    _meta(parts)
    _waves_and_pools(parts)
    _communities(parts)
    _parameters(parts)
    data, sc, err = common.current()
    st.subheader("Check and download")
    if err:
        st.error(err, icon="⛔")
        return
    st.success(common.scenario_caption(sc).replace(" (edit it on the Scenario page)", "") + ": valid")
    try:
        text = backend.to_yaml(data, "scenario form")
    except backend.AppInputError as exc:
        st.error(str(exc), icon="⛔")
        return
    st.download_button("Download scenario YAML", text, file_name=f"{sc.name}.yaml", mime="application/x-yaml")
    with st.expander("YAML (runs with python cli.py run FILE)"):
        st.code(text, language="yaml")
