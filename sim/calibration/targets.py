"""Calibration targets: every figure of Fan et al. (2019) that the model can produce.

The figures come from :mod:`sim.instruments` (one source of truth; nothing is retyped here except
the one figure the instruments module does not hold as data, the later-wave confidence score 7.80,
which is quoted with its sentence). :func:`build_targets` turns them into a flat list of targets,
each with its value, its n, its kind, its source, its sampling standard error and the parameters it
informs; ``calibration/targets.yaml`` is that list written out (``tests/test_calibration.py``
checks that the file and the builder agree).

Kinds (``kind``):
- ``count``: k of n answered yes / were retained; compared as a proportion k/n. Its sampling SE is
  the binomial SE at the Jeffreys-corrected proportion (k + 1/2)/(n + 1), so that 7/7 or 12/12
  (a printed 100%) still has a finite, honest SE instead of zero;
- ``mean``: a printed mean; SE = SD/sqrt(n);
- ``sd``: a printed SD; SE = SD/sqrt(2(n - 1)) (normal theory);
- ``t``: a between-wave Student t statistic; SE = 1 (a t statistic has unit variance under its
  sampling distribution, up to df/(df - 2) = 1.05 at df = 40);
- ``total``: a study total (214 sessions); SE = sqrt(total) (Poisson);
- ``share``: a share of the 214 sessions; binomial SE with n = 214.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import instruments as ins
from ..parameters import ModelParameters
from ..yaml_unique import safe_load_unique

TARGETS_FILE = Path(__file__).resolve().parents[2] / "calibration" / "targets.yaml"

# The later-wave provider confidence score: instruments.py keeps it only in a comment ("7.80 = 39/5").
# Results, "Peer service providers": "relatively high (7.13), especially in the later communities (7.80)".
PAPER_CONFIDENCE_LATER = (7.80, 5)


@dataclass
class Target:
    """One reported figure of the paper and how the calibration uses it."""

    id: str
    label: str
    kind: str  # count | mean | sd | t | total | share
    value: float  # count -> the proportion k/n; otherwise the printed figure
    n: int | None
    source: str
    informs: list[str] = field(default_factory=list)
    count: int | None = None  # count targets: k
    se: float | None = None  # sampling SE used to scale the distance (None: not usable in the distance)
    note: str = ""
    identifies: list[str] = field(default_factory=list)  # structural parameters it pins down beyond the base rates


def jeffreys_se(k: int, n: int) -> float:
    """Binomial SE of k/n at the Jeffreys-corrected proportion (k + 0.5)/(n + 1)."""
    p = (k + 0.5) / (n + 1)
    return math.sqrt(p * (1 - p) / n)


def _count(id_: str, label: str, k: int, n: int, source: str, informs: list[str], note: str = "") -> Target:
    return Target(id_, label, "count", k / n, n, source, informs, count=k, se=jeffreys_se(k, n), note=note)


def _mean(
    id_: str, label: str, mean: float, sd: float | None, n: int, source: str, informs: list[str], note: str = ""
) -> Target:
    se = sd / math.sqrt(n) if sd is not None else None
    return Target(id_, label, "mean", mean, n, source, informs, se=se, note=note)


def _sd(id_: str, label: str, sd: float, n: int, source: str, informs: list[str]) -> Target:
    return Target(id_, label, "sd", sd, n, source, informs, se=sd / math.sqrt(2 * (n - 1)))


def _mean_and_sd(it: Any, label: str, informs: list[str], sd_informs: list[str]) -> list[Target]:
    """A provider Likert item's mean and SD (Table 2): ``provider.<column>.mean`` and ``.sd``."""
    return [
        _mean(
            f"provider.{it.column}.mean",
            f"Providers: {label}, mean",
            it.paper_mean,
            it.paper_sd,
            it.paper_n,
            it.source,
            informs,
        ),
        _sd(f"provider.{it.column}.sd", f"Providers: {label}, SD", it.paper_sd, it.paper_n, it.source, sd_informs),
    ]


