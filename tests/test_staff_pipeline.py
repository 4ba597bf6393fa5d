"""The staff pipeline (scenario ``staff_pipeline``, ``sim/model/training.py``): replacements recruited,
trained in cohorts by a limited number of trainer teams, joining after the training lead time; the
``staff`` and ``training`` tables; the paper's study unchanged without the section; bad input refused.

Groups: lead time (recruitment + cohort wait + training, against the parameters); trainer capacity
(overlap and throughput against the number of teams); tables (staff.csv adds up month by month and
agrees with the people); sessions (nobody staffs a session before their training ends); invariance
(the paper's study, byte for byte); bad input (one line, exit 2).
"""

from __future__ import annotations

import io
import math

import pytest
import yaml

from sim.datasets import to_frames, write_table
from sim.model import simulate_replication
from sim.model.rollout import RolloutModel
from sim.model.staff_tables import month_ends
from sim.scenario import DAYS_PER_MONTH, ScenarioError, scenario_from_dict

EPS = 1e-9


def _scenario(pipeline: dict | None, communities: int = 4, providers: int = 6, quit_hazard: float = 0.2, **params):
    data = {
        "name": "pipeline_test",
        "seed": 11,
        "horizon_months": 36,
        "waves": {"w": {"follow_up_months": 12}},
        "communities": [
            {"name": "V", "wave": "w", "scheduling": "structured", "timetable_weeks": 1, "providers": providers}
            | {"consumers": 12, "copies": communities}
        ],
        "parameters": {"provider_quit_hazard_per_month": quit_hazard, **params},
    }
    if pipeline is not None:
        data["staff_pipeline"] = pipeline
    return scenario_from_dict(data)


class _Ran:
    """A model after its run, and the run's result (a compiled RolloutModel takes no new attributes)."""

    def __init__(self, model: RolloutModel):
        self.model, self.result = model, model.run()

    def __getattr__(self, name: str):
        return getattr(self.model, name)


def _run(scen, replication: int = 0) -> _Ran:
    return _Ran(RolloutModel(scen, replication, scen.seed, scen.parameters))


def _recruits(model: RolloutModel):
    """Every replacement that joined its community (in join order within each community)."""
    return [q for c in model.communities for q in c.providers[c.spec.providers :]]


# --- lead time ---------------------------------------------------------------------------------------
def test_quitters_are_replaced_after_recruitment_plus_training():
    """Plenty of trainers and cohorts of one: a vacancy opens on the quit day, the recruit is found after
    an exponential time with mean recruitment_months, starts training at once and joins training_days
    (five half-days at two a week = 17.5 days) later."""
    pipe = {"trainers": 50, "cohort_size": 1, "max_wait_weeks": 0, "recruitment_months": 1.5}
    scen = _scenario(pipe, provider_leave_hazard_per_month=0.0)
    assert scen.staff_pipeline.training_days == pytest.approx(17.5)
    gaps: list[float] = []
    for rep in range(2):
        model = _run(scen, rep)
        for c in model.communities:
            exits = {q.pid: q.exit_day for q in c.providers if q.exit_day is not None}
            joined = c.providers[c.spec.providers :]
            # every quit opens exactly one vacancy (staffed = target before each quit)
            vacancies = [r for r in model.centre.recruits if r.community is c]
            assert len(vacancies) == len(exits)
            for r in vacancies:
                assert r.opened == pytest.approx(exits[r.replaces])
            for q in joined:
                assert q.training_start == pytest.approx(q.recruited_day)  # no wait for a cohort or a team
                assert q.training_end - q.training_start == pytest.approx(17.5)
                assert q.replaces in exits
                gaps.append(q.recruited_day - exits[q.replaces])
    expected = 1.5 * DAYS_PER_MONTH
    se = expected / math.sqrt(len(gaps))  # exponential: sd = mean
    assert len(gaps) > 100
    assert abs(sum(gaps) / len(gaps) - expected) < 4 * se


