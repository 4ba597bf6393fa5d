"""Scenario validation: every bad input is refused with one line naming the file and the field."""

from __future__ import annotations

import pytest
import yaml

from sim.scenario import ScenarioError, load_scenario

GOOD = {
    "name": "x",
    "waves": {"w": {"follow_up_months": 12}},
    "communities": [{"name": "A", "wave": "w", "scheduling": "structured", "providers": 2, "consumers": 8}],
}


def _write(tmp_path, data, text=None):
    path = tmp_path / "s.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(data))
    return path


def _error(tmp_path, data=None, text=None) -> str:
    path = _write(tmp_path, data, text)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(str(path))
    return msg


def _with(**community):
    return {**GOOD, "communities": [{**GOOD["communities"][0], **community}]}


def test_shipped_scenarios_load():
    for name in ("paper_study", "initial_wave", "later_wave"):
        s = load_scenario(f"scenarios/{name}.yaml")
        assert s.name == name and s.source_sha256


def test_paper_study_matches_the_paper():
    s = load_scenario("scenarios/paper_study.yaml")
    by = {c.name: c for c in s.communities}
    assert {n: c.providers for n, c in by.items()} == {"Tuanjiehu": 5, "Maizidian": 2, "Xiangheyuan": 4, "Jingsong": 2}
    assert sum(c.consumers for c in s.communities if c.wave == "initial") == 32
    assert sum(c.consumers for c in s.communities if c.wave == "later") == 22
    assert s.waves["initial"].follow_up_months == 18 and s.waves["later"].follow_up_months == 12
    assert {c.scheduling for c in s.communities if c.wave == "initial"} == {"unstructured"}
    assert {c.scheduling for c in s.communities if c.wave == "later"} == {"structured"}
    for c in s.communities:  # Methods: provider:consumer ratio between 1:3 and 1:5
        assert 3 <= c.consumers / c.providers <= 5


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({**GOOD, "colour": "red"}, "colour", "unknown key"),
        (_with(providers=1), "communities[0].providers", "greater than or equal to 2"),
        (_with(consumers=-3), "communities[0].consumers", "greater than or equal to 1"),
        (_with(providers="five"), "communities[0].providers", "integer"),
        (_with(scheduling="sometimes"), "communities[0].scheduling", "structured"),
        (_with(wave="z"), "unknown wave", "z"),
        ({**GOOD, "horizon_months": 6}, "horizon_months", "after horizon"),
        ({**GOOD, "parameters": {"no_such_rate": 1}}, "parameters.no_such_rate", "unknown key"),
        ({**GOOD, "parameters": {"group_share": 1.5}}, "parameters.group_share", "less than or equal to 1"),
        ({**GOOD, "parameter_set": "missing.yaml"}, "parameter_set", "file not found"),
        (_with(timetable_weeks=3), "communities[0].timetable_weeks", ""),
        ({**GOOD, "waves": {"w": {"follow_up_months": -1}}}, "waves.w.follow_up_months", "greater than 0"),
        ({**GOOD, "waves": {"w": {"follow_up_months": 1e8}}}, "waves.w.follow_up_months", "less than or equal to 600"),
        (_with(start_month=float("inf")), "communities[0].start_month", "finite"),
        (_with(start_month=590), "month 602", "longest period simulated is 600 months"),
        ({**GOOD, "replications": 10**9}, "replications", "less than or equal to 100000"),
        ({**GOOD, "parameters": {"training_days": float("nan")}}, "parameters.training_days", "finite"),
        ({**GOOD, "parameters": {"duration_max_minutes": float("inf")}}, "parameters.duration_max_minutes", "finite"),
        (_with(doctors=0), "communities[0].doctors", "greater than or equal to 1"),
        ({**GOOD, "doctor_pools": {"p": 10**9}}, "doctor_pools", "at most 1000"),
        # a yes/no where a number belongs (YAML reads yes/true/on as a boolean; pydantic would take it as 1)
        (_with(consumers=True), "communities[0].consumers", "expected a number, got a yes/no value"),
        (_with(copies=True), "communities[0].copies", "expected a number, got a yes/no value"),
        (_with(timetable_weeks=True), "communities[0].timetable_weeks", "expected a number, got a yes/no value"),
        ({**GOOD, "seed": False}, "seed", "expected a number, got a yes/no value"),
        ({**GOOD, "waves": {"w": {"follow_up_months": True}}}, "waves.w.follow_up_months", "expected a number"),
        ({**GOOD, "doctor_pools": {"p": True}}, "doctor_pools", "expected a number, got a yes/no value"),
    ],
)
def test_bad_values_are_refused_with_file_and_field(tmp_path, data, field, words):
    msg = _error(tmp_path, data)
    assert field in msg and words in msg


def test_malformed_yaml_names_the_line(tmp_path):
    msg = _error(tmp_path, text="name: x\ncommunities: [\n")
    assert "malformed YAML" in msg and "line" in msg


