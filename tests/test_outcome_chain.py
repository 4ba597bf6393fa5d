"""The outcome chain (docs/outcome_chain.md): delivery -> each person's exposure -> answers.

Against the chain's definitions: a scenario that removes delivery moves every answer most of the
way to its no-programme level; a person who attended nothing answers at that level; an
unstructured community ramps up slowly (Discussion: 'slow ramp-up of services especially during
the first 6 months'); a doctor spends no time on the plans of sessions that are cancelled.
"""

from __future__ import annotations

import numpy as np

from sim import instruments as ins
from sim.datasets import to_frames
from sim.model import simulate_replication
from sim.model.rollout import RolloutModel
from sim.scenario import DAYS_PER_MONTH, load_scenario, scenario_from_dict

CONSUMER_BENEFITS = [it.column for it in ins.CONSUMER_BENEFITS]


def _frames(scen, reps):
    return to_frames([simulate_replication(scen, r) for r in range(reps)])


def test_unavailable_venues_move_every_answer_toward_the_no_programme_level():
    """later_wave with 97% of venues unavailable (only outdoor sessions and lucky days go ahead):
    consumer satisfaction, willingness, every benefit item and the caregivers' positive attitude
    fall by at least half of their distance to the no-programme level."""
    scen = load_scenario("scenarios/later_wave.yaml")
    p = scen.parameters
    bad = scen.model_copy(update={"parameters": p.replace(venue_unavailable_prob=0.97)})
    reps = 30
    f0, f1 = _frames(scen, reps), _frames(bad, reps)
    held0 = (f0["sessions"]["status"] == "held").sum()
    held1 = (f1["sessions"]["status"] == "held").sum()
    assert held1 < 0.3 * held0
    c0, c1 = (f[f["evaluated"] == 1] for f in (f0["consumers"], f1["consumers"]))
    levels = {"sat_overall": p.service_view_no_programme_prob, "willing_continue": p.service_view_no_programme_prob}
    levels.update(dict.fromkeys(CONSUMER_BENEFITS, p.benefit_no_programme_prob))
    for col, p0 in levels.items():
        before, after = c0[col].mean(), c1[col].mean()
        assert before - after >= 0.5 * (before - p0), (col, before, after, p0)
    g0, g1 = f0["caregivers"]["positive_attitude"].mean(), f1["caregivers"]["positive_attitude"].mean()
    assert g0 - g1 >= 0.5 * (g0 - p.service_view_no_programme_prob), (g0, g1)


def test_evaluated_consumers_who_attended_nothing_answer_at_the_no_programme_level():
    """Pooled over every benefit item, evaluated consumers with no session attended say yes at
    benefit_no_programme_prob (within 4 standard errors), whatever their wave or community."""
    scen = load_scenario("scenarios/paper_study.yaml")
    low = scen.model_copy(update={"parameters": scen.parameters.replace(attendance_mean=0.05)})
    con = _frames(low, 10)["consumers"]
    none = con[(con["evaluated"] == 1) & (con["sessions_attended"] == 0)]
    assert len(none) >= 100
    yes = none[CONSUMER_BENEFITS].to_numpy().ravel()
    p0 = low.parameters.benefit_no_programme_prob
    assert abs(yes.mean() - p0) < 4 * np.sqrt(p0 * (1 - p0) / len(none))  # items of one person correlate
    sat = none["sat_overall"].mean()
    v0 = low.parameters.service_view_no_programme_prob
    assert abs(sat - v0) < 4 * np.sqrt(v0 * (1 - v0) / len(none))


def _pair(months=12, **params):
    """A structured and an unstructured community with the same staff, on the documented defaults."""
    com = {"wave": "w", "providers": 4, "consumers": 12, "doctors": 1}
    return scenario_from_dict(
        {
            "name": "ramp",
            "seed": 3,
            "waves": {"w": {"follow_up_months": months}},
            "communities": [
                {"name": "S", "scheduling": "structured", **com},
                {"name": "U", "scheduling": "unstructured", **com},
            ],
            "parameters": params,
        }
    )


