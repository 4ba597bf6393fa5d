"""The follow-up evaluation interviews: answers that depend on what each person experienced.

Called once per community at its follow-up month (Methods, "Procedure": 18 months for the
initial communities, 12 for the later ones) for everyone still in the programme. Every answer is
drawn from an explicit parameter (``sim.parameters``) and the person's own exposure, so a scenario
that changes delivery changes the answers:

- yes/no item: ``logit P(yes) = logit(base) + shifts``; the base is the paper's pooled rate (Tables
  2-4), the shifts are centred (``c_struct``, ``c_exp`` = +-0.5; exposure minus a reference) so the
  base stays near the rate of a study like the paper's;
- 1-5 item: a latent normal (mean, SD from Tables 2 and 4) plus shifts, rounded and clipped;
- 0-10 confidence: the same on 0-10, answered with ``confidence_response_prob``.

The same random numbers are drawn for every person whether or not they are evaluated, so
scenarios line up under common random numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

from . import instruments as ins
from .parameters import ModelParameters

# Reference exposures at which an item's base rate applies (ASSUMPTION: typical of the study).
CONSUMER_REFERENCE_SESSIONS_PER_WEEK = 0.35
PROVIDER_REFERENCE_SESSIONS_PER_WEEK = 0.5
REFERENCE_CATEGORY_SHARE = 0.7
REFERENCE_ON_TIME_SHARE = 0.8


@dataclass(frozen=True)
class CommunityContext:
    """What every person in a community shares at follow-up."""

    c_struct: float  # +0.5 structured, -0.5 unstructured
    c_exp: float  # +0.5 experienced wave, -0.5 otherwise
    effect: float  # community effect u_c


def _yes(rng_u: np.ndarray, lp: np.ndarray) -> np.ndarray:
    return (rng_u < expit(lp)).astype(float)


def _scored(latent: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip(np.rint(latent), lo, hi)


def _benefits(
    p: ModelParameters,
    base: dict[str, float],
    ctx: CommunityContext,
    exposure_shift: np.ndarray,
    rng: np.random.Generator,
    out: dict[str, np.ndarray],
) -> None:
    """Table 3 items (self-perceived and others' perspective) with a shared person propensity."""
    n = exposure_shift.shape[0]
    person = p.benefit_person_sd * rng.standard_normal(n)
    common = p.benefit_experience_logit * ctx.c_exp + p.answer_community_loading * ctx.effect + exposure_shift + person
    # Random effects pull a marginal rate towards 1/2; scaling the base logit by the probit-logistic
    # factor sqrt(1 + 0.346 var) keeps the marginal rate near the paper's (Zeger et al. 1988).
    spread = (
        p.benefit_person_sd**2
        + (p.answer_community_loading * p.community_effect_sd) ** 2
        + (p.benefit_experience_logit / 2) ** 2
    )
    scale = float(np.sqrt(1 + 0.346 * spread))
    cols = ins.SELF_BENEFIT_COLUMNS + ins.OTHERS_BENEFIT_COLUMNS
    u = rng.random((len(cols), n))
    for k, col in enumerate(cols):
        out[col] = _yes(u[k], scale * logit(base[col]) + common)


def interview_providers(
    p: ModelParameters,
    ctx: CommunityContext,
    stressed: np.ndarray,
    sessions_per_week: np.ndarray,
    category_share: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Answers of every provider (Table 2, stress reasons, Table 3); callers blank the unevaluated."""
    n = stressed.shape[0]
    base = p.provider_item_base
    out: dict[str, np.ndarray] = {}
    s_c = stressed - 0.5
    u = rng.random((4, n))
    out["sat_overall"] = _yes(u[0], logit(base["sat_overall"]) + p.answer_community_loading * ctx.effect)
    out["qualified"] = _yes(u[1], logit(base["qualified"]) + p.stress_qualified_logit * s_c)
    out["stressful"] = stressed.astype(float)
    out["willing_continue"] = _yes(u[2], logit(base["willing_continue"]) + p.stress_continue_logit * s_c)
    shift = (
        p.satisfaction_experience_shift * ctx.c_exp
        + 0.5 * p.answer_community_loading * ctx.effect
        + p.stress_satisfaction_shift * s_c
    )
    z = rng.standard_normal((len(p.provider_likert_base), n))
    for k, (col, (mean, sd)) in enumerate(sorted(p.provider_likert_base.items())):
        if col == "confidence":
            continue
        extra = (
            p.richness_score_per_share * (category_share - REFERENCE_CATEGORY_SHARE) if col == "sat_content" else 0.0
        )
        out[col] = _scored(mean + shift + extra + sd * z[k], 1, 5)
    c_mean, c_sd = p.provider_likert_base["confidence"]
    conf = _scored(c_mean + p.confidence_experience_shift * ctx.c_exp + c_sd * rng.standard_normal(n), 0, 10)
    out["confidence"] = np.where(u[3] < p.confidence_response_prob, conf, np.nan)
    ur = rng.random((len(ins.PROVIDER_STRESS_REASONS), n))
    for k, it in enumerate(ins.PROVIDER_STRESS_REASONS):
        lp = logit(p.stress_reason_prob[it.column])
        if it.column == "stress_topic_difficulty":
            lp = lp + p.stress_topic_structured_logit * ctx.c_struct
        out[it.column] = _yes(ur[k], lp) * stressed
    exposure = p.benefit_exposure_logit * (sessions_per_week - PROVIDER_REFERENCE_SESSIONS_PER_WEEK)
    _benefits(p, base, ctx, exposure, rng, out)
    return out


def interview_consumers(
    p: ModelParameters,
    ctx: CommunityContext,
    sessions_per_week: np.ndarray,
    on_time_share: np.ndarray,
    category_share: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Answers of every consumer (Table 4, Table 3); callers blank the unevaluated."""
    n = sessions_per_week.shape[0]
    base = p.consumer_item_base
    out: dict[str, np.ndarray] = {}
    u = rng.random((2, n))
    out["sat_overall"] = _yes(u[0], logit(base["sat_overall"]) + p.answer_community_loading * ctx.effect)
    out["willing_continue"] = _yes(u[1], logit(base["willing_continue"]) + p.answer_community_loading * ctx.effect)
    shift = p.satisfaction_experience_shift * ctx.c_exp + 0.5 * p.answer_community_loading * ctx.effect
    z = rng.standard_normal((len(p.consumer_likert_base), n))
    for k, (col, (mean, sd)) in enumerate(sorted(p.consumer_likert_base.items())):
        extra: np.ndarray | float = 0.0
        if col == "sat_punctuality":
            extra = p.punctuality_score_per_share * (on_time_share - REFERENCE_ON_TIME_SHARE)
        elif col == "sat_richness":
            extra = p.richness_score_per_share * (category_share - REFERENCE_CATEGORY_SHARE)
        out[col] = _scored(mean + shift + extra + sd * z[k], 1, 5)
    exposure = p.benefit_exposure_logit * (sessions_per_week - CONSUMER_REFERENCE_SESSIONS_PER_WEEK)
    _benefits(p, base, ctx, exposure, rng, out)
    return out


def interview_caregivers(
    p: ModelParameters,
    ctx: CommunityContext,
    member_is_provider: np.ndarray,
    member_answers: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Answers of every caregiver (Results, 'Caregivers'); ``member_answers`` are the family
    members' own answers (0/1; NaN where not evaluated, which callers then blank anyway)."""
    n = member_is_provider.shape[0]
    base = p.caregiver_item_base
    agree = p.caregiver_agreement_logit
    out: dict[str, np.ndarray] = {}

    def member(col: str, centre: float) -> np.ndarray:
        return np.nan_to_num(member_answers[col], nan=centre) - centre

    u = rng.random((4, n))
    out["positive_attitude"] = _yes(u[0], logit(base["positive_attitude"]) + agree * member("sat_overall", 0.9))
    out["willing_member_continue"] = _yes(
        u[1], logit(base["willing_member_continue"]) + agree * member("willing_continue", 0.9)
    )
    qualified = _yes(u[2], logit(base["member_qualified"]) + agree * member("qualified", 0.8))
    out["member_qualified"] = np.where(member_is_provider, qualified, np.nan)
    expect = _yes(u[3], logit(base["expect_member_provider"]) + p.answer_community_loading * ctx.effect)
    out["expect_member_provider"] = np.where(member_is_provider, np.nan, expect)
    um = rng.random((len(ins.CAREGIVER_MEMBER_BENEFITS), n))
    for k, it in enumerate(ins.CAREGIVER_MEMBER_BENEFITS):
        own = it.column.removeprefix("member_")
        out[it.column] = _yes(um[k], logit(base[it.column]) + agree * member(own, 0.35))
    us = rng.random((len(ins.CAREGIVER_SELF_BENEFITS), n))
    shift = 0.5 * p.benefit_experience_logit * ctx.c_exp + p.answer_community_loading * ctx.effect
    for k, it in enumerate(ins.CAREGIVER_SELF_BENEFITS):
        out[it.column] = _yes(us[k], logit(base[it.column]) + shift)
    return out
