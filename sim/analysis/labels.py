"""Titles and labels of the analysis outputs, and the paper's printed tests beside the simulated ones."""

from __future__ import annotations

from .. import instruments as ins
from . import prep as P

TABLE_TITLES = {
    "retention": "Response (retention) rates by wave",
    "table1": "Table 1. Participants' demographics at baseline",
    "tableS1": "Table S1. Demographics at baseline, initial vs later communities",
    "table2": "Table 2. Service satisfaction among peer service providers at follow-up",
    "tableS2": "Table S2. Provider satisfaction, initial vs later communities",
    "stress_reasons": "Reasons for stress among providers (Results text)",
    "table3": "Table 3. Perceived benefit among providers and consumers at follow-up",
    "tableS3": "Table S3. Perceived benefit, initial vs later communities",
    "table4": "Table 4. Service satisfaction among consumers at follow-up",
    "tableS4": "Table S4. Consumer satisfaction, initial vs later communities",
    "caregivers": "Caregivers (Results, 'Caregivers')",
    "sessions": "Sessions held before follow-up (Methods, intervention)",
}

# Which printed test goes with which simulated (family, item).
PAPER_TEST_TEXT = {
    ("retention.provider", "evaluated"): ins.PAPER_TESTS["provider_retention_by_wave"]["text"],
    ("retention.consumer", "evaluated"): ins.PAPER_TESTS["consumer_retention_by_wave"]["text"],
    ("T3.provider_vs_consumer", "ben_work_skill"): ins.PAPER_TESTS["work_skill_provider_vs_consumer"]["text"],
    **{("S4.consumer", c): f"t = {t:.3f}, p = {p:.3f}" for c, (t, p) in ins.CONSUMER_WAVE_T.items()},
}
PAPER_FAMILY_TEXT = {
    "S1.": ins.PAPER_TEST_FAMILIES["baseline_initial_vs_later"],
    "dropout.demographics.consumer.initial": ins.PAPER_TEST_FAMILIES["dropout_initial"],
    "dropout.clinical.consumer.initial": ins.PAPER_TEST_FAMILIES["dropout_initial"],
    "dropout.demographics.consumer.later": ins.PAPER_TEST_FAMILIES["dropout_later"],
    "dropout.clinical.consumer.later": ins.PAPER_TEST_FAMILIES["dropout_later"],
    "S2.provider": ins.PAPER_TEST_FAMILIES["provider_satisfaction_by_wave"],
    "S3.": ins.PAPER_TEST_FAMILIES["benefit_by_wave"],
    "S4.consumer": ins.PAPER_TEST_FAMILIES["consumer_satisfaction_by_wave"],
    "T3.provider_vs_consumer": ins.PAPER_TEST_FAMILIES["benefit_provider_vs_consumer"],
}


CONSUMER_LABELS = {it.column: it.label for it in ins.CONSUMER_SATISFACTION}


def row_label(row: str, table: str = "") -> str:
    if table in ("table4", "tableS4", "S4.consumer") and row in CONSUMER_LABELS:
        return CONSUMER_LABELS[row]
    if "=" in row:
        var, lv = row.split("=", 1)
        return f"{P.label(var)}: {lv.replace('_', ' ')}"
    return P.label(row)