# --- Which parameters each family of targets informs (the model's mechanisms, sim/model/) ------
_CONSUMER_RETENTION = [
    "consumer_dropout_hazard_per_month",
    "dropout_attendance_log_hr",
    "dropout_cancellation_log_hr",
    "dropout_community_loading",
    "attendance_mean",
    "attendance_concentration",
    "community_effect_sd",
]
_PROVIDER_RETENTION = [
    "provider_leave_hazard_per_month",
    "provider_leave_mean_months",
    "provider_quit_hazard_per_month",
    "stress_quit_log_hr",
    "stress_base_prob",
    "stress_structured_logit",
    "supervision_quit_log_hr",
    "supervision_stress_logit",
    "experienced_supervision_multiplier",
]
_SESSIONS = [
    "unstructured_max_sessions_per_week",
    "unstructured_initial_rate_fraction",
    "unstructured_ramp_months",
    "unstructured_ramp_shape",
    "experienced_disruption_factor",
    "experienced_review_factor",
    "weekly_timetable_prob",
    "venue_unavailable_prob",
    "outdoor_share",
    "max_postponements",
    "plan_review_mean_days",
    "provider_leave_hazard_per_month",
]
_CONTENT = ["content_interest_weights", "content_interest_concentration", "unstructured_content_breadth"]
_ANSWERS = ["answer_community_loading", "community_effect_sd"]
_DOSE = ["exposure_half_saturation_sessions", "attendance_mean"]
_BENEFITS = [
    "benefit_experience_logit",
    "experience_share",
    "benefit_no_programme_prob",
    "benefit_person_sd",
    *_DOSE,
    *_ANSWERS,
]
_VIEWS = ["service_view_no_programme_prob", "delivery_quality_logit", *_DOSE]
_PROVIDER_LIKERT = [
    "provider_likert_base",
    "satisfaction_experience_shift",
    "score_no_programme",
    *_DOSE,
    "stress_satisfaction_shift",
    "stress_base_prob",
]
_CONSUMER_LIKERT = ["consumer_likert_base", "satisfaction_experience_shift", "score_no_programme", *_DOSE, *_ANSWERS]
_PUNCTUALITY = ["punctuality_score_per_share", "unstructured_reschedule_prob"]
_RICHNESS = ["richness_score_per_share", "unstructured_content_breadth", "content_interest_concentration"]
_STRESS_DYNAMICS = [
    "stress_workload_logit",
    "stress_cancellation_logit",
    "stress_persistence_logit",
    "supervision_stress_logit",
]
_PROVIDER_BINARY_EXTRA = {
    "sat_overall": _VIEWS,
    "qualified": ["stress_qualified_logit", "stress_base_prob", "stress_structured_logit", *_VIEWS],
    "willing_continue": ["stress_continue_logit", "stress_base_prob", "stress_structured_logit", *_VIEWS],
    "stressful": ["stress_base_prob", "stress_structured_logit", *_STRESS_DYNAMICS],
}


def build_targets() -> list[Target]:
    """All targets, in the order of the paper."""
    t: list[Target] = []
    _retention_targets(t)
    _session_targets(t)
    _provider_targets(t)
    _stress_targets(t)
    _benefit_targets(t)
    _consumer_targets(t)
    _caregiver_targets(t)

    for tg in t:
        tg.identifies = list(IDENTIFIES.get(tg.id, []))
    missing = set(IDENTIFIES) - {tg.id for tg in t}
    if missing:
        raise KeyError(f"IDENTIFIES names unknown targets: {sorted(missing)}")
    return t


def _retention_targets(t: list[Target]) -> None:
    """Retention by role and wave (Results, response rates)."""
    # Retention (Results, "Participant characteristics and response rates"): evaluated at follow-up.
    for (role, wave), (k, n) in ins.PAPER_RETENTION.items():
        informs = _PROVIDER_RETENTION if role == "provider" else _CONSUMER_RETENTION
        t.append(
            _count(
                f"retention.{role}.{wave}",
                f"{role.capitalize()}s evaluated at follow-up, {wave} wave",
                k,
                n,
                "Results, response rates",
                informs,
            )
        )


def _session_targets(t: list[Target]) -> None:
    """Sessions held, group share and content (Methods)."""
    # Sessions (Methods, "Peer support service intervention").
    t.append(
        Target(
            "sessions.total",
            "Peer support services delivered",
            "total",
            float(ins.PAPER_SESSIONS_TOTAL),
            None,
            "Methods: 'A total of 214 peer support services were delivered'",
            list(_SESSIONS),
            se=math.sqrt(ins.PAPER_SESSIONS_TOTAL),
        )
    )
    n_s = ins.PAPER_SESSIONS_TOTAL
    t.append(
        Target(
            "sessions.group_share",
            "Share of services conducted in group",
            "share",
            ins.PAPER_GROUP_SHARE,
            n_s,
            "Methods: 'Most (98.6%) of the services were conducted in group'",
            ["group_share"],
            se=math.sqrt(ins.PAPER_GROUP_SHARE * (1 - ins.PAPER_GROUP_SHARE) / n_s),
        )
    )
    for cat, share in ins.PAPER_TOP_CONTENT_SHARES.items():
        t.append(
            Target(
                f"content.{cat}",
                f"Share of services: {cat.replace('_', ' ')}",
                "share",
                share,
                n_s,
                "Methods: top three content categories",
                list(_CONTENT),
                se=math.sqrt(share * (1 - share) / n_s),
                note="the paper does not say whether the shares are of all services or of the later wave's; "
                "the model's summary is over all held sessions",
            )
        )


