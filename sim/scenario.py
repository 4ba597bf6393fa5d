"""Scenario files: YAML in, a validated, immutable :class:`Scenario` out.

A scenario names the communities (wave, start month, scheduling policy, recruitment, community
doctors, caregiver availability), the waves (follow-up month, whether staff draw on an earlier
wave's experience), the horizon, the model parameters and the replications and seed. Anything
unknown or impossible is refused with :class:`ScenarioError`, whose message is one line naming
the file and the field.
"""

from __future__ import annotations

import difflib
import hashlib
import math
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from .parameters import DEFAULT_PARAMETERS, ModelParameters, load_parameter_file
from .planning.cost_spec import CostSpec
from .scenario_pipeline import StaffPipeline
from .yaml_unique import safe_load_unique

DAYS_PER_MONTH = 365.25 / 12
MAX_MONTHS = 600  # longest simulated period, months (50 years: far beyond any service plan)
# Most replications of one run: a share's 95% Monte Carlo half-width is below 0.4 percentage points at
# 100,000 replications (1.96 * sqrt(0.25 / 1e5)); more cannot change anything a planner could read.
MAX_REPLICATIONS = 100_000
MAX_POOL_DOCTORS = 1000  # most doctors in one shared pool (doctor_pools)


class ScenarioError(ValueError):
    """Bad scenario input; ``str()`` is one line: ``FILE: FIELD: what is wrong``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_yes_no_for_numbers(cls, v: Any, info: ValidationInfo) -> Any:
        """A yes/no value where a number belongs (``consumers: yes``) is refused; pydantic would read it as 1."""
        ann = cls.model_fields[info.field_name].annotation if info.field_name else None
        values = v.values() if isinstance(v, dict) and get_origin(ann) is dict else (v,)
        inner = get_args(ann)[1] if isinstance(v, dict) and get_origin(ann) is dict else ann
        if any(isinstance(x, bool) for x in values) and _numeric(inner):
            raise ValueError("expected a number, got a yes/no value")
        return v


def _numeric(ann: Any) -> bool:
    """Whether a field annotation takes a number (int, float, a Literal of numbers, or one of them or None)."""
    if ann in (int, float):
        return True
    if get_origin(ann) is Literal:
        return all(type(a) in (int, float) for a in get_args(ann))
    args = get_args(ann)
    return bool(args) and bool not in args and any(_numeric(a) for a in args if a is not type(None))


class CaregiverAvailability(_Strict):
    """Probability that an evaluated participant's caregiver (parent or spouse) takes part in the
    follow-up. Defaults: 10 of 12 providers' and 22 of 42 consumers' caregivers took part
    (Results, 'Caregivers')."""

    providers: float = Field(10 / 12, ge=0, le=1)
    consumers: float = Field(22 / 42, ge=0, le=1)


class Wave(_Strict):
    """A wave of communities that share a follow-up schedule."""

    follow_up_months: float = Field(
        gt=0,
        le=MAX_MONTHS,
        description="months from a community's start to its follow-up evaluation (paper: 18 initial, 12 later); "
        f"at most {MAX_MONTHS}",
    )
    experienced: bool = Field(
        False, description="staff draw on an earlier wave's experience (Discussion: the later communities)"
    )


class Caseload(_Strict):
    """An open caseload (scenario ``caseload:``): consumers referred over time, a waiting list when the
    groups are full, and exits by dropout or graduation (``sim.model.caseload``). Absent: the closed
    cohort of the paper's study (every consumer recruited at the start)."""

    referrals_per_month: float = Field(
        0.8,
        ge=0,
        le=1000,
        description="consumers referred per community per month (Poisson), by community doctors (Methods: "
        "providers 'recommended by community doctors'; posters for consumers); ASSUMPTION: the paper reports "
        "no referral rate; per community overridable",
    )
    consumers_per_provider: float = Field(
        5.0,
        ge=1,
        le=50,
        description="group places per available provider (Methods: 'ratio of peer service providers to "
        "consumers was between 1:3 and 1:5'); places = floor(available providers x this)",
    )
    graduation_months: float | None = Field(
        24.0,
        gt=0,
        le=MAX_MONTHS,
        description="mean months in the programme before graduating (recovery), exponential; ASSUMPTION "
        "(the paper follows consumers for 12-18 months and reports no graduation; prior Uniform(12, 60)); "
        "null = nobody graduates",
    )


