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


def test_no_session_before_training_ends(paper_frames):
    held = paper_frames["sessions"].query("status == 'held'")
    train = paper_frames["providers"].set_index(["replication", "person_id"])["training_end_day"]
    for rep, pid, day in held[["replication", "lead_provider", "day"]].itertuples(index=False):
        assert day >= train[(rep, pid)]


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
    """Sessions announced in months 0-6 vs 6-12: a linear ramp from f0 gives a rate ratio of (1+f0)/2."""
    f0 = 0.2
    scen = _scenario(
        unstructured_initial_rate_fraction=f0,
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
