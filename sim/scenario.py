"""Scenario files: YAML in, a validated, immutable :class:`Scenario` out.

A scenario names the communities (wave, start month, scheduling policy, recruitment, community
doctors, caregiver availability), the waves (follow-up month, whether staff draw on an earlier
wave's experience), the horizon, the model parameters and the replications and seed. Anything
unknown or impossible is refused with :class:`ScenarioError`, whose message is one line naming
the file and the field.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .parameters import DEFAULT_PARAMETERS, ModelParameters, load_parameter_file

DAYS_PER_MONTH = 365.25 / 12


class ScenarioError(ValueError):
    """Bad scenario input; ``str()`` is one line: ``FILE: FIELD: what is wrong``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaregiverAvailability(_Strict):
    """Probability that an evaluated participant's caregiver (parent or spouse) takes part in the
    follow-up. Defaults: 10 of 12 providers' and 22 of 42 consumers' caregivers took part
    (Results, 'Caregivers')."""

    providers: float = Field(10 / 12, ge=0, le=1)
    consumers: float = Field(22 / 42, ge=0, le=1)


class Wave(_Strict):
    """A wave of communities that share a follow-up schedule."""

    follow_up_months: float = Field(
        gt=0, description="months from a community's start to its follow-up evaluation (paper: 18 initial, 12 later)"
    )
    experienced: bool = Field(
        False, description="staff draw on an earlier wave's experience (Discussion: the later communities)"
    )


class Community(_Strict):
    """One community's programme: who is recruited, when it starts and how sessions are scheduled."""

    name: str = Field(min_length=1)
    wave: str
    start_month: float = Field(0.0, ge=0)
    scheduling: Literal["structured", "unstructured"]
    timetable_weeks: Literal[1, 2] | None = Field(
        None, description="structured only: fixed interval in weeks; omitted = drawn (weekly_timetable_prob)"
    )
    providers: int = Field(ge=2, le=200, description="peer service providers recruited; a session needs two")
    consumers: int = Field(ge=1, le=2000)
    doctors: int = Field(1, ge=1, le=20, description="community doctors (Methods: 'one or two')")
    doctor_pool: str | None = Field(None, description="name of a shared pool of doctors (scenario doctor_pools)")
    setting: Literal["urban", "rural"] = "urban"
    caregiver_availability: CaregiverAvailability = CaregiverAvailability()
    copies: int = Field(1, ge=1, le=1000, description="run this many identical communities, named NAME-1..NAME-k")

    @model_validator(mode="after")
    def _timetable_only_structured(self) -> Community:
        if self.timetable_weeks is not None and self.scheduling != "structured":
            raise ValueError("timetable_weeks applies only to structured scheduling")
        return self