class Community(_Strict):
    """One community's programme: who is recruited, when it starts and how sessions are scheduled."""

    name: str = Field(min_length=1)
    wave: str
    start_month: float = Field(
        0.0, ge=0, le=MAX_MONTHS, description=f"study month the community starts; 0 to {MAX_MONTHS}"
    )
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
    referrals_per_month: float | None = Field(
        None, ge=0, le=1000, description="open caseload only: this community's referral rate (scenario caseload:)"
    )

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
    replications: int = Field(
        1,
        ge=1,
        le=MAX_REPLICATIONS,
        description=f"replications of a run, 1 to {MAX_REPLICATIONS:,} (beyond, Monte Carlo error is negligible)",
    )
    horizon_months: float | None = Field(
        None,
        gt=0,
        le=MAX_MONTHS,
        description="when set, services run in every community until this month (follow-ups must fall within it); "
        "when omitted, each community is simulated up to its own follow-up evaluation",
    )
    waves: dict[str, Wave] = Field(min_length=1)
    communities: list[Community] = Field(min_length=1)
    doctor_pools: dict[str, int] = Field(default_factory=dict)
    caseload: Caseload | None = Field(None, description="open caseload; omitted = closed cohort (the paper's)")
    parameter_set: str | None = Field(None, description="YAML parameter file, relative to the scenario file")
    parameters: ModelParameters = DEFAULT_PARAMETERS
    staff_pipeline: StaffPipeline | None = Field(
        None, description="recruit and train replacement providers (sim/scenario_pipeline.py); absent = none"
    )
    costs: CostSpec | None = Field(None, description="unit costs (sim/planning/cost_spec.py); omitted = illustrative")
    source_path: str | None = Field(None, exclude=True)
    source_sha256: str | None = Field(None, exclude=True)

    @field_validator("doctor_pools")
    @classmethod
    def _pool_sizes(cls, v: dict[str, int]) -> dict[str, int]:
        for k, n in v.items():
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"pool {k!r} must have at least one doctor")
            if n > MAX_POOL_DOCTORS:
                raise ValueError(f"pool {k!r}: at most {MAX_POOL_DOCTORS} doctors, got {n}")
        return v

    @field_validator("communities")
    @classmethod
    def _unique_names(cls, v: list[Community]) -> list[Community]:
        seen: set[str] = set()
        for c in v:
            names = [c.name] if c.copies == 1 else [f"{c.name}-{i + 1}" for i in range(c.copies)]
            for n in names:
                if n in seen:
                    raise ValueError(f"community name {n!r} is used twice (names, after copies expand, must differ)")
                seen.add(n)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        for c in self.communities:
            if c.wave not in self.waves:
                raise ValueError(f"community {c.name!r} names unknown wave {c.wave!r} (known: {sorted(self.waves)})")
            if c.referrals_per_month is not None and self.caseload is None:
                raise ValueError(f"community {c.name!r} sets referrals_per_month without a caseload: section")
            if c.doctor_pool is not None and c.doctor_pool not in self.doctor_pools:
                raise ValueError(f"community {c.name!r} names unknown doctor_pool {c.doctor_pool!r}")
            fu = c.start_month + self.waves[c.wave].follow_up_months
            if fu > MAX_MONTHS:
                raise ValueError(
                    f"community {c.name!r} is followed up at month {fu:g}; the longest period simulated is "
                    f"{MAX_MONTHS} months"
                )
            if self.horizon_months is not None and fu > self.horizon_months + 1e-9:
                raise ValueError(
                    f"community {c.name!r} is followed up at month {fu:g}, after horizon_months {self.horizon_months:g}"
                )
        self._trainers_for_referrals()
        return self

    def _trainers_for_referrals(self) -> None:
        """A staff pipeline with no trainers cannot grow the groups that referrals fill: refused rather
        than a waiting list that only grows."""
        if self.staff_pipeline is None or self.staff_pipeline.trainers > 0 or self.caseload is None:
            return
        rates = [self.caseload.referrals_per_month] + [c.referrals_per_month or 0.0 for c in self.communities]
        if max(rates) > 0:
            raise ValueError(
                "staff_pipeline.trainers is 0 but caseload: refers consumers; with no training team no provider "
                "can be trained for them (set trainers >= 1, or remove staff_pipeline:)"
            )

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

    def referrals_per_month(self, community: Community) -> float:
        """A community's referral rate (its own, else the scenario's ``caseload:``; 0 without one)."""
        if self.caseload is None:
            return 0.0
        own = community.referrals_per_month
        return self.caseload.referrals_per_month if own is None else own

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
    loc = tuple(err.get("loc", ()))
    parts: list[str] = []
    for i, p in enumerate(loc):
        if p == "[key]":  # pydantic's mark for a mapping's key (the part before it): already written as .KEY
            continue
        if isinstance(p, int) and loc[i + 1 : i + 2] != ("[key]",):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


