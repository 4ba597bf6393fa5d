"""The planner's statistics (sim/planning/tables.py, summary.py) and report (sim/reporting/planning.py).

Synthetic frames in the schemas of docs/data_dictionary.md (sessions, communities) and of the planning
tables (caseload, staff, resources, training), with totals counted by hand; the report through the
documented command line on small scenarios.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.planning.paper import is_paper_study
from sim.planning.summary import PlanningAccumulator, monthly_costs, priced, summarise
from sim.planning.tables import month_of, monthly_chunk, planning_chunk, replication_totals
from sim.scenario import DAYS_PER_MONTH, load_scenario

M = DAYS_PER_MONTH
# Three communities: A (wave w1, urban), B (w1, rural) start at month 0; C (w2, rural) starts at month 2.
# All end at month 4 (end_day = 4 months), so months 0..3 are simulated.
COMMUNITIES = [("A", "w1", "urban", 0.0), ("B", "w1", "rural", 0.0), ("C", "w2", "rural", 2 * M)]


def _frames(reps: list[int], scale: int = 1) -> dict[str, pd.DataFrame]:
    """Synthetic frames: replication r adds r to some counts so that replications differ."""
    com, ses, case, staff, res, tr = [], [], [], [], [], []
    for r in reps:
        for name, wave, setting, start in COMMUNITIES:
            com.append(
                {
                    "replication": r,
                    "community": name,
                    "wave": wave,
                    "setting": setting,
                    "start_day": start,
                    "end_day": 4 * M,
                }
            )
            first = round(start / M)
            for m in range(first, 4):
                case.append(
                    {
                        "replication": r,
                        "community": name,
                        "wave": wave,
                        "setting": setting,
                        "month": m,
                        "referred": 2 * scale,
                        "enrolled": 10 + r,
                        "waiting": m + r,
                        "started": 1,
                        "dropped_out": 0,
                        "graduated": 0,
                        "mean_wait_days": 30.0,
                    }
                )
                staff.append(
                    {
                        "replication": r,
                        "community": name,
                        "wave": wave,
                        "setting": setting,
                        "month": m,
                        "in_post": 3,
                        "on_leave": 1 if name == "B" else 0,
                        "in_training": 2 if m == first else 0,
                        "recruiting": 0,
                        "quit": 1 if (m == 3 and name == "A") else 0,
                        "trained": 0,
                    }
                )
                res.append(
                    {
                        "replication": r,
                        "community": name,
                        "month": m,
                        "provider_hours": 4.0,
                        "doctor_hours_review": 1.0,
                        "doctor_hours_supervision": 0.5,
                        "venue_hours": 2.0,
                        "trainer_half_days": 0.0,
                        "doctor_utilisation": 0.25 if setting == "rural" else 0.05,
                    }
                )
        # Sessions: A holds one per month 0..3; B holds in months 0 and 1, then loses one in month 2 (no
        # providers) and one in month 3 (plan not reviewed); C holds one in month 2 and loses r in month 3.
        rows = [("A", m, "held", "") for m in range(4)]
        rows += [("B", 0, "held", ""), ("B", 1, "held", ""), ("B", 2, "cancelled", "no_providers")]
        rows += [("B", 3, "cancelled", "plan_not_reviewed"), ("C", 2, "held", "")]
        rows += [("C", 3, "cancelled", "venue_unavailable")] * r
        for k, (name, m, status, reason) in enumerate(rows):
            held = status == "held"
            ses.append(
                {
                    "replication": r,
                    "community": name,
                    "wave": "w1" if name != "C" else "w2",
                    "session_id": f"{name}#{k}",
                    "day": m * M + 3.0,
                    "status": status,
                    "cancel_reason": reason,
                    "n_providers": 2 if held else 0,
                    "n_attended": 4 if held else 0,
                    "duration_min": 90.0 if held else np.nan,
                }
            )
        tr.append(
            {
                "replication": r,
                "cohort": 0,
                "start_day": 0.0,
                "end_day": 17.0,
                "trainees": 4,
                "communities": "A;B",
                "trainer_half_days": 5,
                "queue_wait_days": 10.0,
            }
        )
        tr.append(
            {
                "replication": r,
                "cohort": 1,
                "start_day": 2 * M - 17,
                "end_day": 2 * M,
                "trainees": 2,
                "communities": "C",
                "trainer_half_days": 5,
                "queue_wait_days": 4.0 + r,
            }
        )
    return {
        "communities": pd.DataFrame(com),
        "sessions": pd.DataFrame(ses),
        "caseload": pd.DataFrame(case),
        "staff": pd.DataFrame(staff),
        "resources": pd.DataFrame(res),
        "training": pd.DataFrame(tr),
    }


def _at(m: pd.DataFrame, rep: int, scope: str, group: str, month: int, col: str) -> float:
    x = m[(m["replication"] == rep) & (m["scope"] == scope) & (m["group"] == group) & (m["month"] == month)]
    assert len(x) == 1
    return float(x[col].iloc[0])


def test_month_of_counts_whole_months_from_day_zero():
    assert list(month_of([0.0, M - 1e-6, M, 2.5 * M])) == [0, 0, 1, 2]


def test_aggregation_by_wave_and_setting_gives_the_hand_counted_totals():
    m = monthly_chunk(_frames([0, 1]))
    # 3 scopes: district (1 group), wave (2), setting (2) -> 5 groups x 4 months per replication.
    assert len(m) == 2 * 5 * 4
    # Sessions held in month 2: A, C (B lost one to no providers).
    assert _at(m, 0, "district", "all", 2, "sessions_held") == 2
    assert _at(m, 0, "wave", "w1", 2, "sessions_held") == 1
    assert _at(m, 0, "setting", "rural", 2, "sessions_held") == 1
    assert _at(m, 0, "setting", "rural", 2, "lost_no_providers") == 1
    # Month 3 of replication 1: B loses one (plan) and C one (venue); both rural.
    assert _at(m, 1, "setting", "rural", 3, "sessions_cancelled") == 2
    assert _at(m, 1, "setting", "urban", 3, "sessions_cancelled") == 0
    assert _at(m, 1, "wave", "w2", 3, "lost_venue_unavailable") == 1
    # Caseload: C enrols from month 2 only; enrolled = 10 + r per community in service.
    assert _at(m, 1, "district", "all", 0, "enrolled") == 2 * 11
    assert _at(m, 1, "district", "all", 2, "enrolled") == 3 * 11
    assert _at(m, 0, "wave", "w2", 1, "enrolled") == 0  # before its start: zero, not missing
    assert _at(m, 1, "district", "all", 3, "waiting") == 3 * (3 + 1)
    # Staff: B is on leave throughout; A's provider quits in month 3; training in each community's first month.
    assert _at(m, 0, "district", "all", 3, "in_post") == 9
    assert _at(m, 0, "setting", "rural", 1, "on_leave") == 1
    assert _at(m, 0, "district", "all", 3, "quit") == 1
    assert _at(m, 0, "district", "all", 2, "in_training") == 2
    # Resources and the hours of held sessions (90 min, 2 providers).
    assert _at(m, 0, "setting", "rural", 3, "doctor_hours_review") == 2.0
    assert _at(m, 0, "district", "all", 0, "session_hours") == pytest.approx(2 * 1.5)
    assert _at(m, 0, "district", "all", 0, "provider_sessions") == 4
    assert _at(m, 0, "district", "all", 2, "communities_in_service") == 3
    assert _at(m, 0, "district", "all", 1, "communities_in_service") == 2
    # The district is the sum of its waves and of its settings, month by month, for every column.
    cols = [c for c in m.columns if c not in ("replication", "scope", "group", "month")]
    for scope in ("wave", "setting"):
        parts = m[m["scope"] == scope].groupby(["replication", "month"])[cols].sum()
        whole = m[m["scope"] == "district"].set_index(["replication", "month"])[cols]
        pd.testing.assert_frame_equal(parts.sort_index(), whole.sort_index(), check_names=False)


def test_aggregation_ignores_row_order_and_rows_outside_the_chunks_communities_and_months():
    f = _frames([0, 1, 2])
    want = planning_chunk(f)
    # (the communities table keeps its order: groups are listed in their order of appearance there)
    shuffled = {k: v if k == "communities" else v.sample(frac=1.0, random_state=7) for k, v in f.items()}
    ses = shuffled["sessions"]
    stray = ses[ses["status"] == "held"].iloc[:2].copy()
    stray["replication"] = [5, -1]  # replications this chunk's communities do not have
    late = ses[ses["status"] == "held"].iloc[:1].copy()
    late["day"] = 40 * M  # after the last community's end (month 4)
    shuffled["sessions"] = pd.concat([ses, stray, late], ignore_index=True)
    got = planning_chunk(shuffled)
    # every count and hour of the synthetic frames is exact in binary, so any order of summing agrees
    pd.testing.assert_frame_equal(got["planning_monthly"], want["planning_monthly"], check_exact=True)
    pd.testing.assert_frame_equal(got["planning_totals"], want["planning_totals"], check_exact=True)


def test_replication_totals_sum_flows_and_take_stocks_at_the_end_and_peak():
    t = replication_totals(_frames([0, 1])).set_index("replication")
    assert t.loc[0, "sessions_held"] == 4 + 2 + 1
    assert t.loc[1, "sessions_cancelled"] == 2 + 1
    assert t.loc[1, "lost_venue_unavailable"] == 1
    assert t.loc[0, "referred"] == 2 * (4 + 4 + 2)
    assert t.loc[1, "waiting_end"] == 3 * (3 + 1)
    assert t.loc[1, "waiting_peak"] == 3 * (3 + 1)
    assert t.loc[0, "in_post_end"] == 9
    assert t.loc[0, "community_months"] == 4 + 4 + 2
    assert t.loc[0, "cohorts"] == 2 and t.loc[0, "trainees"] == 6
    # Lead time per trainee = wait + course: (4 x (10 + 17) + 2 x (4 + 17)) / 6 days in replication 0.
    assert t.loc[0, "training_lead_days"] == pytest.approx((4 * 27 + 2 * 21) / 6)
    # Wait before a group place: 30 days for everyone who started.
    assert t.loc[0, "wait_days_total"] / t.loc[0, "started"] == pytest.approx(30.0)


def test_chunked_aggregation_equals_all_at_once():
    reps = list(range(7))
    p = planning_chunk(_frames(reps))
    whole = summarise(p["planning_monthly"], p["planning_totals"])
    acc = PlanningAccumulator()
    for chunk in ([0, 1, 2], [3], [4, 5, 6]):
        p = planning_chunk(_frames(chunk))
        acc.add(p["planning_monthly"], p["planning_totals"])
    parts = acc.result()
    assert parts.replications == whole.replications == 7
    pd.testing.assert_frame_equal(parts.monthly, whole.monthly, check_exact=False, rtol=1e-9, atol=1e-9)
    pd.testing.assert_frame_equal(parts.totals, whole.totals)
    # The mean of a column over replications is the plain mean of the per-replication values.
    s = whole.series("waiting")
    assert s.loc[s["month"] == 3, "mean"].iloc[0] == pytest.approx(np.mean([3 * (3 + r) for r in reps]))


def test_monthly_means_and_intervals_are_the_same_floats_however_the_replications_are_chunked():
    """Outputs are the same bytes with any --chunk-size (README): the mean and 95% CI of a monthly
    figure with decimals (provider hours: minutes / 60) must not depend on where the chunks are cut, and
    in one chunk they are pandas' own grouped mean and variance of the replications' values."""
    rng = np.random.default_rng(4)
    reps, months = 9, 5
    monthly = pd.DataFrame(
        {
            "replication": np.repeat(np.arange(reps), months),
            "scope": "district",
            "group": "all",
            "month": np.tile(np.arange(months), reps),
            "provider_hours": rng.lognormal(3, 1, reps * months),
            "sessions_held": rng.integers(0, 9, reps * months),
        }
    )
    results = []
    for cuts in ([9], [1] * 9, [2, 3, 4], [5, 4]):
        acc, at = PlanningAccumulator(), 0
        for k in cuts:
            acc.add(monthly[(monthly["replication"] >= at) & (monthly["replication"] < at + k)])
            at += k
        results.append(acc.result().monthly)
    for other in results[1:]:
        pd.testing.assert_frame_equal(other, results[0], check_exact=True)
    g = monthly.groupby("month")["provider_hours"]
    got = results[0][results[0]["column"] == "provider_hours"].set_index("month")
    assert np.array_equal(got["mean"].to_numpy(), g.mean().to_numpy())
    half = 1.96 * np.sqrt(g.var(ddof=0).to_numpy() * reps / (reps - 1) / reps)
    assert np.array_equal(got["ci_high"].to_numpy(), g.mean().to_numpy() + half)
    # a missing value elsewhere takes the value-by-value path: provider hours must not change a bit
    gappy = monthly.astype({"sessions_held": float})
    gappy.loc[7, "sessions_held"] = np.nan
    acc = PlanningAccumulator()
    acc.add(gappy)
    hours = acc.result().monthly
    hours = hours[hours["column"] == "provider_hours"].reset_index(drop=True)
    first = results[0][results[0]["column"] == "provider_hours"].reset_index(drop=True)
    pd.testing.assert_frame_equal(hours, first, check_exact=True)


def test_percentiles_use_the_first_replications_only_beyond_the_cap():
    acc = PlanningAccumulator(percentile_reps_max=3)
    for chunk in ([0, 1], [2, 3, 4]):
        acc.add(planning_chunk(_frames(chunk))["planning_monthly"])
    s = acc.result()
    assert (s.replications, s.percentile_reps) == (5, 3)
    w = s.series("waiting").set_index("month")
    assert w.loc[3, "q975"] == pytest.approx(np.quantile([9, 12, 15], 0.975))  # reps 0-2 only
    assert w.loc[3, "mean"] == pytest.approx(np.mean([9, 12, 15, 18, 21]))  # all five


PRICES = SimpleNamespace(
    provider_session=50, doctor_hour=80, trainer_half_day=1200, venue_hour=30, coordinator_month=1000
)


def test_costs_are_quantities_times_unit_costs():
    q = pd.DataFrame(
        {
            "replication": [0, 1],
            "provider_stipends": [10.0, 0.0],  # provider sessions
            "doctor_time": [2.5, 1.0],  # hours
            "training": [5.0, 0.0],  # trainer half-days
            "venue": [4.0, 2.0],  # hours
            "coordination": [3.0, 3.0],  # community-months
            "consumers_served": [20, 0],
            "cost_per_consumers_served": [np.nan, np.nan],
        }
    )
    p = priced(q, PRICES).set_index("replication")
    assert p.loc[0, "provider_stipends"] == 500 and p.loc[0, "doctor_time"] == 200 and p.loc[0, "training"] == 6000
    assert p.loc[0, "total_cost"] == 500 + 200 + 6000 + 120 + 3000
    assert p.loc[0, "cost_per_consumers_served"] == pytest.approx(9820 / 20)
    assert np.isnan(p.loc[1, "cost_per_consumers_served"])  # nobody served: no cost per consumer
    assert p.loc[1, "total_cost"] == 80 + 60 + 3000


def test_monthly_costs_price_the_monthly_mean_quantities():
    f = _frames([0, 1])
    f["resources"]["service_days"] = M  # every community serves the whole month
    p = planning_chunk(f)
    s = summarise(p["planning_monthly"], p["planning_totals"])
    mc = monthly_costs(s, PRICES).set_index("month")
    # Month 0: A and B in service, each holding one session with two providers.
    assert mc.loc[0, "provider_stipends"] == pytest.approx(2 * 2 * 50)
    assert mc.loc[0, "doctor_time"] == pytest.approx(2 * 1.5 * 80)
    assert mc.loc[0, "venue"] == pytest.approx(2 * 2.0 * 30)
    assert mc.loc[0, "coordination"] == pytest.approx(2 * 1000)
    assert mc.loc[2, "coordination"] == pytest.approx(3 * 1000)


# --- which scenario is the paper's study ------------------------------------------------------------
def _write(tmp_path, data: dict, name: str):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return p


def test_the_paper_study_is_recognised_by_its_structure_not_its_name(tmp_path, scenario_paths):
    data = yaml.safe_load(scenario_paths["paper_study"].read_text(encoding="utf-8"))
    data["parameter_set"] = str(scenario_paths["paper_study"].parent / data["parameter_set"])
    renamed = {**data, "name": "my_copy"}
    for c in renamed["communities"]:
        c["name"] = c["name"] + "_x"
    assert is_paper_study(load_scenario(_write(tmp_path, renamed, "anything.yaml")))
    bigger = {**data, "communities": [{**c, "copies": 10} for c in data["communities"]]}
    assert not is_paper_study(load_scenario(_write(tmp_path, bigger, "paper_study.yaml")))
    for stem in ("paper_study", "initial_wave", "later_wave"):
        assert is_paper_study(load_scenario(scenario_paths[stem])), stem
    assert not is_paper_study(load_scenario(scenario_paths["district_scale_up"]))


# --- the report through the documented command line -------------------------------------------------
def _later_wave(tmp_path, scenario_paths, name: str, consumers: tuple[int, int]) -> object:
    data = yaml.safe_load(scenario_paths["later_wave"].read_text(encoding="utf-8"))
    data["parameter_set"] = str(scenario_paths["later_wave"].parent / data["parameter_set"])
    data["name"] = name
    for c, n in zip(data["communities"], consumers, strict=True):
        c["consumers"] = n
    return _write(tmp_path, data, f"{name}.yaml")


def test_report_opens_with_the_planning_summary_only_when_not_the_papers_study(tmp_path, scenario_paths, run_cli):
    # The later wave with other consumer numbers is a different service (even with the paper's wave name);
    # the same wave renamed is still the paper's.
    other = _later_wave(tmp_path, scenario_paths, "bigger_later_wave", (20, 12))
    paper = _later_wave(tmp_path, scenario_paths, "renamed_later_wave", (14, 8))
    for path, is_paper in ((other, False), (paper, True)):
        out = tmp_path / f"out_{path.stem}"
        r = run_cli("run", path, "--reps", "2", "--out", out, "--workers", "1", "--quiet")
        assert r.returncode == 0, r.stderr
        text = (out / "report.md").read_text(encoding="utf-8")
        assert (out / "planning" / "monthly.csv").exists()
        if is_paper:
            assert text.startswith("# Analysis report")
            assert "Planning summary" not in text
            assert "(paper)" in text and "| Paper |" in text
        else:
            assert text.startswith("# Planning report: bigger_later_wave")
            assert text.index("## Planning summary") < text.index("## Appendix: the paper's analyses")
            assert "### Bottlenecks" in text and "figures/planning_sessions.png" in text
            # the benefit, and beneath it what the no-programme level alone gives (docs/outcome_chain.md)
            p0 = load_scenario(path).parameters.benefit_no_programme_prob
            evaluated = pd.read_csv(out / "planning" / "totals.csv")["consumers_evaluated"]
            row = next(line for line in text.splitlines() if "with no session at all" in line)
            assert f"({100 * p0:.0f}% of those evaluated" in row
            assert row.rstrip(" |").endswith(
                f"| {p0 * evaluated.mean():,.1f} [{p0 * evaluated.quantile(0.025):,.1f}–"
                f"{p0 * evaluated.quantile(0.975):,.1f}]"
            )
            assert "(paper)" not in text and "Paper |" not in text
            assert (out / "figures" / "planning_sessions.png").exists()
            table1 = pd.read_csv(out / "tables" / "table1.csv")
            assert "paper" not in table1.columns
            _analyze_keeps_the_planning_report(out, path, scenario_paths["rural_county"], run_cli)


def _analyze_keeps_the_planning_report(out, scenario, other, run_cli) -> None:
    """``analyze`` on the folder of that run (the scenario found through manifest.json) rewrites run's report,
    planning summary first, to the byte, and its tables and figures; another scenario's is refused, and a
    scenario changed since the run gives the paper-style analysis only, with a note."""
    files = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and p.parent.name != "planning"}
    r = run_cli("analyze", out)
    assert r.returncode == 0 and f"scenario: {scenario}" in r.stdout, r.stderr
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.relative_to(out) in files} == files
    r = run_cli("analyze", out, "--scenario", other)
    assert r.returncode == 2 and "communities differ" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    from sim.commands.analyze import _scenario_of_run

    assert _scenario_of_run(out).name == "bigger_later_wave"
    scenario.write_text(scenario.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert _scenario_of_run(out) is None  # not the scenario of the run any more: the paper-style analysis only


def test_bottleneck_figure_draws_a_cause_lost_in_few_replications(tmp_path):
    """99 replications lose no session to a cause and one loses 500: the mean (5) lies above the 97.5%
    quantile (0), and the figure still draws (its error bar starts at the mean)."""
    from types import SimpleNamespace

    from sim.reporting.planning_figures import _figure_bottlenecks

    totals = pd.DataFrame({"replication": range(100), "lost_no_providers": [0] * 99 + [500]})
    totals["lost_venue_unavailable"] = 3
    assert _figure_bottlenecks(tmp_path, SimpleNamespace(totals=totals)) is not None
    assert (tmp_path / "planning_bottlenecks.png").stat().st_size > 0


def test_the_paper_style_analysis_of_an_open_caseload_counts_those_who_joined_a_group():
    """With an open caseload, consumers.csv lists people still waiting, or referred after follow-up; the
    paper-style analysis (the report's appendix) describes the programme, so its consumers are those who
    had joined a group by follow-up: its cells are the cells of those rows alone, not of every row."""
    from helpers.scenarios import open_caseload_frames

    from sim.analysis import report_chunk
    from sim.datasets import joined_by_follow_up

    f = open_caseload_frames(2)
    joined = joined_by_follow_up(f["consumers"])
    assert not joined.all()
    only = {**f, "consumers": f["consumers"][joined].reset_index(drop=True)}
    everyone = {**f, "consumers": f["consumers"].drop(columns=["enrolled_day"])}  # read as a closed cohort
    cells = report_chunk(f)["cells"]
    pd.testing.assert_frame_equal(cells, report_chunk(only)["cells"])
    assert not cells.equals(report_chunk(everyone)["cells"])