def test_unstructured_scheduling_ramps_up_slowly():
    """Months 0-6: an unstructured community holds at most 0.6 times the sessions of a structured
    one with the same staff; afterwards it catches up (over 0.8 times in months 6-12)."""
    s = _frames(_pair(), 20)["sessions"]
    s = s[s["status"] == "held"]
    month = s["day"] / DAYS_PER_MONTH
    early = s[month < 6].groupby("community").size()
    late = s[(month >= 6) & (month < 12)].groupby("community").size()
    assert early["U"] <= 0.6 * early["S"], early.to_dict()
    assert late["U"] >= 0.8 * late["S"], late.to_dict()


def test_paper_study_total_sessions_stay_consistent_with_the_paper():
    """On the documented defaults (no calibrated set), the study's sessions before follow-up
    (Methods: 214) lie within the middle 95% of replications."""
    scen = load_scenario("scenarios/paper_study.yaml")
    defaults = scenario_from_dict({**scen.model_dump(mode="json", exclude={"parameters", "parameter_set"})})
    s = _frames(defaults, 20)["sessions"]
    totals = s[(s["status"] == "held") & (s["before_follow_up"] == 1)].groupby("replication").size()
    lo, hi = np.percentile(totals, [2.5, 97.5])
    assert lo - 10 <= 214 <= hi + 10, (totals.mean(), lo, hi)


def test_forty_villages_with_one_doctor_review_the_plans_of_sessions_that_are_held():
    """One doctor for 40 villages with slow reviews: most sessions are cancelled, and their plans
    are withdrawn, so plan reviews done are about the sessions held (not the sessions announced)."""
    village = {"wave": "w", "scheduling": "structured", "timetable_weeks": 1, "providers": 3, "consumers": 8}
    scen = scenario_from_dict(
        {
            "name": "villages",
            "seed": 5,
            "waves": {"w": {"follow_up_months": 12}},
            "doctor_pools": {"township": 1},
            "communities": [{"name": "V", **village, "doctor_pool": "township", "copies": 40}],
            "parameters": {"plan_review_mean_days": 2.0, "supervision_rate_per_month": 0.0},
        }
    )
    model = RolloutModel(scen, 0, scen.seed, scen.parameters)
    result = model.run()
    doctors = model.communities[0].doctors
    sessions = result.columns["sessions"]
    held = sum(1 for st in sessions["status"] if st == "held")
    announced = len(sessions["status"])
    reviews = doctors.served.get("plan_review", 0)
    assert held < 0.5 * announced  # the doctor is the bottleneck
    # Every review but the few in progress when their session was cancelled is of a held session.
    assert reviews <= 1.1 * held + 5, (reviews, held, announced)
    assert reviews >= held  # and every held session had its plan reviewed


def test_losing_providers_stops_sessions_and_answers_fall_to_the_no_programme_level():
    """Providers who quit at once leave fewer than two active: no session is held, every consumer's
    exposure is zero and their benefit answers sit at the no-programme level, far below a community
    whose providers stay."""
    stay = _pair(provider_quit_hazard_per_month=0.0, provider_leave_hazard_per_month=0.0)
    gone = _pair(provider_quit_hazard_per_month=1e4, provider_leave_hazard_per_month=0.0)
    f_stay, f_gone = _frames(stay, 10), _frames(gone, 10)
    assert (f_gone["sessions"]["status"] == "held").sum() == 0
    assert (f_gone["sessions"]["cancel_reason"] == "no_providers").all()
    c_stay, c_gone = (f["consumers"][f["consumers"]["evaluated"] == 1] for f in (f_stay, f_gone))
    assert (c_gone["sessions_attended"] == 0).all()
    p0 = gone.parameters.benefit_no_programme_prob
    rate_gone = c_gone[CONSUMER_BENEFITS].to_numpy().mean()
    rate_stay = c_stay[CONSUMER_BENEFITS].to_numpy().mean()
    assert abs(rate_gone - p0) < 4 * np.sqrt(p0 * (1 - p0) / len(c_gone))
    # The gap is about 0.20 on the defaults (0.18-0.22 over seeds 3-8, 10 replications each), so the
    # bound sits well below it and still fails when exposure stops mattering (gap about 0).
    assert rate_stay > rate_gone + 0.15