def test_yaml_is_never_evaluated(tmp_path):
    msg = _error(tmp_path, text="!!python/object/apply:os.system ['echo hacked']\n")
    assert "malformed YAML" in msg


def test_copies_expand_into_named_communities(tmp_path):
    s = load_scenario(_write(tmp_path, _with(copies=3)))
    assert [c.name for c in s.expanded_communities()] == ["A-1", "A-2", "A-3"]


def test_misspelt_key_is_named_with_the_key_it_resembles(tmp_path):
    """A typo is one unknown key with a hint, not the intended key 'missing' plus 'and 1 more'."""
    c = dict(GOOD["communities"][0])
    c["consumer"] = c.pop("consumers")
    msg = _error(tmp_path, {**GOOD, "communities": [c]})
    assert "communities[0].consumer: unknown key (did you mean 'consumers'?)" in msg and "more" not in msg
    msg = _error(tmp_path, {**GOOD, "waves": {"w": {"folow_up_months": 12}}})
    assert "waves.w.folow_up_months: unknown key (did you mean 'follow_up_months'?)" in msg
    msg = _error(tmp_path, {**GOOD, "parameters": {"trainin_days": 3}})
    assert "parameters.trainin_days: unknown key (did you mean 'training_days'?)" in msg


def test_duplicate_community_names_are_refused_also_after_copies_expand(tmp_path):
    twice = {**GOOD, "communities": GOOD["communities"] * 2}
    assert "community name 'A' is used twice" in _error(tmp_path, twice)
    clash = {
        **GOOD,
        "communities": [{**GOOD["communities"][0], "copies": 2}, {**GOOD["communities"][0], "name": "A-2"}],
    }
    assert "community name 'A-2' is used twice" in _error(tmp_path, clash)


def test_a_key_given_twice_is_refused_not_silently_overwritten(tmp_path):
    """Two waves (or pools, or sections) under one name: YAML keys must be unique, and PyYAML would keep
    the last silently (the first wave's follow-up lost without a word)."""
    text = (
        "name: x\n"
        "waves:\n"
        "  w: {follow_up_months: 12}\n"
        "  w: {follow_up_months: 18}\n"
        "communities:\n"
        "  - {name: A, wave: w, scheduling: structured, providers: 2, consumers: 8}\n"
    )
    msg = _error(tmp_path, text=text)
    assert "line 4" in msg and "duplicate key 'w'" in msg
    assert "duplicate key 'name'" in _error(tmp_path, text="name: x\nname: y\n")
    # a merge key's entries may be overridden by the mapping's own: not a duplicate
    merged = yaml.safe_dump(GOOD).replace("follow_up_months: 12", "<<: {follow_up_months: 9}\n    follow_up_months: 12")
    assert load_scenario(_write(tmp_path, None, text=merged)).waves["w"].follow_up_months == 12


def test_a_parameter_set_with_a_key_given_twice_is_refused(tmp_path):
    """A parameter_set file (e.g. a copy of calibration/calibrated.yaml) with one parameter given twice:
    refused in one line naming the scenario, the file and the key, not silently the last value."""
    pset = tmp_path / "pset.yaml"
    pset.write_text("parameters:\n  training_days: 30\n  training_days: 3\n")
    msg = _error(tmp_path, {**GOOD, "parameter_set": "pset.yaml"})
    assert f"parameter_set: {pset}: line 3: duplicate key 'training_days'" in msg
    pset.write_text("parameters:\n  training_days: 3\n")
    assert load_scenario(_write(tmp_path, {**GOOD, "parameter_set": "pset.yaml"})).parameters.training_days == 3


def test_a_rule_between_parameters_names_the_parameters_section_not_the_top_level(tmp_path):
    """A rule that ties parameters together (the triangular duration's mode between its bounds) is reported
    under 'parameters', not 'parameters.(top level)' (the top level is the scenario's)."""
    msg = _error(tmp_path, {**GOOD, "parameters": {"duration_min_minutes": 200}})
    assert f"{tmp_path / 's.yaml'}: parameters: duration_mode_minutes must lie between" in msg
    assert "(top level)" not in msg


def test_a_number_as_a_wave_or_pool_name_is_named_as_a_key(tmp_path):
    """``waves: {1: ...}`` names the wave by a number, which YAML reads as one: the message names the key
    (not ``waves[1].[key]``, which reads as a list position) and says to quote it."""
    data = {**GOOD, "waves": {1: {"follow_up_months": 12}}, "communities": [{**GOOD["communities"][0], "wave": "1"}]}
    msg = _error(tmp_path, data)
    assert ": waves.1: a name must be text (quote it: '1')" in msg and "[key]" not in msg
    msg = _error(tmp_path, {**GOOD, "doctor_pools": {7: 1}})
    assert ": doctor_pools.7: a name must be text (quote it: '7')" in msg


def test_binary_file_is_not_yaml(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_bytes(b"\x00\x01\xfe\xff" * 10)
    with pytest.raises(ScenarioError, match="not a YAML text file"):
        load_scenario(path)
