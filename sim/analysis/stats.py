"""The tests of Fan et al. (2019), "Statistical analyses", and the rules that choose between them.

The paper: "Chi-square test and Mann Whitney U tests or independent t tests were performed ...
Correction for multiple testing was achieved using the Bonferroni." It does not say which variant
its software (SPSS) printed; the printed figures do (see ``tests/test_analysis_reproduction.py``):

**Categorical (rule ``CHI2_RULE``).** The statistic is always the *uncorrected* Pearson chi-square
(df = (r-1)(c-1), empty rows/columns dropped as SPSS does). For a 2x2 table in which any expected
count is below 5 the p-value is Fisher's exact two-sided p, which SPSS prints beside Pearson's for
every 2x2 table and footnotes when expected counts are small; otherwise the asymptotic Pearson p.
The paper's three chi-square results come out exactly under this rule and under no other common
variant: retention 7/7 vs 5/6 gives chi2(1) = 1.264 with Fisher p = 0.462 (Pearson p would be 0.261,
Yates 0.936); 26/32 vs 16/22 gives 0.548, Fisher p = 0.517 (min expected 4.89); work skill 10/12
vs 9/42 gives 15.684, Fisher p = 1.7e-4 < 0.001. Larger tables: Pearson p (SPSS prints Fisher only
for 2x2 without its Exact module), with the number of cells expected < 5 in the note.

**Continuous and Likert (rule ``T_RULE``).** Independent-samples t test, as the paper reports for
Table S4 ("t = -3.348"). SPSS prints two rows, "equal variances assumed" (Student) and "not
assumed" (Welch), under Levene's test (mean-centred); the row read is Welch's when Levene's
p < 0.05, Student's otherwise. This is what the paper's consumer figures imply: no set of 1-5
answers has Table 4's mean 4.02 / SD 0.474 (or 3.66 / 0.855) with n = 42, but with n = 41 (one
answer missing, 25 initial + 16 later) there are, and the printed t = -3.348, p = 0.002 and
t = -2.853, p = 0.007 are the Welch results of such data, whose Levene test is significant; the
Student t of the same data is -3.54 / -2.59. ``method="mwu"`` selects the Mann-Whitney U test
instead (asymptotic, tie-corrected, no continuity correction, as SPSS's "Asymp. Sig."); it is
the paper's named alternative for ordinal data, offered for sensitivity analyses.

**Degenerate data** never raises and never returns a silent NaN: the result is a row with
``test = "not computable"`` and the reason in ``note`` (SPSS prints "No statistics are computed
because ... is a constant" / "t cannot be computed because ..."): an empty group, fewer than two
answers in a group (t), a constant outcome (a 2x2 table with a zero row or column), both groups
with SD 0 (t), all values tied (U).

The cores are vectorised over replications (arrays of counts or moments in, arrays out), so that
the per-chunk analysis of thousands of replications costs a few array operations per comparison;
the scalar helpers (:func:`compare_binary`, :func:`compare_continuous`, :func:`compare_categorical`)
call the same cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy import special as sc
from scipy import stats as sps

NOT_COMPUTABLE = "not computable"
PEARSON = "Pearson chi-square"
FISHER = "Fisher exact (2-sided)"
STUDENT = "Student t"
WELCH = "Welch t"
MWU = "Mann-Whitney U"

#: Expected-count threshold below which the 2x2 p-value is Fisher's exact (SPSS footnote).
MIN_EXPECTED = 5.0
#: Levene's-test level at which the Welch row is read instead of Student's (SPSS convention).
LEVENE_ALPHA = 0.05

CHI2_RULE = (
    "Categorical: Pearson chi-square statistic without continuity correction; for 2x2 tables with "
    f"any expected count < {MIN_EXPECTED:g} the p-value is Fisher's exact test (2-sided), as SPSS "
    "prints beside Pearson's; larger tables use Pearson's asymptotic p."
)
T_RULE = (
    "Continuous and Likert: independent-samples t test; Welch's (equal variances not assumed) when "
    f"Levene's test (mean-centred) has p < {LEVENE_ALPHA:g}, Student's otherwise, as read from SPSS's "
    "two-row output. Alternative (method='mwu'): Mann-Whitney U, asymptotic, tie-corrected."
)

ContinuousMethod = Literal["t", "student", "welch", "mwu"]


@dataclass(frozen=True)
class TestResult:
    """One test: what was run, its statistic, df, p and a note (reason when not computable)."""

    test: str
    statistic: float
    df: float
    p: float
    note: str = ""

    @property
    def computable(self) -> bool:
        return self.test != NOT_COMPUTABLE

    def as_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Tail probabilities: scipy's own special functions, without ``rv_continuous.sf``'s per-call
# argument handling (a chunk makes about a hundred such calls; each cost more than its arithmetic)
# --------------------------------------------------------------------------------------------
def _tail(x: np.ndarray, values: np.ndarray, valid: np.ndarray, low: float) -> np.ndarray:
    """``rv_continuous.sf``'s cases around its ``_sf`` (support ``(low, inf)``): NaN for invalid
    parameters or a NaN ``x``; 1 at or below ``low``; 0 at infinity; else ``values``."""
    out = np.where((x > low) & (x < np.inf), values, 0.0)
    return np.where(valid & ~np.isnan(x), np.where(x <= low, 1.0, out), np.nan)


def chi2_sf(x, df) -> np.ndarray:
    """``scipy.stats.chi2.sf(x, df)``, the same floats (its ``_sf`` is ``special.chdtrc``)."""
    x, df = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(df, dtype=float))
    with np.errstate(invalid="ignore"):
        return _tail(x, sc.chdtrc(df, x), df > 0, 0.0)


def f_sf(x, dfn, dfd) -> np.ndarray:
    """``scipy.stats.f.sf(x, dfn, dfd)``, the same floats (``special.fdtrc``)."""
    x, dfn, dfd = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, dfn, dfd)))
    with np.errstate(invalid="ignore"):
        return _tail(x, sc.fdtrc(dfn, dfd, x), (dfn > 0) & (dfd > 0), 0.0)


def t_sf(x, df) -> np.ndarray:
    """``scipy.stats.t.sf(x, df)``, the same floats (``special.stdtr(df, -x)``)."""
    x, df = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(df, dtype=float))
    with np.errstate(invalid="ignore"):
        return _tail(x, sc.stdtr(df, -x), df > 0, -np.inf)


# --------------------------------------------------------------------------------------------
# 2x2 tables (binary item by two groups)
# --------------------------------------------------------------------------------------------
def fisher_p(a, b, c, d) -> np.ndarray:
    """Fisher's exact two-sided p of the tables [[a, b], [c, d]] (integer arrays), the same floats as
    ``scipy.stats.fisher_exact`` gives one table at a time (its algorithm, with the hypergeometric
    pmf, cdf and sf evaluated for all tables at once: a chunk has about a thousand such tables)."""
    a, b, c, d = (np.atleast_1d(np.asarray(x, dtype=np.int64)) for x in (a, b, c, d))
    out = np.ones(len(a))
    ok = (a + b > 0) & (c + d > 0) & (a + c > 0) & (b + d > 0)  # else scipy returns 1
    if not ok.any():
        return out
    a, b, c, d = a[ok], b[ok], c[ok], d[ok]
    n1, n2, n = a + b, c + d, a + c
    M = n1 + n2
    hg = sps.hypergeom
    mode = ((n + 1) * (n1 + 1) / (n1 + n2 + 2)).astype(np.int64)
    pexact, pmode = hg.pmf(a, M, n1, n), hg.pmf(mode, M, n1, n)
    gamma = 1 + 1e-14
    grid = np.arange(int(n.max()) + 1)
    P = hg.pmf(grid[None, :], M[:, None], n1[:, None], n[:, None])  # pmf(x) of each table, x = 0..max n
    low = a < mode
    p = np.empty(len(a))
    lower_tail, upper_tail = hg.cdf(a, M, n1, n), hg.sf(a - 1, M, n1, n)
    at_n, at_0 = P[np.arange(len(a)), n], P[:, 0]
    guess = np.array(
        [
            _binary_search(lambda x, i=i: -P[i, x], -pexact[i] * gamma, int(mode[i]), int(n[i]))
            if low[i]
            else _binary_search(lambda x, i=i: P[i, x], pexact[i] * gamma, 0, int(mode[i]))
            for i in range(len(a))
        ],
        dtype=np.int64,
    )
    p = np.where(
        low,
        np.where(at_n > pexact * gamma, lower_tail, lower_tail + hg.sf(guess, M, n1, n)),
        np.where(at_0 > pexact * gamma, upper_tail, upper_tail + hg.cdf(guess, M, n1, n)),
    )
    p = np.where(np.abs(pexact - pmode) / np.maximum(pexact, pmode) <= 1e-14, 1.0, np.minimum(p, 1.0))
    out[ok] = p
    return out


_FISHER: dict[tuple[int, int, int, int], float] = {}  # p by table: small tables recur across replications
_FISHER_MAX = 200_000


def _fisher_cached(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """:func:`fisher_p` with the tables seen before looked up instead of computed."""
    keys = list(zip(a.tolist(), b.tolist(), c.tolist(), d.tolist(), strict=True))
    p = np.array([_FISHER.get(k, np.nan) for k in keys])
    miss = np.flatnonzero(np.isnan(p))
    if len(miss):
        p[miss] = fisher_p(a[miss], b[miss], c[miss], d[miss])
        if len(_FISHER) + len(miss) > _FISHER_MAX:
            _FISHER.clear()
        _FISHER.update((keys[i], float(p[i])) for i in miss)
    return p


def _binary_search(fn, target: float, lo: int, hi: int) -> int:
    """scipy's search for the index i in [lo, hi] with fn(i) <= target < fn(i + 1) (fisher_exact)."""
    while lo < hi:
        mid = lo + (hi - lo) // 2
        midval = fn(mid)
        if midval < target:
            lo = mid + 1
        elif midval > target:
            hi = mid - 1
        else:
            return mid
    return lo if fn(lo) <= target else lo - 1


