"""Parameter recovery: simulate the paper's targets from known parameters, calibrate, check coverage.

``python cli.py recovery [--cases K] [--budget B] [--population N] [--seed S] [--workers W] [--out DIR]``
draws K known parameter sets (from the committed posterior in ``calibration/calibrated.yaml``,
i.e. the region the real data point to, or from the prior when there is none), simulates one study
at the paper's sizes for each (the "observed" figures), runs the same ABC-SMC on it and records
whether each known value falls inside its 95% credible interval. Writes
``calibration/recovery.csv`` (one row per case x parameter) and ``calibration/recovery.md``.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..outputs import merge_files_into_place, staged
from ..reporting import figure_dir, md_table, pyplot, save_figure
from .core import CALIBRATION_DIR, ABCSettings, Problem, RunnerSimulator, fit_abc

RECOVERY_TAG = 0x2EC0


def with_observed(problem: Problem, values: np.ndarray) -> Problem:
    """A copy of the problem whose observed figures are ``values`` (one per target; SEs unchanged)."""
    p = copy.copy(problem)
    p.observed = np.asarray(values, dtype=float).copy()
    return p


def true_parameters(problem: Problem, cases: int, seed: int, calibrated: Path | None) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, RECOVERY_TAG])))
    if calibrated is not None and calibrated.exists():
        from .posterior import load_posterior

        post = load_posterior(calibrated)
        if list(post.names) == problem.names:
            idx = rng.choice(len(post.weights), size=cases, p=post.weights)
            return post.draws[idx]
    return np.array([problem.prior.sample(rng) for _ in range(cases)])


def recover(
    cases: int = 5,
    budget: int = 6000,
    population: int = 200,
    seed: int = 7,
    workers: int | None = None,
    calibrated: Path | None = CALIBRATION_DIR / "calibrated.yaml",
    problem: Problem | None = None,
    log=print,
) -> pd.DataFrame:
    from pyabc.weighted_statistics import weighted_quantile

    from ..runner import ReplicationPool

    problem = problem or Problem.default()
    truth = true_parameters(problem, cases, seed, calibrated)
    rows = []
    with ReplicationPool(workers=workers) as pool:
        sim = RunnerSimulator(problem, pool, seed=seed)
        for c in range(cases):
            t0 = time.perf_counter()
            obs = sim(truth[c : c + 1], np.array([7_000_000_000 + c]))[0]
            pc = with_observed(problem, obs)
            res = fit_abc(pc, pool, ABCSettings(population, budget, seed + 1 + c), label=f"recovery case {c}").result
            g = res.posterior
            for k, name in enumerate(problem.names):
                lo, med, hi = (float(weighted_quantile(g.theta[:, k], g.weights, alpha=a)) for a in (0.025, 0.5, 0.975))
                q = float(np.sum(g.weights[g.theta[:, k] <= truth[c, k]]))
                rows.append(
                    {
                        "case": c,
                        "parameter": name,
                        "true": truth[c, k],
                        "post_lo": lo,
                        "post_median": med,
                        "post_hi": hi,
                        "inside": bool(lo <= truth[c, k] <= hi),
                        "rank_quantile": q,
                        "prior_width": problem.prior.high[k] - problem.prior.low[k],
                        "generations": len(res.generations),
                        "epsilon": g.epsilon,
                    }
                )
            log(
                f"case {c}: {len(res.generations)} generations, eps {g.epsilon:.3f}, "
                f"{sum(r['inside'] for r in rows[-len(problem.names) :])}/{len(problem.names)} inside, "
                f"{time.perf_counter() - t0:.0f} s"
            )
    return pd.DataFrame(rows)


def write(df: pd.DataFrame, out: Path, settings: dict) -> None:
    """``recovery.csv``, ``recovery.md`` and ``figures/recovery.png`` in ``out`` (the calibration's folder,
    whose other files stay): built in a temporary folder, then moved in file by file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with staged(out, commit=merge_files_into_place) as tmp:
        tmp.mkdir()
        _write_files(df, tmp, settings)


def _write_files(df: pd.DataFrame, out: Path, settings: dict) -> None:
    df.to_csv(out / "recovery.csv", index=False, float_format="%.6g")
    per = coverage_table(df)
    rows = [
        [name, f"{r['coverage']:.0%}", int(r["cases"]), f"{r['mean_width']:.3g}", f"{r['width_share_of_prior']:.0%}"]
        for name, r in per.iterrows()
    ]
    lines = [
        "# Parameter recovery",
        "",
        f"`python cli.py recovery {' '.join(f'--{k} {v}' for k, v in settings.items())}`: "
        f"{df['case'].nunique()} known parameter sets (drawn from the calibration posterior), one simulated study at "
        "the paper's sizes each, calibrated with the same ABC-SMC (smaller budget than the real calibration).",
        "",
        f"**Overall coverage of the 95% credible intervals: {df['inside'].mean():.0%}** "
        f"({int(df['inside'].sum())} of {len(df)} intervals contain the known value).",
        "",
        md_table(["parameter", "coverage", "cases", "mean 95% width", "width / prior range"], rows).rstrip("\n"),
        "",
        f"![Recovery: rank histogram and coverage per parameter](figures/{_figure(df, per, out)})",
        "",
        "A flat rank histogram means calibrated uncertainty; a hump in the middle means intervals wider than "
        "needed (conservative), a U shape overconfident ones.",
        "",
        "ABC posteriors at a finite epsilon are wider than the exact posterior, so coverage at or above 95% is "
        "expected; coverage well below 95% for a parameter would mean the calibration is overconfident about it.",
    ]
    (out / "recovery.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def coverage_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per parameter: coverage of the 95% intervals, cases, mean interval width and its share of the prior range."""
    by = df.groupby("parameter", sort=False)
    per = by.agg(coverage=("inside", "mean"), cases=("inside", "size"))
    per["mean_width"] = (df["post_hi"] - df["post_lo"]).groupby(df["parameter"], sort=False).mean()
    per["width_share_of_prior"] = per["mean_width"] / by["prior_width"].first()
    return per


def _figure(df: pd.DataFrame, per: pd.DataFrame, out: Path) -> str:
    """Rank histogram (pooled) and coverage per parameter."""
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].hist(df["rank_quantile"], bins=10, range=(0, 1), color="tab:blue", edgecolor="white")
    ax[0].axhline(len(df) / 10, color="k", lw=0.8, ls="--")
    ax[0].set_xlabel("posterior CDF at the known value (SBC-style rank, pooled)")
    ax[0].set_ylabel("intervals")
    y = np.arange(len(per))
    ax[1].barh(y, per["coverage"], color="tab:blue")
    ax[1].axvline(0.95, color="k", lw=0.8, ls="--")
    ax[1].set_yticks(y)
    ax[1].set_yticklabels(per.index, fontsize=6)
    ax[1].set_xlabel("coverage of the 95% credible interval")
    fig.tight_layout()
    return save_figure(fig, figure_dir(out) / "recovery.png", dpi=110)


def run_recovery(
    cases: int, budget: int, population: int, seed: int, workers: int | None, out: Path, log=print
) -> pd.DataFrame:
    """The ``recovery`` command minus the CLI: recover, write, refresh the calibration report's validation."""
    from .report import rebuild_report

    df = recover(cases, budget, population, seed, workers, log=log)
    write(df, out, {"cases": cases, "budget": budget, "population": population, "seed": seed})
    if (out / "calibrated.yaml").exists():
        rebuild_report(out)
    return df
