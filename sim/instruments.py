"""The follow-up interview instruments of Fan et al. (2019), item by item.

One source of truth for the vocabulary shared by the model (which answers the items), the
datasets (one column per item), the analysis (tables laid out like the paper's) and the
calibration (targets). Each item carries the figure the paper printed for it, so the report can
put the paper's value beside the simulated one.

Sources: Methods, "Outcome measures"; Results, Tables 2-4 and the caregiver paragraphs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["binary", "likert", "score10"]


@dataclass(frozen=True)
class Item:
    """One interview question: dataset column, printed label, answer kind and the paper's figure.

    ``paper_count``/``paper_n`` hold a printed "N (%)"; ``paper_mean``/``paper_sd`` a printed
    "mean (SD)". ``None`` where the paper does not report the item.
    """

    column: str
    label: str
    kind: Kind
    paper_count: int | None = None
    paper_n: int | None = None
    paper_mean: float | None = None
    paper_sd: float | None = None
    source: str = ""


# --- Providers: service satisfaction (Table 2, n = 12) -------------------------------------
PROVIDER_SATISFACTION: tuple[Item, ...] = (
    Item("sat_overall", "Overall, satisfied with the peer service", "binary", 12, 12, source="Table 2"),
    Item("sat_time", "Time", "likert", paper_mean=4.08, paper_sd=0.289, paper_n=12, source="Table 2"),
    Item("sat_content", "Content", "likert", paper_mean=3.42, paper_sd=0.996, paper_n=12, source="Table 2"),
    Item("sat_environment", "Environment", "likert", paper_mean=4.08, paper_sd=0.289, paper_n=12, source="Table 2"),
    Item(
        "sat_rel_consumers",
        "Relationship with consumers",
        "likert",
        paper_mean=4.08,
        paper_sd=0.289,
        paper_n=12,
        source="Table 2",
    ),
    Item(
        "sat_rel_providers",
        "Relationship with other peer service providers",
        "likert",
        paper_mean=4.17,
        paper_sd=0.577,
        paper_n=12,
        source="Table 2",
    ),
    Item(
        "sat_rel_doctors",
        "Relationship with doctors involved",
        "likert",
        paper_mean=4.25,
        paper_sd=0.452,
        paper_n=12,
        source="Table 2",
    ),
    Item("qualified", "Qualified to be peer service providers", "binary", 10, 12, source="Table 2"),
    Item("stressful", "Feel stressful to be peer service providers", "binary", 6, 12, source="Table 2"),
    Item("willing_continue", "Willing to continue", "binary", 11, 12, source="Table 2"),
    # 7.13 = 57/8 and 7.80 = 39/5: only 8 providers (3 initial, 5 later) gave a score.
    Item("confidence", "Confidence", "score10", paper_mean=7.13, paper_sd=2.366, paper_n=8, source="Table 2"),
)

# Reasons for stress or difficulty (Results, "Peer service providers"; % of the 12 evaluated).
PROVIDER_STRESS_REASONS: tuple[Item, ...] = (
    Item("stress_poor_organizing", "Poor organizing ability", "binary", 5, 12, source="Results text"),
    Item("stress_lack_confidence", "Lack of confidence", "binary", 3, 12, source="Results text"),
    Item(
        "stress_topic_difficulty", "Difficult to come up with an activity topic", "binary", 2, 12, source="Results text"
    ),
)

# --- Perceived benefit, self and others' perspective (Table 3) ----------------------------
# Columns are shared by providers (n = 12) and consumers (n = 42): "The measures of perceived
# benefits for consumers were identical with those for peer service providers."
BENEFIT_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Disease related", ("ben_knowledge", "ben_stability")),
    ("Social communication", ("ben_social_skill", "ben_family_relationship", "ben_care_for_others")),
    ("Ability of daily life and work", ("ben_living_skill", "ben_work_skill")),
    ("Emotion and self-perception", ("ben_recovery_confidence", "ben_mood", "ben_belonging")),
    (
        "Perceived benefit from others perspective",
        ("others_family", "others_friends", "others_doctors", "others_staff"),
    ),
)

_BENEFIT_ROWS = (
    # column, label, providers yes (of 12), consumers yes (of 42)
    ("ben_knowledge", "Know more disease knowledge", 6, 13),
    ("ben_stability", "Disease become more stable", 3, 13),
    ("ben_social_skill", "Improve social communication skill", 8, 18),
    ("ben_family_relationship", "Improve relationship with families", 3, 9),
    ("ben_care_for_others", "Care and support more for others", 5, 11),
    ("ben_living_skill", "Improve self-living ability", 4, 10),
    ("ben_work_skill", "Improve work skill", 10, 9),
    ("ben_recovery_confidence", "More confidence about recovery", 6, 11),
    ("ben_mood", "Improve mood and feeling cared about", 7, 23),
    ("ben_belonging", "Improve sense of belonging", 4, 13),
    ("others_family", "Family members", 9, 19),
    ("others_friends", "Friends", 2, 10),
    ("others_doctors", "Community doctors", 7, 16),
    ("others_staff", "Other community staff", 4, 13),
)
PROVIDER_BENEFITS: tuple[Item, ...] = tuple(
    Item(c, lab, "binary", p, 12, source="Table 3") for c, lab, p, _ in _BENEFIT_ROWS
)
CONSUMER_BENEFITS: tuple[Item, ...] = tuple(
    Item(c, lab, "binary", k, 42, source="Table 3") for c, lab, _, k in _BENEFIT_ROWS
)
SELF_BENEFIT_COLUMNS: tuple[str, ...] = tuple(c for c, *_ in _BENEFIT_ROWS if c.startswith("ben_"))
OTHERS_BENEFIT_COLUMNS: tuple[str, ...] = tuple(c for c, *_ in _BENEFIT_ROWS if c.startswith("others_"))

# Consumer mood item by wave (Results, "Consumers"): 10 of 26 initial, 13 of 16 later.
CONSUMER_MOOD_BY_WAVE = {"initial": (10, 26), "later": (13, 16)}

# --- Consumers: service satisfaction (Table 4, n = 42) ------------------------------------
CONSUMER_SATISFACTION: tuple[Item, ...] = (
    Item(
        "sat_overall",
        "Overall, satisfied with the peer service providers and service",
        "binary",
        39,
        42,
        source="Table 4",
    ),
    Item(
        "sat_competence",
        "Peer service providers' competence",
        "likert",
        paper_mean=3.80,
        paper_sd=0.813,
        paper_n=42,
        source="Table 4",
    ),
    Item(
        "sat_manners",
        "Peer service providers' speak manners",
        "likert",
        paper_mean=3.98,
        paper_sd=0.524,
        paper_n=42,
        source="Table 4",
    ),
    Item(
        "sat_stability",
        "Peer service providers' disease stability",
        "likert",
        paper_mean=3.85,
        paper_sd=0.573,
        paper_n=42,
        source="Table 4",
    ),
    Item(
        "sat_punctuality",
        "Service punctuality",
        "likert",
        paper_mean=4.02,
        paper_sd=0.474,
        paper_n=42,
        source="Table 4",
    ),
    Item(
        "sat_richness",
        "Richness of activity topic",
        "likert",
        paper_mean=3.66,
        paper_sd=0.855,
        paper_n=42,
        source="Table 4",
    ),
    Item("willing_continue", "Continuous participation willingness", "binary", 36, 42, source="Table 4"),
)

# Between-wave Student t statistics for consumers (Results; Table S4): initial minus later.
CONSUMER_WAVE_T = {"sat_punctuality": (-3.348, 0.002), "sat_richness": (-2.853, 0.007)}

# --- Caregivers (Results, "Caregivers"; n = 32: 10 of providers, 22 of consumers) ----------
CAREGIVER_ATTITUDE: tuple[Item, ...] = (
    Item("positive_attitude", "Positive attitude towards peer services", "binary", 31, 32, source="Results text"),
    Item(
        "willing_member_continue", "Willing to ask family member to continue", "binary", 31, 32, source="Results text"
    ),
    Item(
        "member_qualified",
        "Family member qualified to be a provider (providers' caregivers)",
        "binary",
        8,
        10,
        source="Results text",
    ),
    Item(
        "expect_member_provider",
        "Expects family member to become a provider (consumers' caregivers)",
        "binary",
        14,
        22,
        source="Results text",
    ),
)
# Part one: the caregiver's view of the family member's benefit (same ten items as Table 3).
_CAREGIVER_MEMBER_REPORTED = {"ben_social_skill": 12, "ben_recovery_confidence": 11, "ben_stability": 11}
CAREGIVER_MEMBER_BENEFITS: tuple[Item, ...] = tuple(
    Item(
        "member_" + c,
        lab,
        "binary",
        _CAREGIVER_MEMBER_REPORTED.get(c),
        32 if c in _CAREGIVER_MEMBER_REPORTED else None,
        source="Results text" if c in _CAREGIVER_MEMBER_REPORTED else "",
    )
    for c, lab, *_ in _BENEFIT_ROWS
    if c.startswith("ben_")
)
# Part two: effects on the caregiver themself (six questions).
CAREGIVER_SELF_BENEFITS: tuple[Item, ...] = (
    Item("self_knowledge", "Gained more knowledge about mental illness", "binary"),
    Item("self_relationship", "Improved relationship with affected family member", "binary"),
    Item(
        "self_reduced_burden",
        "Family member more independent, less caring burden",
        "binary",
        10,
        32,
        source="Results text",
    ),
    Item("self_quality_of_life", "Improved own quality of daily life", "binary"),
    Item("self_mood", "Improved own mood", "binary", 14, 32, source="Results text"),
    Item(
        "self_recovery_confidence",
        "More confident about family member's recovery",
        "binary",
        11,
        32,
        source="Results text",
    ),
)
CAREGIVER_DEMOGRAPHICS = {"n": 32, "female": 21, "mean_age": 68.4, "of_providers": 10, "of_consumers": 22}

# --- Session content (Methods, "Peer support service intervention") -----------------------
CONTENT_CATEGORIES: tuple[str, ...] = (
    "daily_life_skills",
    "social_skills",
    "knowledge_of_mental_disorders",
    "entertainment",
    "fine_motor_skill_practice",
    "personal_perceptions",
    "healthy_life_style",
    "emotional_support",
)
# "the top three most popular categories were fine motor skill practice and exercise (19%),
# daily life skills study (16%), and emotional support (15%)".
PAPER_TOP_CONTENT_SHARES = {"fine_motor_skill_practice": 0.19, "daily_life_skills": 0.16, "emotional_support": 0.15}

# --- Study-level figures (Abstract, Methods, Results) -------------------------------------
PAPER_SESSIONS_TOTAL = 214  # "A total of 214 peer support services were delivered."
PAPER_GROUP_SHARE = 0.986  # "Most (98.6%) of the services were conducted in group."
PAPER_RETENTION = {  # Results, "Participant characteristics and response rates"
    ("provider", "initial"): (7, 7),
    ("provider", "later"): (5, 6),
    ("consumer", "initial"): (26, 32),
    ("consumer", "later"): (16, 22),
}


def paper_evaluated(role: str) -> int:
    """People of ``role`` evaluated at follow-up in the paper's study, both waves (12 providers and 42
    consumers: the n of Tables 2-4)."""
    return sum(done for (r, _), (done, _) in PAPER_RETENTION.items() if r == role)


# --- Baseline characteristics (Table 1) ---------------------------------------------------
# Categorical variables: column -> ordered levels; counts per role (providers n = 13,
# consumers n = 54). Continuous variables: (mean, SD). The model draws baselines from these;
# the analysis prints them beside the simulated Table 1.
BASELINE_CATEGORICAL: dict[str, tuple[str, ...]] = {
    "gender": ("female", "male"),
    "education": ("middle_school_or_less", "high_school", "some_college", "college_or_above"),
    "marital_status": ("never_married", "currently_married", "divorced_or_separated"),
    "lives_alone": ("yes", "no"),
    "employed": ("yes", "no"),
    "diagnosis": ("schizophrenia", "bipolar_disorder"),
}
BASELINE_CONTINUOUS: tuple[str, ...] = ("age", "onset_age")
TABLE1 = {
    "provider": {
        "n": 13,
        "age": (38.92, 9.61),
        "onset_age": (20.92, 5.35),
        "gender": (5, 8),
        "education": (2, 8, 1, 2),
        "marital_status": (8, 4, 1),
        "lives_alone": (0, 13),
        "employed": (4, 9),
        "diagnosis": (8, 5),
    },
    "consumer": {
        "n": 54,
        "age": (46.59, 8.27),
        "onset_age": (25.15, 8.68),
        "gender": (31, 23),
        "education": (13, 25, 8, 8),
        "marital_status": (28, 14, 12),
        "lives_alone": (10, 44),
        "employed": (5, 49),
        "diagnosis": (48, 6),
    },
}
# Eligibility (Methods, "Participants"): age 18-60 for providers and consumers.
ELIGIBLE_AGE = (18.0, 60.0)

# --- Printed test results (Results), for the analysis' reproduction tests and report ----------
# (statistic, p, as printed). p_upper marks "p < 0.001". Chi-square statistics are Pearson's
# without continuity correction; see sim/analysis/stats.py for the p-value rule they imply.
PAPER_TESTS = {
    "provider_retention_by_wave": {"statistic": 1.264, "df": 1, "p": 0.462, "text": "χ2(1) = 1.264, p = 0.462"},
    "consumer_retention_by_wave": {"statistic": 0.548, "df": 1, "p": 0.517, "text": "χ2(1) = 0.548, p = 0.517"},
    "work_skill_provider_vs_consumer": {
        "statistic": 15.684,
        "df": 1,
        "p_upper": 0.001,
        "text": "χ2(1) = 15.684, p < 0.001",
    },
}
# Printed summaries of whole families of tests (Results).
PAPER_TEST_FAMILIES = {
    "baseline_initial_vs_later": "no significant difference in all demographic variables (Bonferroni-corrected "
    "threshold p < 8.33 × 10−3)",
    "dropout_initial": "no significant differences between consumers who continued and dropouts (ps > 0.078)",
    "dropout_later": "no significant differences between consumers who continued and dropouts (ps > 0.173)",
    "provider_satisfaction_by_wave": "no significant difference (ps > 0.080)",
    "benefit_by_wave": "no significant difference between the waves for providers; later consumers reported more "
    "improvement on all items",
    "consumer_satisfaction_by_wave": "significant only for service punctuality (t = −3.348, p = 0.002) and richness "
    "of activity topic (t = −2.853, p = 0.007)",
    "benefit_provider_vs_consumer": "only work skill significant (χ2(1) = 15.684, p < 0.001)",
}
BONFERRONI_DEMOGRAPHIC_THRESHOLD = 8.33e-3  # "Bonferroni-corrected threshold of p < 8.33 × 10−3"
