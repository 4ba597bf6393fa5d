"""``python cli.py calibrate``: run ABC-SMC through the runner, then check the fit and write the outputs.

Writes into the output folder (default ``calibration/``): ``posterior.csv`` (final population:
parameters, weight, distance), ``generations.csv`` (epsilon, acceptance, ESS, time per
generation), ``calibrated.yaml`` (posterior medians as a scenario ``parameter_set`` plus the
weighted draws for ``--parameter-uncertainty``), ``fit.csv`` (one row per target: observed, prior-
and posterior-predictive median and 95% interval, z, posterior predictive p, inside or not, and the
same at the calibrated point), ``predictive.csv.gz`` (the predictive simulations behind fit.csv),
``report.md`` and ``figures/``. Everything is written to a temporary folder and moved into place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..outputs import merge_files_into_place, staged
from . import report
from .abc import ABCResult
from .core import CalibrationSettings, Problem, fit_abc
from .posterior import calibrated_document

PPC_TAG = 0x9F1C  # entropy tag of the posterior-predictive resampling stream
PRIOR_PREDICTIVE_BASE = 0  # generation 0 candidates are replications 0.. of the simulation seed
POSTERIOR_PREDICTIVE_BASE = 8_000_000_000
POINT_PREDICTIVE_BASE = 9_000_000_000


def predictive_quantiles(x: np.ndarray) -> dict[str, float]:
    x = x[np.isfinite(x)]
    if not len(x):
        return {"median": np.nan, "lo": np.nan, "hi": np.nan, "mean": np.nan, "sd": np.nan}
    return {
        "median": float(np.quantile(x, 0.5, method="inverted_cdf")),
        "lo": float(np.quantile(x, 0.025, method="inverted_cdf")),
        "hi": float(np.quantile(x, 0.975, method="inverted_cdf")),
        "mean": float(np.mean(x)),
        "sd": float(np.std(x, ddof=1)) if len(x) > 1 else np.nan,
    }


def fit_table(
    problem: Problem, prior_pred: np.ndarray, post_pred: np.ndarray, point_pred: np.ndarray | None
) -> pd.DataFrame:
    """One row per target: observed, predictive intervals, z, posterior predictive p-value, inside."""
    rows = []
    for j, t in enumerate(problem.targets):
        obs = t.value
        pr, po = predictive_quantiles(prior_pred[:, j]), predictive_quantiles(post_pred[:, j])
        x = post_pred[:, j][np.isfinite(post_pred[:, j])]
        ppp = float(min(1.0, 2 * min(np.mean(x <= obs + 1e-9), np.mean(x >= obs - 1e-9)))) if len(x) else np.nan
        z = (obs - po["mean"]) / po["sd"] if po["sd"] and po["sd"] > 0 else (0.0 if po["mean"] == obs else np.nan)
        row = {
            "target": t.id,
            "label": t.label,
            "kind": t.kind,
            "observed": obs,
            "count": t.count,
            "n": t.n,
            "source": t.source,
            "in_distance": bool(problem.use[j]),
            "prior_median": pr["median"],
            "prior_lo": pr["lo"],
            "prior_hi": pr["hi"],
            "post_median": po["median"],
            "post_lo": po["lo"],
            "post_hi": po["hi"],
            "post_mean": po["mean"],
            "post_sd": po["sd"],
            "z": z,
            "ppp": ppp,
            "inside": bool(po["lo"] - 1e-9 <= obs <= po["hi"] + 1e-9),
            "post_missing_share": float(np.mean(~np.isfinite(post_pred[:, j]))),
        }
        if point_pred is not None:
            pt = predictive_quantiles(point_pred[:, j])
            row.update(
                {
                    "point_median": pt["median"],
                    "point_lo": pt["lo"],
                    "point_hi": pt["hi"],
                    "inside_point": bool(pt["lo"] - 1e-9 <= obs <= pt["hi"] + 1e-9),
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)


def parameter_table(problem: Problem, result: ABCResult) -> pd.DataFrame:
    from pyabc.weighted_statistics import weighted_quantile

    g = result.posterior
    u = np.array([[0.025] * problem.prior.dim, [0.5] * problem.prior.dim, [0.975] * problem.prior.dim])
    prior_q = problem.prior.ppf(u)
    rows = []
    for k, name in enumerate(problem.names):
        spec = problem.prior_specs[name]
        lo, med, hi = (float(weighted_quantile(g.theta[:, k], g.weights, alpha=a)) for a in (0.025, 0.5, 0.975))
        prior_w = prior_q[2, k] - prior_q[0, k]
        if spec["dist"] == "uniform":
            desc = f"U({spec['low']:g}, {spec['high']:g})"
        else:
            desc = f"N({spec['mean']:g}, {spec['sd']:g}) on [{spec['low']:g}, {spec['high']:g}]"
        rows.append(
            {
                "parameter": name,
                "prior": desc,
                "prior_lo": prior_q[0, k],
                "prior_median": prior_q[1, k],
                "prior_hi": prior_q[2, k],
                "post_lo": lo,
                "post_median": med,
                "post_hi": hi,
                "post_mean": float(np.sum(g.theta[:, k] * g.weights)),
                "narrowing": 1 - (hi - lo) / prior_w if prior_w > 0 else np.nan,
                "default": getattr(problem.base, name),
            }
        )
    return pd.DataFrame(rows)


def run_calibration(
    settings: CalibrationSettings, problem: Problem | None = None, progress: Callable[[dict], None] | None = None
) -> dict[str, Any]:
    """The whole ``calibrate`` command minus the CLI: returns a small summary dict."""
    from ..runner import ReplicationPool

    problem = problem or Problem.default()
    t_start = time.perf_counter()
    with ReplicationPool(workers=settings.workers, scheduler=settings.scheduler) as pool:
        fitted = fit_abc(problem, pool, settings, progress, label="calibration")
        result = fitted.result
        t_abc = time.perf_counter() - t_start
        g = result.posterior
        # posterior predictive (parameter uncertainty + stochastic noise) and at the calibrated point
        m = settings.ppc_replications
        if progress:
            progress({"stage": "posterior predictive", "replications": 2 * m})
        post_pred = fitted.predictive(m, [settings.seed, PPC_TAG], POSTERIOR_PREDICTIVE_BASE)
        doc_meta = _meta(settings, problem, result, t_abc)
        cal = calibrated_document(problem.names, g.theta, g.weights, doc_meta)
        point = np.array([cal["parameters"][n] for n in problem.names])
        point_pred = fitted.simulate(np.tile(point, (m, 1)), POINT_PREDICTIVE_BASE + np.arange(m))
    prior_pred = result.generations[0].summaries
    fit = fit_table(problem, prior_pred, post_pred, point_pred)
    params = parameter_table(problem, result)
    wall = time.perf_counter() - t_start
    cal["wall_seconds"] = round(wall, 1)
    out = Path(settings.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # built beside out, then moved in file by file (recovery.* and validation/ in out stay)
    # calibrated.yaml, which the scenarios read, last: a failed move leaves the previous one in use
    with staged(out, commit=partial(merge_files_into_place, last=("calibrated.yaml",))) as tmp:
        tmp.mkdir()
        _write_outputs(tmp, problem, result, cal, fit, params, prior_pred, post_pred, point_pred, settings, wall)
    return {
        "generations": len(result.generations),
        "simulations": result.total_simulations,
        "stop_reason": result.stop_reason,
        "wall_seconds": wall,
        "epsilon": g.epsilon,
        "inside": int(fit["inside"].sum()),
        "targets": len(fit),
        "inside_point": int(fit["inside_point"].sum()) if "inside_point" in fit else None,
        "out": str(out),
    }


def _meta(settings: CalibrationSettings, problem: Problem, result: ABCResult, t_abc: float) -> dict[str, Any]:
    g = result.posterior
    return {
        "description": (
            "Calibrated parameter set of the peer-support model (Fan et al. 2019): ABC-SMC posterior medians of the "
            "calibrated parameters (parameters:), usable as a scenario parameter_set; posterior: the final weighted "
            "population, for --parameter-uncertainty (sim.calibration.posterior.posterior_parameter_sets). Written by "
            "`python cli.py calibrate`; see calibration/report.md."
        ),
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seed": settings.seed,
        "budget": settings.budget,
        "population": settings.population,
        "ppc_replications": settings.ppc_replications,
        "simulations": result.total_simulations,
        "generations": len(result.generations),
        "final_epsilon": round(float(g.epsilon), 6),
        "stop_reason": result.stop_reason,
        "abc_seconds": round(t_abc, 1),
        "scenario": "scenarios/paper_study.yaml",
        "git_commit": _git_commit(),
        "model_sources_sha256": model_sources_hash(),
    }


#: Files whose content determines the calibration's result, as globs relative to the repository root:
#: the model (a module ``sim/model.py`` or a package ``sim/model/``, whichever exists), the paper's figures
#: it draws baselines from and the targets are made of (``sim/instruments.py``), the scenario's meaning
#: (``sim/scenario.py``: calendar, communities, waves), the per-study summaries and the statistics they
#: use, the frames they read (``sim/datasets.py``), the calibration's own algorithm and its inputs (not its
#: command line, report or recovery, which do not change the result). Read by :func:`model_source_files`;
#: ``tests/test_calibration.py`` checks that every module these import is here or in :data:`NOT_HASHED`.
MODEL_SOURCES = (
    "sim/model.py",
    "sim/model/**/*.py",
    "sim/follow_up.py",
    "sim/baseline.py",
    "sim/instruments.py",
    "sim/parameters.py",
    "sim/scenario.py",
    "sim/scenario_pipeline.py",  # scenario sections the model reads (staff pipeline, caseload)
    "sim/yaml_unique.py",  # the loader of targets, priors and parameter sets
    "sim/streams.py",
    "sim/datasets.py",  # the frames the summaries read (to_frames)
    "sim/analysis/summaries.py",
    "sim/analysis/prep.py",
    "sim/analysis/stats.py",  # the summaries' tests (the paper's t rule)
    "sim/analysis/grouped.py",  # the summaries' grouped sums
    "sim/calibration/core.py",  # the problem: simulate, summarise, distance
    "sim/calibration/abc.py",  # ABC-SMC
    "sim/calibration/targets.py",
    "sim/calibration/mapping.py",
    "sim/calibration/posterior.py",  # the calibrated parameter set from the posterior
    "sim/calibration/run.py",  # settings, seeds, the predictive draws
    "sim/priors.py",  # the ABC sampler's prior
    "scenarios/paper_study.yaml",
    "calibration/targets.yaml",
    "calibration/priors.yaml",
)


#: Modules the hashed ones import whose changes cannot change the calibration's numbers, by path prefix,
#: with the reason.
NOT_HASHED = {
    "sim/__init__.py": "the version string",
    "sim/runner/": "a replication is a pure function of scenario and seed whatever the backend or chunking "
    "(tests/test_runner.py)",
    "sim/outputs.py": "writing files",
    "sim/forked.py": "writing files in a forked child",
    "sim/reporting/": "formatting tables and figures",
    "sim/replications.py": "the choice of --reps auto, which the calibration does not use",
    "sim/planning/": "costs and resource use, which the summaries do not read",
    "sim/calibration/report.py": "the calibration's report (report.md and figures), written from its results",
    "sim/calibration/validation/": "the validation section of that report",
    "sim/native.py": "chooses between the model's source and a compiled copy of exactly that source, which gives "
    "the same tables byte for byte (tests/test_native.py)",
}


def model_source_files(root: Path | None = None) -> list[str]:
    """The existing files matched by :data:`MODEL_SOURCES`, as sorted POSIX paths relative to ``root``
    (default: the repository). The model's package ``sim/model/`` replaces ``sim/model.py`` when it
    exists (a package shadows a module of the same name on import)."""
    from .core import ROOT

    root = Path(root or ROOT)
    files: set[str] = set()
    for pattern in MODEL_SOURCES:
        files.update(p.relative_to(root).as_posix() for p in root.glob(pattern) if p.is_file())
    if (root / "sim" / "model").is_dir():
        files.discard("sim/model.py")
    return sorted(files)


def model_sources_hash(root: Path | None = None) -> str:
    """SHA-256 over the files that determine the calibration's result (:func:`model_source_files`,
    each as its path then its bytes): when it changes, the committed calibration is stale and should
    be rerun (``tests/test_calibration_slow.py::test_committed_calibration_is_current``)."""
    import hashlib

    from .core import ROOT

    root = Path(root or ROOT)
    h = hashlib.sha256()
    for rel in model_source_files(root):
        h.update(rel.encode())
        h.update(_source_bytes(root / rel))
    return h.hexdigest()


def _source_bytes(path) -> bytes:
    """A file's bytes; for the calibration scenario, its YAML without ``parameter_set`` (canonical
    dump): pointing the shipped scenario at ``calibrated.yaml`` does not change what is calibrated,
    since the calibration itself runs from the defaults (:meth:`Problem.default`)."""
    import yaml

    from .core import PAPER_SCENARIO

    if path.resolve() != PAPER_SCENARIO.resolve():
        return path.read_bytes()
    data = yaml.safe_load(path.read_bytes())
    data.pop("parameter_set", None)
    return yaml.safe_dump(data, sort_keys=True).encode()


def _git_commit() -> str | None:
    import subprocess

    from .core import ROOT

    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _write_outputs(
    d: Path, problem, result, cal, fit, params, prior_pred, post_pred, point_pred, settings, wall
) -> None:
    d.mkdir(parents=True, exist_ok=True)
    result.posterior_frame().to_csv(d / "posterior.csv", index=False, float_format="%.6g")
    result.generations_frame().to_csv(d / "generations.csv", index=False, float_format="%.6g")
    fit.to_csv(d / "fit.csv", index=False, float_format="%.6g")
    params.to_csv(d / "parameters.csv", index=False, float_format="%.6g")
    pred = pd.concat(
        [
            pd.DataFrame(a, columns=problem.ids).assign(predictive=name)
            for name, a in (("prior", prior_pred), ("posterior", post_pred), ("point", point_pred))
        ],
        ignore_index=True,
    )
    pred.to_csv(d / "predictive.csv.gz", index=False, float_format="%.6g", compression={"method": "gzip", "mtime": 0})
    with open(d / "calibrated.yaml", "w", encoding="utf-8") as fh:
        fh.write("# Calibrated parameter set (python cli.py calibrate). Use as a scenario `parameter_set:`.\n")
        yaml.safe_dump(cal, fh, sort_keys=False, width=120, default_flow_style=None)
    outcome = report.CalibrationOutcome.from_result(result)
    report.write_report(d, report.ReportInputs(problem, outcome, fit, params, cal, settings, wall))
