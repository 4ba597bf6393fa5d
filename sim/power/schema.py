"""Design files (``designs/*.yaml``): a trial plan, validated like a scenario (:mod:`sim.scenario`): unknown
keys and impossible values are refused with :class:`DesignError`, one line naming the file and the field.

A design names the trial type, the clusters and (for rollout designs) the schedule, the period length, the
outcomes with the usual-care level and the effect to detect, alpha and the target power. Values left out
(``null``) are taken from the simulated process of ``scenario`` (cluster size and its variation, attrition,
ramp-up, ICC, the peer-support level); the usual-care level and the secular trend are always the user's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..scenario import _one_line, read_yaml_file
from .common import MAX_CLUSTERS, OUTCOMES

DesignType = Literal["parallel_cluster", "parallel_baseline", "stepped_wedge", "individual"]
Analysis = Literal["cluster_t", "mixed", "gee", "individual_t"]


class DesignError(ValueError):
    """Bad design input; ``str()`` is one line: ``FILE: FIELD: what is wrong``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Outcome(_Strict):
    """One outcome of the trial. ``control`` (usual care) is the user's; the intervention level is
    ``control + effect``, or ``intervention``, or (both omitted) the simulated peer-support level."""

    name: str = Field(min_length=1, description="a consumer item (e.g. ben_mood) or any name with kind given")
    kind: Literal["binary", "continuous"] | None = Field(None, description="default: the item's kind")
    control: float = Field(description="usual-care rate (binary) or mean (continuous); user input")
    effect: float | None = Field(None, gt=0, description="difference to detect, outcome scale (positive)")
    intervention: float | None = Field(None, description="peer-support level; alternative to effect")
    sd: float | None = Field(None, gt=0, description="continuous: individual SD (default: simulated)")
    icc: float | None = Field(None, ge=0, lt=1, description="intra-cluster correlation (default: simulated)")

    @model_validator(mode="after")
    def _levels(self) -> Outcome:
        kind = self.kind or (OUTCOMES[self.name][1] if self.name in OUTCOMES else None)
        if kind is None:
            raise ValueError(f"outcome {self.name!r} is not a consumer item: give its kind")
        if self.effect is not None and self.intervention is not None:
            raise ValueError("give effect or intervention, not both")
        if kind == "binary":
            for what, v in (("control", self.control), ("intervention", self.intervention)):
                if v is not None and not 0 < v < 1:
                    raise ValueError(f"{what} rate must be strictly between 0 and 1, got {v}")
            if self.effect is not None and not self.control + self.effect < 1:
                raise ValueError(f"control + effect must stay below 1, got {self.control + self.effect:g}")
        if self.intervention is not None and self.intervention == self.control:
            raise ValueError("intervention equals control: no effect to detect")
        return self

    @property
    def outcome_kind(self) -> str:
        return self.kind or OUTCOMES[self.name][1]


class Schedule(_Strict):
    """Stepped-wedge schedule: ``steps`` equal steps (or ``clusters_per_step``), complete by default;
    ``before`` / ``after`` measured periods around each crossover make it incomplete; ``batches`` > 1 runs the
    wedge in batches; ``from_scenario: true`` takes the steps from the scenario's staggered ``start_month``s;
    ``matrix`` gives it explicitly (rows: clusters; 0 usual care, 1 peer support, null not measured)."""

    steps: int | None = Field(None, ge=1, le=100)
    clusters_per_step: list[int] | None = Field(None, min_length=1)
    before: int | None = Field(None, ge=1, description="incomplete: measured periods before crossover")
    after: int | None = Field(None, ge=1, description="incomplete: measured periods from crossover on")
    batches: int = Field(1, ge=1, le=20)
    from_scenario: bool = False
    matrix: list[list[Literal[0, 1] | None]] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Schedule:
        given = [
            n
            for n, v in (("steps", self.steps), ("clusters_per_step", self.clusters_per_step), ("matrix", self.matrix))
            if v is not None
        ] + (["from_scenario"] if self.from_scenario else [])
        if len(given) != 1:
            raise ValueError(f"give exactly one of steps, clusters_per_step, matrix, from_scenario (got {given})")
        if self.clusters_per_step is not None and min(self.clusters_per_step) < 1:
            raise ValueError("every step needs at least one cluster")
        if self.matrix is not None and len({len(r) for r in self.matrix}) != 1:
            raise ValueError("matrix rows must all have the same number of periods")
        return self


class Search(_Strict):
    """What to vary: ``clusters`` (total) or ``cluster_sizes`` for power curves; the searches for the fewest
    clusters, the smallest cluster size and the minimum detectable effect always run (analytically)."""

    clusters: list[int] | None = Field(None, min_length=1)
    cluster_sizes: list[float] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _values(self) -> Search:
        for k in self.clusters or ():
            if not 2 <= k <= MAX_CLUSTERS:
                raise ValueError(f"clusters must be between 2 and {MAX_CLUSTERS}, got {k}")
        for m in self.cluster_sizes or ():
            if not 0 < m <= 10_000:
                raise ValueError(f"cluster sizes must be in (0, 10000], got {m}")
        return self