def test_cohorts_start_full_or_when_the_oldest_recruit_has_waited_max_wait_weeks():
    pipe = {"trainers": 50, "cohort_size": 3, "max_wait_weeks": 2, "recruitment_months": 0.5}
    model = _run(_scenario(pipe))
    cohorts = model.centre.cohorts
    assert len(cohorts) > 10
    for h in cohorts:
        waits = [h.start - r.provider.recruited_day for r in h.trainees]
        assert 1 <= len(h.trainees) <= 3 and min(waits) >= -EPS and max(waits) <= 14 + EPS
        assert len(h.trainees) == 3 or max(waits) == pytest.approx(14)
    assert any(len(h.trainees) == 3 for h in cohorts) and any(len(h.trainees) < 3 for h in cohorts)


# --- trainer capacity --------------------------------------------------------------------------------
def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])  # an end before a start
    now = top = 0
    for _, step in events:
        now += step
        top = max(top, now)
    return top


@pytest.mark.parametrize("trainers", [1, 2])
def test_trainer_teams_limit_the_cohorts_running_at_once(trainers):
    """Many vacancies, few teams: at most ``trainers`` cohorts at once (and that many do run at once),
    recruits queue far longer than max_wait_weeks, and trainees are bounded by teams x cohort_size x
    (span / training_days)."""
    pipe = {"trainers": trainers, "cohort_size": 2, "max_wait_weeks": 1, "recruitment_months": 0.25}
    model = _run(_scenario(pipe, communities=8, quit_hazard=0.4))
    cohorts = model.centre.cohorts
    spans = [(h.start, h.end) for h in cohorts]
    assert _max_overlap(spans) == trainers
    length = model.scenario.staff_pipeline.training_days
    span = max(b for _, b in spans) - min(a for a, _ in spans)
    assert len(cohorts) <= trainers * span / length + EPS
    assert sum(len(h.trainees) for h in cohorts) <= 2 * trainers * span / length + EPS
    waits = [h.start - r.provider.recruited_day for h in cohorts for r in h.trainees]
    assert sum(waits) / len(waits) > 7 * 3  # the queue for a team, not the one-week launch rule, sets the wait
    if trainers == 1:  # back to back: the team is busy nearly all the time
        assert len(cohorts) * length > 0.9 * span


# --- tables ------------------------------------------------------------------------------------------
def test_staff_table_adds_up_and_agrees_with_the_people():
    pipe = {"trainers": 1, "cohort_size": 3, "recruitment_months": 1.0, "cover_leave": True, "long_leave_months": 1}
    model = _run(_scenario(pipe, provider_leave_hazard_per_month=0.1))
    staff = model.result.columns["staff"]
    rows = list(zip(*(staff[k] for k in ("community", "month", "in_post", "on_leave", "quit", "trained")), strict=True))
    for c in model.communities:
        first, ends = month_ends(c)
        mine = [r for r in rows if r[0] == c.name]
        assert [r[1] for r in mine] == list(range(first, first + len(ends)))
        before = 0
        for (_, _, in_post, on_leave, quit_, trained), t in zip(mine, ends, strict=True):
            assert in_post - before == trained - quit_
            before = in_post
            post = [q for q in c.providers if q.training_end <= t and not (q.exit_day is not None and q.exit_day <= t)]
            assert in_post == len(post)
            assert on_leave == sum(any(a <= t < b for a, b in q.leave_spells) for q in post)
        assert sum(r[5] for r in mine) == sum(q.training_end <= c.end for q in c.providers)
        assert sum(r[4] for r in mine) == sum(q.exit_day is not None for q in c.providers)
    assert sum(staff["quit"]) > 10 and sum(staff["on_leave"]) > 0
    training = model.result.columns["training"]
    assert training["kind"].count("founding") == len(model.communities)
    pipeline_rows = [k for k, kind in enumerate(training["kind"]) if kind == "pipeline"]
    trained_later = sum(training["trainees"][k] for k in pipeline_rows if training["end_day"][k] <= 36 * DAYS_PER_MONTH)
    assert trained_later == sum(staff["trained"]) - sum(c.spec.providers for c in model.communities)


def test_no_session_is_staffed_before_its_providers_training_ends():
    pipe = {"trainers": 1, "cohort_size": 2, "recruitment_months": 1.0}
    model = _run(_scenario(pipe, quit_hazard=0.3))
    staffed_by_recruits = 0
    for c in model.communities:
        for r in c.records:
            for i in r.staff:
                q = c.providers[i]
                assert q.training_end <= r.day and (q.exit_day is None or q.exit_day > r.day)
                staffed_by_recruits += i >= c.spec.providers
    assert staffed_by_recruits > 50  # replacements do staff sessions once trained