def _provider_targets(t: list[Target]) -> None:
    """Table 2: provider satisfaction."""
    # Table 2: provider satisfaction (n = 12).
    for it in ins.PROVIDER_SATISFACTION:
        if it.kind == "binary":
            informs = [f"provider_item_base.{it.column}", *_PROVIDER_BINARY_EXTRA.get(it.column, []), *_ANSWERS]
            t.append(
                _count(
                    f"provider.{it.column}", f"Providers: {it.label}", it.paper_count, it.paper_n, it.source, informs
                )
            )
        elif it.column == "confidence":
            informs = ["provider_likert_base.confidence", "confidence_experience_shift", "stress_base_prob", *_ANSWERS]
            t.append(
                _count(
                    "provider.confidence_answered",
                    "Providers giving a confidence score",
                    it.paper_n,
                    ins.paper_evaluated("provider"),
                    "Table 2 (7.13 = 57/8: 8 of 12 answered)",
                    ["confidence_response_prob"],
                )
            )
            sd_informs = ["provider_likert_base.confidence", "confidence_experience_shift"]
            t += _mean_and_sd(it, "confidence to continue (0-10)", informs, sd_informs)
            m, n = PAPER_CONFIDENCE_LATER
            t.append(
                _mean(
                    "provider.confidence.mean.later",
                    "Providers: confidence, later wave",
                    m,
                    it.paper_sd,
                    n,
                    "Results: 'especially in the later communities (7.80)'",
                    informs,
                    note="SE uses the pooled SD 2.366 (the wave SD is not printed)",
                )
            )
        else:
            informs = [f"provider_likert_base.{it.column}", *_PROVIDER_LIKERT, *_ANSWERS]
            t += _mean_and_sd(it, it.label, informs, [f"provider_likert_base.{it.column}", "stress_satisfaction_shift"])


def _stress_targets(t: list[Target]) -> None:
    """Reasons for stress among providers (Results text)."""
    # Reasons for stress (Results text; % of the 12 evaluated).
    for it in ins.PROVIDER_STRESS_REASONS:
        informs = [f"stress_reason_prob.{it.column}", "stress_base_prob", "stress_structured_logit"]
        if it.column == "stress_topic_difficulty":
            informs.append("stress_topic_structured_logit")
        t.append(
            _count(
                f"provider.{it.column}",
                f"Providers' stress reason: {it.label}",
                it.paper_count,
                it.paper_n,
                it.source,
                informs,
            )
        )


def _benefit_targets(t: list[Target]) -> None:
    """Table 3: perceived benefit; consumer mood by wave."""
    # Table 3: perceived benefit, providers (n = 12) and consumers (n = 42).
    for role, items in (("provider", ins.PROVIDER_BENEFITS), ("consumer", ins.CONSUMER_BENEFITS)):
        for it in items:
            informs = [f"{role}_item_base.{it.column}", *_BENEFITS]
            t.append(
                _count(
                    f"{role}.{it.column}",
                    f"{role.capitalize()}s: {it.label}",
                    it.paper_count,
                    it.paper_n,
                    it.source,
                    informs,
                )
            )
    for wave, (k, n) in ins.CONSUMER_MOOD_BY_WAVE.items():
        t.append(
            _count(
                f"consumer.ben_mood.{wave}",
                f"Consumers: improve mood and feeling cared about, {wave} wave",
                k,
                n,
                "Results, 'Consumers': 10 of 26 initial, 13 of 16 later",
                ["consumer_item_base.ben_mood", *_BENEFITS],
            )
        )