def binary_tests(yes1, n1, yes2, n2) -> dict[str, np.ndarray]:
    """Vectorised 2x2 comparison of a yes/no item between two groups (rule ``CHI2_RULE``).

    Arguments are equal-length integer arrays: yes answers and answers in group 1 and group 2.
    Returns arrays ``test`` (str), ``statistic`` (Pearson chi2), ``df``, ``p``, ``note``.
    """
    yes1, n1, yes2, n2 = (np.atleast_1d(np.asarray(x, dtype=np.int64)) for x in (yes1, n1, yes2, n2))
    no1, no2 = n1 - yes1, n2 - yes2
    N = n1 + n2
    col_yes = yes1 + yes2
    col_no = no1 + no2
    k = len(N)
    test = np.full(k, PEARSON, dtype=object)
    note = np.full(k, "", dtype=object)
    stat = np.full(k, np.nan)
    df = np.full(k, np.nan)
    p = np.full(k, np.nan)

    empty = (n1 == 0) | (n2 == 0)
    const = ~empty & ((col_yes == 0) | (col_no == 0))
    ok = ~empty & ~const
    test[empty] = NOT_COMPUTABLE
    note[empty] = "empty group: no answers in one group"
    test[const] = NOT_COMPUTABLE
    note[const] = np.where(
        col_yes[const] == 0, "constant outcome: no 'yes' in either group", "constant outcome: all 'yes' in both groups"
    )

    if ok.any():
        a, b, c, d = yes1[ok], no1[ok], yes2[ok], no2[ok]
        Nk = N[ok].astype(float)
        r1, r2, c1, c2 = (a + b).astype(float), (c + d).astype(float), (a + c).astype(float), (b + d).astype(float)
        chi2 = Nk * (a.astype(float) * d - b.astype(float) * c) ** 2 / (r1 * r2 * c1 * c2)
        min_exp = np.minimum(r1, r2) * np.minimum(c1, c2) / Nk
        small = min_exp < MIN_EXPECTED
        p_ok = np.empty(len(chi2))
        p_ok[~small] = chi2_sf(chi2[~small], 1)
        if small.any():
            p_ok[small] = _fisher_cached(a[small], b[small], c[small], d[small])
        # count of cells with expected count < 5
        e = np.stack([r1 * c1, r1 * c2, r2 * c1, r2 * c2]) / Nk
        n_small = (e < MIN_EXPECTED).sum(axis=0)
        stat[ok] = chi2
        df[ok] = 1.0
        p[ok] = p_ok
        t_ok = np.where(small, FISHER, PEARSON).astype(object)
        notes = np.full(len(chi2), "", dtype=object)
        at = np.flatnonzero(small)
        notes[at] = [
            f"statistic: Pearson chi2; p: Fisher exact, {ns} cell(s) expected < 5 (min {me:.2f})"
            for ns, me in zip(n_small[at].tolist(), min_exp[at].tolist(), strict=True)
        ]
        test[ok] = t_ok
        note[ok] = notes
    return {"test": test, "statistic": stat, "df": df, "p": p, "note": note}


