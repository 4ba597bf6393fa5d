"""Every model parameter in one place, with units and where its default comes from.

Defaults are hand-set from Fan et al. (2019). Each field's description cites the sentence or
table it comes from, or says ``ASSUMPTION`` where the paper does not identify it. A calibrated set
(``calibration/calibrated.yaml``) replaces any subset of them: see :func:`load_parameter_file`.

Coding conventions used by the answer and hazard models:
- ``c_struct`` is +0.5 for a ``structured`` community and -0.5 for an ``unstructured`` one;
- ``c_exp`` is +0.5 for a wave flagged ``experienced`` (it inherits the programme's experience:
  faster plan review, dates kept, more supervision) and -0.5 otherwise;
- the answers' wave position is ``(1 - experience_share) c_struct + experience_share c_exp``; an
  item's level (``*_item_base``, ``*_likert_base``) is its rate half-way between the two waves at the
  fixed reference exposure of ``sim.follow_up`` (docs/outcome_chain.md).
- ``u_c`` is the community effect, drawn N(0, ``community_effect_sd``) once per community and
  replication, shared (with the loadings below) by attendance, dropout and answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from . import instruments as ins
from .yaml_unique import safe_load_unique


def _paper_rate(count: int | None, n: int | None, default: float) -> float:
    """The paper's printed proportion, pulled off 0 and 1 so that its logit is finite."""
    if count is None or n is None:
        return default
    return min(max(count / n, 0.5 / n), 1 - 0.5 / n)


def _binary_bases(items: tuple[ins.Item, ...], default: float = 0.3) -> dict[str, float]:
    return {it.column: _paper_rate(it.paper_count, it.paper_n, default) for it in items if it.kind == "binary"}


def _likert_bases(items: tuple[ins.Item, ...]) -> dict[str, tuple[float, float]]:
    """Latent (mean, SD) per scored item: the paper's mean, and its SD less the variance that rounding
    to whole points adds (Sheppard's correction, 1/12), floored at 0.3 so narrow items keep some spread."""
    return {
        it.column: (it.paper_mean, round(max(it.paper_sd**2 - 1 / 12, 0.09) ** 0.5, 4))
        for it in items
        if it.kind != "binary"
    }


# Names used by parameter sets written before the outcome chain (e.g. an older calibration/calibrated.yaml):
# old name -> new name (None: dropped; the new parameters take their documented defaults).
LEGACY_NAMES: dict[str, str | None] = {
    "benefit_exposure_logit": None,
}