def _consumer_targets(t: list[Target]) -> None:
    """Table 4: consumer satisfaction and the wave t statistics."""
    # Table 4: consumer satisfaction (n = 42).
    for it in ins.CONSUMER_SATISFACTION:
        if it.kind == "binary":
            t.append(
                _count(
                    f"consumer.{it.column}",
                    f"Consumers: {it.label}",
                    it.paper_count,
                    it.paper_n,
                    it.source,
                    [f"consumer_item_base.{it.column}", *_VIEWS, *_ANSWERS],
                )
            )
        else:
            extra = _PUNCTUALITY if it.column == "sat_punctuality" else _RICHNESS if it.column == "sat_richness" else []
            t.append(
                _mean(
                    f"consumer.{it.column}.mean",
                    f"Consumers: {it.label}, mean",
                    it.paper_mean,
                    it.paper_sd,
                    it.paper_n,
                    it.source,
                    [f"consumer_likert_base.{it.column}", *_CONSUMER_LIKERT, *extra],
                )
            )
            t.append(
                _sd(
                    f"consumer.{it.column}.sd",
                    f"Consumers: {it.label}, SD",
                    it.paper_sd,
                    it.paper_n,
                    it.source,
                    [f"consumer_likert_base.{it.column}", *extra],
                )
            )
    for col, (tval, _p) in ins.CONSUMER_WAVE_T.items():
        extra = _PUNCTUALITY if col == "sat_punctuality" else _RICHNESS
        t.append(
            Target(
                f"consumer.{col}.t",
                f"Consumers: {col.removeprefix('sat_')}, t initial vs later",
                "t",
                tval,
                ins.paper_evaluated("consumer"),
                "Results: Table S4 (Student t, initial minus later)",
                ["satisfaction_experience_shift", f"consumer_likert_base.{col}", *extra, *_ANSWERS],
                se=1.0,
            )
        )


def _caregiver_targets(t: list[Target]) -> None:
    """Caregivers (Results, 'Caregivers')."""
    # Caregivers (Results, "Caregivers"; 32 of the 54 evaluated participants' families).
    d = ins.CAREGIVER_DEMOGRAPHICS
    t.append(
        _count(
            "caregiver.of_providers",
            "Caregivers taking part, of evaluated providers",
            d["of_providers"],
            ins.paper_evaluated("provider"),
            "Results, 'Caregivers' (10 of the 12 evaluated providers)",
            ["scenario.caregiver_availability.providers"],
        )
    )
    t.append(
        _count(
            "caregiver.of_consumers",
            "Caregivers taking part, of evaluated consumers",
            d["of_consumers"],
            ins.paper_evaluated("consumer"),
            "Results, 'Caregivers' (22 of the 42 evaluated consumers)",
            ["scenario.caregiver_availability.consumers"],
        )
    )
    t.append(
        _count(
            "caregiver.female",
            "Caregivers: female",
            d["female"],
            d["n"],
            "Results, 'Caregivers'",
            ["caregiver_parent_female_prob"],
        )
    )
    t.append(
        _mean(
            "caregiver.age.mean",
            "Caregivers: mean age",
            d["mean_age"],
            None,
            d["n"],
            "Results, 'Caregivers'",
            ["caregiver_parent_age_gap"],
            note="SD not printed: not usable in the distance",
        )
    )
    for it in ins.CAREGIVER_ATTITUDE + ins.CAREGIVER_MEMBER_BENEFITS + ins.CAREGIVER_SELF_BENEFITS:
        if it.paper_count is None:
            continue
        informs = [f"caregiver_item_base.{it.column}", *_DOSE]
        if it.column.startswith("member_"):
            informs += ["caregiver_agreement_logit", *_BENEFITS]
        elif it.column.startswith("self_"):
            informs += ["benefit_no_programme_prob", "benefit_experience_logit", "experience_share"]
        else:
            informs += ["service_view_no_programme_prob", "caregiver_agreement_logit"]
        t.append(
            _count(f"caregiver.{it.column}", f"Caregivers: {it.label}", it.paper_count, it.paper_n, it.source, informs)
        )


