"""Resource use, utilisation, lost sessions, costs and cost-effectiveness (sim/planning/).

Small scenarios whose session log can be counted by hand; synthetic paired samples for the ICER and
the acceptability curve, where theory gives the answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from sim.planning import cost_effectiveness as ce
from sim.planning.cost_spec import CostSpec
from sim.planning.costs import cost_by_month, cost_per_replication, cost_summary, costs
from sim.planning.resources import (
    DOCTOR_HOURS_PER_BUSY_DAY,
    LOST_COLUMNS,
    _split_by_month,
    bottlenecks,
    lost_by_cause,
    resource_use,
)
from sim.runner import simulate_frames
from sim.scenario import DAYS_PER_MONTH, scenario_from_dict

QUIET = {
    "provider_leave_hazard_per_month": 0.0,
    "provider_quit_hazard_per_month": 0.0,
    "venue_unavailable_prob": 0.0,
    "plan_review_mean_days": 0.0,
    "supervision_rate_per_month": 1.0,
    "supervision_days": 0.5,
}


def _tiny(costs: dict | None = None, **params):
    """One community, two providers, a weekly timetable for three months; nothing cancels sessions."""
    data = {
        "name": "tiny",
        "seed": 5,
        "waves": {"w": {"follow_up_months": 3}},
        "communities": [
            {"name": "A", "wave": "w", "scheduling": "structured", "timetable_weeks": 1, "providers": 2, "consumers": 4}
        ],
        "parameters": {**QUIET, **params},
    }
    if costs is not None:
        data["costs"] = costs
    return scenario_from_dict(data)


@pytest.fixture(scope="module")
def tiny_frames():
    return simulate_frames(_tiny(), 3, workers=1)


def test_costs_equal_resource_use_times_unit_costs_on_a_hand_counted_log(tiny_frames):
    f = tiny_frames
    s = f["sessions"]
    # The session log by hand: weekly slots from one week after the 14-day training to day 91.3 (3 months),
    # i.e. days 21, 28, ..., 91: 11 sessions, all held (no leave, instant reviews, the venue always free),
    # each staffed by both providers.
    held = s[s["status"] == "held"].groupby("replication").size()
    assert (s["status"] == "held").all()
    assert ((held - 11).abs() <= 1).all()
    assert (s["n_providers"] == 2).all()
    spec = CostSpec(provider_session=10, doctor_hour=100, trainer_half_day=0, venue_hour=6, coordinator_month=1000)
    c = costs(f, spec).groupby("replication")[["provider_stipends", "doctor_time", "venue", "coordination"]].sum()
    r = f["doctor_requests"]
    length = r["end_day"] - r["start_day"]
    assert (length[r["kind"] == "plan_review"] == 0).all()  # instant reviews: one request per session held
    assert (length[r["kind"] == "supervision"] == 0.5).all()  # each contact occupies a doctor half a day
    for rep in range(3):
        ses = s[s["replication"] == rep]
        assert c.loc[rep, "provider_stipends"] == pytest.approx(10 * 2 * len(ses))
        indoor = ses.loc[ses["venue"] == "rehabilitation_centre", "duration_min"].sum() / 60
        assert c.loc[rep, "venue"] == pytest.approx(6 * indoor)
        n_sup = int(((r["replication"] == rep) & (r["kind"] == "supervision")).sum())
        assert ((r["replication"] == rep) & (r["kind"] == "plan_review")).sum() == len(ses)
        assert c.loc[rep, "doctor_time"] == pytest.approx(100 * 0.5 * DOCTOR_HOURS_PER_BUSY_DAY * n_sup)
        assert c.loc[rep, "coordination"] == pytest.approx(3 * 1000)  # three months of service
    per = cost_per_replication(f, spec)
    assert np.allclose(per["total_cost"], c.sum(axis=1).to_numpy())
    assert np.allclose(per["cost_per_sessions_held"], per["total_cost"] / held.to_numpy())
    months = cost_by_month(costs(f, spec))
    assert sorted(months["month"].unique()) == [0, 1, 2]
    assert months["total"].sum() == pytest.approx(per["total_cost"].sum())


def test_cost_per_consumer_ratios_and_currency():
    f = simulate_frames(_tiny(), 4, workers=1)
    spec = CostSpec(currency="EUR", provider_session=1, doctor_hour=0, trainer_half_day=0, venue_hour=0)
    per = cost_per_replication(f, spec)
    cons = f["consumers"]
    retained = cons.groupby("replication")["retained"].sum().to_numpy()
    assert np.array_equal(per["consumers_retained"].to_numpy(), retained)
    mood = cons[(cons["evaluated"] == 1) & (cons["ben_mood"] == 1)].groupby("replication").size()
    assert np.array_equal(per["consumers_benefit"].to_numpy(), mood.reindex(range(4), fill_value=0).to_numpy())
    summ = cost_summary(per, spec).set_index("measure")
    assert summ.loc["total_cost", "currency"] == "EUR"
    ratio = per["total_cost"].mean() / per["consumers_retained"].mean()
    assert summ.loc["cost_per_consumers_retained", "mean"] == pytest.approx(ratio)
    lo, hi = summ.loc["cost_per_consumers_retained", ["ci_low", "ci_high"]]
    assert lo <= ratio <= hi


def test_cost_intervals_of_a_few_replications_do_not_reach_below_zero():
    """Three replications: the t interval (t(2) = 4.30) of a cost, a count
    and a cost per unit of effect would reach far below zero; none of them can be negative, so the lower
    bound is 0, the mean and the upper bound the t interval's."""
    cols = ["provider_stipends", "doctor_time", "training", "venue", "coordination"]
    per = pd.DataFrame({c: [0.0, 0.0, 300.0] for c in cols})
    per["total_cost"] = per[cols].sum(axis=1)
    for e in ("sessions_held", "consumers_served", "consumers_retained", "consumers_benefit"):
        per[e] = [10.0, 0.0, 1.0]  # the sessions fall in other replications than the costs
    summ = cost_summary(per).set_index("measure")
    h = stats.t.ppf(0.975, 2) * np.std([0, 0, 300], ddof=1) / np.sqrt(3)
    assert 100 - h < 0  # the unclipped interval would
    assert summ.loc["venue", "mean"] == pytest.approx(100) and summ.loc["venue", "ci_low"] == 0
    assert summ.loc["venue", "ci_high"] == pytest.approx(100 + h)
    assert summ.loc["sessions_held", "ci_low"] == 0 and summ.loc["sessions_held", "mean"] == pytest.approx(11 / 3)
    # cost per session: 500 / (11/3) = 136.4, its delta-method interval from -787 to 1,060 without the bound
    assert summ.loc["cost_per_sessions_held", "mean"] == pytest.approx(1500 / 11)
    assert summ.loc["cost_per_sessions_held", "ci_low"] == 0 < summ.loc["cost_per_sessions_held", "ci_high"]


