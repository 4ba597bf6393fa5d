"""Analyses of one simulated trial (statistics only): each returns ``(estimate, se, p, status)`` with status
``converged``, ``singular`` (a variance component estimated at its boundary, zero: the fit is usable and
counts as a valid analysis) or ``not converged`` (an optimiser failure or an error: no valid test).

- :func:`cluster_t`: Student t on cluster means (parallel design, ``I - 2`` df), or the cluster-level
  analysis of covariance (follow-up mean on arm and baseline mean, ``I - 3`` df) with a baseline;
- :func:`mixed`: statsmodels MixedLM (REML) on cluster-period means with fixed period effects and a random
  cluster intercept, the Hussey & Hughes (2007) model; Wald z test as in their power formula;
- :func:`gee`: statsmodels GEE, logit link, exchangeable working correlation over a cluster's consumers,
  ``cov_type="bias_reduced"`` (the Mancl-DeRouen small-sample correction), t test with ``I - 2`` df
  (ASSUMPTION: the usual companion of the Mancl-DeRouen correction with few clusters; Li & Redden 2015,
  Stat Med 34:281);
- :func:`individual_t`: Student t on individual answers (individually randomised trial).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as sps

Fit = tuple[float, float, float, str]
FAILED: Fit = (np.nan, np.nan, np.nan, "not converged")


def _t_fit(est: float, se: float, df: float) -> Fit:
    if not (np.isfinite(est) and np.isfinite(se) and se > 0 and df > 0):
        return FAILED
    return est, se, float(2 * sps.t.sf(abs(est / se), df)), "converged"


def cluster_t(means: np.ndarray, X: np.ndarray) -> Fit:
    """Cluster-level test on cluster-period ``means`` (``I x T``, NaN = not measured) of a parallel design:
    one period, the arms' cluster means compared (Student t); two periods (baseline, follow-up), analysis of
    covariance of the follow-up mean on arm and baseline mean. Clusters with a missing mean are dropped."""
    if X.shape[1] == 1:
        y, arm = means[:, 0], X[:, 0]
        ok = np.isfinite(y)
        y1, y0 = y[ok & (arm == 1)], y[ok & (arm == 0)]
        n1, n0 = len(y1), len(y0)
        if n1 < 2 or n0 < 2:
            return FAILED
        sp2 = ((n1 - 1) * y1.var(ddof=1) + (n0 - 1) * y0.var(ddof=1)) / (n1 + n0 - 2)
        return _t_fit(float(y1.mean() - y0.mean()), float(np.sqrt(sp2 * (1 / n1 + 1 / n0))), n1 + n0 - 2)
    base, follow, arm = means[:, 0], means[:, -1], X[:, -1]
    ok = np.isfinite(base) & np.isfinite(follow)
    A = np.column_stack([np.ones(ok.sum()), arm[ok], base[ok]])
    n = len(A)
    if n < 4 or np.linalg.matrix_rank(A) < 3:
        return FAILED
    coef, *_ = np.linalg.lstsq(A, follow[ok], rcond=None)
    resid = follow[ok] - A @ coef
    s2 = float(resid @ resid) / (n - 3)
    cov = s2 * np.linalg.inv(A.T @ A)
    return _t_fit(float(coef[1]), float(np.sqrt(cov[1, 1])), n - 3)


def _period_design(X: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Fixed-effects design for the observed cells (``cells``: boolean ``I x T``): one dummy per period that
    has an observation (no intercept), then the treatment indicator."""
    used = np.flatnonzero(cells.any(axis=0))
    _, j = np.nonzero(cells)
    D = (j[:, None] == used[None, :]).astype(float)
    return np.column_stack([D, X[cells]])


def mixed(means: np.ndarray, X: np.ndarray) -> Fit:
    """MixedLM (REML) on the observed cluster-period means; see the module docstring."""
    from statsmodels.regression.mixed_linear_model import MixedLM

    cells = np.isfinite(means) & np.isfinite(X)
    i, _ = np.nonzero(cells)
    exog = _period_design(X, cells)
    if len(np.unique(i)) < 3 or len(exog) <= exog.shape[1] + 1:
        return FAILED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = MixedLM(means[cells], exog, groups=i).fit(reml=True)
            est, se = float(res.fe_params[-1]), float(res.bse_fe[-1])
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return FAILED
    if not (np.isfinite(est) and np.isfinite(se) and se > 0):
        return FAILED
    tau2 = float(np.asarray(res.cov_re).ravel()[0])
    # at the boundary (no between-community variance) statsmodels often reports non-convergence although the
    # fixed effects are the (valid) least-squares ones: classified singular, as fits with tau2 = 0
    if tau2 <= 1e-6 * max(float(res.scale), 1e-12):
        status = "singular"
    elif not res.converged:
        return FAILED
    else:
        status = "converged"
    return est, se, float(2 * sps.norm.sf(abs(est / se))), status


def gee(yes: np.ndarray, n: np.ndarray, X: np.ndarray) -> Fit:
    """GEE with the Mancl-DeRouen correction on consumers' 0/1 answers, expanded from cluster-period counts
    ``yes`` of ``n`` (``I x T``; cells with ``n = 0`` or NaN ``X`` not measured)."""
    import statsmodels.api as sm
    from statsmodels.genmod.generalized_estimating_equations import GEE

    cells = np.isfinite(X) & (n > 0)
    i, _ = np.nonzero(cells)
    cell_x = _period_design(X, cells)
    nn = n[cells].astype(int)
    yy = yes[cells].astype(int)
    rows = np.repeat(np.arange(len(nn)), nn)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(nn) - nn, nn)
    y = (within < np.repeat(yy, nn)).astype(float)
    groups = i[rows]
    n_cl = len(np.unique(i))
    if n_cl < 3 or y.min() == y.max():
        return FAILED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # start from the independence fit on the cell counts (the same estimate GEE starts from, computed on
            # the cells instead of the consumers) and declare the constant (period dummies sum to one): the
            # same fit, some five times faster
            start = sm.GLM(np.c_[yy, nn - yy], cell_x, family=sm.families.Binomial(), hasconst=True).fit().params
            model = GEE(
                y,
                cell_x[rows],
                groups=groups,
                family=sm.families.Binomial(),
                cov_struct=sm.cov_struct.Exchangeable(),
                hasconst=True,
            )
            res = model.fit(cov_type="bias_reduced", maxiter=60, start_params=start)
            est, se, df = float(res.params[-1]), float(res.bse[-1]), n_cl - 2
        except (np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError):
            return FAILED
    if not getattr(res, "converged", True):
        return FAILED
    fit = _t_fit(est, se, df)
    if fit[3] != "converged":
        return fit
    rho = float(np.asarray(res.cov_struct.dep_params).ravel()[0])
    return (*fit[:3], "singular" if not rho > 1e-8 else "converged")


def individual_t(y1: np.ndarray, y0: np.ndarray) -> Fit:
    """Student t on individual answers (arms of analysed consumers)."""
    n1, n0 = len(y1), len(y0)
    if n1 < 2 or n0 < 2:
        return FAILED
    sp2 = ((n1 - 1) * np.var(y1, ddof=1) + (n0 - 1) * np.var(y0, ddof=1)) / (n1 + n0 - 2)
    return _t_fit(float(np.mean(y1) - np.mean(y0)), float(np.sqrt(sp2 * (1 / n1 + 1 / n0))), n1 + n0 - 2)