# The figures that pin down a structural parameter *beyond the item levels*. An item's level is
# set at a fixed reference exposure (docs/outcome_chain.md), so a pooled rate is the level moved by
# the study's simulated exposure: the wave contrasts, the figures no item level sets (retention,
# sessions, the t statistics, the spread a slope adds to an item) and a few pooled rates (mood,
# satisfaction, willingness: they carry the dose-response and the no-programme level) identify the
# structural parameters. experience_share is identified by no figure (the paper's waves differ in
# structure and experience together; Discussion): calibrated, its posterior is its prior. These are
# the distance targets when the named parameter is calibrated; everything else is checked in the
# posterior predictive only.
_SESSIONS_ID = [
    "unstructured_max_sessions_per_week",
    "unstructured_initial_rate_fraction",
    "weekly_timetable_prob",
    "unstructured_reschedule_prob",
]
_PUNCT_ID = ["punctuality_score_per_share", "unstructured_reschedule_prob"]
_RICH_ID = ["richness_score_per_share"]
IDENTIFIES: dict[str, list[str]] = {
    "retention.consumer.initial": ["consumer_dropout_hazard_per_month", "attendance_mean"],
    "retention.consumer.later": ["consumer_dropout_hazard_per_month", "attendance_mean"],
    "retention.provider.initial": ["provider_leave_hazard_per_month"],
    "retention.provider.later": ["provider_leave_hazard_per_month"],
    "sessions.total": [*_SESSIONS_ID, "unstructured_ramp_shape"],
    "consumer.sat_punctuality.mean": _PUNCT_ID,
    "consumer.sat_punctuality.sd": _PUNCT_ID,
    "consumer.sat_punctuality.t": [*_PUNCT_ID, "satisfaction_experience_shift"],
    "consumer.sat_richness.mean": _RICH_ID,
    "consumer.sat_richness.sd": _RICH_ID,
    "consumer.sat_richness.t": [*_RICH_ID, "satisfaction_experience_shift"],
    "consumer.ben_mood.initial": ["benefit_experience_logit", "exposure_half_saturation_sessions"],
    "consumer.ben_mood.later": ["benefit_experience_logit", "exposure_half_saturation_sessions"],
    # Pooled levels now depend on the study's simulated exposure (docs/outcome_chain.md).
    "consumer.ben_mood": ["exposure_half_saturation_sessions"],
    "consumer.sat_overall": ["service_view_no_programme_prob", "exposure_half_saturation_sessions"],
    "consumer.willing_continue": ["service_view_no_programme_prob", "exposure_half_saturation_sessions"],
    "provider.confidence.mean": ["confidence_experience_shift"],
    "provider.confidence.mean.later": ["confidence_experience_shift"],
}


def informed_parameters(targets: list[Target]) -> set[str]:
    """Top-level ModelParameters fields named by at least one target."""
    return {p.split(".")[0] for tg in targets for p in tg.informs if not p.startswith("scenario.")}


def uninformed_parameters(targets: list[Target]) -> list[str]:
    """ModelParameters fields that no target informs: they stay at their documented assumptions."""
    return sorted(set(ModelParameters.model_fields) - informed_parameters(targets))


def targets_document(targets: list[Target] | None = None) -> dict[str, Any]:
    targets = build_targets() if targets is None else targets
    return {
        "description": (
            "Every figure of Fan et al. (2019) the model can produce (generated from sim/instruments.py by "
            "sim.calibration.targets.build_targets; do not edit by hand). value: the printed figure (count targets: "
            "the proportion count/n); se: the sampling SE that scales the distance (count: binomial at the "
            "Jeffreys-corrected proportion (k+0.5)/(n+1)); informs: the parameters the figure carries information "
            "about (dotted names are one key of a dict-valued parameter; scenario.* are scenario inputs); "
            "identifies: the "
            "structural parameters the figure pins down beyond the fixed item base rates (a target is in the "
            "calibration "
            "distance when it identifies a calibrated parameter)."
        ),
        "targets": [{k: v for k, v in asdict(tg).items() if v not in (None, "", [])} for tg in targets],
        "uninformed_parameters": uninformed_parameters(targets),
        "not_targets": {
            "Table 1 baseline characteristics": "model inputs (sim/baseline.py draws them to match Table 1), not "
            "outputs",
            "chi-square statistics (retention 1.264 and 0.548; work skill 15.684)": "deterministic functions of count "
            "targets already listed (retention by wave; provider and consumer work skill)",
            "39 of 54 satisfied ('conservative')": "39 of 42 evaluated satisfied (listed) over all 54 recruited",
        },
    }


def write_targets_file(path: Path = TARGETS_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("# Calibration targets (generated: python -m sim.calibration.targets). Do not edit by hand.\n")
        yaml.safe_dump(targets_document(), fh, sort_keys=False, width=110, allow_unicode=True, default_flow_style=None)


def load_targets(path: Path = TARGETS_FILE) -> list[Target]:
    with open(path, encoding="utf-8") as fh:
        doc = safe_load_unique(fh, fast=True)
    return [Target(**{"n": None, **d}) for d in doc["targets"]]


if __name__ == "__main__":
    write_targets_file()
    print(f"wrote {TARGETS_FILE} ({len(build_targets())} targets)")
