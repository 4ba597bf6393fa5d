"""Can the calibration reject a wrong model? Deliberately wrong parameter sets against the paper's figures.

Each *set* changes the calibrated point (``calibrated.yaml``'s ``parameters``) or the study design
(``scenarios/paper_study.yaml``) in one way a planner could get wrong (:data:`WRONG_SETS`). Every set
simulates the paper's study R times with common random numbers (replication r of every set uses the
same seed and replication index, so two sets differ only through the change) and each replication
is summarised by the calibration's own summary function and distance
(:func:`sim.calibration.core.summarise_frames`, :meth:`sim.calibration.core.Problem.distance`).

Per set and informative figure (a target in the calibration distance), the set's central 95%
predictive interval is that of its R simulated values (:func:`sim.calibration.run.predictive_quantiles`);
a figure is *rejected* when the paper's observed value lies outside it. The joint test is a
posterior-predictive check of the distance itself (Gelman, Meng & Stern 1996): with the set's
simulated mean m of every figure, D(x) = distance of x from m (the calibration distance with m in
place of the paper's figures); p = share of the R simulated studies with D(x_r) >= D(paper). A small
p says the paper's figures are further from what the set predicts than the set's own studies are.
``p_joint_scaled`` is the same test with each figure scaled by the set's own predictive SD instead
of the paper's standard error (a chi-square-type discrepancy): a wrong set whose studies scatter
widely (e.g. very high dropout leaves a handful of people to answer) widens the reference
distribution of the first test on its own scale, which the second removes. A figure with no
predictive variance scores NAN_Z for the paper and the simulations alike, as the distance does.
The median calibration distance (simulated study vs the paper, what ABC-SMC minimises) is shown too.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...parameters import ModelParameters, load_parameter_file
from ...reporting import pyplot, save_figure
from ...scenario import Scenario
from ..core import Problem, parameters_from_vector, summarise_frames
from ..run import predictive_quantiles

#: Replication indices of the validation runs start here (the calibration's own streams use 0.. for
#: ABC candidates, 8e9 and 9e9 for its predictive checks), so the check is independent of the fit.
VALIDATION_BASE = 7_000_000_000

Change = Callable[[ModelParameters, Scenario], tuple[ModelParameters, Scenario]]


@dataclass(frozen=True)
class WrongSet:
    """A named change of the calibrated model: ``change(parameters, scenario) -> (parameters, scenario)``."""

    key: str
    label: str
    change: Change


def _scale(name: str, factor: float) -> Change:
    def change(p: ModelParameters, s: Scenario) -> tuple[ModelParameters, Scenario]:
        return p.replace(**{name: getattr(p, name) * factor}), s

    return change


def _later_unstructured(p: ModelParameters, s: Scenario) -> tuple[ModelParameters, Scenario]:
    """The later wave's communities scheduled ``unstructured`` (no timetable, no content menu)."""
    comms = [
        c.model_copy(update={"scheduling": "unstructured", "timetable_weeks": None}) if c.wave == "later" else c
        for c in s.communities
    ]
    return p, s.model_copy(update={"communities": comms})


#: The wave-difference parameters of the answers (sim/parameters.py) and the inherited-experience
#: mechanisms (supervision, plan review, date keeping) at their neutral values.
NO_WAVE_EFFECT: dict[str, float] = {
    "benefit_experience_logit": 0.0,
    "satisfaction_experience_shift": 0.0,
    "confidence_experience_shift": 0.0,
    "experienced_supervision_multiplier": 1.0,
    "experienced_review_factor": 1.0,
    "experienced_disruption_factor": 1.0,
}


def _no_wave_effect(p: ModelParameters, s: Scenario) -> tuple[ModelParameters, Scenario]:
    return p.replace(**NO_WAVE_EFFECT), s


def _attendance(p: ModelParameters, s: Scenario) -> tuple[ModelParameters, Scenario]:
    return p.replace(attendance_mean=0.35), s


def _half_sessions(p: ModelParameters, s: Scenario) -> tuple[ModelParameters, Scenario]:
    """Unstructured communities at half their full session rate; structured timetables fortnightly
    (half a weekly timetable; the paper allows 'once every one or 2 weeks', Methods)."""
    return p.replace(
        unstructured_max_sessions_per_week=p.unstructured_max_sessions_per_week / 2, weekly_timetable_prob=0.0
    ), s


CALIBRATED = WrongSet("calibrated", "Calibrated point (reference)", lambda p, s: (p, s))

WRONG_SETS: tuple[WrongSet, ...] = (
    WrongSet("dropout_x3", "Consumer dropout hazard x3", _scale("consumer_dropout_hazard_per_month", 3.0)),
    WrongSet("later_unstructured", "Later wave scheduled unstructured", _later_unstructured),
    WrongSet("no_wave_effect", "No structure or experience effect", _no_wave_effect),
    WrongSet("attendance_035", "Mean attendance 0.35", _attendance),
    WrongSet("half_sessions", "Half the session rate", _half_sessions),
)


def calibrated_point(problem: Problem, calibrated_file: Path) -> ModelParameters:
    """The calibrated point: ``calibrated.yaml``'s ``parameters`` on the calibration's base (the
    documented defaults of sim/parameters.py); keys that are not model parameters are an error."""
    values = load_parameter_file(Path(calibrated_file))
    unknown = sorted(set(values) - set(ModelParameters.model_fields))
    if unknown:
        raise ValueError(f"{calibrated_file}: parameters.{unknown[0]}: not a model parameter")
    return parameters_from_vector(problem.base, list(values), list(values.values()))


