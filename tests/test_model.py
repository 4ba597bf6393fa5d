"""Tests of the SimPy model (one replication = pure function of scenario + seed).

Groups:
- invariants on the event log (sessions.csv + people): staffing, training, dropout, conservation;
- policy behaviour: structured timetable, unstructured ramp-up (against the ramp's theory);
- extreme values: no dropout, certain dropout, providers all on leave, doctor capacity;
- determinism and common random numbers;
- baseline draws against Table 1 within sampling error.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from sim import instruments as ins
from sim.datasets import to_frames, write_table
from sim.model import simulate_replication
from sim.scenario import DAYS_PER_MONTH, load_scenario, scenario_from_dict


@pytest.fixture(scope="module")
def paper():
    return load_scenario("scenarios/paper_study.yaml")


@pytest.fixture(scope="module")
def paper_frames(paper):
    return to_frames([simulate_replication(paper, r) for r in range(30)])


def _scenario(**param_overrides):
    data = {
        "name": "t",
        "seed": 7,
        "waves": {"w": {"follow_up_months": 12}},
        "communities": [
            {
                "name": "A",
                "wave": "w",
                "scheduling": "structured",
                "providers": 4,
                "consumers": 16,
                "timetable_weeks": 1,
            },
            {"name": "B", "wave": "w", "scheduling": "unstructured", "providers": 3, "consumers": 12},
        ],
        "parameters": param_overrides,
    }
    return scenario_from_dict(data)


# Stress that does not move with workload, cancellations or supervision (sim.model.providers).
NO_STRESS_DYNAMICS = {
    "stress_workload_logit": 0.0,
    "stress_cancellation_logit": 0.0,
    "supervision_stress_logit": 0.0,
    "stress_persistence_logit": 0.0,
}


def _frames(scen, reps=5, seed=None):
    return to_frames([simulate_replication(scen, r, seed=seed) for r in range(reps)])


# --- Invariants ------------------------------------------------------------------------------
def test_no_session_held_with_fewer_than_two_providers(paper_frames):
    held = paper_frames["sessions"].query("status == 'held'")
    assert len(held) > 0
    assert (held["n_providers"] >= 2).all()
    staff = held["providers"].str.split(";")
    assert (staff.map(len) == held["n_providers"]).all()
    assert (staff.map(lambda s: len(set(s))) == held["n_providers"]).all()
    assert (held["lead_provider"] == staff.map(lambda s: s[0])).all()


def test_no_session_before_training_ends(paper_frames, paper):
    """Methods: providers deliver nothing before pre-service training ('five half-days') ends, i.e.
    before recruitment + ``training_days`` (the parameter, not the model's own column)."""
    p = paper.parameters
    assert p.training_days >= 2.5  # five half-days take at least two and a half days
    start = {c.name: c.start_month * DAYS_PER_MONTH for c in paper.communities}
    held = paper_frames["sessions"].query("status == 'held'")
    first = held.groupby(["replication", "community"])["day"].min().reset_index()
    assert (first["day"] >= first["community"].map(start) + p.training_days).all()
    prov = paper_frames["providers"]
    np.testing.assert_allclose(prov["training_end_day"], prov["community"].map(start) + p.training_days)


def test_first_timetable_slot_is_one_interval_after_training():
    scen = _scenario(training_days=21.0)
    s = _frames(scen, reps=2)["sessions"].query("community == 'A'")
    assert s.groupby("replication")["announced_day"].min().eq(21.0 + 7.0).all()


def test_no_attendance_after_dropout_and_attendance_counts_agree(paper_frames):
    sessions = paper_frames["sessions"].query("status == 'held' and before_follow_up == 1")
    long = sessions[["replication", "day", "attendees"]].assign(person_id=sessions["attendees"].str.split(";"))
    long = long.explode("person_id").query("person_id != ''")
    cons = paper_frames["consumers"].set_index(["replication", "person_id"])
    joined = long.join(cons[["exit_day", "sessions_attended"]], on=["replication", "person_id"])
    dropped = joined.dropna(subset=["exit_day"])
    assert len(dropped) > 0, "expected some dropouts who had attended earlier"
    assert (dropped["day"] < dropped["exit_day"]).all()
    counted = long.groupby(["replication", "person_id"]).size()
    expect = cons["sessions_attended"]
    expect = expect[expect > 0]
    assert counted.sort_index().equals(expect.sort_index().rename(None).astype(counted.dtype))


def test_counts_conserved(paper_frames, paper):
    cons, prov = paper_frames["consumers"], paper_frames["providers"]
    per_rep = cons.groupby("replication")
    recruited = sum(c.consumers for c in paper.communities)
    assert (per_rep.size() == recruited).all()
    assert (
        (per_rep["retained"].sum() + per_rep["status"].apply(lambda s: (s == "dropped_out").sum())) == recruited
    ).all()
    assert set(prov["status"]) <= {"active", "on_leave", "quit"}
    assert (prov["evaluated"] == (prov["status"] == "active")).all()
    # Answers exist exactly for the evaluated.
    assert (cons["sat_overall"].notna() == (cons["evaluated"] == 1)).all()
    assert (prov["ben_work_skill"].notna() == (prov["evaluated"] == 1)).all()
    care = paper_frames["caregivers"]
    assert len(care) == len(cons) + len(prov)
    member_eval = pd.concat([cons, prov]).set_index(["replication", "person_id"])["evaluated"]
    part = care.join(member_eval, on=["replication", "member_id"])
    assert (part.loc[part["participated"] == 1, "evaluated"] == 1).all()


# --- Policy behaviour --------------------------------------------------------------------------
def test_structured_sessions_follow_the_timetable(paper_frames):
    s = paper_frames["sessions"]
    comm = paper_frames["communities"].set_index(["replication", "community"])
    structured = s.query("scheduling == 'structured'")
    assert len(structured) > 0
    for (rep, name), g in structured.groupby(["replication", "community"]):
        weeks = comm.loc[(rep, name), "timetable_weeks"]
        assert weeks in (1, 2)
        gaps = np.diff(np.sort(g["announced_day"].to_numpy()))
        np.testing.assert_allclose(gaps, 7.0 * weeks)
        held = g.query("status == 'held' and postponements == 0")
        assert (held["day"] == held["announced_day"]).all()


def test_unstructured_delivery_ramps_up_over_first_six_months():
    """Sessions announced in months 0-6 vs 6-12: a linear ramp (shape 1) from f0 gives a rate ratio of (1+f0)/2."""
    f0 = 0.2
    scen = _scenario(
        unstructured_initial_rate_fraction=f0,
        unstructured_ramp_shape=1.0,
        training_days=0.0,
        unstructured_reschedule_prob=0.0,
        venue_unavailable_prob=0.0,
        provider_leave_hazard_per_month=0.0,
        provider_quit_hazard_per_month=0.0,
    )
    s = _frames(scen, reps=60)["sessions"].query("community == 'B'")
    month = s["announced_day"] / DAYS_PER_MONTH
    early, late = (month < 6).sum(), ((month >= 6) & (month < 12)).sum()
    assert early / late == pytest.approx((1 + f0) / 2, abs=0.08)
    # A structured community shows no such ramp.
    a = _frames(scen, reps=5)["sessions"].query("community == 'A'")
    ma = a["announced_day"] / DAYS_PER_MONTH
    assert ((ma < 6).sum() / ((ma >= 6) & (ma < 12)).sum()) == pytest.approx(1.0, abs=0.1)


def test_structured_content_covers_the_menu_and_unstructured_is_narrower(paper_frames):
    held = paper_frames["sessions"].query("status == 'held'")
    per = held.groupby(["replication", "community", "scheduling"])["content"].nunique().groupby("scheduling").mean()
    assert per["structured"] > per["unstructured"]
    shares = held.query("scheduling == 'structured'")["content"].value_counts(normalize=True)
    for cat, share in ins.PAPER_TOP_CONTENT_SHARES.items():
        assert shares[cat] == pytest.approx(share, abs=0.05)


def test_timetable_interval_follows_the_weekly_probability():
    """Methods: 'once every one or 2 weeks'; without a fixed interval in the scenario a structured
    community is weekly with ``weekly_timetable_prob``: 1 gives 7-day, 0 gives 14-day spacing."""

    def spacing(prob):
        data = _scenario(weekly_timetable_prob=prob).model_dump(exclude={"parameters"})
        data["communities"][0]["timetable_weeks"] = None
        data["parameters"] = {"weekly_timetable_prob": prob}
        s = _frames(scenario_from_dict(data), reps=3)["sessions"].query("community == 'A'")
        return set(np.round(s.groupby("replication")["announced_day"].diff().dropna(), 9))

    assert spacing(1.0) == {7.0}
    assert spacing(0.0) == {14.0}


def test_least_used_provider_leads():
    """Staffing: the provider with the fewest sessions led leads, so with everyone always available
    the numbers led differ by at most one within a community."""
    scen = _scenario(provider_leave_hazard_per_month=0.0, provider_quit_hazard_per_month=0.0)
    prov = _frames(scen, reps=4)["providers"]
    spread = prov.groupby(["replication", "community"])["sessions_led"].agg(lambda x: x.max() - x.min())
    assert (spread <= 1).all()
    assert prov["sessions_led"].sum() > 0


def test_group_share_and_duration_match_the_paper(paper_frames, paper):
    """Results: '98.6% in group'; Methods: sessions of 40 to 120 min (triangular: mean (lo + mode + hi) / 3)."""
    p = paper.parameters
    held = paper_frames["sessions"].query("status == 'held'")
    n = len(held)
    share = (held["format"] == "group").mean()
    assert p.group_share == pytest.approx(0.986)
    assert abs(share - p.group_share) < 4 * np.sqrt(p.group_share * (1 - p.group_share) / n)
    d = held["duration_min"]
    assert d.between(40, 120).all()
    lo, mode, hi = p.duration_min_minutes, p.duration_mode_minutes, p.duration_max_minutes
    assert (lo, hi) == (40, 120)
    mean = (lo + mode + hi) / 3
    sd = np.sqrt((lo**2 + mode**2 + hi**2 - lo * mode - lo * hi - mode * hi) / 18)
    assert abs(d.mean() - mean) < 4 * sd / np.sqrt(n)


def test_attendance_rate_is_the_mean_propensity():
    """With identical propensities (huge Beta concentration, no community or rural shift) a consumer
    attends each group session with probability ``attendance_mean``."""
    m = 0.3
    scen = _scenario(
        attendance_mean=m,
        attendance_concentration=1000.0,
        community_effect_sd=0.0,
        group_share=1.0,
        consumer_dropout_hazard_per_month=0.0,
    )
    cons = _frames(scen, reps=6)["consumers"]
    rate = cons["sessions_attended"].sum() / cons["sessions_invited"].sum()
    se = np.sqrt(m * (1 - m) / cons["sessions_invited"].sum())
    assert abs(rate - m) < 4 * se + 0.01  # + the Beta(300, 700) spread of propensities


def test_community_effect_has_its_sd():
    def effects(sd):
        data = {
            "name": "many",
            "seed": 5,
            "waves": {"w": {"follow_up_months": 1}},
            "communities": [
                {"name": "K", "wave": "w", "scheduling": "structured", "providers": 2, "consumers": 2, "copies": 200}
            ],
            "parameters": {"community_effect_sd": sd},
        }
        return _frames(scenario_from_dict(data), reps=1)["communities"]["community_effect"]

    assert (effects(0.0) == 0).all()
    sd, e = 0.8, effects(0.8)
    n = len(e)
    assert abs(e.std() - sd) < 4 * sd / np.sqrt(2 * (n - 1))
    assert abs(e.mean()) < 4 * sd / np.sqrt(n)


def test_slow_plan_reviews_cancel_sessions_and_instant_ones_never_do():
    slow = _frames(_scenario(plan_review_mean_days=60.0, plan_lead_days=0.0), reps=2)["sessions"]
    # one doctor per community, reviews of two months on average: a doctor finishes about six plans a
    # year (the plans of cancelled sessions are withdrawn), so about 6 of a community's ~50 sessions go ahead
    assert (slow["status"] == "cancelled").mean() > 0.75
    assert (slow["cancel_reason"] == "plan_not_reviewed").mean() > 0.75
    fast = _frames(_scenario(plan_review_mean_days=0.0, supervision_rate_per_month=0.0), reps=2)["sessions"]
    assert not (fast["cancel_reason"] == "plan_not_reviewed").any()


# --- Providers over time: leave, return, quitting (against the two-state Markov chain) ------------
def _provider_scenario(n_providers=40, doctors=1, **params):
    return scenario_from_dict(
        {
            "name": "prov",
            "seed": 11,
            "waves": {"w": {"follow_up_months": 12}},
            "communities": [
                {
                    "name": "P",
                    "wave": "w",
                    "scheduling": "structured",
                    "timetable_weeks": 2,
                    "providers": n_providers,
                    "consumers": 3,
                    "doctors": doctors,
                }
            ],
            "parameters": {"training_days": 0.0, **params},
        }
    )


def test_provider_leave_ends_and_providers_return():
    """Leave at rate a, return at rate b = 1 / mean length (no quitting): a provider active at time 0
    is on leave at t with probability a / (a + b) (1 - exp(-(a + b) t))."""
    a, mean_leave, t = 0.5, 1.0, 12.0
    scen = _provider_scenario(
        provider_leave_hazard_per_month=a, provider_leave_mean_months=mean_leave, provider_quit_hazard_per_month=0.0
    )
    prov = _frames(scen, reps=25)["providers"]
    b = 1 / mean_leave
    expect = a / (a + b) * (1 - np.exp(-(a + b) * t))
    got = (prov["status"] == "on_leave").mean()
    assert abs(got - expect) < 4 * np.sqrt(expect * (1 - expect) / len(prov))
    # Time on leave over the year: integral of the same probability, a/(a+b) (t - (1 - e^{-(a+b)t})/(a+b)).
    days = a / (a + b) * (t - (1 - np.exp(-(a + b) * t)) / (a + b)) * DAYS_PER_MONTH
    assert prov["leave_days"].mean() == pytest.approx(days, rel=0.1)
    assert prov["leave_episodes"].mean() > 1.5  # about a * (t - leave days) ~ 4 leaves each, so they recur


def test_stressed_providers_quit_more_as_the_hazard_ratio_says():
    """Quitting: constant hazard q, times exp(stress_quit_log_hr) when stressed; P(quit by t) = 1 - exp(-h t)."""
    q, log_hr, t = 0.04, 1.0, 12.0
    for stressed, h in ((0, q), (1, q * np.exp(log_hr))):
        # Stress held fixed: almost never (or almost always) stressed, whatever the month brings.
        scen = _provider_scenario(
            provider_leave_hazard_per_month=0.0,
            provider_quit_hazard_per_month=q,
            stress_quit_log_hr=log_hr,
            stress_base_prob=0.9999 if stressed else 0.0001,
            stress_structured_logit=0.0,
            supervision_quit_log_hr=0.0,
            **NO_STRESS_DYNAMICS,
        )
        g = _frames(scen, reps=15)["providers"]
        expect = 1 - np.exp(-h * t)
        got = (g["status"] == "quit").mean()
        assert abs(got - expect) < 4 * np.sqrt(expect * (1 - expect) / len(g)), stressed


def test_supervision_contacts_follow_the_request_rate():
    """Active providers ask for supervision at rate r a month (a Poisson process; a request made while
    the previous one still waits is dropped); with short contacts and a free doctor, about r t
    contacts by month t, and stressed providers ask supervision_stress_multiplier times as often."""
    r, mult, t = 1.0, 3.0, 12.0
    for stressed, rate in ((0, r), (1, r * mult)):
        scen = _provider_scenario(
            n_providers=10,
            provider_leave_hazard_per_month=0.0,
            provider_quit_hazard_per_month=0.0,
            supervision_rate_per_month=r,
            supervision_stress_multiplier=mult,
            supervision_days=0.01,
            stress_base_prob=0.9999 if stressed else 0.0001,
            stress_structured_logit=0.0,
            plan_review_mean_days=0.0,
            **NO_STRESS_DYNAMICS,
        )
        g = _frames(scen, reps=10)["providers"]["supervision_contacts"]
        expect = rate * t  # Poisson mean (contacts of 0.01 day barely delay the next request)
        assert abs(g.mean() - expect) < 4 * np.sqrt(expect / len(g)) + 0.02 * expect, stressed


def test_a_provider_waiting_for_supervision_does_not_ask_again():
    """A request made while the provider's previous contact is still under way lapses (the module
    docstring of sim.model.providers). With doctors always free, requests at rate r a day and contacts
    of L days, the ends of a provider's contacts form a renewal process with cycles L + Exp(r) (mean
    mu = L + 1/r, variance s2 = 1/r^2): E N(T) = T/mu + (s2 - mu^2)/(2 mu^2) and sd N(T) =
    sqrt(s2 T / mu^3) (renewal theory), far below the r T requests."""
    r_month, length, t = 20.0, 3.0, 12 * DAYS_PER_MONTH
    scen = _provider_scenario(
        n_providers=2,
        doctors=20,  # a doctor is nearly always free: mostly the provider's own contact delays them
        provider_leave_hazard_per_month=0.0,
        provider_quit_hazard_per_month=0.0,
        supervision_rate_per_month=r_month,
        supervision_days=length,
        stress_base_prob=0.0001,
        stress_structured_logit=0.0,
        plan_review_mean_days=0.0,
        **NO_STRESS_DYNAMICS,
    )
    g = _frames(scen, reps=10)["providers"]["supervision_contacts"]
    mu, s2 = length + DAYS_PER_MONTH / r_month, (DAYS_PER_MONTH / r_month) ** 2
    expect, sd = t / mu + (s2 - mu**2) / (2 * mu**2), np.sqrt(s2 * t / mu**3)
    assert abs(g.mean() - expect) < 4 * sd / np.sqrt(len(g)), (g.mean(), expect)
    assert g.mean() < 0.5 * r_month * 12  # most of the 240 requests a year lapse


def test_a_provider_on_an_earlier_leave_spell_is_on_leave():
    """A provider's state on a day follows the leave spell begun last before that day, not only the
    last spell drawn (spells follow one another, sim.model.providers)."""
    from sim.model.community import Provider, content_menus

    q = Provider(0, "A/P01", {}, 0.0, False, content_menus(np.ones((1, 8)), 8)[0])
    q.leave_spells = [[10.0, 20.0], [30.0, 40.0]]
    assert [q.status_on(d) for d in (5.0, 15.0, 25.0, 35.0, 45.0)] == [
        "active",
        "on_leave",
        "active",
        "on_leave",
        "active",
    ]
    assert [q.available(d) for d in (15.0, 25.0)] == [False, True]


# --- Consumer dropout: the hazard's dependence on attendance and disrupted sessions ----------------
def test_dropout_hazard_rises_with_disrupted_sessions():
    """Every session cancelled (the venue never free, nobody outdoors), no attendance effect, no
    community spread: month 1 has no sessions before it, every later month follows a month of
    disrupted sessions, so retention at 12 months is exp(-h (1 + 11 exp(beta)))."""
    h, beta = 0.04, 1.0
    scen = _scenario(
        consumer_dropout_hazard_per_month=h,
        dropout_cancellation_log_hr=beta,
        dropout_attendance_log_hr=0.0,
        community_effect_sd=0.0,
        venue_unavailable_prob=1.0,
        outdoor_share=0.0,
        training_days=0.0,
    )
    f = _frames(scen, reps=60)
    assert (f["sessions"]["status"] == "cancelled").all()
    cons = f["consumers"].query("community == 'A'")
    expect = np.exp(-h * (1 + 11 * np.exp(beta)))
    assert abs(cons["retained"].mean() - expect) < 4 * np.sqrt(expect * (1 - expect) / len(cons))


def test_dropout_hazard_follows_last_months_attendance():
    """One dropout review (Dropout.review): a consumer who attended a share s of last month's sessions
    drops out within the month with probability 1 - exp(-h exp(beta (s - 0.5)))."""
    from sim.model.community import build_community
    from sim.model.consumers import Dropout
    from sim.model.doctors import Doctors

    h, beta, n = 0.3, -2.0, 6000
    scen = _provider_scenario(n_providers=2, consumer_dropout_hazard_per_month=h, dropout_attendance_log_hr=beta)
    spec = scen.communities[0].model_copy(update={"consumers": n})
    c = build_community(scen, scen.parameters, 1, 0, 0, spec, Doctors(1))
    cons = c.consumers
    third = n // 3
    cons.month_invitations = [tuple(range(2 * third))] * 4  # four sessions, the first two thirds invited
    assert cons.month_invited() == [4] * (2 * third) + [0] * (n - 2 * third)
    cons.month_attended = [4] * third + [0] * third + [0] * (n - 2 * third)
    Dropout(None, c, scen.parameters).review(0.0, DAYS_PER_MONTH, np.log(h))
    gone = np.isfinite(np.asarray(cons.exit_day))
    for part, share in ((slice(0, third), 1.0), (slice(third, 2 * third), 0.0), (slice(2 * third, n), 0.5)):
        expect = 1 - np.exp(-h * np.exp(beta * (share - 0.5)))
        got = gone[part].mean()
        assert abs(got - expect) < 4 * np.sqrt(expect * (1 - expect) / third), share
    assert (np.asarray(cons.exit_day)[gone] < DAYS_PER_MONTH).all()
    assert cons.month_invited() == [0] * n and cons.month_attended == [0] * n  # the month's counts start again


def test_month_invited_counts_every_session_once():
    """Consumers.month_invited: sessions sharing one invited tuple (a closed cohort's group sessions) and
    sessions with their own (an individual session; an open caseload's groups) each count once."""
    from sim.model.community import Consumers

    cons = Consumers([f"C{k}" for k in range(4)], {}, [0.5] * 4)
    everyone = (0, 1, 2, 3)
    cons.month_invitations = [everyone, everyone, (2,), (0, 1, 2, 3), everyone, ()]
    assert cons.month_invited() == [4, 4, 5, 4]


def test_better_attenders_stay_longer():
    def retention(mean):
        scen = _scenario(
            attendance_mean=mean,
            attendance_concentration=1000.0,
            dropout_attendance_log_hr=-3.0,
            consumer_dropout_hazard_per_month=0.1,
            community_effect_sd=0.0,
        )
        return _frames(scen, reps=20)["consumers"]["retained"].mean()

    assert retention(0.9) > retention(0.1) + 0.2


# --- The run summary counts what happened before follow-up ------------------------------------------
def test_run_summary_counts_sessions_held_before_follow_up_only():
    """sim.runner.replication_summary: with services running past the follow-up (horizon_months), the
    summary's sessions held are those before the follow-up evaluation, as the communities table says."""
    from sim.runner import replication_summary

    data = _scenario().model_dump(exclude={"parameters"})
    data["horizon_months"] = 20
    f = _frames(scenario_from_dict(data), reps=3)
    s = f["sessions"]
    after = s.query("status == 'held' and before_follow_up == 0")
    assert len(after) > 0
    assert (after["day"] >= 12 * DAYS_PER_MONTH).all()
    summary = replication_summary(f).set_index("replication")["sessions_held"]
    expect = f["communities"].groupby("replication")["sessions_held"].sum()
    held_before = s.query("status == 'held' and day < @DAYS_PER_MONTH * 12").groupby("replication").size()
    pd.testing.assert_series_equal(summary, expect, check_names=False)
    pd.testing.assert_series_equal(summary, held_before, check_names=False, check_dtype=False)


# --- The doctors' first-come first-served queue ------------------------------------------------------
def test_doctors_serve_first_come_first_served():
    from sim.model.doctors import Doctors

    one = Doctors(1)
    reqs = [one.register(t, length) for t, length in ((0.0, 2.0), (1.0, 2.0), (10.0, 1.0))]
    assert [one.end_of(r, 10.0) for r in reqs] == [2.0, 4.0, 11.0]
    two = Doctors(2)
    late = two.register(5.0, 1.0)  # registered first, arrives last: served in order of arrival
    early = [two.register(t, 3.0) for t in (0.0, 1.0, 2.0)]
    assert [two.end_of(r, 5.0) for r in early] == [3.0, 4.0, 6.0]
    assert two.end_of(late, 5.0) == 6.0  # the doctor free since day 4 takes it on arrival


def test_on_time_means_held_on_the_announced_day(paper_frames):
    """A session is on time when held on its announced day (not postponed); people's on-time shares
    count exactly those (what the punctuality answer depends on)."""
    s = paper_frames["sessions"]
    held = s.query("status == 'held'")
    # same day up to float rounding (a session that waited for a plan under review: day = t + (announced - t))
    same_day = np.isclose(held["day"], held["announced_day"], rtol=0, atol=1e-9)
    assert ((held["on_time"] == 1) == same_day).all()
    assert (held["postponements"] > 0).any() and (s.query("status == 'cancelled'")["on_time"] == 0).all()
    ok = held.query("before_follow_up == 1")
    long = ok.assign(person_id=ok["attendees"].str.split(";")).explode("person_id").query("person_id != ''")
    share = long.groupby(["replication", "person_id"])["on_time"].mean().round(6)
    cons = paper_frames["consumers"].set_index(["replication", "person_id"])["on_time_share"].dropna()
    pd.testing.assert_series_equal(share.sort_index(), cons.sort_index(), check_names=False)


def test_each_lead_picks_from_their_own_favourites(paper_frames, paper):
    """Unstructured scheduling: a lead picks the content from their few favourite categories
    (``unstructured_content_breadth``), so no lead covers more categories than that."""
    held = paper_frames["sessions"].query("status == 'held' and scheduling == 'unstructured'")
    per_lead = held.groupby(["replication", "lead_provider"])["content"].nunique()
    assert per_lead.max() <= paper.parameters.unstructured_content_breadth
    assert held["content"].nunique() > paper.parameters.unstructured_content_breadth  # leads differ


# --- Extreme values ---------------------------------------------------------------------------
def test_zero_dropout_hazard_keeps_everyone():
    cons = _frames(_scenario(consumer_dropout_hazard_per_month=0.0), reps=3)["consumers"]
    assert cons["retained"].all() and (cons["status"] == "active").all()


def test_huge_dropout_hazard_empties_the_programme():
    cons = _frames(_scenario(consumer_dropout_hazard_per_month=1000.0), reps=3)["consumers"]
    assert not cons["retained"].any()
    assert cons["sat_overall"].isna().all()


def test_providers_all_on_leave_hold_no_sessions():
    scen = _scenario(
        provider_leave_hazard_per_month=1e4, provider_leave_mean_months=60, provider_quit_hazard_per_month=0.0
    )
    f = _frames(scen, reps=3)
    assert (f["sessions"]["status"] == "cancelled").all()
    assert (f["sessions"]["cancel_reason"] == "no_providers").all()
    assert (f["providers"]["status"] == "on_leave").all()
    assert (f["consumers"]["sessions_attended"] == 0).all()


def test_a_shared_doctor_with_slow_reviews_cancels_more_sessions():
    base = {
        "name": "pool",
        "seed": 3,
        "waves": {"w": {"follow_up_months": 6}},
        "parameters": {"plan_review_mean_days": 2.0, "plan_lead_days": 2.0},
    }
    comms = [
        {
            "name": "V",
            "wave": "w",
            "scheduling": "structured",
            "timetable_weeks": 1,
            "providers": 3,
            "consumers": 10,
            "copies": 8,
        }
    ]
    own = scenario_from_dict({**base, "communities": comms})
    pooled = scenario_from_dict(
        {**base, "doctor_pools": {"township": 1}, "communities": [{**comms[0], "doctor_pool": "township"}]}
    )

    def not_reviewed(s):
        sess = _frames(s, reps=3)["sessions"]
        return (sess["cancel_reason"] == "plan_not_reviewed").mean()

    assert not_reviewed(pooled) > not_reviewed(own) + 0.1


def test_rural_setting_lowers_attendance():
    urban = _scenario()
    rural = scenario_from_dict(
        {
            **urban.model_dump(exclude={"parameters"}),
            "communities": [{**c.model_dump(), "setting": "rural"} for c in urban.communities],
        }
    )
    a_u = _frames(urban, reps=10)["consumers"]["attendance_rate"].mean()
    a_r = _frames(rural, reps=10)["consumers"]["attendance_rate"].mean()
    assert a_r < a_u - 0.05


# --- Determinism -------------------------------------------------------------------------------
def _csv_bytes(frames):
    out = {}
    for k, df in frames.items():
        buf = io.StringIO()
        write_table(df, buf)
        out[k] = buf.getvalue()
    return out


def test_same_seed_same_bytes_different_seed_differs(paper):
    a = _csv_bytes(_frames(paper, reps=3))
    b = _csv_bytes(_frames(paper, reps=3))
    c = _csv_bytes(_frames(paper, reps=3, seed=paper.seed + 1))
    assert a == b
    assert all(a[k] != c[k] for k in ("providers", "consumers", "sessions"))


def test_replication_does_not_depend_on_which_others_ran(paper):
    alone = _csv_bytes(to_frames([simulate_replication(paper, 4)]))
    among = to_frames([simulate_replication(paper, r) for r in (2, 3, 4)])
    among = {k: df[df["replication"] == 4] for k, df in among.items()}
    assert alone == _csv_bytes(among)


def test_common_random_numbers_across_scenarios(paper):
    """Changing a later-wave parameter leaves the baselines drawn for every community unchanged."""
    other = paper.model_copy(update={"parameters": paper.parameters.replace(benefit_experience_logit=0.0)})
    a = to_frames([simulate_replication(paper, 0)])["consumers"]
    b = to_frames([simulate_replication(other, 0)])["consumers"]
    cols = ["person_id", "age", "gender", "education", "diagnosis", "onset_age"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


# --- Baseline vs Table 1 -------------------------------------------------------------------------
def test_baseline_draws_match_table1_within_sampling_error(paper):
    frames = to_frames([simulate_replication(paper, r) for r in range(150)])
    for role, table in (("provider", "providers"), ("consumer", "consumers")):
        df = frames[table]
        t1 = ins.TABLE1[role]
        n = len(df)
        for var in ("age", "onset_age"):
            mean, sd = t1[var]
            assert abs(df[var].mean() - mean) < 4 * sd / np.sqrt(n), (role, var)
            assert abs(df[var].std() - sd) < 4 * sd / np.sqrt(2 * (n - 1)) + 0.05, (role, var)
        for var, levels in ins.BASELINE_CATEGORICAL.items():
            counts = np.asarray(t1[var], dtype=float)
            for level, share in zip(levels, counts / counts.sum(), strict=False):
                got = (df[var] == level).mean()
                se = np.sqrt(max(share * (1 - share), 1e-4) / n)
                assert abs(got - share) < 4 * se + 1e-9, (role, var, level, got, share)
        assert df["age"].between(18, 60).all()
        assert (df["onset_age"] <= df["age"]).all()
        married = df["marital_status"] == "currently_married"
        assert (df.loc[married, "lives_alone"] == "no").all()


def test_constant_dropout_hazard_gives_exponential_retention():
    """With no attendance or disruption effects and no community spread, retention at follow-up is
    exp(-h * months) (theory), here over 12 months."""
    h = 0.05
    scen = _scenario(
        consumer_dropout_hazard_per_month=h,
        dropout_attendance_log_hr=0.0,
        dropout_cancellation_log_hr=0.0,
        community_effect_sd=0.0,
    )
    cons = _frames(scen, reps=150)["consumers"]
    expected = np.exp(-h * 12)
    se = np.sqrt(expected * (1 - expected) / len(cons))
    assert abs(cons["retained"].mean() - expected) < 4 * se
    # Dropout days spread over the whole year, the first month included.
    months = cons["exit_day"].dropna() / DAYS_PER_MONTH
    assert months.min() < 1.0 and months.max() > 11.0


def test_a_request_lapses_while_the_one_it_follows_is_not_done():
    """A supervision request registered ahead lapses if, on its day, the provider's previous request is
    still waiting or under way; a lapsed request takes no doctor time, and the next one follows the
    last request that did not lapse (sim.model.doctors)."""
    from sim.model.doctors import Doctors

    d = Doctors(1)
    first = d.register(0.0, 5.0, "supervision")
    lapses = d.register(2.0, 5.0, "supervision", follows=first)  # the first is under way until day 5
    served = d.register(6.0, 5.0, "supervision", follows=lapses)  # the first is done: served
    assert d.end_of(served, 20.0) == 11.0
    assert lapses.withdrawn and lapses.end is None
    assert d.served == {"supervision": 2} and d.busy_days == {"supervision": 10.0}
