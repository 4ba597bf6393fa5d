"""Leave-one-wave-out: calibrate on one wave's figures, predict the other wave's.

The paper's two waves (initial: unstructured, 18 months; later: structured, 12 months) are reported
separately for retention, the mood benefit and the providers' confidence (target ids ending in
``.initial`` / ``.later``, ``calibration/targets.yaml``). For a held-out wave W, every target whose
id names W is dropped from the calibration distance (pooled figures and between-wave contrasts,
whose ids name no wave, stay in); ABC-SMC (:func:`sim.calibration.core.fit_abc`, the calibration's
own driver, simulator and distance) fits the rest, and W's figures are predicted from the posterior
predictive: ``predictive`` studies, each at a particle drawn by weight. Coverage is the share of W's
figures whose observed value lies inside the central 95% predictive interval.

Budget. The full calibration (population 400, about 90,000 simulations) takes about 25 minutes on
2 cores; each leave-one-wave-out fit here defaults to population 200 and a budget of 8,000
simulations (a few minutes on 2 cores), so its posterior is wider than the full calibration's:
coverage is then, if anything, optimistic, and a held-out figure outside its interval is a clear
miss.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..core import Problem, fit_abc
from ..run import predictive_quantiles

WAVES = ("initial", "later")
LOWO_TAG = 0x10_0E  # entropy tag of the posterior-predictive resampling
PREDICTIVE_BASE = 6_000_000_000  # replication indices of the held-out predictions


@dataclass
class LowoSettings:
    population: int = 200
    budget: int = 8_000
    predictive: int = 400
    max_generations: int = 20
    min_acceptance_rate: float = 0.015
    seed: int = 20191114


def names_wave(target_id: str, wave: str) -> bool:
    return wave in target_id.split(".")


def reduced_problem(problem: Problem, held_out: str) -> Problem:
    """The calibration problem without the held-out wave's figures in its distance."""
    if held_out not in WAVES:
        raise ValueError(f"held-out wave must be one of {WAVES}, got {held_out!r}")
    out = Problem(problem.targets, problem.prior_specs, problem.scenario, problem.base)
    out.use = problem.use & ~np.array([names_wave(t, held_out) for t in problem.ids])
    return out


def _progress_printer(label: str):
    last = {"g": -1}

    def show(info: dict) -> None:
        if info.get("generation", -1) != last["g"]:
            last["g"] = info["generation"]
            print(
                f"{label}: generation {info['generation']}, epsilon {info['epsilon']:.3g}, "
                f"{info['simulations']}/{info['budget']} simulations",
                file=sys.stderr,
            )

    return show


def leave_one_wave_out(
    problem: Problem, held_out: str, settings: LowoSettings, pool: Any, progress: bool = False
) -> pd.DataFrame:
    """Fit without ``held_out``'s figures; one row per held-out figure with its predictive interval."""
    red = reduced_problem(problem, held_out)
    printer = _progress_printer(f"leave out {held_out}") if progress else None
    fit = fit_abc(red, pool, settings, printer, label=f"leave out {held_out}")
    res, g = fit.result, fit.result.posterior
    pred = fit.predictive(settings.predictive, [settings.seed, LOWO_TAG, WAVES.index(held_out)], PREDICTIVE_BASE)
    rows = []
    for j, tid in enumerate(problem.ids):
        if not names_wave(tid, held_out):
            continue
        q = predictive_quantiles(pred[:, j])
        obs = float(problem.observed[j])
        rows.append(
            {
                "held_out": held_out,
                "target": tid,
                "informative": bool(problem.use[j]),
                "observed": obs,
                "lo": q["lo"],
                "median": q["median"],
                "hi": q["hi"],
                "inside": bool(q["lo"] - 1e-9 <= obs <= q["hi"] + 1e-9),
                "fit_population": settings.population,
                "fit_budget": settings.budget,
                "fit_simulations": res.total_simulations,
                "fit_generations": len(res.generations),
                "fit_epsilon": float(g.epsilon),
                "fit_distance_targets": int(red.use.sum()),
            }
        )
    return pd.DataFrame(rows)


def lowo(
    problem: Problem,
    settings: LowoSettings,
    waves: tuple[str, ...] = WAVES,
    *,
    pool: Any = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Both directions (or ``waves``), concatenated."""
    from ...runner import ReplicationPool

    own = pool is None
    pool = pool or ReplicationPool()
    try:
        frames = [leave_one_wave_out(problem, w, settings, pool, progress) for w in waves]
    finally:
        if own:
            pool.close()
    return pd.concat(frames, ignore_index=True)