def test_doctor_time_spanning_a_month_boundary_is_split():
    idx, month, days = _split_by_month(np.array([29.0, 5.0]), np.array([32.0, 6.0]))
    assert list(idx) == [0, 0, 1] and list(month) == [0, 1, 0]
    assert days == pytest.approx([DAYS_PER_MONTH - 29.0, 32.0 - DAYS_PER_MONTH, 1.0])


def test_utilisation_and_lost_sessions_add_up_to_the_session_log():
    """Slow plan reviews by one doctor shared by three communities, a venue that is sometimes unavailable
    and providers who go on leave: every cancelled session is counted once, under its cause."""
    sc = scenario_from_dict(
        {
            "name": "strained",
            "seed": 3,
            "waves": {"w": {"follow_up_months": 6}},
            "doctor_pools": {"town": 1},
            "communities": [
                {
                    "name": "V",
                    "wave": "w",
                    "scheduling": "structured",
                    "timetable_weeks": 1,
                    "providers": 2,
                    "consumers": 6,
                    "doctor_pool": "town",
                    "copies": 3,
                }
            ],
            "parameters": {
                "plan_review_mean_days": 4.0,
                "venue_unavailable_prob": 0.1,
                "provider_leave_hazard_per_month": 0.3,
            },
        }
    )
    f = simulate_frames(sc, 3, workers=1)
    res, s = resource_use(f), f["sessions"]
    assert len(res) == 3 * 3 * 6  # replications x communities x months
    by = res.groupby(["replication", "community"]).sum(numeric_only=True)
    log = s.groupby(["replication", "community"])
    assert np.array_equal(by["sessions_due"].to_numpy(), log.size().to_numpy())
    assert np.array_equal(by["sessions_held"].to_numpy(), log["status"].apply(lambda x: (x == "held").sum()))
    for cause, col in LOST_COLUMNS.items():
        n = (s["cancel_reason"] == cause).groupby([s["replication"], s["community"]]).sum()
        assert np.array_equal(by[col].to_numpy(), n.to_numpy()), cause
    lost = by[[*LOST_COLUMNS.values(), "lost_other"]].sum(axis=1)
    assert np.array_equal((by["sessions_due"] - by["sessions_held"]).to_numpy(), lost.to_numpy())
    assert by["lost_plan_not_reviewed"].sum() > 0 and by["lost_venue_unavailable"].sum() > 0
    held = s[s["status"] == "held"]
    hours = (held["duration_min"] * held["n_providers"]).groupby(held["replication"]).sum() / 60
    assert np.allclose(res.groupby("replication")["provider_hours"].sum(), hours)
    # the pool's occupied doctor-days: utilisation x capacity over its months equals the request log
    r = f["doctor_requests"]
    assert (r["doctor_pool"] == "town").all() and set(r["community"]) == {"V-1", "V-2", "V-3"}
    busy = (r["end_day"] - r["start_day"]).groupby(r["replication"]).sum()
    end = 6 * DAYS_PER_MONTH  # a review still running when services end counts in no month's utilisation
    in_service = (np.minimum(r["end_day"], end) - r["start_day"]).clip(lower=0).groupby(r["replication"]).sum()
    pool_rows = res[res["community"] == "V-1"]  # every member carries the pool's utilisation
    assert np.allclose(
        (pool_rows["doctor_utilisation"] * pool_rows["service_days"]).groupby(pool_rows["replication"]).sum(),
        in_service,
    )
    assert (res["doctor_pool"] == "town").all()
    doctor_hours = res.groupby("replication")[["doctor_hours_review", "doctor_hours_supervision"]].sum().sum(axis=1)
    assert np.allclose(doctor_hours, busy * DOCTOR_HOURS_PER_BUSY_DAY)
    # the bottleneck ranking: counts per cause in order, shares of the lost sessions summing to one
    rank = bottlenecks(f)
    counts = lost_by_cause(f)
    assert list(rank["lost_mean"]) == sorted(rank["lost_mean"], reverse=True)
    for _, row in rank.iterrows():
        assert row["lost_mean"] == pytest.approx(counts[row["cause"]].mean())
    assert rank["share_of_lost"].sum() == pytest.approx(1.0)


