"""The SimPy model of the peer-support rollout: one replication as a pure function of scenario + seed.

Mechanisms (Fan et al. 2019, Methods), each its own process or resource:

- **Pre-service training** (five half-days): providers deliver nothing before ``training_end``.
- **Session scheduling** per community: ``structured`` = a fixed timetable (weekly or fortnightly)
  with content picked from the eight categories by the lead's interests; ``unstructured`` =
  provider-initiated sessions whose rate ramps up over the first six months, with irregular
  timing (rescheduling) and content drawn from the lead's few favourite categories.
- **Staffing**: a session needs at least two available providers (trained, not on leave, not
  quit); one leads, the others assist. It is postponed, then cancelled, when it cannot be staffed,
  when the **community doctor** (a SimPy resource, also busy with non-scheduled supervision) has
  not reviewed its Service Plan Form, or when the venue is unavailable.
- **Consumers** attend each session they are invited to with their own propensity, and drop out
  with a monthly hazard that depends on their recent attendance, on how many sessions were
  disrupted, on the community and on the setting.
- **Providers** take temporary leave and return, may quit (more likely when stressed), and ask
  the community doctor for supervision.
- **Follow-up evaluation** at each wave's follow-up month: everyone still in the programme is
  interviewed (``sim.follow_up``), and so are the caregivers who take part.

Time is in days from the start of the study; months are 365.25/12 days.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import simpy
from scipy.special import expit, logit

from . import instruments as ins
from .baseline import draw_baseline
from .follow_up import (
    REFERENCE_ON_TIME_SHARE,
    CommunityContext,
    interview_caregivers,
    interview_consumers,
    interview_providers,
)
from .parameters import ModelParameters
from .scenario import DAYS_PER_MONTH, Community, Scenario
from .streams import Stream, stream

WEEK = 7.0
MIN_PROVIDERS_PER_SESSION = 2  # Methods: "at least two service providers, one of whom leads"
N_CATEGORIES = len(ins.CONTENT_CATEGORIES)


@dataclass
class ReplicationResult:
    """Everything one replication produced: column-oriented tables and the SimPy event count."""

    replication: int
    events: int
    columns: dict[str, dict[str, list]] = field(default_factory=dict)


class Provider:
    """A peer service provider: baseline, interests, stress, and what they delivered."""

    __slots__ = (
        "assisted",
        "baseline",
        "categories",
        "exit_day",
        "leave_episodes",
        "leave_spells",
        "led",
        "menu",
        "on_time",
        "pid",
        "status",
        "stressed",
        "supervision",
        "training_end",
    )

    def __init__(
        self, pid: str, baseline: dict, training_end: float, stressed: bool, interest: np.ndarray, breadth: int
    ):
        self.pid = pid
        self.baseline = baseline
        self.training_end = training_end
        self.status = "active"
        self.stressed = stressed
        # The categories this provider picks from (all eight, or their favourites) and the
        # cumulative choice probabilities (Methods: 'according to their own interest or strength').
        order = np.argsort(-interest, kind="stable")[:breadth] if breadth < len(interest) else np.arange(len(interest))
        fav = interest[order]
        self.menu = (order.tolist(), np.cumsum(fav / fav.sum()).tolist())
        self.led = 0
        self.assisted = 0
        self.categories: set[int] = set()
        self.on_time = 0
        self.leave_episodes = 0
        self.leave_spells: list[list[float]] = []
        self.supervision = 0
        self.exit_day: float | None = None

    def available(self, now: float) -> bool:
        return self.status == "active" and now >= self.training_end


class Consumer:
    """A consumer: baseline, attendance propensity, and what they attended."""

    __slots__ = (
        "attended",
        "baseline",
        "categories",
        "exit_day",
        "invited",
        "month_attended",
        "month_invited",
        "on_time",
        "pid",
        "propensity",
    )

    def __init__(self, pid: str, baseline: dict, propensity: float):
        self.pid = pid
        self.baseline = baseline
        self.propensity = propensity
        self.exit_day: float | None = None
        self.invited = 0
        self.attended = 0
        self.categories: set[int] = set()
        self.on_time = 0
        self.month_invited = 0
        self.month_attended = 0

    def enrolled(self, now: float) -> bool:
        return self.exit_day is None or self.exit_day > now


class CommunityRun:
    """One community's state in one replication: its people, doctors, streams and records."""

    def __init__(self, model: RolloutModel, index: int, spec: Community, doctors: simpy.Resource, n_doctors: int):
        sc, p = model.scenario, model.p
        self.index, self.spec, self.doctors, self.n_doctors = index, spec, doctors, n_doctors
        self.name = spec.name
        wave = sc.waves[spec.wave]
        self.structured = spec.scheduling == "structured"
        self.c_struct = 0.5 if self.structured else -0.5
        self.c_exp = 0.5 if wave.experienced else -0.5
        self.rural = spec.setting == "rural"
        self.start = spec.start_month * DAYS_PER_MONTH
        self.follow_up = sc.follow_up_month(spec) * DAYS_PER_MONTH
        self.end = sc.end_month(spec) * DAYS_PER_MONTH
        self.training_end = self.start + p.training_days
        rng = {s: stream(model.seed, model.replication, s, index) for s in Stream}
        self.rng = rng
        r = rng[Stream.COMMUNITY]
        self.effect = p.community_effect_sd * float(r.standard_normal())
        weekly_u = float(r.random())
        if self.structured:
            self.timetable_weeks = spec.timetable_weeks or (1 if weekly_u < p.weekly_timetable_prob else 2)
        else:
            self.timetable_weeks = None
        self.context = CommunityContext(self.c_struct, self.c_exp, self.effect)

        # Providers: baseline (Table 1), interests (Methods: 'according to their own interest'), stress.
        base = draw_baseline("provider", spec.providers, rng[Stream.BASELINE])
        weights = np.array([p.content_interest_weights[c] for c in ins.CONTENT_CATEGORIES])
        interests = rng[Stream.CONTENT].dirichlet(
            p.content_interest_concentration * weights / weights.sum(), spec.providers
        )
        p_stress = float(expit(logit(p.stress_base_prob) + p.stress_structured_logit * self.c_struct))
        stress_u = rng[Stream.STRESS].random(spec.providers)
        breadth = p.unstructured_content_breadth if not self.structured else N_CATEGORIES
        self.providers = [
            Provider(
                f"{self.name}/P{i + 1:02d}",
                {k: v[i] for k, v in base.items()},
                self.training_end,
                bool(stress_u[i] < p_stress),
                interests[i],
                breadth,
            )
            for i in range(spec.providers)
        ]
        # Consumers: baseline (Table 1) and attendance propensity.
        base = draw_baseline("consumer", spec.consumers, rng[Stream.BASELINE])
        ra = rng[Stream.ATTENDANCE]
        a, b = p.attendance_mean * p.attendance_concentration, (1 - p.attendance_mean) * p.attendance_concentration
        raw = np.clip(ra.beta(a, b, spec.consumers), 1e-6, 1 - 1e-6)
        shift = p.attendance_community_loading * self.effect + (p.rural_attendance_logit if self.rural else 0.0)
        prop = expit(logit(raw) + shift)
        self.consumers = [
            Consumer(f"{self.name}/C{i + 1:02d}", {k: v[i] for k, v in base.items()}, float(prop[i]))
            for i in range(spec.consumers)
        ]
        # Month counters for the dropout hazard ('how well sessions run').
        self.month_sessions = 0
        self.month_disrupted = 0
        self.held_before_follow_up = 0
        self.cancelled_before_follow_up = 0
        self.sessions: dict[str, list] = {k: [] for k in SESSION_COLUMNS}
        self.snapshot: dict | None = None


