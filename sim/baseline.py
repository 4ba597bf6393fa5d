"""Baseline characteristics of providers and consumers, drawn to match Table 1.

Categorical variables are drawn with Table 1's shares for the person's role. Age is a normal
truncated to the eligibility range 18-60 (Methods, "Participants") whose location and scale are
solved so that the *truncated* mean and SD equal Table 1's. Nobody currently married lives alone;
among the others, living alone has the probability that reproduces Table 1's share. Age at first
onset is a normal truncated to [8, the person's age], its location and scale solved (by quadrature
over the age distribution) so that its marginal mean and SD equal Table 1's.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy import optimize, special, stats

from .instruments import BASELINE_CATEGORICAL, ELIGIBLE_AGE, TABLE1

ONSET_MIN_AGE = 8.0


@cache
def truncated_normal_for_moments(mean: float, sd: float, lo: float, hi: float) -> tuple[float, float]:
    """Location and scale of a normal truncated to [lo, hi] whose truncated mean and SD are (mean, sd)."""

    def gap(x: np.ndarray) -> list[float]:
        mu, log_s = x
        s = float(np.exp(log_s))
        m, v = stats.truncnorm.stats((lo - mu) / s, (hi - mu) / s, loc=mu, scale=s, moments="mv")
        return [float(m) - mean, float(np.sqrt(v)) - sd]

    sol = optimize.root(gap, x0=[mean, np.log(sd)], method="hybr")
    mu, s = float(sol.x[0]), float(np.exp(sol.x[1]))
    if not sol.success or max(abs(g) for g in gap(sol.x)) > 1e-6:
        raise ValueError(f"no truncated normal on [{lo}, {hi}] has mean {mean} and SD {sd}")
    return mu, s


@cache
def onset_normal_for_moments(mean: float, sd: float, age_mu: float, age_s: float) -> tuple[float, float]:
    """Location and scale of the onset-age normal, truncated per person to [8, age], whose marginal
    mean and SD (over the truncated-normal age distribution) are (mean, sd). Solved by quadrature."""
    lo, hi = ELIGIBLE_AGE
    nodes, weights = np.polynomial.legendre.leggauss(96)
    ages = lo + (hi - lo) * (nodes + 1) / 2
    w = stats.truncnorm.pdf(ages, (lo - age_mu) / age_s, (hi - age_mu) / age_s, loc=age_mu, scale=age_s) * weights
    w = w / w.sum()

    def gap(x: np.ndarray) -> list[float]:
        mu, s = x[0], float(np.exp(x[1]))
        m, v = stats.truncnorm.stats((ONSET_MIN_AGE - mu) / s, (ages - mu) / s, loc=mu, scale=s, moments="mv")
        m1 = float(np.sum(w * m))
        m2 = float(np.sum(w * (v + m**2)))
        return [m1 - mean, float(np.sqrt(max(m2 - m1**2, 1e-12))) - sd]

    sol = optimize.root(gap, x0=[mean, np.log(sd)], method="hybr")
    if not sol.success or max(abs(g) for g in gap(sol.x)) > 1e-6:
        raise ValueError(f"no onset-age distribution has mean {mean} and SD {sd}")
    return float(sol.x[0]), float(np.exp(sol.x[1]))


def _truncated_normal(mu: float, s: float, lo: np.ndarray | float, hi: np.ndarray | float, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws from N(mu, s) truncated to [lo, hi] (lo, hi may be arrays), from uniforms ``u``."""
    a = special.ndtr((np.asarray(lo) - mu) / s)
    b = special.ndtr((np.asarray(hi) - mu) / s)
    return mu + s * special.ndtri(a + (b - a) * u)


@cache
def _category_cdf(role: str, var: str) -> np.ndarray:
    """Cumulative shares of a categorical Table 1 variable, as ``Generator.choice`` builds them."""
    p = np.asarray(TABLE1[role][var], dtype=float)
    cdf = (p / p.sum()).cumsum()
    cdf /= cdf[-1]
    return cdf


def draw_baseline(role: str, n: int, rng: np.random.Generator) -> dict[str, list]:
    """Draw ``n`` people of ``role`` ('provider' or 'consumer'): one list per Table 1 column.

    Eight uniforms per person, fetched in one call (NumPy's generators fill an array one draw after
    another, so these are the values of eight calls of ``rng.random(n)`` in turn): age, the five
    categorical variables, living alone, age at onset."""
    t = TABLE1[role]
    out: dict[str, list] = {}
    lo, hi = ELIGIBLE_AGE
    mu, s = truncated_normal_for_moments(*t["age"], lo, hi)
    u = rng.random(8 * n).reshape(8, n)
    age = _truncated_normal(mu, s, lo, hi, u[0])
    for k, var in enumerate(("gender", "education", "marital_status", "employed", "diagnosis"), start=1):
        levels = BASELINE_CATEGORICAL[var]
        # The draws of rng.choice(len(levels), size=n, p=shares), without its argument checks.
        idx = _category_cdf(role, var).searchsorted(u[k], side="right")
        out[var] = [levels[i] for i in idx.tolist()]
    married = np.array([m == "currently_married" for m in out["marital_status"]])
    alone = (~married) & (u[6] < _alone_prob(role))
    out["lives_alone"] = ["yes" if a else "no" for a in alone.tolist()]
    omu, os_ = onset_normal_for_moments(*t["onset_age"], mu, s)
    onset = _truncated_normal(omu, os_, ONSET_MIN_AGE, age, u[7])
    out["age"] = np.round(age, 1).tolist()
    out["onset_age"] = np.round(onset, 1).tolist()
    return out


@cache
def _alone_prob(role: str) -> float:
    """P(lives alone | not currently married) reproducing Table 1's share of people living alone."""
    t = TABLE1[role]
    alone_yes, alone_no = t["lives_alone"]
    not_married_share = 1.0 - t["marital_status"][1] / t["n"]
    return min(1.0, alone_yes / (alone_yes + alone_no) / not_married_share) if not_married_share > 0 else 0.0
