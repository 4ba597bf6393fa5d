"""How much of a scenario difference comes from parameter uncertainty, how much from chance.

``compare --parameter-uncertainty`` runs a nested design: ``draws`` parameter draws (the calibration
posterior plus the unidentified assumptions from their priors, ``sim.calibration.posterior``), each
with ``reps_per_draw`` replications that differ in their random numbers. Replication ``r`` uses draw
``r // reps_per_draw`` and the random numbers of replication ``r`` in *every* scenario (common draws
as well as common random numbers), so the paired difference ``D_r`` of a scenario from the baseline
varies for two reasons: which parameter set is true (between draws) and chance (within a draw).

The split is a one-way random-effects analysis of variance of ``D`` with the draw as the group
(Searle, Casella & McCulloch, *Variance Components*, 1992, ch. 3): with ``a`` groups of sizes
``n_i`` (``N`` in all), MSB = sum n_i (mean_i - mean)^2 / (a - 1), MSW = sum (D - mean_i)^2 / (N - a)
and n0 = (N - sum n_i^2 / N) / (a - 1), the within-draw (noise) variance is MSW and the between-draw
(parameter) variance is max(0, (MSB - MSW) / n0); E[MSB] = sigma_noise^2 + n0 sigma_param^2. The
parameter share is sigma_param^2 / (sigma_param^2 + sigma_noise^2), the share of the spread of one
replication's difference that would vanish if the parameters were known. The mean difference's 95%
interval uses the ``a`` draw means (t with a - 1 degrees of freedom), since replications of one
draw are not independent. Statistics only: the presentation is in :func:`write_uncertainty`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .compare import OUTPUTS, CompareOptions, Comparison, run_comparison, verdicts
from .reporting import pyplot, save_figure

MIN_STABLE_DRAWS = 20  # below this the between-draw variance has under 19 degrees of freedom: say so

#: Columns :func:`decompose` adds to the comparison table (one row per scenario x output).
COLUMNS = (
    "draws",
    "reps_per_draw",
    "var_parameter",
    "var_noise",
    "share_parameter",
    "share_noise",
)


def variance_components(y: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """One-way random-effects ANOVA of ``y`` by ``groups`` (NaN values dropped): the between-group
    (``var_parameter``) and within-group (``var_noise``) variance components, the parameter share,
    and the 95% t interval of the mean over group means (``mean``, ``ci_low``, ``ci_high``)."""
    y, groups = np.asarray(y, dtype=float), np.asarray(groups)
    keep = ~np.isnan(y)
    y, groups = y[keep], groups[keep]
    out = dict.fromkeys(("mean", "ci_low", "ci_high", "var_parameter", "var_noise", "share_parameter"), np.nan)
    if len(y) == 0:
        return out
    keys, inv, n_i = np.unique(groups, return_inverse=True, return_counts=True)
    a, n = len(keys), len(y)
    means = np.bincount(inv, weights=y) / n_i
    out["mean"] = float(means.mean())
    if a >= 2:
        h = float(stats.t.ppf(0.975, a - 1) * means.std(ddof=1) / np.sqrt(a))
        out["ci_low"], out["ci_high"] = out["mean"] - h, out["mean"] + h
    if a < 2 or n <= a:
        return out
    grand = y.mean()
    msb = float(np.sum(n_i * (means - grand) ** 2) / (a - 1))
    msw = float(np.sum((y - means[inv]) ** 2) / (n - a))
    n0 = (n - np.sum(n_i**2) / n) / (a - 1)
    vb = max(0.0, (msb - msw) / n0)
    out["var_parameter"], out["var_noise"] = vb, msw
    total = vb + msw
    out["share_parameter"] = vb / total if total > 0 else np.nan
    return out


def decompose(names: Sequence[str], per_rep: pd.DataFrame, reps_per_draw: int) -> pd.DataFrame:
    """Per scenario (after the baseline) and output: the split of the paired difference's variance
    (:func:`variance_components`, draw = replication // reps_per_draw) and its interval over draws."""
    base = per_rep[per_rep["scenario"] == names[0]].set_index("replication").sort_index()
    rows = []
    for name in names[1:]:
        cur = per_rep[per_rep["scenario"] == name].set_index("replication").sort_index()
        groups = cur.index.to_numpy() // int(reps_per_draw)
        for col in OUTPUTS:
            c = variance_components((cur[col] - base[col]).to_numpy(dtype=float), groups)
            rows.append(
                {
                    "scenario": name,
                    "output": col,
                    "draws": len(np.unique(groups)),
                    "reps_per_draw": int(reps_per_draw),
                    "var_parameter": c["var_parameter"],
                    "var_noise": c["var_noise"],
                    "share_parameter": c["share_parameter"],
                    "share_noise": 1 - c["share_parameter"],
                    "diff_ci_low": c["ci_low"],
                    "diff_ci_high": c["ci_high"],
                }
            )
    return pd.DataFrame(rows)


def with_decomposition(comp: Comparison, reps_per_draw: int) -> Comparison:
    """The comparison with :data:`COLUMNS` added, and the differences' intervals and verdicts taken
    over draw means (replications sharing a draw are not independent)."""
    dec = decompose(comp.names, comp.per_replication, reps_per_draw)
    t = comp.table.drop(columns=[c for c in COLUMNS if c in comp.table.columns])
    t = t.merge(dec, on=["scenario", "output"], how="left", suffixes=("", "_draws"))
    has = t["diff_ci_low_draws"].notna() | t["diff_ci_high_draws"].notna()
    for k in ("diff_ci_low", "diff_ci_high"):
        t.loc[has, k] = t.loc[has, k + "_draws"]
    t = t.drop(columns=["diff_ci_low_draws", "diff_ci_high_draws"])
    t.loc[has, "verdict"] = verdicts(t)[has]
    return Comparison(comp.names, comp.per_replication, t, comp.effect, comp.currency, reps_per_draw, comp.wtp_max)


def compare_with_parameter_uncertainty(
    scenarios: Sequence[Any], draws: Sequence[Any], replications: int, seed: int, options: CompareOptions | None = None
) -> Comparison:
    """:func:`sim.compare.compare_scenarios` with parameter uncertainty: ``draws[i]`` (a
    :class:`sim.calibration.posterior.PosteriorDraws` for scenario ``i``, all with root ``seed`` and
    one ``reps_per_draw``) gives replication ``r`` its parameter set; the replications are the same
    in every scenario. Returns the comparison with the decomposition (:func:`with_decomposition`)."""
    k = {int(d.reps_per_draw) for d in draws}
    if len(k) != 1:
        raise ValueError(f"every scenario's draws must share one reps_per_draw, got {sorted(k)}")
    reps_per_draw = k.pop()
    if reps_per_draw < 2 or replications < 2 * reps_per_draw or replications % reps_per_draw:
        raise ValueError(
            f"replications ({replications}) must be a multiple of reps_per_draw ({reps_per_draw}) with at least "
            "two draws, and reps_per_draw at least 2"
        )
    comp = run_comparison(scenarios, replications, seed, options or CompareOptions(), draws)
    return with_decomposition(comp, reps_per_draw)


# ---------------------------------------------------------------------------------------------
# Presentation
# ---------------------------------------------------------------------------------------------
def sentence(share_parameter: float) -> str:
    """The planner's reading of one parameter share."""
    if not np.isfinite(share_parameter):
        return "the difference does not vary, so there is nothing to split"
    p = round(100 * float(share_parameter))
    return (
        f"of the spread of this difference, about {p}% comes from what we do not know about the parameters, "
        f"{100 - p}% from chance"
    )


def report_section(comp: Comparison) -> list[str]:
    """Markdown lines: per scenario, each output's difference and where its spread comes from."""
    t, base = comp.table, comp.names[0]
    first = t[t["scenario"] != base].iloc[0]
    lines = [
        "## Parameter uncertainty versus chance",
        "",
        f"Run with --parameter-uncertainty: {int(first['draws'])} parameter draws (calibration posterior, and the "
        f"unidentified assumptions from their priors in calibration/assumption_priors.yaml) x "
        f"{int(first['reps_per_draw'])} replications each. Replication r uses the same parameter draw and the same "
        "random numbers in every scenario. The difference intervals above are taken over the draw means. A one-way "
        "random-effects analysis of variance of each paired difference (draw = group) splits its spread into what "
        "we do not know about the parameters (between draws) and chance (within a draw).",
        "",
    ]
    if int(first["draws"]) < MIN_STABLE_DRAWS:
        lines += [
            f"With fewer than {MIN_STABLE_DRAWS} draws the split is rough: raise --reps (or lower --reps-per-draw).",
            "",
        ]
    for name in comp.names[1:]:
        lines += [f"### {name} vs {base}", "", "| output | parameters | chance | reading |", "|---|---|---|---|"]
        for col, (label, _) in OUTPUTS.items():
            r = t[(t["scenario"] == name) & (t["output"] == col)].iloc[0]
            sp = float(r["share_parameter"])
            cells = (f"{sp:.0%}", f"{1 - sp:.0%}") if np.isfinite(sp) else ("-", "-")
            lines.append(f"| {label} | {cells[0]} | {cells[1]} | {sentence(sp)} |")
        lines.append("")
    lines.append(
        "A share near 100% means more replications will not settle the question; better knowledge of the "
        "parameters would. A share near 0% means the answer is robust to what we do not know."
    )
    return lines


def write_uncertainty(comp: Comparison, out_dir: Path) -> None:
    """Add the decomposition to ``report.md`` (written by :func:`sim.reporting.compare.write_comparison`) and
    draw ``uncertainty.png`` (stacked shares per output and scenario)."""
    plt = pyplot()
    report = out_dir / "report.md"
    text = report.read_text(encoding="utf-8") if report.exists() else ""
    report.write_text(text.rstrip("\n") + "\n\n" + "\n".join(report_section(comp)) + "\n", encoding="utf-8")
    others = comp.names[1:]
    fig, axes = plt.subplots(1, len(others), figsize=(6 * len(others), 0.35 * len(OUTPUTS) + 1.2), squeeze=False)
    for ax, name in zip(axes[0], others, strict=True):
        t = comp.table[comp.table["scenario"] == name].set_index("output").loc[list(OUTPUTS)]
        y = np.arange(len(t))
        sp = t["share_parameter"].to_numpy(dtype=float)
        ax.barh(y, sp, color="tab:orange", label="parameters")
        ax.barh(y, 1 - sp, left=sp, color="tab:blue", label="chance")
        ax.set_yticks(y, [OUTPUTS[o][0] for o in t.index], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of the difference's variance")
        ax.set_title(f"{name} vs {comp.names[0]}", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save_figure(fig, out_dir / "uncertainty.png", dpi=110)