SESSION_COLUMNS = (
    "replication",
    "community",
    "wave",
    "scheduling",
    "session_id",
    "announced_day",
    "day",
    "status",
    "cancel_reason",
    "postponements",
    "on_time",
    "content",
    "format",
    "venue",
    "duration_min",
    "lead_provider",
    "providers",
    "n_providers",
    "n_invited",
    "n_attended",
    "attendees",
    "before_follow_up",
)


class RolloutModel:
    """One replication of a scenario. Build it, then :meth:`run`."""

    def __init__(self, scenario: Scenario, replication: int, seed: int, parameters: ModelParameters):
        self.scenario, self.replication, self.seed, self.p = scenario, replication, seed, parameters
        self.env = simpy.Environment()
        pools = {name: simpy.Resource(self.env, capacity=n) for name, n in scenario.doctor_pools.items()}
        self.communities: list[CommunityRun] = []
        for i, spec in enumerate(scenario.expanded_communities()):
            if spec.doctor_pool is not None:
                res, n = pools[spec.doctor_pool], scenario.doctor_pools[spec.doctor_pool]
            else:
                res, n = simpy.Resource(self.env, capacity=spec.doctors), spec.doctors
            self.communities.append(CommunityRun(self, i, spec, res, n))

    # --- Processes -----------------------------------------------------------------------
    def run(self) -> ReplicationResult:
        env = self.env
        for c in self.communities:
            env.process(self._sessions(c))
            env.process(self._dropout(c))
            env.process(self._follow_up(c))
            for prov in c.providers:
                env.process(self._provider_career(c, prov))
                if self.p.supervision_rate_per_month > 0:
                    env.process(self._supervision(c, prov))
        horizon = max(c.end for c in self.communities)
        env.run(until=horizon + 1.0)
        events = _events_scheduled(env)
        return ReplicationResult(self.replication, events, self._collect())

    def _provider_career(self, c: CommunityRun, prov: Provider):
        """Temporary leave and return (Results: 'asked for a temporary leave'), and quitting."""
        p, env = self.p, self.env
        r = c.rng[Stream.PROVIDER_LEAVE]
        leave_rate = p.provider_leave_hazard_per_month / DAYS_PER_MONTH
        quit_rate = (
            p.provider_quit_hazard_per_month
            / DAYS_PER_MONTH
            * (math.exp(p.stress_quit_log_hr) if prov.stressed else 1.0)
        )
        mean_leave = p.provider_leave_mean_months * DAYS_PER_MONTH
        yield env.timeout(prov.training_end - env.now)
        while True:
            t_leave = r.exponential(1 / leave_rate) if leave_rate > 0 else math.inf
            t_quit = r.exponential(1 / quit_rate) if quit_rate > 0 else math.inf
            t = min(t_leave, t_quit)
            if env.now + t >= c.end:
                return
            yield env.timeout(t)
            if t_quit <= t_leave:
                prov.status, prov.exit_day = "quit", env.now
                return
            prov.status = "on_leave"
            prov.leave_episodes += 1
            length = r.exponential(mean_leave)
            prov.leave_spells.append([env.now, env.now + length])
            if env.now + length >= c.end:
                return
            yield env.timeout(length)
            prov.status = "active"

    def _supervision(self, c: CommunityRun, prov: Provider):
        """Non-scheduled supervision on the provider's request (Methods), occupying a doctor."""
        p, env = self.p, self.env
        r = c.rng[Stream.DOCTOR]
        rate = (
            p.supervision_rate_per_month / DAYS_PER_MONTH * (p.supervision_stress_multiplier if prov.stressed else 1.0)
        )
        yield env.timeout(prov.training_end - env.now)
        while True:
            yield env.timeout(r.exponential(1 / rate))
            if env.now >= c.end:
                return
            if prov.status != "active":
                continue
            with c.doctors.request() as req:
                yield req
                yield env.timeout(p.supervision_days)
            if env.now <= c.follow_up:
                prov.supervision += 1

    def _plan_review(self, c: CommunityRun, done: list):
        """The community doctor reviews a Service Plan Form (Methods)."""
        with c.doctors.request() as req:
            yield req
            if self.p.plan_review_mean_days > 0:
                yield self.env.timeout(c.rng[Stream.DOCTOR].exponential(self.p.plan_review_mean_days))
        done[0] = True

    def _next_unstructured(self, c: CommunityRun, after: float) -> float:
        """Next provider-initiated session: a Poisson process whose rate ramps up linearly over
        ``unstructured_ramp_months`` from ``unstructured_initial_rate_fraction`` of the full rate
        (Methods: 'a slow ramp-up of services especially during the first 6 months'); by thinning."""
        p = self.p
        r = c.rng[Stream.SESSION_TIMING]
        top = p.unstructured_max_sessions_per_week / WEEK
        ramp = p.unstructured_ramp_months * DAYS_PER_MONTH
        f0 = p.unstructured_initial_rate_fraction
        t = after
        while t < c.end:
            t += r.exponential(1 / top)
            frac = f0 + (1 - f0) * min((t - c.start) / ramp, 1.0)
            if r.random() < frac:
                return t
        return math.inf

    def _sessions(self, c: CommunityRun):
        """The community's session loop: announce, submit the plan, try to hold, postpone or cancel."""
        p, env = self.p, self.env
        r_time = c.rng[Stream.SESSION_TIMING]
        yield env.timeout(c.training_end - env.now)
        interval = (c.timetable_weeks or 0) * WEEK
        next_slot = c.training_end + interval  # the first slot is one interval after training ends
        for seq in itertools.count(1):
            if c.structured:
                announced = next_slot
                next_slot += interval
            else:
                announced = self._next_unstructured(c, env.now)
            if announced >= c.end:
                return
            submit = max(env.now, announced - p.plan_lead_days)
            if submit > env.now:
                yield env.timeout(submit - env.now)
            reviewed = [False]
            env.process(self._plan_review(c, reviewed))
            yield env.timeout(announced - env.now)
            postponements = 0
            while True:
                u_venue, u_outdoor, u_resched = r_time.random(3)
                outdoor = u_outdoor < p.outdoor_share
                available = [q for q in c.providers if q.available(env.now)]
                if len(available) < MIN_PROVIDERS_PER_SESSION:
                    reason = "no_providers"
                elif not reviewed[0]:
                    reason = "plan_not_reviewed"
                elif not outdoor and u_venue < p.venue_unavailable_prob:
                    reason = "venue_unavailable"
                elif not c.structured and postponements == 0 and u_resched < p.unstructured_reschedule_prob:
                    reason = "rescheduled"
                else:
                    self._hold(c, seq, announced, postponements, available, outdoor)
                    break
                retry = env.now + p.postpone_days
                if postponements >= p.max_postponements or retry >= c.end or (c.structured and retry >= next_slot):
                    self._record_cancelled(c, seq, announced, postponements, reason)
                    break
                postponements += 1
                yield env.timeout(p.postpone_days)

    def _dropout(self, c: CommunityRun):
        """Consumer dropout, decided month by month (vectorised over consumers).

        At the start of each month (or shorter last window) every enrolled consumer drops out
        during it with probability ``1 - exp(-h * window)``, where the monthly hazard ``h`` moves
        with the consumer's attendance share and the share of sessions disrupted (postponed or
        cancelled) over the month just ended, the community effect and a rural setting. The
        dropout day is uniform within the window, and sessions after it never see the consumer.
        """
        p, env = self.p, self.env
        r = c.rng[Stream.DROPOUT]
        n = len(c.consumers)
        if p.consumer_dropout_hazard_per_month <= 0:
            return
        log_h0 = math.log(p.consumer_dropout_hazard_per_month)
        log_h0 += p.dropout_community_loading * c.effect + (p.rural_dropout_log_hr if c.rural else 0.0)
        yield env.timeout(c.start - env.now)
        while env.now < c.end:
            now = env.now
            window = min(DAYS_PER_MONTH, c.end - now)
            u, when = r.random(n), r.random(n)
            disrupted = c.month_disrupted / c.month_sessions if c.month_sessions else 0.0
            c.month_sessions = c.month_disrupted = 0
            base = log_h0 + p.dropout_cancellation_log_hr * disrupted
            for k, con in enumerate(c.consumers):
                if con.exit_day is not None:
                    continue
                lh = base
                if con.month_invited:
                    lh += p.dropout_attendance_log_hr * (con.month_attended / con.month_invited - 0.5)
                con.month_invited = con.month_attended = 0
                if u[k] < -math.expm1(-math.exp(lh) * window / DAYS_PER_MONTH):
                    con.exit_day = now + when[k] * window
            yield env.timeout(window)

    # --- Session outcomes ---------------------------------------------------------------
    def _hold(
        self, c: CommunityRun, seq: int, announced: float, postponements: int, available: list[Provider], outdoor: bool
    ) -> None:
        p, now = self.p, self.env.now
        # The least-used provider leads and the next least-used assist; ties are broken at random.
        keys = c.rng[Stream.STAFFING].random(len(available)).tolist()
        order = sorted(range(len(available)), key=lambda i: (available[i].led, keys[i]))
        staff = [available[i] for i in order[: p.max_providers_per_session]]
        lead = staff[0]
        u_content = c.rng[Stream.CONTENT].random()
        cats, cum = lead.menu
        content = cats[min(bisect.bisect_right(cum, u_content), len(cats) - 1)]
        rt = c.rng[Stream.SESSION_TIMING]
        u_format, u_dur, u_pick = rt.random(3)
        group = u_format < p.group_share
        lo, mode, hi = p.duration_min_minutes, p.duration_mode_minutes, p.duration_max_minutes
        duration = _triangular(u_dur, lo, mode, hi)
        on_time = postponements == 0
        before = now < c.follow_up
        enrolled = [k for k, con in enumerate(c.consumers) if con.exit_day is None or con.exit_day > now]
        if not group and enrolled:
            enrolled = [enrolled[int(u_pick * len(enrolled))]]
        att_u = c.rng[Stream.ATTENDANCE].random(len(c.consumers))
        attendees = []
        for k in enrolled:
            con = c.consumers[k]
            con.month_invited += 1
            went = att_u[k] < con.propensity
            if went:
                con.month_attended += 1
                attendees.append(con.pid)
            if before:
                con.invited += 1
                if went:
                    con.attended += 1
                    con.categories.add(content)
                    con.on_time += on_time
        if before:
            lead.led += 1
            for q in staff:
                q.categories.add(content)
                q.on_time += on_time
            for q in staff[1:]:
                q.assisted += 1
            c.held_before_follow_up += 1
        c.month_sessions += 1
        c.month_disrupted += postponements > 0
        s = c.sessions
        s["session_id"].append(f"{c.name}#{seq:04d}")
        s["announced_day"].append(announced)
        s["day"].append(now)
        s["status"].append("held")
        s["cancel_reason"].append("")
        s["postponements"].append(postponements)
        s["on_time"].append(int(on_time))
        s["content"].append(ins.CONTENT_CATEGORIES[content])
        s["format"].append("group" if group else "individual")
        s["venue"].append("outdoor" if outdoor else "rehabilitation_centre")
        s["duration_min"].append(round(duration, 1))
        s["lead_provider"].append(lead.pid)
        s["providers"].append(";".join(q.pid for q in staff))
        s["n_providers"].append(len(staff))
        s["n_invited"].append(len(enrolled))
        s["n_attended"].append(len(attendees))
        s["attendees"].append(";".join(attendees))
        s["before_follow_up"].append(int(before))

    def _record_cancelled(self, c: CommunityRun, seq: int, announced: float, postponements: int, reason: str) -> None:
        now = self.env.now
        before = now < c.follow_up
        c.cancelled_before_follow_up += before
        c.month_sessions += 1
        c.month_disrupted += 1
        s = c.sessions
        s["session_id"].append(f"{c.name}#{seq:04d}")
        s["announced_day"].append(announced)
        s["day"].append(now)
        s["status"].append("cancelled")
        s["cancel_reason"].append(reason)
        s["postponements"].append(postponements)
        s["on_time"].append(0)
        for k in ("content", "format", "venue", "lead_provider", "providers", "attendees"):
            s[k].append("")
        s["duration_min"].append(None)
        s["n_providers"].append(0)
        s["n_invited"].append(0)
        s["n_attended"].append(0)
        s["before_follow_up"].append(int(before))

    # --- Follow-up evaluation -----------------------------------------------------------
    def _follow_up(self, c: CommunityRun):
        """The follow-up evaluation at the wave's follow-up month (Methods, 'Procedure'): who is
        still in the programme and what they experienced. The interview answers themselves are
        drawn for all communities at once in :meth:`_interviews` (vectorised; same streams)."""
        yield self.env.timeout(c.follow_up - self.env.now)
        c.snapshot = self._snapshot(c, self.env.now)

    def _snapshot(self, c: CommunityRun, now: float) -> dict:
        weeks = max((now - c.start) / WEEK, 1e-9)
        common = {"community": c.name, "wave": c.spec.wave, "scheduling": c.spec.scheduling, "setting": c.spec.setting}
        provs, cons = c.providers, c.consumers
        prov_status = [q.status for q in provs]
        prov_rows = _person_rows(self.replication, common, provs, "provider", c.start, now)
        prov_rows["status"] = prov_status
        prov_rows["exit_day"] = [q.exit_day if q.exit_day is not None and q.exit_day <= now else None for q in provs]
        prov_rows["retained"] = [int(s != "quit") for s in prov_status]
        prov_rows["evaluated"] = [int(s == "active") for s in prov_status]
        prov_rows["caregiver_id"] = [q.pid + "/G" for q in provs]
        prov_rows["training_end_day"] = [q.training_end for q in provs]
        prov_rows["sessions_led"] = [q.led for q in provs]
        prov_rows["sessions_assisted"] = [q.assisted for q in provs]
        prov_rows["leave_episodes"] = [sum(1 for a, _ in q.leave_spells if a <= now) for q in provs]
        prov_rows["leave_days"] = [round(sum(max(0.0, min(b, now) - a) for a, b in q.leave_spells), 3) for q in provs]
        prov_rows["supervision_contacts"] = [q.supervision for q in provs]
        prov_rows["stressed"] = [int(q.stressed) for q in provs]
        prov_rows["categories_met"] = [len(q.categories) for q in provs]
        prov_rows["on_time_share"] = [_share(q.on_time, q.led + q.assisted) for q in provs]

        retained = [q.enrolled(now) for q in cons]
        con_rows = _person_rows(self.replication, common, cons, "consumer", c.start, now)
        con_rows["status"] = ["active" if ok else "dropped_out" for ok in retained]
        con_rows["exit_day"] = [None if ok else q.exit_day for q, ok in zip(cons, retained, strict=False)]
        con_rows["retained"] = [int(ok) for ok in retained]
        con_rows["evaluated"] = con_rows["retained"]
        con_rows["caregiver_id"] = [q.pid + "/G" for q in cons]
        con_rows["sessions_invited"] = [q.invited for q in cons]
        con_rows["sessions_attended"] = [q.attended for q in cons]
        con_rows["attendance_rate"] = [_share(q.attended, q.invited) for q in cons]
        con_rows["meets_attendance_requirement"] = [int(q.invited > 0 and q.attended / q.invited > 0.4) for q in cons]
        con_rows["categories_met"] = [len(q.categories) for q in cons]
        con_rows["on_time_share"] = [_share(q.on_time, q.attended) for q in cons]
        enrolled_weeks = [
            max(((q.exit_day if q.exit_day is not None and q.exit_day < now else now) - c.start) / WEEK, 1e-9)
            for q in cons
        ]
        people = provs + cons
        return {
            "providers": prov_rows,
            "consumers": con_rows,
            "prov_sessions_per_week": [(q.led + q.assisted) / weeks for q in provs],
            "con_sessions_per_week": [q.attended / w for q, w in zip(cons, enrolled_weeks, strict=False)],
            "con_on_time": [q.on_time / q.attended if q.attended else REFERENCE_ON_TIME_SHARE for q in cons],
            "member_spouse": [q.baseline["marital_status"] == "currently_married" for q in people],
            "member_age": [q.baseline["age"] for q in people],
            "member_female": [q.baseline["gender"] == "female" for q in people],
            "member_id": [q.pid for q in people],
            "common": common,
        }

    def _interviews(self, communities: list[CommunityRun]) -> dict[str, dict[str, list]]:
        """Answers of every evaluated provider, consumer and caregiver, drawn for all communities at
        once; each community still draws from its own EVALUATION and CAREGIVER streams."""
        p = self.p
        snaps = [c.snapshot for c in communities]
        n_prov = [len(c.providers) for c in communities]
        n_con = [len(c.consumers) for c in communities]

        def per(values, sizes):
            return np.repeat(np.asarray(values, dtype=float), sizes)

        def ctx(sizes):
            return CommunityContext(
                per([c.c_struct for c in communities], sizes),
                per([c.c_exp for c in communities], sizes),
                per([c.effect for c in communities], sizes),
            )

        def cat(key, table=None):
            src = [s[table][key] for s in snaps] if table else [s[key] for s in snaps]
            return np.array([x for part in src for x in part], dtype=float)

        eval_rng = StackedGenerator([c.rng[Stream.EVALUATION] for c in communities], n_prov)
        prov_eval = cat("evaluated", "providers") == 1
        prov_ans = interview_providers(
            p,
            ctx(n_prov),
            cat("stressed", "providers"),
            cat("prov_sessions_per_week"),
            cat("categories_met", "providers") / N_CATEGORIES,
            eval_rng,
        )
        eval_rng.sizes = n_con
        con_eval = cat("evaluated", "consumers") == 1
        con_ans = interview_consumers(
            p,
            ctx(n_con),
            cat("con_sessions_per_week"),
            cat("con_on_time"),
            cat("categories_met", "consumers") / N_CATEGORIES,
            eval_rng,
        )
        for ans, ok in ((prov_ans, prov_eval), (con_ans, con_eval)):
            for k in ans:
                ans[k] = np.where(ok, ans[k], np.nan)

        # Caregivers, community by community: the community's providers, then its consumers.
        n_people = [a + b for a, b in zip(n_prov, n_con, strict=False)]
        prov_cut, con_cut = np.cumsum([0, *n_prov]), np.cumsum([0, *n_con])

        def members(prov_values, con_values):
            return np.concatenate(
                [
                    np.concatenate(
                        [prov_values[prov_cut[i] : prov_cut[i + 1]], con_values[con_cut[i] : con_cut[i + 1]]]
                    )
                    for i in range(len(communities))
                ]
            )

        is_prov = members(np.ones(sum(n_prov), bool), np.zeros(sum(n_con), bool))
        evaluated = members(prov_eval, con_eval)
        care_rng = StackedGenerator([c.rng[Stream.CAREGIVER] for c in communities], n_people)
        avail = np.where(
            is_prov,
            per([c.spec.caregiver_availability.providers for c in communities], n_people),
            per([c.spec.caregiver_availability.consumers for c in communities], n_people),
        )
        u_part, u_gender, z_age = care_rng.random(), care_rng.random(), care_rng.standard_normal()
        participated = evaluated & (u_part < avail)
        spouse = cat("member_spouse") == 1
        member_age = cat("member_age")
        member_female = cat("member_female") == 1
        gap_mu, gap_sd = p.caregiver_parent_age_gap
        age = np.where(spouse, member_age + 3.0 * z_age, member_age + gap_mu + gap_sd * z_age)
        female = np.where(spouse, ~member_female, u_gender < p.caregiver_parent_female_prob)
        nan_p, nan_c = np.full(sum(n_prov), np.nan), np.full(sum(n_con), np.nan)
        member_answers = {
            col: members(prov_ans.get(col, nan_p), con_ans.get(col, nan_c))
            for col in ("sat_overall", "willing_continue", "qualified", *ins.SELF_BENEFIT_COLUMNS)
        }
        care_ans = interview_caregivers(p, ctx(n_people), is_prov, member_answers, care_rng)
        for k in care_ans:
            care_ans[k] = np.where(participated, care_ans[k], np.nan)

        n = int(sum(n_people))
        care_rows: dict[str, list] = {
            "replication": [self.replication] * n,
            "caregiver_id": [m + "/G" for s in snaps for m in s["member_id"]],
            "community": [s["common"]["community"] for s, k in zip(snaps, n_people, strict=False) for _ in range(k)],
            "wave": [s["common"]["wave"] for s, k in zip(snaps, n_people, strict=False) for _ in range(k)],
            "scheduling": [s["common"]["scheduling"] for s, k in zip(snaps, n_people, strict=False) for _ in range(k)],
            "member_id": [m for s in snaps for m in s["member_id"]],
            "member_role": np.where(is_prov, "provider", "consumer").tolist(),
            "relation": np.where(spouse, "spouse", "parent").tolist(),
            "gender": np.where(female, "female", "male").tolist(),
            "age": np.round(age, 1).tolist(),
            "participated": participated.astype(int).tolist(),
        }
        prov_rows = _concat_rows([s["providers"] for s in snaps])
        con_rows = _concat_rows([s["consumers"] for s in snaps])
        for rows, ans, order in (
            (prov_rows, prov_ans, PROVIDER_ANSWER_COLUMNS),
            (con_rows, con_ans, CONSUMER_ANSWER_COLUMNS),
            (care_rows, care_ans, CAREGIVER_ANSWER_COLUMNS),
        ):
            for col in order:
                rows[col] = ans[col].tolist()
        return {"providers": prov_rows, "consumers": con_rows, "caregivers": care_rows}

    # --- Collection -----------------------------------------------------------------------
    def _collect(self) -> dict[str, dict[str, list]]:
        tables = self._interviews(self.communities)
        for c in self.communities:
            n = len(c.sessions["session_id"])
            c.sessions["replication"] = [self.replication] * n
            c.sessions["community"] = [c.name] * n
            c.sessions["wave"] = [c.spec.wave] * n
            c.sessions["scheduling"] = [c.spec.scheduling] * n
        tables["sessions"] = _concat_rows([c.sessions for c in self.communities])
        tables["communities"] = {
            "replication": [self.replication] * len(self.communities),
            "community": [c.name for c in self.communities],
            "wave": [c.spec.wave for c in self.communities],
            "scheduling": [c.spec.scheduling for c in self.communities],
            "setting": [c.spec.setting for c in self.communities],
            "start_day": [c.start for c in self.communities],
            "follow_up_day": [c.follow_up for c in self.communities],
            "end_day": [c.end for c in self.communities],
            "timetable_weeks": [c.timetable_weeks for c in self.communities],
            "doctors": [c.n_doctors for c in self.communities],
            "providers_recruited": [len(c.providers) for c in self.communities],
            "consumers_recruited": [len(c.consumers) for c in self.communities],
            "community_effect": [round(c.effect, 6) for c in self.communities],
            "sessions_held": [c.held_before_follow_up for c in self.communities],
            "sessions_cancelled": [c.cancelled_before_follow_up for c in self.communities],
            # Methods: 'The ratio of peer service providers to consumers was between 1:3 and 1:5'.
            "providers_active_at_follow_up": [
                sum(s == "active" for s in c.snapshot["providers"]["status"]) for c in self.communities
            ],
            "consumers_enrolled_at_follow_up": [sum(c.snapshot["consumers"]["retained"]) for c in self.communities],
        }
        return tables


