"""The follow-up evaluation interviews: answers that follow each person's own exposure.

Called once per community at its follow-up month (Methods, "Procedure": 18 months for the
initial communities, 12 for the later ones) for everyone still in the programme. The chain and
every parameter are in ``docs/outcome_chain.md``; in short, every item follows one dose-response
form in the person's exposure ``d`` (sessions attended by a consumer, staffed by a provider, the
family member's for a caregiver):

    g(d) = [d / (d + d50)] / [d_ref / (d_ref + d50)]            (Emax, g(0) = 0, g(d_ref) = 1)
    logit P(yes | d) = logit(p0) + g(d) * (logit(p_item) - logit(p0) + shifts)

- ``p0``: the no-programme level (``benefit_no_programme_prob`` for items asking about a benefit of
  the service, ``service_view_no_programme_prob`` for satisfaction, willingness and attitudes), so
  a person who attended nothing answers at that level whatever their community;
- ``p_item``: the item's level at the fixed reference exposure ``d_ref`` (the paper's pooled rate by
  default, Tables 2-4), so the paper's pooled rates are targets at the study's simulated exposure;
- ``shifts``: what a session of this programme is worth: the wave (structure and experience, split
  by ``experience_share``), delivery quality (on time, content variety, cancellations), the
  community effect and a person effect;
- 1-5 items: a latent normal whose mean moves the same way from ``score_no_programme`` to the
  paper's mean (Tables 2 and 4), rounded and clipped; the 0-10 confidence score likewise.

The same random numbers are drawn for every person whether or not they are evaluated, so
scenarios line up under common random numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np
from scipy.special import expit, logit

from . import instruments as ins
from .parameters import ModelParameters

# Reference exposures at which an item's level applies (fixed, not the simulated study's average;
# docs/outcome_chain.md): a consumer who attended 24 sessions (40% of the about 60 sessions a
# community held in a year, the paper's attendance requirement); a provider who staffed 30.
CONSUMER_REFERENCE_SESSIONS = 24.0
PROVIDER_REFERENCE_SESSIONS = 30.0
REFERENCE_CATEGORY_SHARE = 0.7
REFERENCE_ON_TIME_SHARE = 0.8
REFERENCE_HELD_SHARE = 0.9
REFERENCE_QUALITY = (REFERENCE_CATEGORY_SHARE + REFERENCE_ON_TIME_SHARE + REFERENCE_HELD_SHARE) / 3


class Draws(Protocol):
    """Where the interviews' random numbers come from: a NumPy ``Generator``, or the model's
    ``StackedGenerator`` that draws each community's share from that community's own stream."""

    def random(self, size=None) -> np.ndarray: ...

    def standard_normal(self, size=None) -> np.ndarray: ...


@dataclass(frozen=True)
class CommunityContext:
    """What every person in a community shares at follow-up (one value for a community, or arrays with
    one entry per person when several communities are interviewed at once)."""

    c_struct: np.ndarray | float  # +0.5 structured, -0.5 unstructured
    c_exp: np.ndarray | float  # +0.5 wave inheriting the programme's experience, -0.5 otherwise
    effect: np.ndarray | float  # community effect u_c
    held_share: np.ndarray | float = REFERENCE_HELD_SHARE  # share of the community's sessions not cancelled


def dose(d: np.ndarray, p: ModelParameters, reference: float) -> np.ndarray:
    """Emax dose-response in sessions, normalised to 1 at the reference exposure."""
    d = np.asarray(d, dtype=float)
    h = p.exposure_half_saturation_sessions
    return (d / (d + h)) / (reference / (reference + h))


def wave_position(p: ModelParameters, ctx: CommunityContext) -> np.ndarray:
    """-0.5 (initial: unstructured, new) to +0.5 (later: structured, experienced); the paper's wave
    difference split between structure and experience by ``experience_share``."""
    s = p.experience_share
    return (1 - s) * ctx.c_struct + s * ctx.c_exp


def quality(on_time: np.ndarray, categories: np.ndarray, ctx: CommunityContext) -> np.ndarray:
    """Delivery quality a person met, minus the reference (on time, content variety, not cancelled)."""
    return (on_time + categories + ctx.held_share) / 3 - REFERENCE_QUALITY


def _served(p: ModelParameters, ctx: CommunityContext, on_time: np.ndarray, categories: np.ndarray) -> np.ndarray:
    """What satisfaction and willingness add per unit dose: delivery quality and the community effect."""
    return p.delivery_quality_logit * quality(on_time, categories, ctx) + p.answer_community_loading * ctx.effect


def _yes(u: np.ndarray, lp: np.ndarray) -> np.ndarray:
    return (u < expit(lp)).astype(float)


@lru_cache(maxsize=4096)  # parameters' values: a calibration's draws are many, so bounded
def _logit(x: float) -> float:
    """logit of a parameter (a scalar): the same value as ``scipy.special.logit``, computed once."""
    return float(logit(x))


def _toward(p0: float, level: float, g: np.ndarray, shift: np.ndarray | float) -> np.ndarray:
    """logit P(yes | d) = logit(p0) + g(d) (logit(level) - logit(p0) + shift)."""
    lp0 = _logit(p0)
    return lp0 + g * (_logit(level) - lp0 + shift)


def _toward_items(p0: float, levels: list[float], g: np.ndarray, shift: np.ndarray | float) -> np.ndarray:
    """:func:`_toward` of several items at once, one row per item (``shift``: one row, or one per item);
    element by element the same arithmetic, so the same values."""
    lp0 = _logit(p0)
    return lp0 + g * (np.array([_logit(x) for x in levels])[:, None] - lp0 + shift)


@lru_cache(maxsize=4096)
def _scaled_level(scale: float, level: float) -> float:
    """expit(scale logit(level)): an item's level adjusted for the random effects (:func:`_benefits`)."""
    return float(expit(scale * _logit(level)))


