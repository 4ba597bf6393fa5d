"""Direct tests of the follow-up interview answers (``sim.follow_up``), against their definitions.

Each answer is ``logit P(yes | d) = logit(p0) + g(d) (logit(base) - logit(p0) + shifts)`` or a rounded
latent normal moving the same way (docs/outcome_chain.md); so at the reference exposure (g = 1) with
the shifts at zero the yes-rate is the base, with no session it is the no-programme level, a shift
moves it the way the parameter says, and the answers that
the paper ties to a condition (stress reasons: only the stressed; member_qualified: only a provider's
caregiver) obey it. Large samples (n = 20,000) and 4-standard-error bounds.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit

from sim import instruments as ins
from sim.follow_up import (
    CONSUMER_REFERENCE_SESSIONS,
    PROVIDER_REFERENCE_SESSIONS,
    REFERENCE_CATEGORY_SHARE,
    REFERENCE_ON_TIME_SHARE,
    CommunityContext,
    dose,
    interview_caregivers,
    interview_consumers,
    interview_providers,
)
from sim.parameters import ModelParameters

N = 20_000


def _ctx(c_struct=0.0, c_exp=0.0, effect=0.0) -> CommunityContext:
    return CommunityContext(np.full(N, c_struct), np.full(N, c_exp), np.full(N, effect))


def _rng(seed=1) -> np.random.Generator:
    return np.random.default_rng(seed)


def _within(rate: float, p: float, n: int = N, k: float = 4.0) -> bool:
    return abs(rate - p) < k * np.sqrt(p * (1 - p) / n) + 1e-12


def _providers(p, stressed, sessions=PROVIDER_REFERENCE_SESSIONS, share=REFERENCE_CATEGORY_SHARE, **ctx):
    return interview_providers(
        p,
        _ctx(**ctx),
        np.full(N, float(stressed)),
        np.full(N, sessions),
        np.full(N, REFERENCE_ON_TIME_SHARE),
        np.full(N, share),
        _rng(),
    )


def _consumers(p, sessions=CONSUMER_REFERENCE_SESSIONS, on_time=REFERENCE_ON_TIME_SHARE, **kw):
    share = kw.pop("share", REFERENCE_CATEGORY_SHARE)
    return interview_consumers(
        p, _ctx(**kw), np.full(N, sessions), np.full(N, on_time), np.full(N, share), _rng(kw.get("seed", 1))
    )


# --- Base rates: with every shift at zero the yes-rate is the item's base ----------------------
def test_consumer_yes_items_answer_at_their_base_rate():
    p = ModelParameters()
    ans = _consumers(p)
    for col in ("sat_overall", "willing_continue"):
        assert _within(ans[col].mean(), p.consumer_item_base[col]), col


def test_provider_yes_items_answer_at_their_base_rate_when_half_stressed():
    """Stress shifts are centred (stressed - 0.5): at stressed = 0.5 on average the base applies to
    qualified and willing_continue; sat_overall has no stress shift."""
    p = ModelParameters()
    a0, a1 = _providers(p, 0), _providers(p, 1)
    assert _within(a0["sat_overall"].mean(), p.provider_item_base["sat_overall"])
    for col, beta in (("qualified", p.stress_qualified_logit), ("willing_continue", p.stress_continue_logit)):
        base = logit(p.provider_item_base[col])
        assert _within(a0[col].mean(), expit(base - 0.5 * beta)), col
        assert _within(a1[col].mean(), expit(base + 0.5 * beta)), col


def test_likert_items_centre_on_their_table_mean():
    """1-5 items: a normal (Table 2/4 mean and SD) rounded and clipped; away from the bounds the
    mean of the rounded answer is the latent mean (rounding is unbiased, clipping small)."""
    p = ModelParameters()
    ans = _consumers(p)
    for col, (mean, sd) in p.consumer_likert_base.items():
        lo, hi = 1, 5
        z = np.random.default_rng(3).normal(mean, sd, 400_000)
        expect = np.clip(np.rint(z), lo, hi).mean()
        assert abs(ans[col].mean() - expect) < 4 * sd / np.sqrt(N), col
        assert set(np.unique(ans[col])) <= {1, 2, 3, 4, 5}


def test_confidence_is_answered_with_its_response_probability():
    p = ModelParameters()
    conf = _providers(p, 0)["confidence"]
    assert _within(np.isfinite(conf).mean(), p.confidence_response_prob)
    assert np.nanmin(conf) >= 0 and np.nanmax(conf) <= 10


# --- Conditions the paper ties answers to ------------------------------------------------------
def test_only_stressed_providers_give_stress_reasons():
    p = ModelParameters()
    calm, stressed = _providers(p, 0), _providers(p, 1)
    assert (calm["stressful"] == 0).all() and (stressed["stressful"] == 1).all()
    for it in ins.PROVIDER_STRESS_REASONS:
        assert (calm[it.column] == 0).all(), it.column
        assert _within(stressed[it.column].mean(), p.stress_reason_prob[it.column]), it.column


def test_topic_difficulty_is_a_stress_reason_of_unstructured_scheduling():
    """Structured scheduling (c_struct = +0.5) shifts the topic-difficulty reason by
    stress_topic_structured_logit / 2 on the logit scale, unstructured by minus that."""
    p = ModelParameters().replace(stress_topic_structured_logit=-2.0)
    base = logit(p.stress_reason_prob["stress_topic_difficulty"])
    s = _providers(p, 1, c_struct=0.5)["stress_topic_difficulty"].mean()
    u = _providers(p, 1, c_struct=-0.5)["stress_topic_difficulty"].mean()
    assert _within(s, expit(base - 1.0)) and _within(u, expit(base + 1.0))


def test_caregiver_items_by_member_role():
    p = ModelParameters()
    is_prov = np.arange(N) % 2 == 0
    answers = {c: np.ones(N) for c in ("sat_overall", "willing_continue", "qualified", *ins.SELF_BENEFIT_COLUMNS)}
    out = interview_caregivers(p, _ctx(), is_prov, np.ones(N), answers, _rng())
    assert np.isnan(out["member_qualified"][~is_prov]).all() and np.isfinite(out["member_qualified"][is_prov]).all()
    assert np.isnan(out["expect_member_provider"][is_prov]).all()
    assert np.isfinite(out["expect_member_provider"][~is_prov]).all()


def test_caregivers_agree_with_their_family_member():
    """A member's yes raises the caregiver's matching answer by caregiver_agreement_logit x (1 - centre)."""
    p = ModelParameters()
    is_prov = np.zeros(N, bool)
    cols = ("sat_overall", "willing_continue", "qualified", *ins.SELF_BENEFIT_COLUMNS)
    yes = interview_caregivers(p, _ctx(), is_prov, np.ones(N), {c: np.ones(N) for c in cols}, _rng())
    no = interview_caregivers(p, _ctx(), is_prov, np.ones(N), {c: np.zeros(N) for c in cols}, _rng())
    base = logit(p.caregiver_item_base["positive_attitude"])
    a = p.caregiver_agreement_logit
    assert _within(yes["positive_attitude"].mean(), expit(base + a * 0.1))
    assert _within(no["positive_attitude"].mean(), expit(base - a * 0.9))


# --- Exposure shifts ---------------------------------------------------------------------------
def test_punctuality_follows_the_on_time_share():
    """Same random numbers, on-time share 1 vs 0: every latent punctuality score differs by
    punctuality_score_per_share, so rounded answers differ by about that much (less where clipped)."""
    p = ModelParameters().replace(punctuality_score_per_share=1.0)
    on, off = _consumers(p, on_time=1.0), _consumers(p, on_time=0.0)
    diff = on["sat_punctuality"] - off["sat_punctuality"]
    assert (diff >= 0).all()
    mean, sd = p.consumer_likert_base["sat_punctuality"]
    z = np.random.default_rng(5).normal(mean, sd, 400_000)
    shift_on, shift_off = 1.0 - REFERENCE_ON_TIME_SHARE, 0.0 - REFERENCE_ON_TIME_SHARE
    expect = (np.clip(np.rint(z + shift_on), 1, 5) - np.clip(np.rint(z + shift_off), 1, 5)).mean()
    assert diff.mean() == pytest.approx(expect, abs=0.03)
    # The benefit items do not depend on punctuality (satisfaction does, through delivery quality).
    np.testing.assert_array_equal(on[ins.SELF_BENEFIT_COLUMNS[0]], off[ins.SELF_BENEFIT_COLUMNS[0]])


def test_content_variety_raises_richness():
    p = ModelParameters().replace(richness_score_per_share=1.5)
    rich, poor = _consumers(p, share=1.0), _consumers(p, share=0.0)
    assert (rich["sat_richness"] >= poor["sat_richness"]).all()
    assert (rich["sat_richness"] - poor["sat_richness"]).mean() > 0.8


def test_more_sessions_more_benefit():
    """The Emax dose-response: more sessions attended, more benefit reported."""
    p = ModelParameters()
    hi = _consumers(p, sessions=CONSUMER_REFERENCE_SESSIONS * 2)
    lo = _consumers(p, sessions=3)
    for col in ins.SELF_BENEFIT_COLUMNS:
        assert hi[col].mean() > lo[col].mean() + 0.03, col


def test_the_dose_response_is_emax_normalised_at_the_reference():
    """g(0) = 0, g(d_ref) = 1, half of its limit (d_ref + d50) / d_ref at d = d50."""
    p = ModelParameters()
    h, ref = p.exposure_half_saturation_sessions, CONSUMER_REFERENCE_SESSIONS
    g = dose(np.array([0.0, ref, h, 1e9]), p, ref)
    assert g[0] == 0.0 and g[1] == pytest.approx(1.0)
    assert g[2] == pytest.approx(0.5 * g[3], rel=1e-6) and g[3] == pytest.approx((ref + h) / ref, rel=1e-6)


def test_no_session_answers_at_the_no_programme_level_whatever_the_community():
    """d = 0: every benefit item at benefit_no_programme_prob, satisfaction and willingness at
    service_view_no_programme_prob, however good the wave, community or delivery."""
    p = ModelParameters()
    for kw in ({"c_struct": 0.5, "c_exp": 0.5, "effect": 1.0}, {"c_struct": -0.5, "c_exp": -0.5, "effect": -1.0}):
        ans = _consumers(p, sessions=0.0, on_time=1.0, **kw)
        for col in ins.SELF_BENEFIT_COLUMNS + ins.OTHERS_BENEFIT_COLUMNS:
            assert _within(ans[col].mean(), p.benefit_no_programme_prob), col
        for col in ("sat_overall", "willing_continue"):
            assert _within(ans[col].mean(), p.service_view_no_programme_prob), col
    cols = ("sat_overall", "willing_continue", "qualified", *ins.SELF_BENEFIT_COLUMNS)
    care = interview_caregivers(
        p, _ctx(effect=1.0), np.zeros(N, bool), np.zeros(N), {c: np.ones(N) for c in cols}, _rng()
    )
    assert _within(care["positive_attitude"].mean(), p.service_view_no_programme_prob)
    for it in ins.CAREGIVER_MEMBER_BENEFITS + ins.CAREGIVER_SELF_BENEFITS:
        assert _within(care[it.column].mean(), p.benefit_no_programme_prob), it.column


def test_delivery_quality_moves_satisfaction_and_willingness():
    """delivery_quality_logit: sessions on time raise satisfaction and willingness to continue."""
    p = ModelParameters().replace(delivery_quality_logit=3.0)
    good, bad = _consumers(p, on_time=1.0), _consumers(p, on_time=0.0)
    for col in ("sat_overall", "willing_continue"):
        assert good[col].mean() > bad[col].mean() + 0.03, col


def test_experience_share_splits_the_wave_difference():
    """experience_share = 1: only the experienced flag moves benefits; 0: only structure does."""
    p = ModelParameters().replace(benefit_experience_logit=2.0)
    col = ins.SELF_BENEFIT_COLUMNS[0]
    for share, moved, fixed in ((1.0, "c_exp", "c_struct"), (0.0, "c_struct", "c_exp")):
        q = p.replace(experience_share=share)
        hi, lo = _consumers(q, **{moved: 0.5}), _consumers(q, **{moved: -0.5})
        assert hi[col].mean() > lo[col].mean() + 0.2
        np.testing.assert_array_equal(_consumers(q, **{fixed: 0.5})[col], _consumers(q, **{fixed: -0.5})[col])


def test_benefit_rates_stay_near_the_base_at_the_reference_exposure():
    """Random effects are offset by the probit-logistic scaling (Zeger et al. 1988), so at the
    reference exposure the marginal yes-rate stays close to the base (within 0.04)."""
    p = ModelParameters()
    ans = _consumers(p)
    for col in ins.SELF_BENEFIT_COLUMNS:
        assert ans[col].mean() == pytest.approx(p.consumer_item_base[col], abs=0.04), col


def test_experience_raises_satisfaction():
    p = ModelParameters().replace(satisfaction_experience_shift=1.0, experience_share=1.0)
    later = _consumers(p, c_exp=0.5)
    initial = _consumers(p, c_exp=-0.5)
    col = sorted(p.consumer_likert_base)[0]
    assert later[col].mean() > initial[col].mean() + 0.5