PROVIDER_ANSWER_COLUMNS = tuple(
    [it.column for it in ins.PROVIDER_SATISFACTION]
    + [it.column for it in ins.PROVIDER_STRESS_REASONS]
    + [it.column for it in ins.PROVIDER_BENEFITS]
)
CONSUMER_ANSWER_COLUMNS = tuple(
    [it.column for it in ins.CONSUMER_SATISFACTION] + [it.column for it in ins.CONSUMER_BENEFITS]
)
CAREGIVER_ANSWER_COLUMNS = tuple(
    it.column for it in ins.CAREGIVER_ATTITUDE + ins.CAREGIVER_MEMBER_BENEFITS + ins.CAREGIVER_SELF_BENEFITS
)
BASELINE_COLUMNS = ("age", "gender", "education", "marital_status", "lives_alone", "employed", "diagnosis", "onset_age")


def _person_rows(replication: int, common: dict, people: list, role: str, start: float, now: float) -> dict[str, list]:
    n = len(people)
    rows: dict[str, list] = {"replication": [replication] * n}
    for k, v in common.items():
        rows[k] = [v] * n
    rows["person_id"] = [q.pid for q in people]
    rows["role"] = [role] * n
    for col in BASELINE_COLUMNS:
        rows[col] = [q.baseline[col] for q in people]
    rows["recruited_day"] = [start] * n
    rows["follow_up_day"] = [now] * n
    return rows