# Sections whose keys get "did you mean" suggestions (see _model_at).
_SECTION_MODELS = (Community, Wave, CaregiverAvailability, Caseload, StaffPipeline, CostSpec)


def _model_at(loc: tuple[Any, ...], root: type[BaseModel]) -> type[BaseModel] | None:
    """The pydantic model whose field ``loc`` (an error location, last part the key) names."""
    model: Any = root
    for part in loc[:-1]:
        if model is None:
            return None
        if isinstance(part, int) or part not in model.model_fields:  # a list index or a mapping's key
            continue
        if part == "parameters" and model is Scenario:
            model = ModelParameters
            continue
        ann = model.model_fields[part].annotation
        model = next(
            (m for m in _SECTION_MODELS if ann is m or m in _args(ann)),
            None,
        )
    return model


def _args(ann: Any) -> tuple[Any, ...]:
    """Type arguments of an annotation, one level deep (``list[Community]`` -> ``(Community,)``)."""
    return tuple(getattr(ann, "__args__", ()))


def _one_line(path: Path | str, e: ValidationError, root: type[BaseModel] | None = None) -> str:
    """The first error, as ``FILE: FIELD: what is wrong``; an unknown key comes first, with the known key
    it most resembles (a misspelt key is not also reported as that key missing)."""
    errors = e.errors()
    unknown = [x for x in errors if x.get("type") == "extra_forbidden"]
    err = unknown[0] if unknown else errors[0]
    msg = err.get("msg", "invalid").replace("Value error, ", "")
    loc = _loc(err)
    if tuple(err.get("loc", ()))[-1:] == ("[key]",) and err.get("type") == "string_type":  # waves: {1: ...}
        msg = f"a name must be text (quote it: '{err['loc'][-2]}')"
    skipped = 0
    if err.get("type") == "extra_forbidden":
        msg = "unknown key"
        model = _model_at(tuple(err["loc"]), root or Scenario)
        key = str(err["loc"][-1])
        if model is not None:
            close = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.6)
            if close:
                msg = f"unknown key (did you mean {close[0]!r}?)"
                missing = (*err["loc"][:-1], close[0])
                skipped = sum(1 for x in errors if x.get("type") == "missing" and tuple(x["loc"]) == missing)
    n_more = len(errors) - 1 - skipped
    extra = f" (and {n_more} more)" if n_more > 0 else ""
    return f"{path}: {loc}: {msg}{extra}".replace("\n", " ")


def _non_finite(value: Any, where: str = "") -> str | None:
    """The first place in a (dumped) parameter set holding NaN or an infinity, else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, (list, tuple)):
        items = ((f"[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for k, v in items:
        sub = f"{where}{k}" if str(k).startswith("[") else f"{where}.{k}" if where else str(k)
        found = _non_finite(v, sub)
        if found is not None:
            return found
    return None


def scenario_from_dict(data: Any, path: Path | str = "<scenario>", base_dir: Path | None = None) -> Scenario:
    """Validate a scenario mapping (as read from YAML); parameters merge defaults < parameter_set < parameters."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: (top level): expected a mapping of scenario fields")
    data = dict(data)
    data["parameters"] = _parameters(data, path, base_dir)
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(_one_line(path, e)) from None