def test_idle_doctors_are_zero_utilised_whatever_shares_the_chunk():
    """A replication whose doctors got no request (follow-up before training ends: no session, no
    supervision) has doctors in service at 0% utilisation, not a blank; and its rows of resources.csv are
    the same when its chunk also holds a replication with requests (README: the same bytes with any
    --chunk-size)."""
    short = _tiny().model_copy(update={"waves": {"w": _tiny().waves["w"].model_copy(update={"follow_up_months": 0.3})}})
    idle = simulate_frames(short, 1, workers=1)
    assert not len(idle["doctor_requests"]) and not len(idle["sessions"])
    alone = resource_use(idle)
    assert (alone["service_days"] > 0).all() and (alone["doctor_utilisation"] == 0.0).all()
    busy = simulate_frames(_tiny(), 1, workers=1)
    assert len(busy["doctor_requests"])
    chunk = {
        k: pd.concat([idle[k], busy[k].assign(replication=1)], ignore_index=True)
        for k in idle
        if isinstance(idle[k], pd.DataFrame) and k in busy
    }
    both = resource_use(chunk)
    pd.testing.assert_frame_equal(both[both["replication"] == 0].reset_index(drop=True), alone, check_exact=True)


def test_a_run_that_holds_no_session_still_costs_its_training_and_coordination():
    """Follow-up before training ends: no session is ever due (sessions.csv has no rows), yet the
    providers were trained and the communities coordinated; the planning costs say so rather than
    'this version computes no costs'."""
    from sim.planning.tables import planning_chunk

    short = _tiny().model_copy(update={"waves": {"w": _tiny().waves["w"].model_copy(update={"follow_up_months": 0.3})}})
    f = simulate_frames(short, 2, workers=1)
    assert not len(f["sessions"])
    q = planning_chunk(f).get("planning_costs")
    assert q is not None and list(q["replication"]) == [0, 1]
    assert (q["training"] == 5.0).all()  # five half-days of founding training (Methods), unit cost 1
    assert q["coordination"].to_numpy() == pytest.approx(0.3)  # community-months of service
    assert (q["provider_stipends"] == 0).all() and (q["sessions_held"] == 0).all()


def test_training_rows_are_attributed_to_their_communities(tiny_frames):
    """A training table (the staff pipeline's training.csv) adds trainer half-days and trainee hours,
    shared equally among a cohort's communities; without it they are zero."""
    founding = tiny_frames["training"]  # the model's: each community's founding training, five half-days
    assert (founding["kind"] == "founding").all()
    with_founding = resource_use({k: v for k, v in tiny_frames.items() if k != "resources"})
    assert with_founding["trainer_half_days"].sum() == pytest.approx(founding["trainer_half_days"].sum())
    f = {k: v for k, v in tiny_frames.items() if k not in ("resources", "training")}  # derived again below
    assert resource_use(f)["trainer_half_days"].sum() == 0
    f["training"] = pd.DataFrame(
        {
            "replication": [0, 0],
            "cohort": [1, 2],
            "start_day": [0.0, 40.0],
            "end_day": [14.0, 55.0],
            "trainees": [2, 1],
            "communities": ["A", "A;Elsewhere"],
            "trainer_half_days": [5, 5],
            "queue_wait_days": [0.0, 3.0],
        }
    )
    res = resource_use(f)
    r0 = res[res["replication"] == 0].set_index("month")
    assert r0.loc[0, "trainer_half_days"] == 5 and r0.loc[1, "trainer_half_days"] == 2.5
    assert r0.loc[0, "provider_training_hours"] == pytest.approx(2 * 5 * 3.5)
    spec = CostSpec(provider_session=0, doctor_hour=0, venue_hour=0, coordinator_month=0, trainer_half_day=100)
    assert costs(f, spec).groupby("replication")["total"].sum()[0] == pytest.approx(750)