def _concat_rows(parts: list[dict[str, list]]) -> dict[str, list]:
    out: dict[str, list] = {k: [] for k in parts[0]} if parts else {}
    for part in parts:
        for k, v in part.items():
            out[k].extend(v)
    return out


class StackedGenerator:
    """Draws for people of several communities at once, each community's share from its own
    stream, so a community's answers do not depend on which other communities exist."""

    def __init__(self, generators: list[np.random.Generator], sizes: list[int]):
        self.generators, self.sizes = generators, sizes

    def _draw(self, method: str, size) -> np.ndarray:
        if size is None:
            return np.concatenate([getattr(g, method)(n) for g, n in zip(self.generators, self.sizes, strict=False)])
        if isinstance(size, int):
            size = (size,)
        k = size[:-1]
        return np.concatenate(
            [getattr(g, method)((*k, n)) for g, n in zip(self.generators, self.sizes, strict=False)], axis=-1
        )

    def random(self, size=None) -> np.ndarray:
        return self._draw("random", size)

    def standard_normal(self, size=None) -> np.ndarray:
        return self._draw("standard_normal", size)


def _share(num: int, den: int) -> float | None:
    return round(num / den, 6) if den else None


def _triangular(u: float, lo: float, mode: float, hi: float) -> float:
    """Inverse CDF of the triangular distribution (Methods: sessions of 40-120 min)."""
    if hi <= lo:
        return lo
    f = (mode - lo) / (hi - lo)
    if u < f:
        return lo + math.sqrt(u * (hi - lo) * (mode - lo))
    return hi - math.sqrt((1 - u) * (hi - lo) * (hi - mode))


def _events_scheduled(env: simpy.Environment) -> int:
    """SimPy events scheduled in this environment (SimPy numbers every event it schedules)."""
    counter = getattr(env, "_eid", None)
    return int(next(counter)) if counter is not None else -1


def simulate_replication(
    scenario: Scenario, replication: int, seed: int | None = None, parameters: ModelParameters | None = None
) -> ReplicationResult:
    """Run replication ``replication`` of ``scenario``: a pure function of its arguments.

    ``seed`` defaults to the scenario's; ``parameters`` to the scenario's (e.g. a posterior draw
    for runs with parameter uncertainty).
    """
    model = RolloutModel(
        scenario, replication, scenario.seed if seed is None else seed, parameters or scenario.parameters
    )
    return model.run()
