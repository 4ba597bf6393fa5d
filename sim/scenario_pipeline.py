"""The scenario's optional ``staff_pipeline:`` section: replacing providers who quit (or go on long leave).

Absent, a community keeps the providers it recruited at its start (the paper's study). Present, each
community recruits replacements up to its target (its ``providers``) from people in stable recovery
(Methods: providers had schizophrenia or bipolar disorder, 'stable at least 6 months'),
and the district's trainers train them in cohorts (``sim.model.training``; README, "What is modelled").
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

TRAINING_HALF_DAYS = 5  # Methods: pre-service training of 'five half-days'


class StaffPipeline(BaseModel):
    """Recruitment and cohort training of replacement providers (units in each field's description)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    trainers: int = Field(
        1,
        ge=0,
        le=100,
        description="training teams in the district, shared by all communities (Methods: a psychiatrist and a "
        "clinical psychologist trained the providers); a team trains one cohort at a time",
    )
    cohort_size: int = Field(8, ge=1, le=100, description="most trainees per cohort (ASSUMPTION: a small class)")
    training_half_days: int = Field(
        TRAINING_HALF_DAYS, ge=1, le=60, description="length of a cohort's training, half-days (Methods: five)"
    )
    half_days_per_week: float = Field(
        2.0,
        gt=0,
        le=14,
        description="training half-days a week (ASSUMPTION: two; with five half-days a cohort trains for 2.5 weeks)",
    )
    recruitment_months: float = Field(
        1.0,
        ge=0,
        le=60,
        description="mean months to find a candidate in stable recovery once a vacancy opens (exponential; "
        "ASSUMPTION, prior 0.5-3: community doctors recommend candidates, Methods)",
    )
    max_wait_weeks: float = Field(
        4.0,
        ge=0,
        le=260,
        description="a cohort starts when cohort_size recruits wait or the longest-waiting recruit has waited this "
        "many weeks, and a trainer team is free (ASSUMPTION: the coordinator does not hold a recruit for more "
        "than a month)",
    )
    replace_quitters: bool = Field(True, description="recruit a replacement when a provider quits")
    cover_leave: bool = Field(False, description="also recruit a replacement when a provider goes on long leave")
    long_leave_months: float = Field(
        2.0,
        ge=0,
        le=60,
        description="cover_leave: a leave of at least this many months is long (ASSUMPTION: shorter leaves are "
        "covered by the other providers)",
    )

    @model_validator(mode="after")
    def _trainers_if_replacing(self) -> StaffPipeline:
        if self.trainers == 0 and (self.replace_quitters or self.cover_leave):
            raise ValueError(
                "trainers: 0 training teams cannot train replacements (replace_quitters or cover_leave is on)"
            )
        return self

    @property
    def training_days(self) -> float:
        """Days from a cohort's first training half-day to its end."""
        return 7.0 * self.training_half_days / self.half_days_per_week

    @property
    def replacing(self) -> bool:
        return self.trainers > 0 and (self.replace_quitters or self.cover_leave)
