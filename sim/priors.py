"""Priors of model parameters, one definition for calibration, parameter uncertainty and sensitivity.

:class:`ParameterPrior`: one parameter's prior, ``uniform`` on [low, high] or ``normal`` (mean, sd)
truncated to [low, high], with where it comes from (``source``: the paper's table or sentence, or the
ASSUMPTION's rationale). It is the unidentified assumptions' prior of ``--parameter-uncertainty``
(:mod:`sim.calibration.posterior`, ``calibration/assumption_priors.yaml``) and a varied factor of
``cli.py sensitivity`` (:mod:`sim.sensitivity`). :class:`Prior`: independent priors over several
parameters, vectorised (the ABC-SMC sampler's prior, :mod:`sim.calibration.abc`). :func:`parse_prior`:
one entry of a priors file (``calibration/priors.yaml``, ``calibration/assumption_priors.yaml``, a
sensitivity ``--spec``), checked against :class:`~sim.parameters.ModelParameters`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from .parameters import DEFAULT_PARAMETERS, ModelParameters

DISTRIBUTIONS = ("uniform", "normal")
PRIOR_KEYS = ("dist", "low", "high", "mean", "sd", "why")  # with the caller's source key: an entry's keys


@dataclass(frozen=True)
class ParameterPrior:
    """One parameter's prior: ``uniform`` on [low, high], or ``normal`` (mean, sd) truncated to
    [low, high]; ``source`` says where the range comes from (for the reports)."""

    name: str
    dist: str
    low: float
    high: float
    mean: float | None = None
    sd: float | None = None
    source: str = ""

    def spec(self) -> dict[str, Any]:
        """The prior as a mapping (``dist``, ``low``, ``high`` and, if normal, ``mean`` and ``sd``)."""
        d: dict[str, Any] = {"dist": self.dist, "low": self.low, "high": self.high}
        if self.dist == "normal":
            d.update(mean=self.mean, sd=self.sd)
        return d

    def describe(self) -> str:
        if self.dist == "normal":
            return f"N({self.mean:g}, {self.sd:g}) on [{self.low:g}, {self.high:g}]"
        return f"U({self.low:g}, {self.high:g})"

    def ppf(self, u: np.ndarray | float) -> np.ndarray:
        """Inverse CDF of the prior at ``u`` in [0, 1)."""
        u = np.asarray(u, dtype=float)
        if self.dist == "uniform":
            return self.low + (self.high - self.low) * u
        from scipy import stats

        a, b = (self.low - self.mean) / self.sd, (self.high - self.mean) / self.sd
        return stats.truncnorm.ppf(u, a, b, loc=self.mean, scale=self.sd)

    def cdf(self, x: np.ndarray | float) -> np.ndarray:
        """CDF of the prior (for checks such as a Kolmogorov-Smirnov test of the draws)."""
        x = np.asarray(x, dtype=float)
        if self.dist == "uniform":
            return np.clip((x - self.low) / (self.high - self.low), 0.0, 1.0)
        from scipy import stats

        a, b = (self.low - self.mean) / self.sd, (self.high - self.mean) / self.sd
        return stats.truncnorm.cdf(x, a, b, loc=self.mean, scale=self.sd)


class Prior:
    """Independent priors per parameter: ``uniform(low, high)`` or a ``normal(mean, sd)`` truncated
    to ``[low, high]``; the support is always the box ``[low, high]``."""

    def __init__(self, specs: dict[str, dict]):
        self.names = list(specs)
        self.specs = specs
        self.low = np.array([float(s["low"]) for s in specs.values()])
        self.high = np.array([float(s["high"]) for s in specs.values()])
        if np.any(self.high <= self.low):
            raise ValueError("every prior needs low < high")
        from scipy import stats

        self._dists = []
        for s, lo, hi in zip(specs.values(), self.low, self.high, strict=False):
            if s["dist"] == "uniform":
                self._dists.append(stats.uniform(loc=lo, scale=hi - lo))
            elif s["dist"] == "normal":
                m, sd = float(s["mean"]), float(s["sd"])
                self._dists.append(stats.truncnorm((lo - m) / sd, (hi - m) / sd, loc=m, scale=sd))
            else:
                raise ValueError(f"unknown prior distribution {s['dist']!r}")
        # fast vectorised forms (scipy's frozen ppf/pdf cost ~50 us per call, per candidate and dimension)
        self._is_norm = np.array([s["dist"] == "normal" for s in specs.values()])
        self._m = np.array([float(s.get("mean", 0.0)) for s in specs.values()])
        self._sd = np.array([float(s.get("sd", 1.0)) for s in specs.values()])
        self._ca = ndtr((self.low - self._m) / self._sd)
        self._cb = ndtr((self.high - self._m) / self._sd)

    @classmethod
    def of(cls, priors: Sequence[ParameterPrior]) -> Prior:
        """The joint prior of independent :class:`ParameterPrior` s."""
        return cls({p.name: p.spec() for p in priors})

    @property
    def dim(self) -> int:
        return len(self.names)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        u = np.atleast_2d(u)
        uni = self.low + u * (self.high - self.low)
        tn = self._m + self._sd * ndtri(self._ca + u * (self._cb - self._ca))
        return np.where(self._is_norm, np.clip(tn, self.low, self.high), uni)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return self.ppf(rng.random(self.dim))[0]

    def inside(self, theta: np.ndarray) -> bool:
        return bool(np.all(theta >= self.low) and np.all(theta <= self.high))

    def pdf(self, thetas: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(thetas)
        uni = 1.0 / (self.high - self.low)
        z = (x - self._m) / self._sd
        tn = np.exp(-0.5 * z * z) / (np.sqrt(2 * np.pi) * self._sd * (self._cb - self._ca))
        dens = np.where(self._is_norm, tn, uni)
        dens = np.where((x >= self.low) & (x <= self.high), dens, 0.0)
        return np.prod(dens, axis=1)


# ---------------------------------------------------------------------------------------------
# One entry of a priors file
# ---------------------------------------------------------------------------------------------
class PriorError(ValueError):
    """A bad prior entry; ``str()`` is one line naming the file and field."""


def parameter_changes(name: str, value: float) -> dict[str, Any]:
    """``{field: value}`` or, for ``field.key``, ``{field: {key: value}}`` (merged by ``replace``);
    an integer field gets the value rounded."""
    head, _, key = name.partition(".")
    if key:
        return {head: {key: float(value)}}
    fld = ModelParameters.model_fields[head]
    return {head: round(float(value)) if fld.annotation is int else float(value)}


def check_parameter_name(name: Any, where: str, real_only: bool = False) -> None:
    """A number-valued parameter: a float/int field of ModelParameters or ``field.key`` of a dict of
    numbers; with ``real_only``, a float field only."""
    if not isinstance(name, str):
        raise PriorError(f"{where}: parameter names must be text, got {name!r}")
    head, dot, key = name.partition(".")
    if head not in ModelParameters.model_fields:
        raise PriorError(f"{where}: unknown parameter {head!r} (not a field of sim.parameters.ModelParameters)")
    if real_only and (dot or ModelParameters.model_fields[head].annotation is not float):
        raise PriorError(f"{where}: {name} is not a real-valued parameter")
    default = getattr(DEFAULT_PARAMETERS, head)
    if dot:
        if not isinstance(default, dict):
            raise PriorError(f"{where}: {head} is not a mapping, so {name!r} names nothing")
        if key not in default:
            raise PriorError(f"{where}: {head} has no entry {key!r}; entries: {', '.join(sorted(default))}")
        default = default[key]
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        what = "a mapping: name one entry as field.key" if isinstance(default, dict) else "not a single number"
        raise PriorError(f"{where}: {name} is {what}")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PriorError(f"{where}: expected a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise PriorError(f"{where}: must be a finite number, got {value!r}")
    return x


def parse_prior(
    name: Any,
    raw: Any,
    where: str,
    base: ModelParameters = DEFAULT_PARAMETERS,
    *,
    source_key: str = "source",
    real_only: bool = False,
) -> ParameterPrior:
    """One ``parameters:`` entry ``name: {dist, low, high[, mean, sd]}`` of a priors file, its bounds
    valid values of the parameter in ``base``; ``source`` is the entry's ``source_key`` (``why`` for
    the calibration's priors files). ``where`` (file and field) starts every :class:`PriorError`."""
    check_parameter_name(name, where, real_only)
    if not isinstance(raw, dict):
        raise PriorError(f"{where}: expected a mapping with dist, low, high (and mean, sd for normal), got {raw!r}")
    allowed = {*PRIOR_KEYS, source_key}
    extra = sorted(set(map(str, raw)) - allowed)
    if extra:
        raise PriorError(f"{where}: unknown key {extra[0]!r}; expected {', '.join(sorted(allowed))}")
    dist = raw.get("dist", "uniform")
    if dist not in DISTRIBUTIONS:
        raise PriorError(f"{where}.dist: expected one of {', '.join(DISTRIBUTIONS)}, got {dist!r}")
    for k in ("low", "high"):
        if k not in raw:
            raise PriorError(f"{where}: missing {k} (every distribution needs finite bounds)")
    low, high = _number(raw["low"], f"{where}.low"), _number(raw["high"], f"{where}.high")
    if not low < high:
        raise PriorError(f"{where}: empty range: low {low:g} must be below high {high:g}")
    mean = sd = None
    if dist == "normal":
        for k in ("mean", "sd"):
            if k not in raw:
                raise PriorError(f"{where}: dist normal needs {k}")
        mean, sd = _number(raw["mean"], f"{where}.mean"), _number(raw["sd"], f"{where}.sd")
        if sd <= 0:
            raise PriorError(f"{where}.sd: must be positive, got {sd:g}")
    for k, v in (("low", low), ("high", high)):  # the bounds must be valid parameter values
        try:
            base.replace(**parameter_changes(name, v))
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            msg = str(exc).splitlines()
            detail = (msg[2] if len(msg) > 2 else msg[0]).split(" [type=")[0].strip()
            raise PriorError(f"{where}.{k}: {v:g} is not a valid value of {name}: {detail}") from None
    return ParameterPrior(name, dist, low, high, mean, sd, str(raw.get(source_key, "")).strip())
