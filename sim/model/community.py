"""One community's state in one replication: its calendar, people, doctors, streams and session records.

Built once per community by :func:`build_community`; the processes (``sim.model.sessions``,
``providers``, ``consumers``, ``evaluation``) read and update it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit, logit

from .. import instruments as ins
from ..baseline import draw_baseline
from ..follow_up import CommunityContext
from ..parameters import ModelParameters
from ..scenario import DAYS_PER_MONTH, Community, Scenario
from ..streams import CommunityStreams, Stream
from .doctors import Doctors, Request
from .records import SessionRecord, invitation_counts
from .uniforms import Uniforms

if TYPE_CHECKING:
    from .caseload import Caseload
    from .evaluation import Snapshot
    from .providers import Supervision

N_CATEGORIES = len(ins.CONTENT_CATEGORIES)
RUN_STREAMS = (
    Stream.SESSION_TIMING,
    Stream.STAFFING,
    Stream.CONTENT,
    Stream.ATTENDANCE,
    Stream.DROPOUT,
    Stream.DOCTOR,
    Stream.PROVIDER_LEAVE,
)


class Provider:
    """A peer service provider: baseline, content menu, stress, career and supervision received.

    Leave and quitting are decided a month ahead (``sim.model.providers.ProviderCareer``), so the
    provider's state on a day follows from ``exit_day`` and ``leave_spells``. A founding provider is
    recruited and starts training on the community's start day; a replacement (``sim.model.training``)
    is recruited for the vacancy ``replaces`` left, waits for a cohort, and joins the community's
    list (``index``) when its training ends."""

    __slots__ = (
        "baseline",
        "exit_day",
        "index",
        "leave_spells",
        "led",
        "menu",
        "month_staffed",
        "pid",
        "recruited_day",
        "replaces",
        "stressed",
        "stressed_months",
        "supervision",
        "training_end",
        "training_start",
    )

    def __init__(
        self,
        index: int,
        pid: str,
        baseline: dict,
        training_end: float,
        stressed: bool,
        menu: tuple[list[int], list[float]],
        recruited_day: float = 0.0,
        replaces: str = "",
    ):
        self.index = index  # position in the community's provider list
        self.pid = pid
        self.baseline = baseline
        self.recruited_day = recruited_day
        self.training_start = recruited_day  # a replacement's is set when its cohort starts
        self.training_end = training_end
        self.replaces = replaces  # person_id of the provider whose leaving opened the vacancy ('' = founding)
        self.stressed = stressed  # current stress state, updated monthly (sim.model.providers)
        self.stressed_months = 0  # months spent stressed before follow-up
        self.month_staffed = 0  # sessions staffed since the last monthly review
        # The categories this provider picks from (all eight, or their favourites) and the
        # cumulative choice probabilities (Methods: 'according to their own interest or strength').
        self.menu = menu
        self.led = 0  # sessions led before follow-up: the staffing rule picks the least-used lead
        self.leave_spells: list[list[float]] = []
        self.supervision: list[Request] = []  # supervision requests made to the community doctors
        self.exit_day: float | None = None

    def status_on(self, now: float) -> str:
        """active | on_leave | quit on day ``now``."""
        if self.exit_day is not None and self.exit_day <= now:
            return "quit"
        return "on_leave" if self.on_leave(now) else "active"

    def on_leave(self, now: float) -> bool:
        """On a leave spell on day ``now`` (spells follow one another: a leave is drawn only from the
        day the last one ends, ``sim.model.providers.ProviderCareer``; the latest spell begun counts)."""
        for start, end in reversed(self.leave_spells):
            if start <= now:
                return now < end
        return False

    def available(self, now: float) -> bool:
        """Trained, not on leave, not quit (Methods: pre-service training; Results: temporary leave);
        ``status_on(now) == "active"`` after training."""
        if now < self.training_end or (self.exit_day is not None and self.exit_day <= now):
            return False
        return not self.leave_spells or not self.on_leave(now)

    def supervision_between(self, start: float, end: float) -> int:
        """Supervision contacts ended in (start, end] (the doctors' queue advanced to ``end``)."""
        return sum(1 for r in self.supervision if r.end is not None and start < r.end <= end)

    def supervision_by(self, day: float) -> int:
        return self.supervision_between(-1.0, day)


@dataclass
class Consumers:
    """The community's consumers, one list entry per consumer (index = consumer number - 1).

    Plain lists rather than arrays: a community has a few dozen consumers, and per-session updates
    of Python lists that size cost less than NumPy calls. With an open caseload
    (``sim.model.caseload``) the list also holds everyone referred later, in order of referral."""

    pids: list[str]
    baseline: dict[str, list]
    propensity: list[float]  # probability of attending a session they are invited to
    start: float = 0.0  # day the founding consumers are recruited and enrolled (the community's start)
    # the day they leave: dropout, or (open caseload) a graduation day fixed on starting; inf if none
    exit_day: list[float] = field(init=False)
    exit_reason: list[str] = field(init=False)  # dropped_out | graduated, of exit_day ("" while none)
    referred_day: list[float] = field(init=False)  # the founding cohort: the community's start
    enrolled_day: list[float] = field(init=False)  # day they joined a group; inf while waiting
    # each session's invited consumers since the last dropout review (counted by month_invited)
    month_invitations: list[tuple[int, ...]] = field(init=False)
    month_attended: list[int] = field(init=False)  # sessions attended since the last dropout review
    reviews: int = 0  # dropout reviews so far (a review may set exit days; sim.model.consumers)

    def __post_init__(self) -> None:
        n = len(self.pids)
        self.exit_day = [math.inf] * n
        self.exit_reason = [""] * n
        self.referred_day = [self.start] * n
        self.enrolled_day = [self.start] * n
        self.month_invitations = []
        self.month_attended = [0] * n

    def __len__(self) -> int:
        return len(self.pids)

    def refer(self, pids: list[str], baseline: dict[str, list], propensity: list[float], days: list[float]) -> None:
        """Add consumers referred on ``days`` (ascending); they wait until a group place opens."""
        m = len(pids)
        self.pids += pids
        for k, v in baseline.items():
            self.baseline[k] = list(self.baseline[k]) + list(v)
        self.propensity += propensity
        self.exit_day += [math.inf] * m
        self.exit_reason += [""] * m
        self.referred_day += days
        self.enrolled_day += [math.inf] * m
        self.month_attended += [0] * m

    def month_invited(self) -> list[int]:
        """Sessions each consumer was invited to since the last dropout review."""
        return invitation_counts(self.month_invitations, len(self.pids))

    def start_month(self) -> None:
        """The dropout review read the month's invitations and attendance: count the next month's."""
        self.month_invitations = []
        self.month_attended = [0] * len(self.pids)


@dataclass
class CommunityState:
    """Everything the processes of one community share."""

    index: int
    spec: Community
    start: float  # days
    follow_up: float
    end: float
    training_end: float
    effect: float  # community effect u_c (shared by attendance, dropout and answers)
    c_exp: float  # +0.5 in a wave flagged experienced, -0.5 otherwise
    timetable_weeks: int | None  # structured: 1 or 2; unstructured: None
    doctors: Doctors
    rng: CommunityStreams  # the community's generators by Stream, made on first use
    # Streams drawn during the run, as uniforms fetched in blocks (sim.model.uniforms.Uniforms); once the
    # people are drawn these streams are used only through these wrappers.
    uniforms: dict[Stream, Uniforms] = field(default_factory=dict)
    providers: list[Provider] = field(default_factory=list)
    consumers: Consumers | None = None
    records: list[SessionRecord] = field(default_factory=list)
    month_sessions: int = 0  # sessions due since the last month boundary ('how well sessions run')
    month_disrupted: int = 0  # ... of which postponed or cancelled
    snapshot: Snapshot | None = None  # taken at follow-up (sim.model.evaluation.FollowUp)
    caseload: Caseload | None = None  # open caseload (scenario caseload:); None = closed cohort
    supervision: Supervision | None = None  # the providers' supervision requests (sim.model.providers)
    month_end: float = 0.0  # the day the current month of services ends (sim.model.rollout.monthly_reviews)
    _available: list[Provider] = field(default_factory=list)
    _available_on: tuple[float, float] = (math.inf, -math.inf)  # days the cached list holds

    def available_providers(self, now: float) -> list[Provider]:
        """The providers available on day ``now`` (``Provider.available``), cached until the next day
        any provider's state changes (the career review, which adds leave and exits, clears it)."""
        if self._available_on[0] <= now < self._available_on[1]:
            return self._available
        avail, until = [], math.inf
        for q in self.providers:
            if q.available(now):
                avail.append(q)
            for day in (q.training_end, q.exit_day, *(d for spell in q.leave_spells for d in spell)):
                if day is not None and now < day < until:
                    until = day
        self._available, self._available_on = avail, (now, until)
        return avail

    def available_until(self) -> float:
        """The first day after the day of the last :meth:`available_providers` call on which a
        provider's state changes (inf if none is known)."""
        return self._available_on[1]

    def forget_available(self) -> None:
        self._available_on = (math.inf, -math.inf)

    def close_month(self) -> float:
        """The share of the sessions due since the last month boundary that were postponed or
        cancelled ('how well sessions run'), and start counting the next month."""
        share = self.month_disrupted / self.month_sessions if self.month_sessions else 0.0
        self.month_sessions = self.month_disrupted = 0
        return share

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def experienced(self) -> bool:
        """The wave inherits the programme's experience (scenario ``experienced``): faster plan review,
        fewer venue and date disruptions, more supervision (sim.parameters, experienced_*)."""
        return self.c_exp > 0

    @property
    def structured(self) -> bool:
        return self.spec.scheduling == "structured"

    @property
    def rural(self) -> bool:
        return self.spec.setting == "rural"

    @property
    def context(self) -> CommunityContext:
        """Centred codes of scheduling and wave experience (+-0.5) and the community effect."""
        return CommunityContext(self.c_struct, self.c_exp, self.effect)

    @property
    def c_struct(self) -> float:
        return 0.5 if self.structured else -0.5


def build_community(
    scenario: Scenario, p: ModelParameters, seed: int, replication: int, index: int, spec: Community, doctors: Doctors
) -> CommunityState:
    """Draw one community: effect and timetable, then its providers and consumers (Table 1)."""
    rng = CommunityStreams(seed, replication, index)
    r = rng[Stream.COMMUNITY]
    effect = p.community_effect_sd * float(r.standard_normal())
    weekly_u = float(r.random())
    timetable = None
    if spec.scheduling == "structured":
        timetable = spec.timetable_weeks or (1 if weekly_u < p.weekly_timetable_prob else 2)
    start = spec.start_month * DAYS_PER_MONTH
    c = CommunityState(
        index=index,
        spec=spec,
        start=start,
        follow_up=scenario.follow_up_month(spec) * DAYS_PER_MONTH,
        end=scenario.end_month(spec) * DAYS_PER_MONTH,
        training_end=start + p.training_days,
        effect=effect,
        c_exp=0.5 if scenario.waves[spec.wave].experienced else -0.5,
        timetable_weeks=timetable,
        doctors=doctors,
        rng=rng,
    )
    c.providers = _draw_providers(c, p)
    c.consumers = _draw_consumers(c, p)
    c.uniforms = {s: Uniforms(rng[s]) for s in RUN_STREAMS}
    return c


def _draw_providers(c: CommunityState, p: ModelParameters) -> list[Provider]:
    """Baseline (Table 1), interests (Methods: 'according to their own interest'), stress."""
    n = c.spec.providers
    base = draw_baseline("provider", n, c.rng[Stream.BASELINE])
    interests = c.rng[Stream.CONTENT].dirichlet(_interest_alpha(p), n)
    p_stress = _stress_prob(c, p)
    stress_u = c.rng[Stream.STRESS].random(n)
    breadth = N_CATEGORIES if c.structured else p.unstructured_content_breadth
    menus = content_menus(interests, breadth)
    return [
        Provider(
            i,
            f"{c.name}/P{i + 1:02d}",
            {k: v[i] for k, v in base.items()},
            c.training_end,
            bool(stress_u[i] < p_stress),
            menus[i],
            c.start,
        )
        for i in range(n)
    ]


def content_menus(interests: np.ndarray, breadth: int) -> list[tuple[list[int], list[float]]]:
    """Each provider's menu (one row of ``interests`` each): their ``breadth`` favourite categories, most
    interesting first (all eight in category order if ``breadth`` covers them), and the cumulative
    probabilities of picking each, in proportion to interest."""
    n, k = interests.shape
    if breadth < k:
        order = np.argsort(-interests, axis=1, kind="stable")[:, :breadth]
    else:
        order = np.broadcast_to(np.arange(k), (n, k))
    fav = np.take_along_axis(interests, order, axis=1)
    cum = np.cumsum(fav / fav.sum(axis=1, keepdims=True), axis=1)
    return list(zip(order.tolist(), cum.tolist(), strict=True))


def _interest_alpha(p: ModelParameters) -> np.ndarray:
    weights = np.array([p.content_interest_weights[k] for k in ins.CONTENT_CATEGORIES])
    return p.content_interest_concentration * weights / weights.sum()


def _stress_prob(c: CommunityState, p: ModelParameters) -> float:
    return float(expit(logit(p.stress_base_prob) + p.stress_structured_logit * c.c_struct))


def draw_replacement(
    c: CommunityState, p: ModelParameters, rng: np.random.Generator, number: int, day: float, replaces: str
) -> Provider:
    """A replacement provider recruited on ``day`` (``sim.model.training``): baseline, interests and stress
    drawn as for the founding providers (:func:`_draw_providers`), from the community's RECRUIT stream;
    ``number`` continues the community's numbering (``COMMUNITY/P09`` after eight founders)."""
    base = draw_baseline("provider", 1, rng)
    interest = rng.dirichlet(_interest_alpha(p))
    stressed = bool(rng.random() < _stress_prob(c, p))
    breadth = N_CATEGORIES if c.structured else p.unstructured_content_breadth
    baseline = {k: v[0] for k, v in base.items()}
    menu = content_menus(interest[None, :], breadth)[0]
    return Provider(-1, f"{c.name}/P{number:02d}", baseline, math.inf, stressed, menu, day, replaces)


def _draw_consumers(c: CommunityState, p: ModelParameters) -> Consumers:
    """The founding cohort (Table 1 baselines and attendance propensities, :func:`draw_consumers`)."""
    n = c.spec.consumers
    base, prop = draw_consumers(c, p, n, c.rng[Stream.BASELINE], c.rng[Stream.ATTENDANCE])
    return Consumers([f"{c.name}/C{i + 1:02d}" for i in range(n)], base, prop, c.start)


def draw_consumers(
    c: CommunityState, p: ModelParameters, n: int, base_rng: np.random.Generator, att_rng: np.random.Generator
) -> tuple[dict[str, list], list[float]]:
    """Baseline (Table 1) and attendance propensity of ``n`` consumers: Beta around ``attendance_mean``,
    shifted on the logit scale by the community effect and a rural setting."""
    base = draw_baseline("consumer", n, base_rng)
    a, b = p.attendance_mean * p.attendance_concentration, (1 - p.attendance_mean) * p.attendance_concentration
    raw = np.clip(att_rng.beta(a, b, n), 1e-6, 1 - 1e-6)
    shift = p.attendance_community_loading * c.effect + (p.rural_attendance_logit if c.rural else 0.0)
    return base, expit(logit(raw) + shift).tolist()
