"""Scenario comparison: common random numbers make paired differences exact where nothing changed,
and a timetable's interval shows in the sessions held as theory says."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from helpers.cli import run_cli

from sim.compare import COST_COLUMNS, OUTPUTS, CompareOptions, Comparison, compare_scenarios, summarise
from sim.reporting.compare import (
    comparison_markdown,
    cost_effectiveness_sentences,
    csv_number,
    plain,
    plain_interval,
    write_comparison,
)
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
    comp = compare_scenarios([_weekly("a", 1), _weekly("b", 1)], 6, options=CompareOptions(workers=1))
    other = comp.table[comp.table["scenario"] == "b"]
    assert set(other["output"]) == set(OUTPUTS)
    assert np.allclose(other["difference"].fillna(0), 0)
    assert (other["verdict"] == "no clear difference").all()


def test_fortnightly_timetable_holds_half_the_sessions(tmp_path):
    comp = compare_scenarios([_weekly("weekly", 1), _weekly("fortnightly", 2)], 8, options=CompareOptions(workers=1))
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
        compare_scenarios([_weekly("a", 1)], 2, options=CompareOptions(workers=1))
    with pytest.raises(ValueError, match="must differ"):
        compare_scenarios([_weekly("a", 1), _weekly("a", 2)], 2, options=CompareOptions(workers=1))


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
    assert {"cost_effectiveness.csv", "ceac.csv", "ce_plane.png", "ceac.png"} <= {p.name for p in out.iterdir()}
    assert not re.search(r"\de[+-]\d", ok.stdout + (out / "report.md").read_text())
    other["costs"] = {"currency": "EUR"}
    b.write_text(yaml.safe_dump(other))
    for args in (
        ["scenarios/later_wave.yaml", str(b)],  # costs in another currency cannot be compared
        ["scenarios/later_wave.yaml", "scenarios/initial_wave.yaml", "--effect", "happiness"],
        ["scenarios/later_wave.yaml"],
        ["scenarios/later_wave.yaml", str(tmp_path / "missing.yaml")],
        ["scenarios/later_wave.yaml", "scenarios/later_wave.yaml"],
    ):
        bad = run_cli("compare", *args, "--out", str(tmp_path / "never"))
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
        assert not (tmp_path / "never").exists()


# --- plain numbers, verdicts with a direction, cost-effectiveness ---------------------------------
def test_numbers_are_plain_never_scientific():
    assert plain(2000, signed=True) == "+2,000"
    assert plain(1_234_567.4) == "1,234,567"
    assert plain(-0.0004) == "0" and plain(0.1234) == "0.123" and plain(12.345) == "12.3"
    assert plain(float("nan")) == "-"
    assert plain_interval(9.5, 8.9, 10.1) == "+9.5 [+8.9, +10.1]"  # one number of decimals per interval
    assert csv_number(2000.0) == "2000" and csv_number(1.5e-5) == "0.000015" and csv_number(123456789.0) == "123457000"


def _synthetic(diff: dict[str, float], n: int = 12, seed: int = 0) -> pd.DataFrame:
    """Paired per-replication outputs of a baseline and a variant: the variant adds ``diff`` (plus a
    little noise) to each output; everything else equal."""
    rng = np.random.default_rng(seed)
    base = {col: rng.uniform(0.2, 0.8, n) * 1000 for col in [*OUTPUTS, *COST_COLUMNS]}
    rows = []
    for name, shift in (("base", {}), ("variant", diff)):
        d = pd.DataFrame({"scenario": name, "replication": np.arange(n)})
        for col, v in base.items():
            d[col] = v + shift.get(col, 0.0) + (rng.normal(0, abs(shift.get(col, 0.0)) * 0.05, n) if shift else 0)
        rows.append(d)
    return pd.concat(rows, ignore_index=True)


def test_verdicts_only_for_outputs_with_a_direction():
    per = _synthetic(
        {
            "consumers_recruited": 494.0,  # a count set by the design: no better or worse
            "total_cost": 2000.0,
            "sessions_held": -40.0,  # delivery fell ...
            "sessions_cancelled_share": 0.3,
            "consumer_attendance": 0.1,  # ... so a higher attendance rate is not better
            "consumer_sessions_attended": -5.0,
            "provider_stressed": -0.2,
        }
    )
    t = summarise(["base", "variant"], per).set_index(["scenario", "output"]).loc["variant", "verdict"]
    assert t["consumers_recruited"] == "higher" and t["total_cost"] == "higher"
    assert t["sessions_held"] == "worse" and t["sessions_cancelled_share"] == "worse"
    assert t["consumer_attendance"] == "higher, but fewer sessions held"
    assert t["consumer_sessions_attended"] == "worse" and t["provider_stressed"] == "better"
    assert t["consumer_satisfied"] == "no clear difference"
    per = _synthetic({"consumer_attendance": 0.1})  # the same rise with delivery unchanged is better
    t = summarise(["base", "variant"], per).set_index(["scenario", "output"]).loc["variant", "verdict"]
    assert t["consumer_attendance"] == "better"


def test_an_output_undefined_in_a_scenario_gets_no_verdict_and_no_nan_in_the_report():
    """A scenario whose providers all quit holds no session: its attendance rate is undefined, so the
    difference has no interval; the report says so in words (as the app does), never 'nan'."""
    per = _synthetic({"sessions_held": -400.0})
    per.loc[per["scenario"] == "variant", ["consumer_attendance", "provider_stressed"]] = np.nan
    comp = Comparison(["base", "variant"], per, summarise(["base", "variant"], per))
    text = comparison_markdown(comp)
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)
    row = next(line for line in text.splitlines() if line.startswith("| Consumers' mean attendance rate |"))
    assert row.endswith("| not available |")


def test_comparison_report_has_plain_numbers_and_the_cost_effectiveness(tmp_path):
    per = _synthetic({"total_cost": 2_500_000.0, "consumers_retained": 50.0, "sessions_held": 3000.0})
    comp = Comparison(["base", "variant"], per, summarise(["base", "variant"], per))
    table, curve = comp.cost_effectiveness()
    row = table.iloc[0]
    assert row["status"] == "icer" and row["icer"] == pytest.approx(row["delta_cost"] / row["delta_effect"])
    assert row["icer"] == pytest.approx(50_000, rel=0.05)
    assert curve["prob_cost_effective"].is_monotonic_increasing  # dE > 0 in every replication
    text = comparison_markdown(comp) + "\n".join(cost_effectiveness_sentences(comp))
    assert not re.search(r"\de[+-]?\d", text), "scientific notation in the report"
    assert re.search(r"\| \+2,\d{3},\d{3} \[\+2,\d{3},\d{3}, \+2,\d{3},\d{3}\] \| higher \|", text)
    assert "CNY per extra consumer retained" in text
    write_comparison(comp, tmp_path)
    for name in ("comparison.csv", "per_replication.csv", "cost_effectiveness.csv", "ceac.csv"):
        assert not re.search(r"\de[+-]\d", (tmp_path / name).read_text()), name
    dominated = _synthetic({"total_cost": 1000.0, "consumers_retained": -5.0})
    comp = Comparison(["base", "variant"], dominated, summarise(["base", "variant"], dominated))
    assert comp.cost_effectiveness()[0].iloc[0]["status"] == "dominated"
    assert "dominated" in comparison_markdown(comp) and "per extra" not in comparison_markdown(comp)


def test_completion_with_an_open_caseload_counts_those_who_joined_a_group_by_follow_up():
    """consumers.csv lists everyone referred; people still waiting, or referred after follow-up, never had
    the chance to complete it, so they are not in the completion share's denominator."""
    from helpers.scenarios import open_caseload_frames

    from sim.compare import planner_outputs

    f = open_caseload_frames(3)
    cons = f["consumers"]
    joined = cons["enrolled_day"].notna() & (cons["enrolled_day"] <= cons["follow_up_day"])
    assert (~joined).sum() > 10  # waiting at follow-up, or referred after it
    expected = cons[joined].groupby("replication")["evaluated"].mean().to_numpy()
    got = planner_outputs(f)["consumer_completion"].to_numpy()
    np.testing.assert_allclose(got, expected)
    assert (got > cons.groupby("replication")["evaluated"].mean().to_numpy()).all()


def test_run_summary_with_an_open_caseload_counts_those_who_joined_a_group_by_follow_up():
    """The run's printed summary (consumers recruited, kept and evaluated) counts those who had joined a
    group by follow-up, as compare does: counting people still waiting as 'kept' would inflate retention."""
    from helpers.scenarios import open_caseload_frames

    from sim.runner.summaries import replication_summary, run_summary_rows

    f = open_caseload_frames(3)
    cons = f["consumers"]
    joined = cons[cons["enrolled_day"].notna() & (cons["enrolled_day"] <= cons["follow_up_day"])]
    assert len(joined) < len(cons)
    rows = replication_summary(f).set_index("replication")
    np.testing.assert_array_equal(rows["consumers_recruited"], joined.groupby("replication").size())
    np.testing.assert_array_equal(rows["consumers_retained"], joined.groupby("replication")["retained"].sum())
    share = next(r["share"] for r in run_summary_rows(replication_summary(f))["retention"] if r["role"] == "consumer")
    assert share == joined["evaluated"].sum() / len(joined)
