"""Scenario comparison: common random numbers make paired differences exact where nothing changed,
and a timetable's interval shows in the sessions held as theory says."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.cli import run_cli

from sim.compare import OUTPUTS, compare_scenarios, write_comparison
from sim.scenario import scenario_from_dict


def _weekly(name: str, weeks: int):
    return scenario_from_dict(
        {
            "name": name,
            "seed": 11,
            "waves": {"w": {"follow_up_months": 12}},
            "communities": [
                {
                    "name": "A",
                    "wave": "w",
                    "scheduling": "structured",
                    "timetable_weeks": weeks,
                    "providers": 4,
                    "consumers": 14,
                }
            ],
            "parameters": {
                "provider_leave_hazard_per_month": 0.0,
                "provider_quit_hazard_per_month": 0.0,
                "venue_unavailable_prob": 0.0,
                "plan_review_mean_days": 0.0,
            },
        }
    )


def test_identical_scenarios_differ_by_exactly_nothing():
    comp = compare_scenarios([_weekly("a", 1), _weekly("b", 1)], 6, workers=1)
    other = comp.table[comp.table["scenario"] == "b"]
    assert set(other["output"]) == set(OUTPUTS)
    assert np.allclose(other["difference"].fillna(0), 0)
    assert (other["verdict"] == "no clear difference").all()


def test_fortnightly_timetable_holds_half_the_sessions(tmp_path):
    comp = compare_scenarios([_weekly("weekly", 1), _weekly("fortnightly", 2)], 8, workers=1)
    t = comp.table.set_index(["scenario", "output"])
    weekly, fortnightly = t.loc[("weekly", "sessions_held"), "mean"], t.loc[("fortnightly", "sessions_held"), "mean"]
    # Slots fall every 7 or 14 days from one interval after training (14 days) to the 12-month follow-up.
    days = 12 * 365.25 / 12 - 14
    assert weekly == pytest.approx(np.ceil(days / 7) - 1, abs=1)
    assert fortnightly == pytest.approx(np.ceil(days / 14) - 1, abs=1)
    assert t.loc[("fortnightly", "sessions_held"), "verdict"] == "worse"
    write_comparison(comp, tmp_path)
    assert {"comparison.csv", "per_replication.csv", "report.md", "comparison.png"} <= {
        p.name for p in tmp_path.iterdir()
    }
    assert "fortnightly vs weekly" in (tmp_path / "report.md").read_text()


def test_compare_needs_two_distinct_scenarios():
    with pytest.raises(ValueError, match="at least two"):
        compare_scenarios([_weekly("a", 1)], 2, workers=1)
    with pytest.raises(ValueError, match="must differ"):
        compare_scenarios([_weekly("a", 1), _weekly("a", 2)], 2, workers=1)


def test_cli_compare_writes_report_and_refuses_bad_input(tmp_path):
    from pathlib import Path

    import yaml

    base = yaml.safe_load(Path("scenarios/later_wave.yaml").read_text())
    base["parameter_set"] = str((Path("scenarios") / base["parameter_set"]).resolve())
    other = {
        **base,
        "name": "later_wave_fortnightly",
        "communities": [{**c, "timetable_weeks": 2} for c in base["communities"]],
    }
    b = tmp_path / "fortnightly.yaml"
    b.write_text(yaml.safe_dump(other))
    out = tmp_path / "cmp"
    ok = run_cli(
        *[
            "compare",
            "scenarios/later_wave.yaml",
            str(b),
            "--reps",
            "4",
            "--workers",
            "1",
            "--out",
            str(out),
            "-q",
        ],
        process=True,  # one real `python cli.py compare`
    )
    assert ok.returncode == 0, ok.stderr
    assert (out / "comparison.csv").exists() and (out / "report.md").exists()
    for args in (
        ["scenarios/later_wave.yaml"],
        ["scenarios/later_wave.yaml", str(tmp_path / "missing.yaml")],
        ["scenarios/later_wave.yaml", "scenarios/later_wave.yaml"],
    ):
        bad = run_cli("compare", *args, "--out", str(tmp_path / "never"))
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
        assert not (tmp_path / "never").exists()