def _parameter_set(pset: Any, path: Path | str, base_dir: Path | None) -> tuple[dict[str, Any], Path]:
    """The ``parameters`` mapping of a scenario's ``parameter_set`` file, and the file's path."""
    if not isinstance(pset, str):
        raise ScenarioError(f"{path}: parameter_set: expected a file path")
    ppath = (base_dir or Path(".")) / pset
    try:
        params = load_parameter_file(ppath)
    except FileNotFoundError:
        raise ScenarioError(f"{path}: parameter_set: file not found: {ppath}") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: parameter_set: cannot read {ppath}: {exc.strerror}") from None
    except yaml.MarkedYAMLError as exc:  # malformed, or a key given twice: say where
        line = f"line {exc.problem_mark.line + 1}: " if exc.problem_mark is not None else ""
        raise ScenarioError(f"{path}: parameter_set: {ppath}: {line}{exc.problem or exc}") from None
    except (yaml.YAMLError, ValueError) as exc:
        raise ScenarioError(f"{path}: parameter_set: {ppath}: {str(exc).splitlines()[0]}") from None
    if not all(isinstance(k, str) for k in params):
        raise ScenarioError(f"{path}: parameter_set: {ppath}: expected a mapping of parameter names to values")
    return params, ppath


def _parameters(data: dict[str, Any], path: Path | str, base_dir: Path | None) -> ModelParameters:
    """The scenario's complete, finite parameter set: defaults < ``parameter_set`` < ``parameters``."""
    params: dict[str, Any] = {}
    where = "parameters."
    if data.get("parameter_set") is not None:
        params, ppath = _parameter_set(data["parameter_set"], path, base_dir)
        where = f"parameter_set: {ppath}: "
    overrides = data.get("parameters", {}) or {}
    if not isinstance(overrides, dict) or not all(isinstance(k, str) for k in overrides):
        raise ScenarioError(f"{path}: parameters: expected a mapping of parameter names to values")
    bad = _non_finite(overrides)  # before validation: NaN would otherwise read as out of range
    if bad is not None:
        raise ScenarioError(f"{path}: parameters.{bad}: must be a finite number")
    try:
        merged = DEFAULT_PARAMETERS.replace(**params) if params else DEFAULT_PARAMETERS
    except ValidationError as e:
        raise ScenarioError(_one_line(f"{path}: parameter_set", e, ModelParameters)) from None
    try:
        out = merged.replace(**overrides) if overrides else merged
    except ValidationError as e:
        raise ScenarioError(
            _one_line(path, e, ModelParameters)
            .replace(f"{path}: ", f"{path}: parameters.", 1)
            .replace(f"{path}: parameters.(top level):", f"{path}: parameters:", 1)  # a rule between parameters
        ) from None
    bad = _non_finite(out.model_dump())  # the overrides are finite: the parameter set is not
    if bad is not None:
        raise ScenarioError(f"{path}: {where}{bad}: must be a finite number")
    return out


def read_yaml_file(path: Path, error: type[ValueError], kind: str = "scenario") -> tuple[Any, bytes]:
    """The parsed document and raw bytes of a YAML file (``yaml.safe_load``; nothing in it is evaluated);
    every problem reading or parsing it is ``error`` with one line naming the file (used for scenarios and
    for power design files)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a {kind} file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return safe_load_unique(raw), raw
    except RecursionError:
        raise error(f"{path}: (top level): malformed YAML: nested too deeply") from None
    except yaml.reader.ReaderError as exc:  # binary or wrongly encoded bytes
        raise error(
            f"{path}: not a YAML text file ({exc.reason} at byte {exc.position}); expected UTF-8 text"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(top level)"
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        raise error(f"{path}: {where}: malformed YAML: {problem}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file (``yaml.safe_load``; nothing in it is evaluated)."""
    path = Path(path)
    data, raw = read_yaml_file(path, ScenarioError)
    scen = scenario_from_dict(data, path, base_dir=path.parent)
    return scen.model_copy(update={"source_path": str(path), "source_sha256": hashlib.sha256(raw).hexdigest()})
