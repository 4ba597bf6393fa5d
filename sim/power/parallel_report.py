"""Presentation of the two-arm cluster trial's power (report.md, power.png, console tables)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..reporting import console, pyplot, rich_table, save_figure
from .analytic import clusters_needed
from .common import PowerError
from .inputs import DesignInputs


def write_power(
    out_dir: Any,
    design: DesignInputs,
    table: pd.DataFrame,
    outcome: str,
    control: float,
    alpha: float,
    replications: int,
    needed: Mapping[str, Any],
) -> None:
    """``power.csv``, ``design_inputs.csv``, ``report.md`` and ``power.png`` into ``out_dir``."""
    from pathlib import Path

    plt = pyplot()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "power.csv", index=False, float_format="%.6g", lineterminator="\n")
    design.table.to_csv(out_dir / "design_inputs.csv", index=False, float_format="%.6g", lineterminator="\n")
    r = design.row(outcome)
    unit = "rate" if r["kind"] == "binary" else "mean"
    lines = [
        f"# Power for a cluster-randomised trial: {outcome} ({r['label']})",
        "",
        f"Scenario `{design.scenario}`, {replications} replications (seed {design.seed}). Communities are "
        f"randomised to peer support or usual care; the peer-support arm's {unit}, attrition, community sizes "
        f"and ICC come from the simulation, the usual-care {unit} ({control:g}) from the user. Two-sided alpha "
        f"{alpha:g}.",
        "",
        "## Design inputs from the simulation",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| peer-support arm {unit} | {r['mean']:.4g}"
        + (f" (SD {r['sd']:.3g})" if r["kind"] == "continuous" else "")
        + " |",
        f"| usual-care {unit} (given) | {control:g} |",
        f"| consumers recruited per community, m | {r['m']:.3g} (CV {r['cv_recruited']:.3g}) |",
        f"| completion (evaluated / recruited) | {r['completion']:.3f} |",
        f"| analysed per community | {r['analysed_per_community']:.3g} (CV {r['cv']:.3g}) |",
        f"| ICC (one-way ANOVA, mean of {r['icc_replications']} replications) | {r['icc']:.4f} "
        f"(raw {r['icc_raw']:.4f} ± {r['icc_mc_se']:.4f} MC SE) |",
        f"| design effect (size-weighted / unweighted) | {table['design_effect'].iloc[0]:.3f} / "
        f"{table['design_effect_unweighted'].iloc[0]:.3f} |",
    ]
    if r["note"]:
        lines.append(f"| note | {r['note']} |")
    lines += [
        "",
        "## Power by clusters per arm",
        "",
        "| clusters per arm | consumers analysed per arm | normal (design effect) | cluster-level t, 2(k-1) df | "
        "simulated cluster-level t ± MC SE |",
        "|---|---|---|---|---|",
    ]
    for _, t in table.iterrows():
        lines.append(
            f"| {t['clusters_per_arm']} | {t['n_per_arm']:.1f} | {t['power_normal']:.3f} | "
            f"{t['power_cluster_t']:.3f} | {t['power_simulated']:.3f} ± {t['mc_se']:.3f} |"
        )
    gap = (table["power_simulated"] - table["power_cluster_t"]).abs() / table["mc_se"].where(table["mc_se"] > 0)
    if (gap > 3).any():
        lines += [
            "",
            "Simulated and analytic cluster-level power differ by more than 3 Monte Carlo SEs at "
            f"{', '.join(str(k) for k in table.loc[gap > 3, 'clusters_per_arm'])} clusters per arm: one ICC and "
            "one CV do not summarise the simulated communities fully (e.g. outcome related to community size, "
            "or distinct kinds of community in the scenario). The simulated figure uses the communities as "
            "simulated.",
        ]
    lines += [
        "",
        "Clusters per arm needed: " + "; ".join(f"{k}: {v}" for k, v in needed.items()) + ".",
        "",
        "## Methods",
        "",
        "- *Normal*: individual-level analysis with the design effect 1 + ((CV² + 1) m - 1) ICC for varying "
        "cluster sizes (analysed size m = recruited × completion), effective n = k m / DE per arm, statsmodels "
        "`NormalIndPower` with Cohen's h (binary) or `TTestIndPower` (continuous).",
        "- *Cluster-level t* (recommended): Student t on the cluster proportions (means), 2(k - 1) df, "
        "noncentral t; the variance of a cluster mean is σ² (ICC + (1 - ICC) E[1/n]) with E[1/n] ≈ (1 + CV²)/m. "
        "With few clusters the normal method overstates power; they agree from about 20 clusters per arm.",
        "- *Simulated*: trials with the peer-support arm resampled from simulated communities and the usual-care "
        "arm drawn with the same cluster sizes and ICC (beta-binomial; normal for scores), analysed with the "
        "cluster-level t; Monte Carlo SE sqrt(p(1 - p)/trials).",
        "- ICC: one-way ANOVA estimator for unequal cluster sizes among evaluated consumers by community, per "
        "replication, averaged over replications (negative averages truncated at 0).",
        "",
    ]
    (out_dir / "report.md").write_text("\n".join(lines), encoding="utf-8")

    fig, ax = plt.subplots(figsize=(6.5, 4))
    k = table["clusters_per_arm"].to_numpy()
    ax.plot(k, table["power_normal"], "o--", label="normal (design effect)")
    ax.plot(k, table["power_cluster_t"], "s-", label="cluster-level t, 2(k-1) df")
    ax.errorbar(
        k, table["power_simulated"], yerr=1.96 * table["mc_se"], fmt="^", capsize=3, label="simulated (± 1.96 MC SE)"
    )
    ax.axhline(0.8, color="grey", lw=0.8, ls=":")
    ax.set_xticks(k)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("communities per arm")
    ax.set_ylabel("power")
    ax.set_title(f"{outcome}: peer support {r['mean']:.3g} vs usual care {control:g}", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    save_figure(fig, out_dir / "power.png", dpi=110)


def write_power_dir(out_dir: Any, *args: Any, force: bool = False, command: str = "", **kwargs: Any) -> None:
    """:func:`write_power` into a temporary folder next to ``out_dir``, then moved into place (an
    existing ``out_dir`` is replaced only by a complete set of files; one this tool did not write only
    with ``force``)."""
    from ..outputs import write_folder

    write_folder(out_dir, lambda tmp: write_power(tmp, *args, **kwargs), force=force, command=command)


def needed_clusters(
    design: DesignInputs, outcome: str, control: float, alpha: float, targets: Sequence[float] = (0.8, 0.9)
) -> dict[str, Any]:
    """Clusters per arm for each target power and method (``"not reached"`` past 10,000)."""
    out: dict[str, Any] = {}
    row = design.row(outcome)
    for target in targets:
        for method, name in (("cluster_t", "cluster-level t"), ("normal", "normal")):
            try:
                out[f"{target:.0%} power, {name}"] = clusters_needed(
                    target, method=method, control=control, design=row, alpha=alpha
                )  # type: ignore[arg-type]
            except PowerError:
                out[f"{target:.0%} power, {name}"] = "not reached"
    return out


def print_power(
    design: DesignInputs, table: pd.DataFrame, outcome: str, control: float, needed: Mapping[str, Any], out_dir: Any
) -> None:
    """Rich tables: the design inputs of every outcome, then the power table of ``outcome``."""
    con = console()
    r = design.row(outcome)
    unit = "rate" if r["kind"] == "binary" else "mean"
    t = rich_table(
        f"Design inputs for {outcome} from {design.scenario} ({int(r['replications'])} replications; "
        "every outcome in design_inputs.csv)",
        ["quantity", "value"],
        left=["quantity"],
    )
    t.add_row(
        f"peer-support arm {unit} (simulated)",
        f"{r['mean']:.3f}" + (f" (SD {r['sd']:.3f})" if r["kind"] != "binary" else ""),
    )
    t.add_row(f"usual-care {unit} (given)", f"{control:g}")
    t.add_row("consumers recruited per community, m (CV)", f"{r['m']:.1f} ({r['cv_recruited']:.2f})")
    t.add_row("completion: evaluated / recruited", f"{r['completion']:.3f}")
    t.add_row("analysed per community (CV)", f"{r['analysed_per_community']:.1f} ({r['cv']:.2f})")
    t.add_row("ICC, one-way ANOVA (± MC SE)", f"{r['icc']:.3f} (raw {r['icc_raw']:.3f} ± {r['icc_mc_se']:.3f})")
    if r["note"]:
        t.add_row("note", str(r["note"]))
    con.print(t)
    t = rich_table(
        f"Power: {outcome}, peer support {r['mean']:.3f} vs usual care {control:g} "
        f"(alpha {table['alpha'].iloc[0]:g}, two-sided)",
        ["clusters/arm", "analysed/arm", "normal (DE)", "cluster t", "simulated ± MC SE"],
    )
    for _, x in table.iterrows():
        t.add_row(
            str(x["clusters_per_arm"]),
            f"{x['n_per_arm']:.0f}",
            f"{x['power_normal']:.3f}",
            f"{x['power_cluster_t']:.3f}",
            f"{x['power_simulated']:.3f} ± {x['mc_se']:.3f}",
        )
    con.print(t)
    con.print("Clusters per arm needed: " + "; ".join(f"{k}: {v}" for k, v in needed.items()))
    con.print(f"Recommended: the cluster-level t (2(k-1) df). Written to [bold]{out_dir}[/bold]")
