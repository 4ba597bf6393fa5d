"""The validation section of ``calibration/report.md`` (markdown lines; no statistics here).

Inputs are the files of a calibration and of ``python -m sim.calibration.validation``: ``fit.csv``
(``in_distance``, ``inside``), ``falsification.csv``, ``lowo.csv`` and a sensitivity study's
``sobol.csv`` (``python cli.py sensitivity``; columns output, parameter, S1, S1_conf, ST, ST_conf).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd


def _num(x: float, nd: int = 2) -> str:
    return "" if x is None or not math.isfinite(float(x)) else f"{float(x):.{nd}f}"


def fit_counts(fit: pd.DataFrame) -> dict[str, int]:
    """Informative (in the distance) and checked-only figures, and how many sit inside their 95%
    posterior-predictive interval."""
    use = fit["in_distance"].astype(bool)
    inside = fit["inside"].astype(bool)
    return {
        "informative": int(use.sum()),
        "informative_inside": int((use & inside).sum()),
        "checked": int((~use).sum()),
        "checked_inside": int((~use & inside).sum()),
    }


def counts_lines(fit: pd.DataFrame) -> list[str]:
    c = fit_counts(fit)
    outside = fit.loc[~fit["inside"].astype(bool), "target"].tolist()
    lines = [
        "### Informative and checked-only figures",
        "",
        f"- **{c['informative_inside']} of {c['informative']} informative figures** (in the calibration distance: "
        "they identify a calibrated parameter) lie inside their 95% posterior-predictive intervals.",
        f"- **{c['checked_inside']} of {c['checked']} checked-only figures** (not in the distance; their level is "
        "set by documented item rates and the exposure chain) lie inside theirs.",
    ]
    if outside:
        lines.append(f"- Outside: {', '.join(f'`{t}`' for t in outside)}.")
    return [*lines, ""]


def falsification_lines(table: pd.DataFrame, calibration_files: str = "", figure: str | None = None) -> list[str]:
    if table is None or table.empty:
        return ["### Falsification", "", "Not run.", ""]
    r = int(table["replications"].iloc[0])
    lines = [
        "### Falsification: can the calibration reject a wrong model?",
        "",
        f"Each row simulates the paper's study {r:,} times (common random numbers: the same seeds for every row) "
        "at the calibrated point or at one deliberately wrong change of it. *Outside* counts the informative "
        "figures whose observed value lies outside that row's central 95% predictive interval. *Joint p* is the "
        "predictive p-value of the calibration distance itself: the share of the row's simulated studies whose "
        "distance from the row's simulated mean is at least the paper's (small = the paper's figures are not "
        "what that model produces); *scaled* uses the same statistic with each figure scaled by the row's own "
        "predictive SD instead of the paper's standard error (a chi-square-type discrepancy, which a model "
        "that is wrong but noisy cannot escape). *Median distance* is the calibration distance (RMS of z over the "
        "informative figures) between a simulated study and the paper, with its 95% range."
        + (f" Calibration used: {calibration_files}." if calibration_files else ""),
        "",
        "| Parameter set | Informative figures outside | Joint p | Joint p, scaled | Median distance (95% range) "
        "| Figures outside |",
        "|---|---|---|---|---|---|",
    ]
    for _, row in table.iterrows():
        outside = str(row["outside_targets"]) if isinstance(row["outside_targets"], str) else ""
        names = ", ".join(f"`{t}`" for t in outside.split(";") if t)
        lines.append(
            f"| {row['label']} | {int(row['outside'])} of {int(row['informative'])} | {_num(row['p_joint'], 3)} | "
            f"{_num(row.get('p_joint_scaled', math.nan), 3)} | "
            f"{_num(row['median_distance'])} ({_num(row['distance_lo'])}-{_num(row['distance_hi'])}) | {names} |"
        )
    if figure:
        lines += ["", f"![Calibration distance per parameter set]({figure})"]
    return [*lines, ""]


def coverage(table: pd.DataFrame) -> pd.DataFrame:
    """Per held-out wave: figures, inside, coverage."""
    g = table.groupby("held_out", sort=False)["inside"]
    return pd.DataFrame({"figures": g.size(), "inside": g.sum().astype(int), "coverage": g.mean()}).reset_index()


def lowo_lines(table: pd.DataFrame | None) -> list[str]:
    head = ["### Leave-one-wave-out", ""]
    if table is None or table.empty:
        return [*head, "Not run (`python -m sim.calibration.validation lowo`).", ""]
    first = table.iloc[0]
    lines = [
        *head,
        f"Calibrated on one wave's figures (the other wave's are dropped from the distance; pooled figures and "
        f"between-wave contrasts stay), reduced budget: population {int(first['fit_population'])}, budget "
        f"{int(first['fit_budget']):,} simulations per fit. Coverage = share of the held-out wave's figures inside "
        "their 95% posterior-predictive interval.",
        "",
        "| Held-out wave | Figures | Inside | Coverage | Outside |",
        "|---|---|---|---|---|",
    ]
    for _, c in coverage(table).iterrows():
        sub = table[(table["held_out"] == c["held_out"]) & ~table["inside"].astype(bool)]
        names = ", ".join(f"`{t}`" for t in sub["target"])
        lines.append(f"| {c['held_out']} | {int(c['figures'])} | {int(c['inside'])} | {c['coverage']:.0%} | {names} |")
    total = table["inside"].astype(bool)
    lines += [
        "",
        f"Overall: {int(total.sum())} of {len(total)} held-out figures inside ({total.mean():.0%}). The intervals "
        "say how sharp the prediction is:",
        "",
        "| Held-out figure | Observed | Predicted median (95% interval) | Fit: generations, simulations |",
        "|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        lines.append(
            f"| `{r['target']}` | {_num(r['observed'])} | {_num(r['median'])} ({_num(r['lo'])}-{_num(r['hi'])}) | "
            f"{int(r['fit_generations'])}, {int(r['fit_simulations']):,} |"
        )
    return [*lines, ""]


def sobol_lines(sobol: pd.DataFrame | None, labels: dict[str, str] | None = None) -> list[str]:
    """Top driver per output (largest total index ST, with its 95% bootstrap interval), then the runner-up."""
    head = ["### Which parameter drives which output (Sobol indices)", ""]
    if sobol is None or sobol.empty:
        return [*head, "Not run (`python cli.py sensitivity SCENARIO`).", ""]
    labels = labels or {}
    lines = [
        *head,
        "Total-order Sobol index ST (share of the output's variance due to the parameter, interactions "
        "included; 95% bootstrap interval) from `python cli.py sensitivity`.",
        "",
        "| Output | Top driver | ST (95% CI) | S1 | Next driver (ST) |",
        "|---|---|---|---|---|",
    ]
    for out, rows in sobol.groupby("output", sort=False):
        ok = rows[rows["ST"].apply(lambda v: math.isfinite(float(v)))].sort_values("ST", ascending=False)
        name = labels.get(out, out)
        if ok.empty:
            lines.append(f"| {name} | not analysed | | | |")
            continue
        top = ok.iloc[0]
        ci = f"{_num(top['ST'])} ({_num(top['ST'] - top['ST_conf'])}-{_num(top['ST'] + top['ST_conf'])})"
        nxt = f"`{ok.iloc[1]['parameter']}` ({_num(ok.iloc[1]['ST'])})" if len(ok) > 1 else ""
        lines.append(f"| {name} | `{top['parameter']}` | {ci} | {_num(top['S1'])} | {nxt} |")
    return [*lines, ""]


def validation_section(
    fit: pd.DataFrame,
    falsification: pd.DataFrame | None = None,
    lowo: pd.DataFrame | None = None,
    sobol: pd.DataFrame | None = None,
    sobol_labels: dict[str, str] | None = None,
    calibration_files: str = "",
    figure: str | None = None,
) -> list[str]:
    """The whole section: counts, falsification (``figure``: path of ``falsification.png`` as the
    report should link it), leave-one-wave-out, Sobol drivers."""
    note = []
    if falsification is not None and not falsification.empty:
        n_fit, n_fal = fit_counts(fit)["informative"], int(falsification["informative"].iloc[0])
        if n_fit != n_fal:
            note = [
                f"*Note: the falsification used {n_fal} informative figures (the current `calibration/priors.yaml` and "
                f"`targets.yaml`) but `fit.csv` has {n_fit}: the calibration predates them; recalibrate.*",
                "",
            ]
    return [
        "## Validation: informative figures, falsification, leave-one-wave-out, sensitivity",
        "",
        *counts_lines(fit),
        *note,
        *falsification_lines(falsification, calibration_files, figure),
        *lowo_lines(lowo),
        *sobol_lines(sobol, sobol_labels),
    ]


def _read(path: Path | None) -> pd.DataFrame | None:
    return pd.read_csv(path) if path is not None and Path(path).is_file() else None


def section_from_files(calibration_dir: Path, validation_dir: Path, sobol_csv: Path | None = None) -> list[str]:
    """:func:`validation_section` from files (missing optional files: 'Not run')."""
    calibration_dir, validation_dir = Path(calibration_dir), Path(validation_dir)
    sobol = _read(sobol_csv)
    labels = None
    if sobol_csv is not None:
        outputs = _read(Path(sobol_csv).with_name("outputs.csv"))
        if outputs is not None and {"output", "label"} <= set(outputs.columns):
            labels = dict(zip(outputs["output"], outputs["label"], strict=False))
    png = validation_dir / "falsification.png"
    figure = None
    if png.is_file():
        try:
            figure = png.resolve().relative_to(calibration_dir.resolve()).as_posix()
        except ValueError:
            figure = png.resolve().as_posix()
    return validation_section(
        pd.read_csv(calibration_dir / "fit.csv"),
        _read(validation_dir / "falsification.csv"),
        _read(validation_dir / "lowo.csv"),
        sobol,
        labels,
        # named from the folder that holds it, so the text does not depend on where the repository is
        calibration_files=f"`{calibration_dir.resolve().name}/calibrated.yaml`",
        figure=figure,
    )