def _scored(latent: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip(np.rint(latent), lo, hi)


def _benefits(
    p: ModelParameters,
    base: dict[str, float],
    ctx: CommunityContext,
    g: np.ndarray,
    rng: Draws,
    out: dict[str, np.ndarray],
) -> None:
    """Table 3 items (self-perceived and others' perspective) with a shared person propensity."""
    n = g.shape[0]
    person = p.benefit_person_sd * rng.standard_normal(n)
    common = p.benefit_experience_logit * wave_position(p, ctx) + p.answer_community_loading * ctx.effect + person
    # Random effects pull a marginal rate towards 1/2; scaling the item logit by the probit-logistic
    # factor sqrt(1 + 0.346 var) keeps the marginal rate at the reference near the item's level
    # (Zeger et al. 1988).
    spread = p.benefit_person_sd**2 + (p.answer_community_loading * p.community_effect_sd) ** 2
    scale = float(np.sqrt(1 + 0.346 * spread))
    p0 = p.benefit_no_programme_prob
    cols = ins.SELF_BENEFIT_COLUMNS + ins.OTHERS_BENEFIT_COLUMNS
    u = rng.random((len(cols), n))
    yes = _yes(u, _toward_items(p0, [_scaled_level(scale, base[col]) for col in cols], g, common))
    out.update(zip(cols, yes, strict=True))


def _likert(
    p: ModelParameters,
    mean: float | np.ndarray,
    g: np.ndarray,
    shift: np.ndarray | float,
    lo: float = 1.0,
    hi: float = 5.0,
) -> np.ndarray:
    """Latent mean moving from the no-programme score to the item's mean at the reference exposure
    (``mean``: one item's, or a column of several items' means, giving one row per item)."""
    m0 = lo + (p.score_no_programme - 1) / 4 * (hi - lo)
    return m0 + g * (mean - m0 + shift)


def _likert_items(
    p: ModelParameters,
    items: list[tuple[str, tuple[float, float]]],
    g: np.ndarray,
    shift: np.ndarray,
    z: np.ndarray,
    extra: np.ndarray | None = None,
) -> np.ndarray:
    """Latent scores of several 1-5 items (``items``: (column, (mean, SD))), one row per item:
    :func:`_likert` (``shift``: one row per item), plus ``extra``, plus the item's SD times its row of
    standard normals ``z``."""
    latent = _likert(p, np.array([mean for _, (mean, _) in items])[:, None], g, shift)
    if extra is not None:
        latent = latent + extra
    return latent + np.array([sd for _, (_, sd) in items])[:, None] * z


def _item_shifts(shift: np.ndarray | float, cols: list[str], n: int, extra: dict[str, np.ndarray]) -> np.ndarray:
    """One row per item: ``shift``, plus the item's own ``extra`` where it has one."""
    rows = np.array(np.broadcast_to(shift, (len(cols), n)))
    for k, col in enumerate(cols):
        if col in extra:
            rows[k] = shift + extra[col]
    return rows


def interview_providers(
    p: ModelParameters,
    ctx: CommunityContext,
    stressed: np.ndarray,
    sessions_staffed: np.ndarray,
    on_time_share: np.ndarray,
    category_share: np.ndarray,
    rng: Draws,
) -> dict[str, np.ndarray]:
    """Answers of every provider (Table 2, stress reasons, Table 3); callers blank the unevaluated."""
    n = stressed.shape[0]
    base = p.provider_item_base
    g = dose(sessions_staffed, p, PROVIDER_REFERENCE_SESSIONS)
    wave = wave_position(p, ctx)
    view0 = p.service_view_no_programme_prob
    out: dict[str, np.ndarray] = {}
    s_c = stressed - 0.5
    served = _served(p, ctx, on_time_share, category_share)
    u = rng.random((4, n))
    out["sat_overall"] = _yes(u[0], _toward(view0, base["sat_overall"], g, served))
    out["qualified"] = _yes(u[1], _toward(view0, base["qualified"], g, 0.0) + p.stress_qualified_logit * s_c)
    out["stressful"] = stressed.astype(float)
    out["willing_continue"] = _yes(
        u[2], _toward(view0, base["willing_continue"], g, served) + p.stress_continue_logit * s_c
    )
    shift = p.satisfaction_experience_shift * wave + 0.5 * p.answer_community_loading * ctx.effect
    z = rng.standard_normal((len(p.provider_likert_base), n))
    items = sorted(p.provider_likert_base.items())
    rows = [k for k, (col, _) in enumerate(items) if col != "confidence"]  # confidence: a 0-10 score, below
    items = [items[k] for k in rows]
    cols = [col for col, _ in items]
    richness = {"sat_content": p.richness_score_per_share * (category_share - REFERENCE_CATEGORY_SHARE)}
    latent = _likert_items(
        p, items, g, _item_shifts(shift, cols, n, richness), z[rows], p.stress_satisfaction_shift * s_c
    )
    out.update(zip(cols, _scored(latent, 1, 5), strict=True))
    c_mean, c_sd = p.provider_likert_base["confidence"]
    conf_latent = _likert(p, c_mean, g, p.confidence_experience_shift * wave, 0.0, 10.0)
    conf = _scored(conf_latent + c_sd * rng.standard_normal(n), 0, 10)
    out["confidence"] = np.where(u[3] < p.confidence_response_prob, conf, np.nan)
    ur = rng.random((len(ins.PROVIDER_STRESS_REASONS), n))
    for k, it in enumerate(ins.PROVIDER_STRESS_REASONS):
        lp = _logit(p.stress_reason_prob[it.column])
        if it.column == "stress_topic_difficulty":
            lp = lp + p.stress_topic_structured_logit * ctx.c_struct
        out[it.column] = _yes(ur[k], lp) * stressed
    _benefits(p, base, ctx, g, rng, out)
    return out


def interview_consumers(
    p: ModelParameters,
    ctx: CommunityContext,
    sessions_attended: np.ndarray,
    on_time_share: np.ndarray,
    category_share: np.ndarray,
    rng: Draws,
) -> dict[str, np.ndarray]:
    """Answers of every consumer (Table 4, Table 3); callers blank the unevaluated."""
    n = sessions_attended.shape[0]
    base = p.consumer_item_base
    g = dose(sessions_attended, p, CONSUMER_REFERENCE_SESSIONS)
    view0 = p.service_view_no_programme_prob
    out: dict[str, np.ndarray] = {}
    served = _served(p, ctx, on_time_share, category_share)
    u = rng.random((2, n))
    out["sat_overall"] = _yes(u[0], _toward(view0, base["sat_overall"], g, served))
    out["willing_continue"] = _yes(u[1], _toward(view0, base["willing_continue"], g, served))
    shift = p.satisfaction_experience_shift * wave_position(p, ctx) + 0.5 * p.answer_community_loading * ctx.effect
    z = rng.standard_normal((len(p.consumer_likert_base), n))
    items = sorted(p.consumer_likert_base.items())
    cols = [col for col, _ in items]
    extra = {
        "sat_punctuality": p.punctuality_score_per_share * (on_time_share - REFERENCE_ON_TIME_SHARE),
        "sat_richness": p.richness_score_per_share * (category_share - REFERENCE_CATEGORY_SHARE),
    }
    out.update(
        zip(cols, _scored(_likert_items(p, items, g, _item_shifts(shift, cols, n, extra), z), 1, 5), strict=True)
    )
    _benefits(p, base, ctx, g, rng, out)
    return out


def interview_caregivers(
    p: ModelParameters,
    ctx: CommunityContext,
    member_is_provider: np.ndarray,
    member_dose: np.ndarray,
    member_answers: dict[str, np.ndarray],
    rng: Draws,
) -> dict[str, np.ndarray]:
    """Answers of every caregiver (Results, 'Caregivers'). ``member_dose`` is g(d) of the family
    member's own exposure (:func:`dose`); ``member_answers`` are the member's own answers (0/1; NaN
    where not evaluated, which callers then blank anyway), which the caregiver agrees with."""
    n = member_is_provider.shape[0]
    base = p.caregiver_item_base
    agree = p.caregiver_agreement_logit
    g = member_dose
    view0, ben0 = p.service_view_no_programme_prob, p.benefit_no_programme_prob
    community = p.answer_community_loading * ctx.effect
    out: dict[str, np.ndarray] = {}

    def member(col: str, centre: float) -> np.ndarray:
        answer = member_answers[col]
        return agree * (np.where(np.isnan(answer), centre, answer) - centre)

    u = rng.random((4, n))
    out["positive_attitude"] = _yes(
        u[0], _toward(view0, base["positive_attitude"], g, community + member("sat_overall", 0.9))
    )
    out["willing_member_continue"] = _yes(
        u[1], _toward(view0, base["willing_member_continue"], g, community + member("willing_continue", 0.9))
    )
    qualified = _yes(u[2], _toward(view0, base["member_qualified"], g, member("qualified", 0.8)))
    out["member_qualified"] = np.where(member_is_provider, qualified, np.nan)
    expect = _yes(u[3], _toward(view0, base["expect_member_provider"], g, community))
    out["expect_member_provider"] = np.where(member_is_provider, np.nan, expect)
    um = rng.random((len(ins.CAREGIVER_MEMBER_BENEFITS), n))
    cols = [it.column for it in ins.CAREGIVER_MEMBER_BENEFITS]
    own = np.array([member_answers[col.removeprefix("member_")] for col in cols])
    own = agree * (np.where(np.isnan(own), 0.35, own) - 0.35)  # member(own, 0.35), one row per item
    out.update(zip(cols, _yes(um, _toward_items(ben0, [base[col] for col in cols], g, own)), strict=True))
    us = rng.random((len(ins.CAREGIVER_SELF_BENEFITS), n))
    shift = 0.5 * p.benefit_experience_logit * wave_position(p, ctx) + community
    cols = [it.column for it in ins.CAREGIVER_SELF_BENEFITS]
    out.update(zip(cols, _yes(us, _toward_items(ben0, [base[col] for col in cols], g, shift)), strict=True))
    return out