def test_same_seed_same_staff_and_training_tables():
    scen = _scenario({"trainers": 2, "cohort_size": 3, "cover_leave": True}, provider_leave_hazard_per_month=0.1)
    a, b = (simulate_replication(scen, 1).columns for _ in range(2))
    assert a["staff"] == b["staff"] and a["training"] == b["training"]
    assert repr(a["providers"]) == repr(b["providers"])  # repr: unevaluated answers are NaN
    assert len(a["training"]["cohort"]) > len(scen.communities[0].name)  # pipeline cohorts ran


def test_nobody_replaced_without_the_section():
    model = _run(_scenario(None))
    assert not _recruits(model) and sum(model.result.columns["staff"]["quit"]) > 10
    assert set(model.result.columns["training"]["kind"]) == {"founding"}


def _paper_frames(repo, pipeline: dict | None):
    data = yaml.safe_load((repo / "scenarios" / "paper_study.yaml").read_text())
    data.pop("parameter_set", None)
    assert "staff_pipeline" not in data
    data["parameters"] = {"provider_quit_hazard_per_month": 0.0, "provider_leave_hazard_per_month": 0.0}
    if pipeline is not None:
        data["staff_pipeline"] = pipeline
    return to_frames([simulate_replication(scenario_from_dict(data), r) for r in range(3)])


def test_a_pipeline_with_no_vacancy_leaves_the_paper_study_unchanged(repo):
    """Nobody quits or goes on leave, so the pipeline never recruits: the paper study's tables are the same
    bytes with or without the section (the pipeline draws only on its own streams, only for vacancies)."""
    plain = _paper_frames(repo, None)
    piped = _paper_frames(repo, {"trainers": 1, "cohort_size": 4, "cover_leave": True})
    assert list(plain["providers"].columns[-2:]) == ["training_start_day", "replaces"]
    for table in ("providers", "consumers", "caregivers", "sessions", "communities", "staff", "training"):
        a, b = io.StringIO(), io.StringIO()
        write_table(plain[table], a)
        write_table(piped[table], b)
        assert a.getvalue() == b.getvalue(), table
    founding = plain["training"]
    assert list(founding["trainees"]) == [5, 2, 4, 2] * 3 and set(founding["trainer_half_days"]) == {5}
    assert (plain["staff"].groupby(["replication", "community"]).size() > 0).all()


# --- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pipeline", "field", "message"),
    [
        ({"trainers": 0}, "staff_pipeline", "trainers: 0 training teams"),
        ({"recruitment_months": -1}, "staff_pipeline.recruitment_months", "greater than or equal to 0"),
        ({"cohort_size": 0}, "staff_pipeline.cohort_size", "greater than or equal to 1"),
        ({"trainer": 2}, "staff_pipeline.trainer", "did you mean 'trainers'"),
    ],
)
def test_bad_staff_pipeline_is_one_line(pipeline, field, message):
    with pytest.raises(ScenarioError) as e:
        _scenario(pipeline)
    line = str(e.value)
    assert "\n" not in line and f": {field}: " in line and message in line


def test_zero_trainers_allowed_when_nothing_is_replaced():
    scen = _scenario({"trainers": 0, "replace_quitters": False})
    assert not scen.staff_pipeline.replacing and not _recruits(_run(scen))


def test_cli_refuses_bad_staff_pipeline_with_exit_2(tmp_path, run_cli):
    for k, (pipeline, field) in enumerate(
        [
            ({"trainers": 0}, "staff_pipeline"),
            ({"half_days_per_week": -2}, "staff_pipeline.half_days_per_week"),
            ({"cohort_sise": 4}, "staff_pipeline.cohort_sise"),
        ]
    ):
        f = tmp_path / f"bad{k}.yaml"
        data = {
            "name": "bad",
            "waves": {"w": {"follow_up_months": 6}},
            "communities": [{"name": "A", "wave": "w", "scheduling": "structured", "providers": 2, "consumers": 4}],
            "staff_pipeline": pipeline,
        }
        f.write_text(yaml.safe_dump(data))
        r = run_cli("run", f, "--out", tmp_path / f"out{k}", "-q")
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and f"{f}: {field}: " in r.stderr
        assert not (tmp_path / f"out{k}").exists()