class ModelParameters(BaseModel):
    """The parameter set of the peer-support rollout model (time unit: days unless named)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- Providers: training, leave, stress, quitting ------------------------------------
    training_days: float = Field(
        14.0,
        ge=0,
        le=180,
        description="days from recruitment until pre-service training ends (Methods, Procedure: 'five "
        "half-days'; spread over two weeks is an ASSUMPTION)",
    )
    max_providers_per_session: int = Field(
        3,
        ge=2,
        le=10,
        description="most providers staffing one session; at least two always (Methods: 'at least two "
        "service providers, one of whom leads'); the maximum is an ASSUMPTION",
    )
    provider_leave_hazard_per_month: float = Field(
        0.01,
        ge=0,
        le=1e4,
        description="monthly hazard of a temporary leave (Results: one later provider 'asked for a "
        "temporary leave due to taking care of sick spouse'); 1 leave in ~200 provider-months; a rate, 0 to 10,000 "
        "per month (the ceiling is 'at once', for extreme-value runs)",
    )
    provider_leave_mean_months: float = Field(
        3.0, gt=0, le=60, description="mean length of a temporary leave, months (ASSUMPTION)"
    )
    provider_quit_hazard_per_month: float = Field(
        0.001,
        ge=0,
        le=1e4,
        description="monthly hazard of quitting for an unstressed provider (Results: 0 of 13 quit; one "
        "'showed a desire to quit'); ASSUMPTION within what 0/13 allows; a rate, 0 to 10,000 per month",
    )
    stress_quit_log_hr: float = Field(
        1.0, ge=-5, le=5, description="log hazard ratio of quitting when stressed (ASSUMPTION)"
    )
    stress_base_prob: float = Field(
        0.5, gt=0, lt=1, description="probability a provider finds the role stressful (Table 2: 6 of 12)"
    )
    stress_structured_logit: float = Field(
        -0.8,
        ge=-5,
        le=5,
        description="logit shift of stress for c_struct (Discussion: the lack of structure 'compounded "
        "whatever stress they experienced'); size is an ASSUMPTION",
    )
    supervision_rate_per_month: float = Field(
        0.3,
        ge=0,
        le=30,
        description="non-scheduled supervision requests per provider-month (Methods: 'community doctors "
        "should offer non-scheduled supervision depending on peer service providers' needs'); ASSUMPTION",
    )
    supervision_stress_multiplier: float = Field(
        2.0, ge=1, le=10, description="supervision requests multiplier when stressed (ASSUMPTION)"
    )
    supervision_days: float = Field(
        0.5, ge=0, le=30, description="calendar days a supervision contact occupies a community doctor (ASSUMPTION)"
    )
    stress_workload_logit: float = Field(
        0.1,
        ge=-5,
        le=5,
        description="logit shift of a provider's stress per session staffed in the past month above "
        "STRESS_REFERENCE_SESSIONS_PER_MONTH = 4 (sim.model.providers); ASSUMPTION, prior Uniform(0, 0.4): "
        "Results, providers named 'too heavy workload' among their stress reasons",
    )
    stress_cancellation_logit: float = Field(
        1.0,
        ge=-5,
        le=5,
        description="logit shift of stress per unit share of the past month's sessions postponed or cancelled "
        "(Discussion: the lack of structure 'compounded whatever stress they experienced'); ASSUMPTION, prior "
        "Uniform(0, 2.5)",
    )
    stress_persistence_logit: float = Field(
        2.0,
        ge=0,
        le=10,
        description="logit shift of stress when the provider was stressed the month before (stress is a state, "
        "not a coin flipped monthly); ASSUMPTION, prior Uniform(0, 4)",
    )
    supervision_stress_logit: float = Field(
        -0.7,
        ge=-10,
        le=5,
        description="logit shift of stress per supervision contact received in the past month (Methods: "
        "supervision 'depending on peer service providers' needs'); ASSUMPTION, prior Uniform(-2, 0): "
        "supervision can only help, by how much is unknown",
    )
    supervision_quit_log_hr: float = Field(
        -0.7,
        ge=-10,
        le=5,
        description="log hazard ratio of quitting in a month after receiving supervision; ASSUMPTION, prior "
        "Uniform(-2, 0)",
    )
    experienced_supervision_multiplier: float = Field(
        1.5,
        ge=1,
        le=10,
        description="supervision requests multiplier in a wave that inherits the programme's experience "
        "(doctors who know the programme; Discussion: later communities drew on the earlier wave's "
        "experience); ASSUMPTION, prior Uniform(1, 3)",
    )
    experienced_review_factor: float = Field(
        0.5,
        ge=0,
        le=1,
        description="multiplier of the mean plan-review time in an experienced wave (doctors who know the "
        "programme review faster); ASSUMPTION, prior Uniform(0.2, 1)",
    )
    experienced_disruption_factor: float = Field(
        0.5,
        ge=0,
        le=1,
        description="multiplier of the probability that a provider-initiated session is moved from its announced "
        "date, in an experienced wave (trained coordinators keep dates); ASSUMPTION, prior Uniform(0.2, 1)",
    )

    # --- Session scheduling ---------------------------------------------------------------
    weekly_timetable_prob: float = Field(
        0.8,
        ge=0,
        le=1,
        description="probability a structured community's fixed timetable is weekly rather than "
        "fortnightly, where the scenario does not fix it (Methods: 'once every one or 2 weeks')",
    )
    unstructured_max_sessions_per_week: float = Field(
        1.7,
        gt=0,
        le=7,
        description="rate of provider-initiated sessions once an unstructured community has ramped up "
        "(set so the study totals about 214 sessions, Methods, with the default ramp-up); ASSUMPTION before "
        "calibration",
    )
    unstructured_initial_rate_fraction: float = Field(
        0.0,
        ge=0,
        le=1,
        description="share of the full rate at the start of an unstructured community (Methods: 'slow "
        "ramp-up of services especially during the first 6 months')",
    )
    unstructured_ramp_months: float = Field(
        6.0,
        gt=0,
        le=60,
        description="months over which an unstructured community ramps up (Discussion: 'first 6 months')",
    )
    unstructured_ramp_shape: float = Field(
        2.5,
        ge=1,
        le=6,
        description="exponent of the ramp-up: the rate is f0 + (1 - f0) (t / ramp)^shape of the full rate in the "
        "ramp months (1 = linear). Discussion: 'slow ramp-up of services especially during the first 6 months' "
        "without a timetable: providers who must initiate every session start slowly and accelerate as they "
        "learn (ASSUMPTION; prior Uniform(1.5, 4); default 2.5 with f0 = 0 gives an unstructured community "
        "under half the sessions of a weekly timetable in months 0-6)",
    )
    unstructured_reschedule_prob: float = Field(
        0.3,
        ge=0,
        le=1,
        description="probability an unstructured session is moved from its announced date ('irregular "
        "timing'; Results: lower punctuality in the initial communities); ASSUMPTION",
    )
    plan_lead_days: float = Field(
        3.0,
        ge=0,
        le=60,
        description="days before a session that the Service Plan Form is submitted to the community doctor "
        "(Methods: 'Before providing each service, peer service providers should complete a Service Plan Form')",
    )
    plan_review_mean_days: float = Field(
        0.5, ge=0, le=60, description="mean calendar days a community doctor takes to review a plan (ASSUMPTION)"
    )
    postpone_days: float = Field(
        7.0, gt=0, le=60, description="days a session is postponed when it cannot go ahead (ASSUMPTION)"
    )
    max_postponements: int = Field(
        1, ge=0, le=10, description="postponements before a session is cancelled (ASSUMPTION)"
    )
    venue_unavailable_prob: float = Field(
        0.02,
        ge=0,
        le=1,
        description="probability the community rehabilitation centre is unavailable on a session day "
        "(Methods: sessions held 'in community rehabilitation centers or community health care centers'); ASSUMPTION",
    )
    outdoor_share: float = Field(
        0.1, ge=0, le=1, description="share of sessions held outdoors, needing no venue (ASSUMPTION)"
    )
    group_share: float = Field(
        0.986, ge=0, le=1, description="share of sessions delivered in group (Methods: 'Most (98.6%)')"
    )
    duration_min_minutes: float = Field(
        40.0, gt=0, description="shortest session (Methods: 'ranged from 40 min to 120 min')"
    )
    duration_mode_minutes: float = Field(
        90.0, gt=0, description="most common session length, triangular distribution (ASSUMPTION)"
    )
    duration_max_minutes: float = Field(
        120.0, gt=0, description="longest session (Methods: 'ranged from 40 min to 120 min')"
    )

    # --- Content --------------------------------------------------------------------------
    content_interest_weights: dict[str, float] = Field(
        default_factory=lambda: {
            c: ins.PAPER_TOP_CONTENT_SHARES.get(c, (1 - sum(ins.PAPER_TOP_CONTENT_SHARES.values())) / 5)
            for c in ins.CONTENT_CATEGORIES
        },
        description="population shares of the eight content categories (Methods: top three 19%, 16%, 15%; "
        "the other five share the rest equally, ASSUMPTION)",
    )
    content_interest_concentration: float = Field(
        8.0,
        gt=0,
        le=1000,
        description="Dirichlet concentration of each provider's interests around the population shares "
        "(Methods: 'select them according to their own interest or strength'); ASSUMPTION",
    )
    unstructured_content_breadth: int = Field(
        2,
        ge=1,
        le=8,
        description="categories an unstructured lead chooses from (their top interests): the narrower content "
        "of the initial communities (Discussion: 'relatively low score on richness of activity topics')",
    )

    # --- Consumers: attendance and dropout -------------------------------------------------
    attendance_mean: float = Field(
        0.6,
        gt=0,
        lt=1,
        description="mean attendance propensity (Methods: attendance 'required to be more than 40%'); ASSUMPTION",
    )
    attendance_concentration: float = Field(
        6.0, gt=0, le=1000, description="Beta concentration of individual attendance propensities (ASSUMPTION)"
    )
    attendance_community_loading: float = Field(
        0.5, ge=-5, le=5, description="logit shift of attendance per unit community effect (ASSUMPTION)"
    )
    consumer_dropout_hazard_per_month: float = Field(
        0.012,
        ge=0,
        le=1e4,
        description="monthly dropout hazard of a typical consumer (Results: 26/32 at 18 months and 16/22 at "
        "12 months give 0.012 and 0.027; their pooled rate); a rate, not a probability: 0 to 10,000 per month "
        "(the ceiling is 'at once', for extreme-value runs; above 1 the mean time to dropout is under a month)",
    )
    dropout_attendance_log_hr: float = Field(
        -1.0,
        ge=-10,
        le=10,
        description="log hazard ratio of dropout per unit of recent attendance share above 0.5 (ASSUMPTION)",
    )
    dropout_cancellation_log_hr: float = Field(
        0.5,
        ge=-10,
        le=10,
        description="log hazard ratio of dropout per unit share of the month's sessions postponed or cancelled "
        "('how well sessions run'); ASSUMPTION",
    )
    dropout_community_loading: float = Field(
        -0.5, ge=-5, le=5, description="log hazard shift of dropout per unit community effect (ASSUMPTION)"
    )
    rural_attendance_logit: float = Field(
        -0.7,
        ge=-10,
        le=10,
        description="logit shift of attendance in a rural community (Discussion: 'convenient access to a central "
        "meeting site may be more difficult due to transportation or competing work needs'); ASSUMPTION",
    )
    rural_dropout_log_hr: float = Field(
        0.4, ge=-10, le=10, description="log hazard ratio of dropout in a rural community (ASSUMPTION)"
    )
    community_effect_sd: float = Field(
        0.4,
        ge=0,
        le=5,
        description="SD of the community effect (Discussion: later communities did better also by drawing on "
        "experience; 'the four communities did not differ prominently'); ASSUMPTION",
    )

    # --- Follow-up answers -----------------------------------------------------------------
    provider_item_base: dict[str, float] = Field(
        default_factory=lambda: _binary_bases(ins.PROVIDER_SATISFACTION + ins.PROVIDER_BENEFITS),
        description="probability of 'yes' for a reference provider, per binary item (Tables 2-3)",
    )
    provider_likert_base: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: _likert_bases(ins.PROVIDER_SATISFACTION),
        description="(latent mean, latent SD) per scored provider item before rounding (Table 2)",
    )
    stress_reason_prob: dict[str, float] = Field(
        default_factory=lambda: {it.column: min(0.95, it.paper_count / 6) for it in ins.PROVIDER_STRESS_REASONS},
        description="probability a stressed provider names each reason (Results: 5, 3 and 2 of the 6 stressed)",
    )
    stress_topic_structured_logit: float = Field(
        -1.0, ge=-5, le=5, description="logit shift of 'difficult to come up with a topic' for c_struct (ASSUMPTION)"
    )
    stress_qualified_logit: float = Field(
        -1.5, ge=-10, le=10, description="logit shift of 'qualified' when stressed (ASSUMPTION)"
    )
    stress_continue_logit: float = Field(
        -2.0, ge=-10, le=10, description="logit shift of 'willing to continue' when stressed (ASSUMPTION)"
    )
    confidence_response_prob: float = Field(
        8 / 12,
        ge=0,
        le=1,
        description="probability a provider gives the 0-10 confidence score "
        "(Table 2: 7.13 = 57/8, so 8 of 12 answered)",
    )
    confidence_experience_shift: float = Field(
        1.8,
        ge=-10,
        le=10,
        description="points on the 0-10 confidence score between a later (structured, experienced) and an initial "
        "(unstructured, new) wave at the reference exposure (Results: 7.80 later vs 6.0 initial); split between "
        "structure and experience by experience_share (the name is kept for parameter sets written before the split)",
    )
    consumer_item_base: dict[str, float] = Field(
        default_factory=lambda: _binary_bases(ins.CONSUMER_SATISFACTION + ins.CONSUMER_BENEFITS),
        description="probability of 'yes' for a reference consumer, per binary item (Tables 3-4)",
    )
    consumer_likert_base: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: _likert_bases(ins.CONSUMER_SATISFACTION),
        description="(latent mean, latent SD) per scored consumer item before rounding (Table 4)",
    )
    benefit_experience_logit: float = Field(
        1.8,
        ge=-10,
        le=10,
        description="logit difference of every benefit item between a later (structured, experienced) and an "
        "initial (unstructured, new) wave at the reference exposure (Results: consumer mood 10/26 initial vs "
        "13/16 later); it acts through the dose-response (a session of a better-run programme does more) and "
        "is split between structure and experience by experience_share (the name is kept for parameter sets "
        "written before the split)",
    )
    experience_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="share of the paper's wave difference in answers (benefit_experience_logit, "
        "satisfaction_experience_shift, confidence_experience_shift) due to experience rather than structure. "
        "The paper cannot separate them "
        "(Discussion: the later communities had both the timetable and the earlier wave's experience); "
        "ASSUMPTION, prior Uniform(0, 1): 0 = all structure, 1 = all experience",
    )
    benefit_no_programme_prob: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="probability of 'yes' to an item asking about benefit from the service for a person who "
        "attended no session (docs/outcome_chain.md); ASSUMPTION, prior Uniform(0.01, 0.15): near 0 because the "
        "items ask about a benefit of the service, allowing some acquiescence",
    )
    service_view_no_programme_prob: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="probability of 'yes' to satisfaction, willingness to continue, feeling qualified and the "
        "caregiver attitude items for a person (or family member) with no session; ASSUMPTION, prior "
        "Uniform(0.05, 0.5): with nothing delivered, few are satisfied, some stay willing",
    )
    score_no_programme: float = Field(
        2.5,
        ge=1,
        le=5,
        description="latent 1-5 satisfaction score of a person with no session (the 0-10 confidence score scales "
        "it to (score - 1) x 2.5); ASSUMPTION, prior Uniform(1.5, 3.5): below the scale's midpoint of 3",
    )
    exposure_half_saturation_sessions: float = Field(
        12.0,
        gt=0,
        le=200,
        description="sessions attended (consumers) or staffed (providers) at which the dose-response reaches half "
        "its maximum (Emax form, docs/outcome_chain.md); ASSUMPTION, prior Uniform(6, 30): a handful of sessions "
        "gives a fraction of the effect, the paper's required 40% attendance of about 60 sessions (24) most of it",
    )
    delivery_quality_logit: float = Field(
        2.0,
        ge=-10,
        le=10,
        description="logit shift of satisfaction and willingness to continue per unit of delivery quality above "
        "the reference: the mean of the person's on-time share, share of the eight categories met and share of "
        "their community's sessions not cancelled (Results: punctuality and richness rated lower in the "
        "initial communities); ASSUMPTION, prior Uniform(0, 4)",
    )
    benefit_person_sd: float = Field(
        0.8, ge=0, le=5, description="SD of a person's latent benefit propensity shared across items (ASSUMPTION)"
    )
    answer_community_loading: float = Field(
        0.5, ge=-5, le=5, description="logit shift of answers per unit community effect (ASSUMPTION)"
    )
    satisfaction_experience_shift: float = Field(
        0.15,
        ge=-5,
        le=5,
        description="points on 1-5 satisfaction items between a later and an initial wave at the reference "
        "exposure (Results: later 'slightly higher'); split by experience_share (the name is "
        "kept for parameter sets written before the split); ASSUMPTION",
    )
    punctuality_score_per_share: float = Field(
        1.0,
        ge=-10,
        le=10,
        description="points on 'service punctuality' per unit share of a consumer's sessions held on the announced "
        "date (Results: t = -3.348 between waves)",
    )
    richness_score_per_share: float = Field(
        3.0,
        ge=-10,
        le=10,
        description="points on 'richness of activity topic' per unit share of the eight categories a person met "
        "(Results: t = -2.853 between waves)",
    )
    stress_satisfaction_shift: float = Field(
        -0.3, ge=-5, le=5, description="points on provider 1-5 items when stressed (ASSUMPTION)"
    )
    caregiver_item_base: dict[str, float] = Field(
        default_factory=lambda: _binary_bases(
            ins.CAREGIVER_ATTITUDE + ins.CAREGIVER_MEMBER_BENEFITS + ins.CAREGIVER_SELF_BENEFITS
        ),
        description="probability of 'yes' for a reference caregiver (Results, 'Caregivers'); "
        "unreported items 0.3 (ASSUMPTION)",
    )
    caregiver_agreement_logit: float = Field(
        1.5,
        ge=-10,
        le=10,
        description="logit shift of a caregiver's view of a member benefit when the member said yes, centred "
        "(Discussion: caregiver reports 'consistent with the self-reported assessments')",
    )
    caregiver_parent_female_prob: float = Field(
        0.72, ge=0, le=1, description="probability a parent caregiver is the mother (ASSUMPTION; 21 of 32 female)"
    )
    caregiver_parent_age_gap: tuple[float, float] = Field(
        (30.0, 4.0),
        description="(mean, SD) years a parent caregiver is older than the member (ASSUMPTION; mean age 68.4)",
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_names(cls, data: Any) -> Any:
        """Read parameter sets written before the outcome chain (docs/outcome_chain.md): renamed
        the linear exposure slope has no counterpart in the dose-response and is dropped."""
        if isinstance(data, dict) and any(k in data for k in LEGACY_NAMES):
            data = dict(data)
            for old, new in LEGACY_NAMES.items():
                if old in data:
                    value = data.pop(old)
                    if new is not None:
                        data.setdefault(new, value)
        return data

    @model_validator(mode="after")
    def _check(self) -> ModelParameters:
        if not (self.duration_min_minutes <= self.duration_mode_minutes <= self.duration_max_minutes):
            raise ValueError("duration_mode_minutes must lie between duration_min_minutes and duration_max_minutes")
        bad = set(self.content_interest_weights) ^ set(ins.CONTENT_CATEGORIES)
        if bad:
            raise ValueError(f"content_interest_weights must name exactly the eight categories; off: {sorted(bad)}")
        if any(w <= 0 for w in self.content_interest_weights.values()):
            raise ValueError("content_interest_weights must all be positive")
        for name in ("provider_item_base", "consumer_item_base", "caregiver_item_base", "stress_reason_prob"):
            for k, v in getattr(self, name).items():
                if not 0 < v < 1:
                    raise ValueError(f"{name}.{k} must be strictly between 0 and 1, got {v}")
        return self

    def replace(self, **changes: Any) -> ModelParameters:
        """A copy with some parameters changed (dict-valued ones are merged, not replaced), validated."""
        data = self.model_dump()
        for k, v in changes.items():
            if isinstance(data.get(k), dict) and isinstance(v, dict):
                data[k] = {**data[k], **v}
            else:
                data[k] = v
        return ModelParameters.model_validate(data)


DEFAULT_PARAMETERS = ModelParameters()


def load_parameter_file(path: Path) -> dict[str, Any]:
    """Read a parameter set (e.g. ``calibration/calibrated.yaml``): its ``parameters`` mapping."""
    with open(path, encoding="utf-8") as fh:
        data = safe_load_unique(fh.read(), fast=True) or {}  # yaml.safe_load; a key given twice is refused
    if not isinstance(data, dict) or not isinstance(data.get("parameters", {}), dict):
        raise ValueError("expected a mapping with a 'parameters' mapping")
    return data.get("parameters", {})