# --- cost-effectiveness ------------------------------------------------------------------------
def test_ceac_is_the_normal_probability_of_a_positive_net_benefit():
    rng = np.random.default_rng(1)
    n, mu_e, mu_c, sd_e, sd_c, rho = 200_000, 2.0, 3000.0, 1.5, 2000.0, 0.4
    cov = [[sd_e**2, rho * sd_e * sd_c], [rho * sd_e * sd_c, sd_c**2]]
    de, dc = rng.multivariate_normal([mu_e, mu_c], cov, size=n).T
    wtp = np.array([0.0, 500.0, 1500.0, 4000.0])
    sd = np.sqrt(wtp**2 * sd_e**2 + sd_c**2 - 2 * wtp * rho * sd_e * sd_c)
    assert ce.ceac(dc, de, wtp) == pytest.approx(stats.norm.cdf((wtp * mu_e - mu_c) / sd), abs=0.004)
    inc = ce.incremental(dc, de, np.zeros(n), np.zeros(n))
    assert inc["status"] == ce.STATUS_ICER
    assert inc["icer"] == pytest.approx(mu_c / mu_e, rel=0.02)
    assert ce.ceac(dc, de, np.array([inc["icer"]]))[0] == pytest.approx(0.5, abs=0.003)


@pytest.mark.parametrize(
    ("de", "dc", "status"),
    [
        ((2.0, 1.0, 3.0), (-50.0, -80.0, -20.0), "dominates"),  # more effective, cheaper
        ((0.1, -1.0, 1.2), (-50.0, -80.0, -20.0), "dominates"),  # cheaper, effect not clearly different
        ((2.0, 1.0, 3.0), (10.0, -30.0, 50.0), "dominates"),  # more effective, cost not clearly different
        ((-2.0, -3.0, -1.0), (50.0, 20.0, 80.0), "dominated"),
        ((0.01, -1.0, 1.02), (50.0, 20.0, 80.0), "dominated"),  # near-zero effect: no ratio of 5,000
        ((0.1, -1.0, 1.2), (10.0, -30.0, 50.0), "no clear difference"),
        ((-2.0, -3.0, -1.0), (-50.0, -80.0, -20.0), ce.STATUS_SW),
    ],
)
def test_dominance_instead_of_a_meaningless_ratio(de, dc, status):
    got, icer = ce.classify(de, dc)
    assert got == status
    if status == ce.STATUS_SW:
        assert icer == pytest.approx(25.0)
    else:
        assert np.isnan(icer)


def test_identical_paired_samples_have_no_difference_and_even_odds():
    x = np.arange(10.0)
    inc = ce.incremental(x, x, x, x)
    assert inc["status"] == "no clear difference" and inc["delta_cost"] == 0
    assert ce.ceac(np.zeros(5), np.zeros(5), np.array([0.0, 10.0])) == pytest.approx([0.5, 0.5])


def test_wtp_grid_reads_in_round_numbers():
    g = ce.wtp_grid(3_700.0)
    assert g[0] == 0 and g[-1] == 5_000 and len(g) == 101


# --- the costs: section ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("costs_section", "message"),
    [
        ({"doctor_hour": -5}, "costs.doctor_hour: Input should be greater than or equal to 0"),
        ({"venue_hours": 3}, "costs.venue_hours: unknown key (did you mean 'venue_hour'?)"),
        ({"trainer_half_day": ".nan"}, "costs.trainer_half_day:"),
    ],
)
def test_bad_costs_are_one_line_and_exit_2(tmp_path, small_yaml, run_cli, costs_section, message):
    f = small_yaml()
    data = yaml.safe_load(f.read_text())
    data["costs"] = costs_section
    f.write_text(yaml.safe_dump(data).replace("'.nan'", ".nan"))
    r = run_cli("run", f, "--reps", "2", "--workers", "1", "-q", "--out", tmp_path / "o", cwd=tmp_path)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert message in r.stderr and str(f.name) in r.stderr
    assert not (tmp_path / "o").exists()
