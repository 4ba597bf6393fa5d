"""Form input <-> scenario mapping for the Scenario page (pure; no Streamlit, no library imports).

The page edits one working mapping in the shape of a scenario YAML (README, "Scenarios"); these
functions turn the form's field values into that mapping's entries, leaving out blanks and defaults
so the YAML a planner downloads stays as short as one written by hand. Validation is the library's
(:func:`sim.app.backend.validate`), so the form gets the CLI's one-line messages.
"""

from __future__ import annotations

import math
from typing import Any

#: Community fields edited on the page, in the order of the scenario schema (sim/scenario.py).
COMMUNITY_FIELDS = (
    "name",
    "wave",
    "start_month",
    "scheduling",
    "timetable_weeks",
    "providers",
    "consumers",
    "doctors",
    "doctor_pool",
    "setting",
    "copies",
)
#: Defaults of the scenario schema, left out of the mapping when the form shows them unchanged.
COMMUNITY_DEFAULTS: dict[str, Any] = {"start_month": 0.0, "doctors": 1, "setting": "urban", "copies": 1}
TIMETABLE_CHOICES = {"drawn (weekly_timetable_prob)": None, "weekly": 1, "fortnightly": 2}
NEW_COMMUNITY: dict[str, Any] = {
    "name": "New community",
    "scheduling": "structured",
    "providers": 2,
    "consumers": 8,
}


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and math.isnan(v))


def _whole(v: Any) -> Any:
    """``3.0`` -> ``3`` (number inputs return floats); other values unchanged."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


def community_entry(fields: dict[str, Any]) -> dict[str, Any]:
    """A community's form fields -> its scenario entry: blanks and schema defaults left out,
    ``timetable_weeks`` only for structured scheduling, whole numbers as ints; fields the form does
    not show (e.g. ``caregiver_availability``) are kept as given."""
    out: dict[str, Any] = {}
    for k in COMMUNITY_FIELDS:
        v = fields.get(k)
        if isinstance(v, str):
            v = v.strip()
        if _blank(v) or COMMUNITY_DEFAULTS.get(k, object()) == v:
            continue
        if k == "timetable_weeks" and fields.get("scheduling") != "structured":
            continue
        out[k] = _whole(v)
    for k, v in fields.items():
        if k not in COMMUNITY_FIELDS and not _blank(v):
            out[k] = v
    return out


def waves_entry(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Wave rows ``{name, follow_up_months, experienced}`` -> the scenario's ``waves`` mapping."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        name = str(r.get("name") or "").strip()
        if not name:
            continue
        w: dict[str, Any] = {"follow_up_months": _whole(r.get("follow_up_months"))}
        if r.get("experienced"):
            w["experienced"] = True
        out[name] = w
    return out


def pools_entry(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Doctor-pool rows ``{name, doctors}`` -> the scenario's ``doctor_pools`` mapping."""
    return {str(r["name"]).strip(): _whole(r.get("doctors")) for r in rows if not _blank(r.get("name"))}


def parameter_overrides(
    values: dict[str, Any], base: dict[str, Any], kept: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ``parameters`` overrides: form values that differ from ``base`` (defaults after the
    parameter set), on top of overrides the form does not show (``kept``)."""
    out = {k: v for k, v in (kept or {}).items() if k not in values}
    for k, v in values.items():
        if not _blank(v) and v != base.get(k):
            out[k] = _whole(v) if isinstance(base.get(k), int) else v
    return out


def scenario_mapping(
    meta: dict[str, Any],
    waves: list[dict[str, Any]],
    communities: list[dict[str, Any]],
    pools: list[dict[str, Any]] | None = None,
    parameter_set: str | None = None,
    parameters: dict[str, Any] | None = None,
    sections: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole form -> a scenario mapping (keys in the order of the shipped YAML files).

    ``meta``: name, description, seed, replications, horizon_months (blank = none). ``sections``: the
    planning sections the form does not edit (``caseload``, ``staff_pipeline``, ``costs``), kept as read."""
    out: dict[str, Any] = {"name": str(meta.get("name", "")).strip()}
    if not _blank(meta.get("description")):
        out["description"] = str(meta["description"])
    for k in ("seed", "replications", "horizon_months"):
        if not _blank(meta.get(k)):
            out[k] = _whole(meta[k])
    if parameter_set:
        out["parameter_set"] = parameter_set
    out["waves"] = waves_entry(waves)
    pool_map = pools_entry(pools or [])
    if pool_map:
        out["doctor_pools"] = pool_map
    out["communities"] = [community_entry(c) for c in communities]
    if parameters:
        out["parameters"] = dict(parameters)
    out.update(sections or {})
    return out


PLANNING_SECTIONS = ("caseload", "staff_pipeline", "costs")  # carried through the form unchanged


def mapping_parts(data: dict[str, Any]) -> dict[str, Any]:
    """The reverse of :func:`scenario_mapping`: a scenario mapping (from YAML) -> the form's parts
    (``meta``, ``waves`` rows, ``pools`` rows, ``communities`` with schema defaults filled in,
    ``parameter_set``, ``parameters``)."""
    waves = [
        {
            "name": k,
            "follow_up_months": (v or {}).get("follow_up_months"),
            "experienced": bool((v or {}).get("experienced")),
        }
        for k, v in (data.get("waves") or {}).items()
    ]
    communities = []
    for c in data.get("communities") or []:
        c = dict(c) if isinstance(c, dict) else {}
        communities.append({**COMMUNITY_DEFAULTS, "timetable_weeks": None, "doctor_pool": None, **c})
    return {
        "meta": {k: data.get(k) for k in ("name", "description", "seed", "replications", "horizon_months")},
        "waves": waves,
        "pools": [{"name": k, "doctors": v} for k, v in (data.get("doctor_pools") or {}).items()],
        "communities": communities,
        "parameter_set": data.get("parameter_set"),
        "parameters": dict(data.get("parameters") or {}),
        "sections": {k: data[k] for k in PLANNING_SECTIONS if data.get(k) is not None},
    }