def simulate_set(
    problem: Problem,
    parameters: ModelParameters,
    scenario: Scenario,
    reps: int,
    seed: int,
    *,
    pool: Any = None,
    progress: bool = False,
) -> np.ndarray:
    """(reps, targets) summaries of ``reps`` simulated studies, replications VALIDATION_BASE + 0..reps-1."""
    from ...runner import map_replications

    fn = functools.partial(summarise_frames, ids=tuple(problem.ids))
    df = map_replications(
        fn, scenario, [VALIDATION_BASE + r for r in range(reps)], seed=seed, parameters=parameters, pool=pool,
        progress=progress,
    )  # fmt: skip
    return df[problem.ids].to_numpy(dtype=float)


def centred_distance(problem: Problem, summaries: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The calibration distance of each row from ``centre`` instead of the paper's figures
    (:meth:`Problem.distance` itself, on a copy whose observed values are ``centre``)."""
    moved = copy.copy(problem)
    moved.observed = np.asarray(centre, dtype=float)
    return moved.distance(summaries)


def assess(problem: Problem, summaries: np.ndarray) -> tuple[dict[str, Any], pd.DataFrame, np.ndarray]:
    """Per-figure intervals of one set's simulations and its joint test; (summary row, figure rows,
    calibration distance of each simulated study)."""
    use = np.flatnonzero(problem.use)
    rows = []
    for j in use:
        q = predictive_quantiles(summaries[:, j])
        obs = float(problem.observed[j])
        inside = bool(q["lo"] - 1e-9 <= obs <= q["hi"] + 1e-9)  # NaN interval (never computable): outside
        rows.append({"target": problem.ids[j], "observed": obs, "lo": q["lo"], "median": q["median"],
                     "hi": q["hi"], "inside": inside})  # fmt: skip
    figs = pd.DataFrame(rows)
    with np.errstate(all="ignore"):
        centre = np.array([np.nanmean(c) if np.isfinite(c).any() else np.nan for c in summaries.T])
    sim_d = centred_distance(problem, summaries, centre)
    obs_d = float(centred_distance(problem, problem.observed[None, :], centre)[0])
    dist = problem.distance(summaries)
    sd = np.array([predictive_quantiles(summaries[:, j])["sd"] for j in range(summaries.shape[1])])
    scaled = copy.copy(problem)
    scaled.se = np.where(np.isfinite(sd) & (sd > 0), sd, np.nan)
    sim_s = centred_distance(scaled, summaries, centre)
    obs_s = float(centred_distance(scaled, problem.observed[None, :], centre)[0])
    row = {
        "replications": len(summaries),
        "informative": len(use),
        "outside": int((~figs["inside"]).sum()),
        "outside_targets": ";".join(figs.loc[~figs["inside"], "target"]),
        "median_distance": float(np.median(dist)),
        "distance_lo": float(np.quantile(dist, 0.025)),
        "distance_hi": float(np.quantile(dist, 0.975)),
        "observed_discrepancy": obs_d,
        "median_discrepancy": float(np.median(sim_d)),
        "p_joint": float(np.mean(sim_d >= obs_d - 1e-12)),
        "observed_discrepancy_scaled": obs_s,
        "p_joint_scaled": float(np.mean(sim_s >= obs_s - 1e-12)),
    }
    return row, figs, dist


def falsification(
    problem: Problem,
    point: ModelParameters,
    reps: int,
    seed: int,
    sets: tuple[WrongSet, ...] = (CALIBRATED, *WRONG_SETS),
    *,
    pool: Any = None,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One row per set (:func:`assess`), the long table of figures per set and the calibration
    distance of every simulated study (set, replication, distance); common random numbers."""
    rows, figs, dists = [], [], []
    for ws in sets:
        params, scen = ws.change(point, problem.scenario)
        if progress:
            import sys

            print(f"falsification: {ws.label} ({reps} replications)", file=sys.stderr)
        x = simulate_set(problem, params, scen, reps, seed, pool=pool, progress=progress)
        row, f, d = assess(problem, x)
        rows.append({"set": ws.key, "label": ws.label, **row})
        figs.append(f.assign(set=ws.key))
        dists.append(pd.DataFrame({"set": ws.key, "replication": np.arange(len(d)), "distance": d}))
    long = pd.concat(figs, ignore_index=True)[["set", "target", "observed", "lo", "median", "hi", "inside"]]
    return pd.DataFrame(rows), long, pd.concat(dists, ignore_index=True)


def plot_distances(table: pd.DataFrame, distances: pd.DataFrame, path: Path) -> None:
    """Box plot of the calibration distance per set, the calibrated point's median as a line."""
    plt = pyplot()

    keys = list(table["set"])
    data = [distances.loc[distances["set"] == k, "distance"].to_numpy() for k in keys]
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(keys) + 1.5))
    ax.boxplot(data, orientation="horizontal", whis=(2.5, 97.5), showfliers=False)
    ax.set_yticks(
        range(1, len(keys) + 1),
        [f"{lab} ({int(o)} outside)" for lab, o in zip(table["label"], table["outside"], strict=True)],
    )
    ax.axvline(float(np.median(data[0])), color="tab:blue", ls="--", lw=1)
    ax.invert_yaxis()
    ax.set_xlabel("calibration distance to the paper's figures (RMS z); dashed: median at the first row")
    ax.set_title(f"Distance per parameter set ({int(table['replications'].iloc[0]):,} studies; whiskers 95%)")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
