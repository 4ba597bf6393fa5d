"""The scenario's ``costs:`` section: unit costs of the programme's ingredients (validated, strict).

The paper prints no costs, so every default is an illustrative ASSUMPTION, in Chinese yuan (CNY) at
2019 prices (the year of Fan et al. 2019, Beijing). Replace them with local prices before reading a
cost figure as a budget; what each unit multiplies is in ``sim.planning.costs``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_UNIT_COST = 1e9  # per unit, in the scenario's currency: far beyond any price, catches a typo's extra zeros


class CostSpec(BaseModel):
    """Unit costs (ingredients approach). Each is at least 0 and at most :data:`MAX_UNIT_COST`."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    currency: str = Field("CNY", min_length=1, max_length=12, description="currency label of every unit cost")
    price_year: int = Field(2019, ge=1900, le=2200, description="year of the prices")
    provider_session: float = Field(
        50.0,
        ge=0,
        le=MAX_UNIT_COST,
        description="stipend per provider per session staffed (Methods: providers are people in recovery who "
        "lead and assist sessions); ASSUMPTION: 50 CNY, a small per-session subsidy",
    )
    doctor_hour: float = Field(
        80.0,
        ge=0,
        le=MAX_UNIT_COST,
        description="a community doctor's hour for plan review and supervision; ASSUMPTION: 80 CNY, a Beijing "
        "community doctor's salary with overheads (about 10,000 CNY a month over 170 hours, plus a third)",
    )
    trainer_half_day: float = Field(
        1200.0,
        ge=0,
        le=MAX_UNIT_COST,
        description="one half-day of the training team (Methods: 'a psychiatrist and a clinical psychologist'); "
        "ASSUMPTION: 1,200 CNY, two specialists for 3.5 hours at about 170 CNY an hour",
    )
    venue_hour: float = Field(
        30.0,
        ge=0,
        le=MAX_UNIT_COST,
        description="an hour of the community rehabilitation centre's room; ASSUMPTION: 30 CNY, its running cost "
        "(the room is usually lent free: the cost is an opportunity cost)",
    )
    coordinator_month: float = Field(
        1000.0,
        ge=0,
        le=MAX_UNIT_COST,
        description="programme coordination per community per month of service (scheduling, records, liaison "
        "with the community doctor); ASSUMPTION: 1,000 CNY, an eighth of a coordinator's salary",
    )


DEFAULT_COSTS = CostSpec()
