"""Open caseloads (``sim/model/caseload.py``, scenario ``caseload:``): referrals, the waiting list, exits.

Groups of tests:
- waiting list: it builds while the groups are full and clears when places open (providers finish
  training; a provider added during the run, as the staff pipeline adds them); nobody waiting is
  invited to a session;
- flow balance: month by month in ``caseload.csv``, consumers referred so far = enrolled + waiting +
  exits so far, and the table agrees with ``consumers.csv``; Little's law for the waiting list;
- theory: referrals per community-month are Poisson with the scenario's rate; graduation times are
  exponential with mean ``graduation_months``;
- closed cohort: an open caseload with no referrals and no graduation is, draw for draw, the closed
  cohort (so the closed cohort's code path is the paper's);
- bad input in ``caseload:``: one line, exit code 2, via ``python cli.py run``.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from sim import instruments as ins
from sim.datasets import to_frames, write_table
from sim.model import RolloutModel, simulate_replication
from sim.model.community import Provider
from sim.scenario import DAYS_PER_MONTH, scenario_from_dict

NO_PROVIDER_CHANGES = {"provider_quit_hazard_per_month": 0.0, "provider_leave_hazard_per_month": 0.0}


def _scenario(caseload=None, months=12, communities=None, **params):
    d = {
        "name": "caseload_test",
        "seed": 11,
        "horizon_months": months,
        "waves": {"w": {"follow_up_months": min(12, months)}},
        "communities": communities
        or [
            {"name": "A", "wave": "w", "scheduling": "structured", "timetable_weeks": 1, "providers": 2, "consumers": 4}
        ],
        "parameters": params,
    }
    if caseload is not None:
        d["caseload"] = caseload
    return scenario_from_dict(d)


def _frames(sc, reps=1):
    return to_frames([simulate_replication(sc, r) for r in range(reps)])


# --- waiting list ----------------------------------------------------------------------------------
def test_waiting_list_builds_during_training_and_clears_when_providers_are_trained():
    """No provider is available before training ends (90 days here), so every referral waits; on the
    day training ends there are 2 x 25 places and everyone waiting starts at once."""
    sc = _scenario(
        {"referrals_per_month": 3, "consumers_per_provider": 25, "graduation_months": None},
        months=8,
        training_days=90.0,
        consumer_dropout_hazard_per_month=0.0,
        **NO_PROVIDER_CHANGES,
    )
    f = _frames(sc, reps=3)
    cl, cons = f["caseload"], f["consumers"]
    by_month = cl.groupby("month")["waiting"].sum()
    assert by_month[0] > 0 and by_month[1] > by_month[0]  # builds while nobody can run a group
    assert (cl[cl["month"] >= 2]["waiting"] == 0).all()  # cleared on day 90 (month 2.96)
    referred = cons[cons["referred_day"] > 0]
    early = referred[referred["referred_day"] < 90.0]
    assert len(early) > 5
    np.testing.assert_allclose(early["enrolled_day"], 90.0)  # they start the day places open
    late = referred[referred["referred_day"] >= 90.0]
    np.testing.assert_allclose(late["enrolled_day"], late["referred_day"])  # places free: no wait
    assert (cons["status"] != "waiting").all()


def test_a_provider_added_during_the_run_opens_places_for_the_waiting_list():
    """The staff pipeline's way of adding a provider (append to ``providers`` and forget the
    availability cache): the waiting list, full with two providers, shrinks once the new one is trained."""
    sc = _scenario(
        {"referrals_per_month": 4, "consumers_per_provider": 3, "graduation_months": None},
        months=12,
        consumer_dropout_hazard_per_month=0.0,
        **NO_PROVIDER_CHANGES,
    )
    model = RolloutModel(sc, 0, sc.seed, sc.parameters)
    c = model.communities[0]
    arrives = 6 * DAYS_PER_MONTH

    def recruit(env):
        yield env.timeout(arrives - 14.0)
        q = c.providers[0]
        new = Provider(len(c.providers), f"{c.name}/P99", q.baseline, arrives, False, q.menu)
        new.led = 10**6  # assists, never leads (on main the content menus are fixed when the run starts)
        c.providers.append(new)
        c.forget_available()

    model.env.process(recruit(model.env))
    res = model.run()
    cl = pd.DataFrame(res.columns["caseload"])
    assert (cl["enrolled"][cl["month"].between(1, 5)] == 6).all()  # 2 providers x 3 places, full
    assert cl.loc[cl["month"] == 5, "waiting"].item() >= 3
    assert cl.loc[cl["month"] == 6, "started"].item() == 3  # the new provider's 3 places, on day `arrives`
    assert cl.loc[cl["month"] == 6, "enrolled"].item() == 9
    assert sorted(c.consumers.enrolled_day).count(arrives) == 3


def test_waiting_consumers_are_never_invited_and_exits_end_invitations():
    sc = _scenario(
        {"referrals_per_month": 3, "consumers_per_provider": 3, "graduation_months": 4},
        months=18,
        consumer_dropout_hazard_per_month=0.05,
    )
    checked = waited = 0
    for r in range(3):
        model = RolloutModel(sc, r, sc.seed, sc.parameters)
        res = model.run()
        c = model.communities[0]
        cons = c.consumers
        for rec in c.records:
            for k in rec.invited:
                assert cons.enrolled_day[k] <= rec.day < cons.exit_day[k]
                checked += 1
        waited += sum(e > ref for e, ref in zip(cons.enrolled_day, cons.referred_day, strict=True))
        f = pd.DataFrame(res.columns["consumers"])
        assert (f.loc[f["status"] == "waiting", "sessions_invited"] == 0).all()
        assert (f.loc[f["status"] == "waiting", "evaluated"] == 0).all()
    assert checked > 100 and waited > 5


def test_late_joiners_answer_from_their_own_shorter_exposure():
    """The outcome chain uses each person's own exposure (docs/outcome_chain.md): consumers who joined
    a group in the three months before follow-up attended fewer sessions and report the programme's
    benefits less often than the founding cohort, evaluated at the same follow-up."""
    sc = _scenario(
        {"referrals_per_month": 1.5, "consumers_per_provider": 10, "graduation_months": None},
        communities=[
            {"name": "V", "wave": "w", "scheduling": "structured", "providers": 4, "consumers": 6, "copies": 4}
        ],
    )
    cons = _frames(sc, reps=3)["consumers"]
    ev = cons[cons["evaluated"] == 1]
    late = ev[ev["enrolled_day"] > ev["follow_up_day"] - 3 * DAYS_PER_MONTH]
    early = ev[ev["enrolled_day"] == ev["recruited_day"]]
    early = early[early["referred_day"] == 0.0]
    assert len(late) >= 15 and len(early) >= 40
    assert late["sessions_attended"].mean() < 0.3 * early["sessions_attended"].mean()
    benefit = list(ins.SELF_BENEFIT_COLUMNS)
    assert late[benefit].to_numpy().mean() < early[benefit].to_numpy().mean() - 0.1


# --- flow balance ----------------------------------------------------------------------------------
def test_flow_balance_month_by_month_and_agreement_with_the_consumers_table():
    sc = _scenario(
        {"referrals_per_month": 2.5, "consumers_per_provider": 3, "graduation_months": 6},
        months=24,
        communities=[
            {"name": "A", "wave": "w", "scheduling": "structured", "providers": 2, "consumers": 4},
            {"name": "B", "wave": "w", "scheduling": "unstructured", "providers": 3, "consumers": 9, "start_month": 2},
        ],
    )
    f = _frames(sc, reps=2)
    cl = f["caseload"].sort_values(["replication", "community", "month"])
    g = cl.groupby(["replication", "community"])
    cum = {k: g[k].cumsum() for k in ("referred", "started", "dropped_out", "graduated")}
    assert (cum["referred"] == cl["enrolled"] + cl["waiting"] + cum["dropped_out"] + cum["graduated"]).all()
    assert (cum["started"] == cl["enrolled"] + cum["dropped_out"] + cum["graduated"]).all()
    # nobody starts beyond the places (A: 2 providers x 3; B: 3 x 3, all taken by its founding cohort)
    assert (cl.loc[cl["community"] == "A", "enrolled"] <= 6).all()
    assert (cl.loc[cl["community"] == "B", "enrolled"] <= 9).all()
    assert g["month"].min().xs("B", level="community").eq(2).all() and g["month"].max().eq(23).all()
    # every consumer in consumers.csv was referred, and the caseload counts them all
    n_people = f["consumers"].groupby(["replication", "community"]).size()
    pd.testing.assert_series_equal(g["referred"].sum(), n_people, check_names=False)
    assert (cl["graduated"].sum() > 0) and (cl["dropped_out"].sum() > 0) and (cl["waiting"].max() > 0)


def test_littles_law_for_the_waiting_list():
    """Over a long run the time-averaged waiting list equals the referral rate times the mean wait
    (Little's law; month-end counts sample the list, so the check is within sampling error)."""
    sc = _scenario(
        {"referrals_per_month": 2.0, "consumers_per_provider": 3, "graduation_months": 3},
        months=120,
        consumer_dropout_hazard_per_month=0.0,
        **NO_PROVIDER_CHANGES,
    )
    model = RolloutModel(sc, 0, sc.seed, sc.parameters)
    res = model.run()
    cons = model.communities[0].consumers
    cl = pd.DataFrame(res.columns["caseload"])
    late = cl["month"] >= 12  # after the first year
    lam = cl.loc[late, "referred"].mean()  # per month
    ref = np.asarray(cons.referred_day)
    enr = np.asarray(cons.enrolled_day)
    window = (ref >= 12 * DAYS_PER_MONTH) & (enr < math.inf)
    wait_months = (enr[window] - ref[window]).mean() / DAYS_PER_MONTH
    assert wait_months > 0.3  # a real queue
    assert cl.loc[late, "waiting"].mean() == pytest.approx(lam * wait_months, rel=0.2)


# --- theory ----------------------------------------------------------------------------------------
def test_referrals_per_community_month_are_poisson_with_the_scenario_rate():
    rate, n_comm, months = 1.5, 40, 24
    sc = _scenario(
        {"referrals_per_month": rate, "consumers_per_provider": 5, "graduation_months": None},
        months=months,
        communities=[
            {"name": "V", "wave": "w", "scheduling": "structured", "providers": 2, "consumers": 1, "copies": n_comm}
        ],
    )
    cl = _frames(sc)["caseload"]
    counts = cl.loc[cl["month"] > 0, "referred"].to_numpy()  # month 0 also holds the founding consumer
    n = len(counts)
    assert n == n_comm * (months - 1)
    assert abs(counts.mean() - rate) < 4 * math.sqrt(rate / n)
    assert counts.var(ddof=1) / counts.mean() == pytest.approx(1.0, abs=0.2)  # Poisson dispersion
    observed = np.bincount(np.minimum(counts, 5), minlength=6)
    expected = n * np.append(stats.poisson.pmf(np.arange(5), rate), stats.poisson.sf(4, rate))
    assert stats.chisquare(observed, expected).pvalue > 0.001
    village = {"wave": "w", "scheduling": "structured", "providers": 2, "consumers": 1}
    with_override = _scenario(
        {"referrals_per_month": rate},
        months=months,
        communities=[{**village, "name": "V"}, {**village, "name": "Q", "referrals_per_month": 0}],
    )
    cl2 = _frames(with_override)["caseload"]
    assert cl2.loc[cl2["community"] == "Q", "referred"].sum() == 1  # the founding consumer only


def test_graduation_times_are_exponential_with_the_scenario_mean():
    mean_months = 5.0
    sc = _scenario(
        {"referrals_per_month": 2, "consumers_per_provider": 50, "graduation_months": mean_months},
        months=24,
        communities=[
            {"name": "V", "wave": "w", "scheduling": "structured", "providers": 4, "consumers": 10, "copies": 10}
        ],
        consumer_dropout_hazard_per_month=0.0,
        **NO_PROVIDER_CHANGES,
    )
    model = RolloutModel(sc, 0, sc.seed, sc.parameters)
    model.run()
    gaps = np.concatenate([c.caseload.graduation_gap for c in model.communities]) / DAYS_PER_MONTH
    assert len(gaps) > 300
    assert abs(gaps.mean() - mean_months) < 4 * mean_months / math.sqrt(len(gaps))
    assert stats.kstest(gaps, "expon", args=(0, mean_months)).pvalue > 0.001
    realised = 0
    for c in model.communities:  # each graduate left after exactly their drawn time in the programme
        cons = c.consumers
        for k, why in enumerate(cons.exit_reason):
            if why == "graduated" and cons.exit_day[k] < c.end:
                assert cons.exit_day[k] - cons.enrolled_day[k] == pytest.approx(c.caseload.graduation_gap[k])
                realised += 1
    assert realised > 100


# --- closed cohort ---------------------------------------------------------------------------------
def _csv(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    write_table(df, buf)
    return buf.getvalue()


def test_an_open_caseload_without_referrals_or_graduation_is_the_closed_cohort(scenario_paths):
    """Same draws, same sessions, same people: the open caseload's code path reduces to the closed
    cohort's, and the closed cohort draws nothing from the caseload streams."""
    with open(scenario_paths["paper_study"]) as fh:
        data = yaml.safe_load(fh)
    data["parameter_set"] = None  # defaults: the point is the code path, not the calibration
    closed = scenario_from_dict(data)
    opened = scenario_from_dict({**data, "caseload": {"referrals_per_month": 0, "graduation_months": None}})
    a, b = _frames(closed, reps=2), _frames(opened, reps=2)
    for t in ("providers", "caregivers", "sessions", "communities", "caseload"):
        assert _csv(a[t]) == _csv(b[t]), t
    new = ["referred_day", "enrolled_day", "exit_reason"]
    assert not set(new) & set(a["consumers"].columns)  # the closed cohort's consumers.csv keeps its columns
    assert _csv(a["consumers"]) == _csv(b["consumers"].drop(columns=new))
    assert (b["consumers"]["enrolled_day"] == b["consumers"]["recruited_day"]).all()
    model = RolloutModel(closed, 0, closed.seed, closed.parameters)
    assert all(c.caseload is None for c in model.communities)
    cl = a["caseload"]
    assert (cl["waiting"] == 0).all() and (cl["graduated"] == 0).all()
    assert cl.groupby(["replication", "community"])["referred"].sum().sum() == len(a["consumers"])


# --- bad input -------------------------------------------------------------------------------------
BAD = {
    "negative rate": ({"caseload": {"referrals_per_month": -1}}, "caseload.referrals_per_month"),
    "unknown key": ({"caseload": {"referal_rate": 1}}, "caseload.referal_rate: unknown key"),
    "misspelt key": ({"caseload": {"consumer_per_provider": 4}}, "did you mean 'consumers_per_provider'"),
    "ratio below one": ({"caseload": {"consumers_per_provider": 0.5}}, "caseload.consumers_per_provider"),
    "zero graduation": ({"caseload": {"graduation_months": 0}}, "caseload.graduation_months"),
    "override without section": ({"override": True}, "without a caseload: section"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_caseload_input_exits_2_with_one_line(tmp_path, small_yaml, run_cli, case):
    changes, expect = BAD[case]
    if changes.pop("override", False):
        from helpers import fakemodel as fm

        cs = [dict(c) for c in fm.SMALL_SCENARIO["communities"]]
        cs[0]["referrals_per_month"] = 2
        changes = {"communities": cs}
    f = small_yaml(**changes)
    r = run_cli("run", f, "--out", tmp_path / "out", "-q", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0] and str(f.name) in lines[0], r.stderr
    assert not (tmp_path / "out").exists()