class Design(_Strict):
    """A validated design file."""

    name: str = Field(min_length=1)
    description: str = ""
    type: DesignType
    scenario: str | None = Field(None, description="scenario YAML (relative to the design file) for process data")
    replications: int = Field(100, ge=1, le=100_000, description="simulated studies for the process data")
    clusters: int | None = Field(None, ge=2, le=MAX_CLUSTERS, description="communities in the trial (total)")
    cluster_size: float | None = Field(None, gt=0, le=10_000, description="consumers recruited per community")
    cluster_size_cv: float | None = Field(None, ge=0, le=5, description="CV of community sizes")
    individuals_per_arm: int | None = Field(None, ge=2, le=1_000_000, description="individual design only")
    period_months: float = Field(6.0, gt=0, le=120, description="length of a period (rollout designs)")
    follow_up_months: float | None = Field(None, gt=0, le=240, description="parallel designs: months to follow-up")
    attrition: float | list[float] | None = Field(
        None, description="share lost by the follow-up (or by each period); default: simulated"
    )
    implementation_lag: float | None = Field(
        None, ge=0, le=1, description="share of the effect in a community's first period; default: simulated ramp-up"
    )
    secular_trend: float = Field(0.0, description="change per period under usual care, outcome scale (user input)")
    schedule: Schedule | None = None
    outcomes: list[Outcome] = Field(min_length=1, max_length=20)
    multiplicity: Literal["none", "bonferroni", "holm"] = "holm"
    alpha: float = Field(0.05, gt=0, lt=1)
    target_power: float = Field(0.8, gt=0, lt=1)
    analyses: list[Analysis] | None = Field(None, min_length=1)
    trials: int = Field(1000, ge=1, le=1_000_000, description="simulated trials per point")
    null_trials: bool = Field(True, description="also simulate every point under the null (type I error)")
    search: Search | None = None
    seed: int = Field(20191114, ge=0)
    source_path: str | None = Field(None, exclude=True)
    source_sha256: str | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _type_fields(self) -> Design:
        """Fields each design type needs or forbids."""
        if self.type == "individual":
            if self.individuals_per_arm is None:
                raise ValueError("an individual design needs individuals_per_arm")
            if self.schedule is not None:
                raise ValueError("an individual design has no schedule")
        elif self.type == "stepped_wedge":
            _check_stepped(self)
        else:
            if self.schedule is not None:
                raise ValueError(f"a {self.type} design has no schedule")
            if self.clusters is None:
                raise ValueError(f"a {self.type} design needs clusters")
        att = self.attrition if isinstance(self.attrition, list) else [self.attrition]
        if any(a is not None and not 0 <= a < 1 for a in att):
            raise ValueError(f"attrition must be in [0, 1), got {self.attrition}")
        names = [o.name for o in self.outcomes]
        if len(set(names)) != len(names):
            raise ValueError("outcome names must be unique")
        return self

    @model_validator(mode="after")
    def _inputs_without_scenario(self) -> Design:
        """Without a scenario, every input the simulation would supply must be given."""
        if self.scenario is not None:
            return self
        if self.cluster_size is None and self.type != "individual":
            raise ValueError("cluster_size is needed when there is no scenario to take it from")
        for o in self.outcomes:
            if o.effect is None and o.intervention is None:
                raise ValueError(f"outcome {o.name!r}: give effect or intervention (no scenario to simulate it)")
            if o.icc is None and self.type != "individual":
                raise ValueError(f"outcome {o.name!r}: give icc (no scenario to estimate it)")
            if o.outcome_kind == "continuous" and o.sd is None:
                raise ValueError(f"outcome {o.name!r}: give sd (no scenario to estimate it)")
        return self

    @model_validator(mode="after")
    def _analyses_fit_the_type(self) -> Design:
        allowed = {
            "individual_t": ("individual",),
            "cluster_t": ("parallel_cluster", "parallel_baseline"),
            "mixed": ("parallel_baseline", "stepped_wedge"),
            "gee": ("parallel_cluster", "parallel_baseline", "stepped_wedge"),
        }
        for a in self.analyses or ():
            if self.type not in allowed[a]:
                raise ValueError(f"analysis {a} does not apply to a {self.type} design (only {', '.join(allowed[a])})")
        return self

    def analyses_for(self, kind: str) -> tuple[str, ...]:
        """The design's analyses that apply to an outcome of ``kind`` (GEE: binary only); defaults by type."""
        if self.analyses is not None:
            return tuple(a for a in self.analyses if a != "gee" or kind == "binary")
        default = {
            "parallel_cluster": ("cluster_t",),
            "parallel_baseline": ("cluster_t", "mixed"),
            "stepped_wedge": ("mixed",),
            "individual": ("individual_t",),
        }[self.type]
        return default + (("gee",) if kind == "binary" and self.type != "individual" else ())


def _check_stepped(d: Design) -> None:
    sch = d.schedule
    if sch is None:
        raise ValueError("a stepped_wedge design needs a schedule")
    if sch.from_scenario and d.scenario is None:
        raise ValueError("schedule.from_scenario needs a scenario")
    if sch.steps is not None and d.clusters is None:
        raise ValueError("schedule.steps needs clusters")
    if sch.clusters_per_step is not None and d.clusters not in (None, sum(sch.clusters_per_step)):
        raise ValueError(f"clusters ({d.clusters}) differs from sum(clusters_per_step)")


def design_from_dict(data: Any, path: Path | str = "<design>") -> Design:
    if not isinstance(data, dict):
        raise DesignError(f"{path}: (top level): expected a mapping of design fields")
    try:
        return Design.model_validate(data)
    except ValidationError as e:
        raise DesignError(_one_line(path, e)) from None


def load_design(path: str | Path) -> Design:
    """Read and validate a design YAML file (``yaml.safe_load``; nothing in it is evaluated)."""
    path = Path(path)
    data, raw = read_yaml_file(path, DesignError, "design")
    d = design_from_dict(data, path)
    return d.model_copy(update={"source_path": str(path), "source_sha256": hashlib.sha256(raw).hexdigest()})