# --------------------------------------------------------------------------------------------
# r x c tables (categorical variable with more levels)
# --------------------------------------------------------------------------------------------
def _rc_pearson(T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pearson chi-square, the number of cells expected < 5 and the smallest expected count of a
    stack of reduced r x c tables of one shape (m, r, c). Each table's terms are summed as one
    contiguous row, as ``((t - e) ** 2 / e).sum()`` of that table alone sums them: the same floats."""
    N = T.sum(axis=(1, 2))
    e = T.sum(axis=2)[:, :, None] * T.sum(axis=1)[:, None, :] / N[:, None, None]
    chi2 = ((T - e) ** 2 / e).reshape(len(T), -1).sum(axis=1)
    return chi2, (e < MIN_EXPECTED).sum(axis=(1, 2)), e.min(axis=(1, 2))


def categorical_tests(tables: np.ndarray) -> dict[str, np.ndarray]:
    """Vectorised chi-square on a stack of contingency tables, shape (k, levels, groups).

    Each table is reduced to its observed levels and groups (SPSS builds it from observed values:
    empty rows and columns do not exist); a table that is then 2x2 follows the 2x2 rule of
    :func:`binary_tests`. An empty group or a single observed level is not computable. Tables are
    handled in batches of the same observed levels (no loop over tables).
    """
    tables = np.asarray(tables, dtype=np.int64)
    k, _, groups = tables.shape
    out = {
        "test": np.full(k, NOT_COMPUTABLE, dtype=object),
        "statistic": np.full(k, np.nan),
        "df": np.full(k, np.nan),
        "p": np.full(k, np.nan),
        "note": np.full(k, "", dtype=object),
    }
    col_seen = tables.sum(axis=1) > 0  # (k, groups)
    row_seen = tables.sum(axis=2) > 0  # (k, levels)
    n_cols, n_rows = col_seen.sum(axis=1), row_seen.sum(axis=1)
    empty = ~col_seen.all(axis=1) | (n_cols < 2)
    out["note"][empty & (n_cols < groups)] = "empty group: no answers in one group"
    const = ~empty & (n_rows < 2)
    out["note"][const] = "constant variable: one level observed in both groups"
    rest = ~empty & ~const  # every group observed: the reduced table has all columns
    two = np.flatnonzero(rest & (n_rows == 2) & (groups == 2))
    if len(two):
        first = np.argmax(row_seen[two], axis=1)  # the first observed level
        yes = tables[two, first, :]
        n = tables[two].sum(axis=1)
        r = binary_tests(yes[:, 0], n[:, 0], yes[:, 1], n[:, 1])
        for key in out:
            out[key][two] = r[key]
    rc = np.flatnonzero(rest & ~((n_rows == 2) & (groups == 2)))
    if len(rc):
        patterns, which = np.unique(row_seen[rc], axis=0, return_inverse=True)
        which = np.asarray(which).ravel()
        for j, seen in enumerate(patterns):
            idx = rc[which == j]
            chi2, n_small, e_min = _rc_pearson(tables[idx][:, seen, :])
            dof = float((int(seen.sum()) - 1) * (groups - 1))
            cells = int(seen.sum()) * groups
            out["test"][idx] = PEARSON
            out["statistic"][idx], out["df"][idx], out["p"][idx] = chi2, dof, chi2_sf(chi2, dof)
            out["note"][idx] = [
                f"{ns} of {cells} cells expected < 5 (min {em:.2f})" if ns else ""
                for ns, em in zip(n_small.tolist(), e_min.tolist(), strict=True)
            ]
    return out


# --------------------------------------------------------------------------------------------
# Continuous and Likert: t tests from moments
# --------------------------------------------------------------------------------------------
def levene_from_moments(n1, adm1, adv1, n2, adm2, adv2) -> np.ndarray:
    """Levene's test (mean-centred) p from the mean and variance of |x - group mean| per group.

    With two groups Levene's F is the squared Student t of the absolute deviations. When neither
    group's deviations vary, F is 0/0: the spreads are then taken as equal (p = 1) if the mean
    deviations agree, and unequal (p = 0) if they differ.
    """
    n1, n2 = np.asarray(n1, float), np.asarray(n2, float)
    adm1, adv1, adm2, adv2 = (np.asarray(x, float) for x in (adm1, adv1, adm2, adv2))
    N = n1 + n2
    with np.errstate(all="ignore"):
        sw = ((n1 - 1) * np.nan_to_num(adv1) + (n2 - 1) * np.nan_to_num(adv2)) / (N - 2)
        diff = adm1 - adm2
        F = diff**2 / (sw * (1 / n1 + 1 / n2))
        p = f_sf(F, 1, N - 2)
    zero_w = ~(sw > 1e-12)
    p = np.where(zero_w, np.where(np.abs(diff) > 1e-12, 0.0, 1.0), p)
    return p


def t_tests(n1, m1, v1, n2, m2, v2, levene_p=None, method: ContinuousMethod = "t") -> dict[str, np.ndarray]:
    """Vectorised independent-samples t test from group sizes, means and variances (ddof = 1).

    ``method``: ``"t"`` = the paper's rule (Welch if ``levene_p`` < 0.05, else Student),
    ``"student"`` or ``"welch"``. t is group 1 minus group 2 (the paper's "initial minus later").
    """
    n1, m1, v1, n2, m2, v2 = (np.atleast_1d(np.asarray(x, dtype=float)) for x in (n1, m1, v1, n2, m2, v2))
    k = len(n1)
    test = np.full(k, NOT_COMPUTABLE, dtype=object)
    note = np.full(k, "", dtype=object)
    stat = np.full(k, np.nan)
    df = np.full(k, np.nan)
    p = np.full(k, np.nan)

    if method == "t":
        lp = np.ones(k) if levene_p is None else np.atleast_1d(np.asarray(levene_p, dtype=float))
        use_welch = lp < LEVENE_ALPHA
    elif method == "welch":
        lp, use_welch = None, np.ones(k, dtype=bool)
    elif method == "student":
        lp, use_welch = None, np.zeros(k, dtype=bool)
    else:
        raise ValueError(f"unknown t-test method {method!r}")

    v1z, v2z = np.nan_to_num(v1), np.nan_to_num(v2)
    with np.errstate(all="ignore"):
        sp2 = ((n1 - 1) * v1z + (n2 - 1) * v2z) / (n1 + n2 - 2)
        se_s = np.sqrt(sp2 * (1 / n1 + 1 / n2))
        a, b = v1z / n1, v2z / n2
        se_w = np.sqrt(a + b)
        df_w = (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1))
        se = np.where(use_welch, se_w, se_s)
        dfx = np.where(use_welch, df_w, n1 + n2 - 2)
        t = (m1 - m2) / se

    empty = (n1 == 0) | (n2 == 0)
    few = ~empty & ((n1 < 2) | (n2 < 2))
    zero_sd = ~empty & ~few & ~(se > 0)
    ok = ~empty & ~few & ~zero_sd
    note[empty] = "empty group: no answers in one group"
    note[few] = "fewer than two answers in a group"
    note[zero_sd] = "standard deviations of both groups are 0"
    test[ok] = np.where(use_welch[ok], WELCH, STUDENT)
    stat[ok] = t[ok]
    df[ok] = dfx[ok]
    p[ok] = 2 * t_sf(np.abs(t[ok]), dfx[ok])
    if lp is not None:
        note[ok] = np.array(
            [
                f"Levene p={x:.3g}: equal variances {'not ' if w else ''}assumed"
                for x, w in zip(lp[ok], use_welch[ok], strict=False)
            ],
            dtype=object,
        )
    return {"test": test, "statistic": stat, "df": df, "p": p, "note": note}


def mann_whitney(x: Sequence[float], y: Sequence[float]) -> TestResult:
    """Mann-Whitney U (asymptotic normal, tie-corrected, no continuity correction; SPSS 'Asymp. Sig.')."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if len(x) == 0 or len(y) == 0:
        return TestResult(NOT_COMPUTABLE, np.nan, np.nan, np.nan, "empty group: no answers in one group")
    allv = np.concatenate([x, y])
    if np.all(allv == allv[0]):
        return TestResult(NOT_COMPUTABLE, np.nan, np.nan, np.nan, "all values tied")
    r = sps.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic", use_continuity=False)
    n1, n2 = len(x), len(y)
    u = float(r.statistic)
    # z from p (sign: group 1 below group 2 gives negative z, as SPSS's rank means do)
    z = sps.norm.isf(float(r.pvalue) / 2) * np.sign(u - n1 * n2 / 2)
    return TestResult(MWU, u, np.nan, float(r.pvalue), f"Z={z:.3f}")


# --------------------------------------------------------------------------------------------
# Scalar helpers (the same cores, one comparison)
# --------------------------------------------------------------------------------------------
def _first(r: dict[str, np.ndarray]) -> TestResult:
    return TestResult(
        str(r["test"][0]), float(r["statistic"][0]), float(r["df"][0]), float(r["p"][0]), str(r["note"][0])
    )


def _clean(x) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    return a[~np.isnan(a)]


def compare_binary(x: Sequence[float], y: Sequence[float]) -> TestResult:
    """Compare a 0/1 item between two groups (missing values dropped) by rule ``CHI2_RULE``."""
    x, y = _clean(x), _clean(y)
    return _first(binary_tests([int((x == 1).sum())], [len(x)], [int((y == 1).sum())], [len(y)]))


def compare_counts(yes1: int, n1: int, yes2: int, n2: int) -> TestResult:
    """Compare "yes1 of n1" with "yes2 of n2" (e.g. 7/7 vs 5/6) by rule ``CHI2_RULE``."""
    return _first(binary_tests([yes1], [n1], [yes2], [n2]))


def compare_categorical(x: Sequence, y: Sequence, levels: Sequence | None = None) -> TestResult:
    """Compare a categorical variable between two groups (missing values dropped)."""
    xs = [v for v in x if isinstance(v, str) or not (v is None or (isinstance(v, float) and np.isnan(v)))]
    ys = [v for v in y if isinstance(v, str) or not (v is None or (isinstance(v, float) and np.isnan(v)))]
    lv = list(levels) if levels is not None else sorted(set(xs) | set(ys), key=str)
    if not lv:
        return TestResult(NOT_COMPUTABLE, np.nan, np.nan, np.nan, "no answers")
    t = np.array([[xs.count(v), ys.count(v)] for v in lv], dtype=np.int64)
    return _first(categorical_tests(t[None]))


def moments(x: np.ndarray) -> tuple[float, float, float, float, float]:
    """n, mean, variance (ddof 1), and mean and variance of |x - mean| (for Levene)."""
    n = len(x)
    if n == 0:
        return 0, np.nan, np.nan, np.nan, np.nan
    m = float(x.mean())
    v = float(x.var(ddof=1)) if n > 1 else np.nan
    ad = np.abs(x - m)
    return n, m, v, float(ad.mean()), float(ad.var(ddof=1)) if n > 1 else np.nan


def compare_continuous(x: Sequence[float], y: Sequence[float], method: ContinuousMethod = "t") -> TestResult:
    """Compare a continuous or Likert variable between two groups by rule ``T_RULE`` (or ``method``)."""
    x, y = _clean(x), _clean(y)
    if method == "mwu":
        return mann_whitney(x, y)
    n1, m1, v1, a1, av1 = moments(x)
    n2, m2, v2, a2, av2 = moments(y)
    lp = levene_from_moments(n1, a1, av1, n2, a2, av2) if method == "t" else None
    return _first(t_tests(n1, m1, v1, n2, m2, v2, lp, method))


def ttest_from_summary(
    m1: float, sd1: float, n1: int, m2: float, sd2: float, n2: int, equal_var: bool = True
) -> TestResult:
    """t test from printed summaries (means, SDs, ns), Student's or Welch's."""
    return _first(t_tests(n1, m1, sd1**2, n2, m2, sd2**2, None, "student" if equal_var else "welch"))


def wave_split_from_overall(mean: float, sd: float, n1: int, n2: int, t: float) -> tuple[float, float, float]:
    """Group means and the pooled within-group SD implied by an overall mean/SD/n and a Student t.

    Total SS = (n-1) SD^2 splits into between SS = n1 n2/n d^2 and within SS; Student's
    t^2 = between SS (n-2) / within SS, so between SS = total SS t^2 / (n - 2 + t^2). Returns
    (mean1, mean2, pooled SD); d = mean1 - mean2 has the sign of t.
    """
    n = n1 + n2
    sst = (n - 1) * sd**2
    ssb = sst * t**2 / (n - 2 + t**2)
    d = np.sign(t) * np.sqrt(ssb * n / (n1 * n2))
    m1 = mean + n2 * d / n
    m2 = mean - n1 * d / n
    sp = np.sqrt((sst - ssb) / (n - 2))
    return float(m1), float(m2), float(sp)


# --------------------------------------------------------------------------------------------
# Bonferroni
# --------------------------------------------------------------------------------------------
def bonferroni(p: np.ndarray, m: int | np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bonferroni within a family of ``m`` planned tests: adjusted p = min(1, m p), threshold alpha/m.

    Returns (p_adjusted, threshold, significant); a not-computable test (p NaN) is not significant
    and keeps a NaN adjusted p. The paper: "Bonferroni-corrected threshold of p < 8.33 x 10^-3" for
    six demographic variables, i.e. 0.05/6.
    """
    p = np.asarray(p, dtype=float)
    m = np.asarray(m, dtype=float)
    with np.errstate(invalid="ignore"):
        adj = np.minimum(1.0, p * m)
        thr = alpha / m
        sig = np.where(np.isnan(p), False, p < thr)
    return adj, np.broadcast_to(thr, p.shape).astype(float), sig.astype(bool)