class Scenario(_Strict):
    """A validated scenario. ``communities`` has ``copies`` expanded; ``parameters`` is complete."""

    name: str = Field(min_length=1)
    description: str = ""
    seed: int = Field(20191114, ge=0)
    replications: int = Field(1, ge=1, le=10_000_000)
    horizon_months: float | None = Field(
        None,
        gt=0,
        le=600,
        description="when set, services run in every community until this month (follow-ups must fall within it); "
        "when omitted, each community is simulated up to its own follow-up evaluation",
    )
    waves: dict[str, Wave] = Field(min_length=1)
    communities: list[Community] = Field(min_length=1)
    doctor_pools: dict[str, int] = Field(default_factory=dict)
    parameter_set: str | None = Field(None, description="YAML parameter file, relative to the scenario file")
    parameters: ModelParameters = DEFAULT_PARAMETERS
    source_path: str | None = Field(None, exclude=True)
    source_sha256: str | None = Field(None, exclude=True)

    @field_validator("doctor_pools")
    @classmethod
    def _pool_sizes(cls, v: dict[str, int]) -> dict[str, int]:
        for k, n in v.items():
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"pool {k!r} must have at least one doctor")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        names = [c.name for c in self.communities]
        if len(set(names)) != len(names):
            raise ValueError("community names must be unique")
        for c in self.communities:
            if c.wave not in self.waves:
                raise ValueError(f"community {c.name!r} names unknown wave {c.wave!r} (known: {sorted(self.waves)})")
            if c.doctor_pool is not None and c.doctor_pool not in self.doctor_pools:
                raise ValueError(f"community {c.name!r} names unknown doctor_pool {c.doctor_pool!r}")
            if self.horizon_months is not None:
                fu = c.start_month + self.waves[c.wave].follow_up_months
                if fu > self.horizon_months + 1e-9:
                    raise ValueError(
                        f"community {c.name!r} is followed up at month {fu:g}, after horizon_months "
                        f"{self.horizon_months:g}"
                    )
        return self

    # --- Derived views used by the model ------------------------------------------------
    @property
    def horizon(self) -> float:
        """Horizon in months: the scenario's, or the last follow-up."""
        if self.horizon_months is not None:
            return self.horizon_months
        return max(c.start_month + self.waves[c.wave].follow_up_months for c in self.communities)

    def follow_up_month(self, community: Community) -> float:
        """Study month of a community's follow-up evaluation."""
        return community.start_month + self.waves[community.wave].follow_up_months

    def end_month(self, community: Community) -> float:
        """Study month at which a community's simulated services stop."""
        return self.horizon_months if self.horizon_months is not None else self.follow_up_month(community)

    def expanded_communities(self) -> list[Community]:
        """Communities with ``copies`` expanded into distinct, numbered communities."""
        out: list[Community] = []
        for c in self.communities:
            if c.copies == 1:
                out.append(c)
            else:
                out.extend(c.model_copy(update={"name": f"{c.name}-{i + 1}", "copies": 1}) for i in range(c.copies))
        return out


def _loc(err: dict[str, Any]) -> str:
    parts: list[str] = []
    for p in err.get("loc", ()):
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def _one_line(path: Path | str, e: ValidationError) -> str:
    err = e.errors()[0]
    msg = err.get("msg", "invalid").replace("Value error, ", "")
    loc = _loc(err)
    extra = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
    if err.get("type") == "extra_forbidden":
        msg = "unknown key"
    return f"{path}: {loc}: {msg}{extra}".replace("\n", " ")


def scenario_from_dict(data: Any, path: Path | str = "<scenario>", base_dir: Path | None = None) -> Scenario:
    """Validate a scenario mapping (as read from YAML); parameters merge defaults < parameter_set < parameters."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: (top level): expected a mapping of scenario fields")
    data = dict(data)
    params: dict[str, Any] = {}
    pset = data.get("parameter_set")
    if pset is not None:
        if not isinstance(pset, str):
            raise ScenarioError(f"{path}: parameter_set: expected a file path")
        ppath = (base_dir or Path(".")) / pset
        try:
            params.update(load_parameter_file(ppath))
        except FileNotFoundError:
            raise ScenarioError(f"{path}: parameter_set: file not found: {ppath}") from None
        except (yaml.YAMLError, ValueError) as exc:
            raise ScenarioError(f"{path}: parameter_set: {ppath}: {str(exc).splitlines()[0]}") from None
    overrides = data.get("parameters", {}) or {}
    if not isinstance(overrides, dict):
        raise ScenarioError(f"{path}: parameters: expected a mapping of parameter names to values")
    try:
        merged = DEFAULT_PARAMETERS.replace(**params) if params else DEFAULT_PARAMETERS
    except ValidationError as e:
        raise ScenarioError(_one_line(f"{path}: parameter_set", e)) from None
    try:
        data["parameters"] = merged.replace(**overrides) if overrides else merged
    except ValidationError as e:
        raise ScenarioError(_one_line(path, e).replace(f"{path}: ", f"{path}: parameters.", 1)) from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(_one_line(path, e)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file (``yaml.safe_load``; nothing in it is evaluated)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ScenarioError(f"{path}: is a directory, not a scenario file") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(top level)"
        problem = getattr(exc, "problem", None) or "malformed YAML"
        raise ScenarioError(f"{path}: {where}: malformed YAML: {problem}") from None
    scen = scenario_from_dict(data, path, base_dir=path.parent)
    return scen.model_copy(update={"source_path": str(path), "source_sha256": hashlib.sha256(raw).hexdigest()})