def test_cli_refuses_zero_trainers_with_referrals(tmp_path, run_cli):
    """No training team and consumers referred: refused (one line, exit 2); the same pipeline without
    referrals is accepted."""
    base = {
        "name": "zero_trainers",
        "waves": {"w": {"follow_up_months": 6}},
        "communities": [{"name": "A", "wave": "w", "scheduling": "structured", "providers": 2, "consumers": 4}],
        "staff_pipeline": {"trainers": 0, "replace_quitters": False, "cover_leave": False},
    }
    for k, rate in enumerate((1.0, 0.0)):
        f = tmp_path / f"z{k}.yaml"
        f.write_text(yaml.safe_dump({**base, "caseload": {"referrals_per_month": rate}}))
        r = run_cli("run", f, "--reps", "1", "--no-analysis", "--out", tmp_path / f"out{k}", "-q")
        if rate > 0:
            assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
            assert f"{f}: " in r.stderr and "staff_pipeline.trainers is 0" in r.stderr
            assert not (tmp_path / f"out{k}").exists()
        else:
            assert r.returncode == 0, r.stderr


def test_recruits_of_a_community_whose_services_ended_are_not_trained():
    data = {
        "name": "ends",
        "seed": 3,
        "waves": {"short": {"follow_up_months": 6}, "long": {"follow_up_months": 30}},
        "communities": [
            {"name": "S", "wave": "short", "scheduling": "structured", "providers": 6, "consumers": 12, "copies": 3},
            {"name": "L", "wave": "long", "scheduling": "structured", "providers": 6, "consumers": 12, "copies": 3},
        ],
        "parameters": {"provider_quit_hazard_per_month": 0.4},
        "staff_pipeline": {"trainers": 1, "cohort_size": 2, "recruitment_months": 0.25},
    }
    model = _run(scenario_from_dict(data))
    trained = [(h, r) for h in model.centre.cohorts for r in h.trainees]
    assert all(h.start < r.community.end for h, r in trained)
    short_end = 6 * DAYS_PER_MONTH
    untrained = [r for r in model.centre.recruits if r.community.end == short_end and r.cohort is None]
    assert untrained and any(h.end > short_end for h, _ in trained)  # the team kept training for the others


# --- with an open caseload ---------------------------------------------------------------------------
def test_waiting_list_built_by_quits_is_served_when_the_trained_replacements_arrive():
    """Referrals exceed the places of the providers left after quits (3 places each, Methods' 1:3): a
    waiting list builds; on the day a cohort of replacements joins, the consumers waiting just before
    start at once, as many as the new places allow: min(waiting, places after - enrolled before)."""
    pipe = {"trainers": 1, "cohort_size": 2, "max_wait_weeks": 1, "recruitment_months": 0.5}
    scen = _scenario(pipe, communities=2, providers=3, quit_hazard=0.15, provider_leave_hazard_per_month=0.0)
    caseload = {"referrals_per_month": 2, "consumers_per_provider": 3, "graduation_months": 3}
    scen = scen.model_copy(update={"caseload": scenario_from_dict({**_caseload_base(), "caseload": caseload}).caseload})
    arrivals = started_total = 0
    for rep in range(4):
        model = _run(scen, rep)
        for c in model.communities:
            cons = c.consumers
            n = len(cons)
            for t in sorted({q.training_end for q in c.providers[c.spec.providers :] if q.training_end < c.end}):
                waiting = [k for k in range(n) if cons.referred_day[k] < t <= cons.enrolled_day[k]]
                enrolled = sum(1 for k in range(n) if cons.enrolled_day[k] < t < cons.exit_day[k])
                c.forget_available()
                places = 3 * len(c.available_providers(t))
                started = sum(1 for k in waiting if cons.enrolled_day[k] == t)
                assert started == min(len(waiting), max(0, places - enrolled))
                arrivals += bool(waiting)
                started_total += started
    assert arrivals >= 5 and started_total >= 5


def _caseload_base() -> dict:
    return {
        "name": "caseload_base",
        "waves": {"w": {"follow_up_months": 12}},
        "communities": [{"name": "X", "wave": "w", "scheduling": "structured", "providers": 2, "consumers": 1}],
    }
