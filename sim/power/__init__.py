"""Power for the next trial of the peer-support service, with the hard-to-guess inputs taken from the
simulation (a client of :mod:`sim.runner`; no model code here).

Modules (statistics hold no presentation code):

- :mod:`.common`: the consumer outcomes a trial could compare, :class:`PowerError`;
- :mod:`.inputs`: design inputs of a two-arm cluster trial from simulated studies (sizes, completion,
  ICC; :class:`DesignInputs`);
- :mod:`.process`: what the process adds for rollout designs (attrition by period, the ramp-up after
  a community starts, cluster sizes and ICC by wave);
- :mod:`.analytic`: design effects, the two-arm cluster trial, the stable two-sided noncentral t;
- :mod:`.stepped`: schedules (parallel, stepped-wedge complete / incomplete / batched) and the
  generalised-least-squares and Hussey & Hughes (2007) variances;
- :mod:`.resample`: simulated power of the two-arm trial by resampling simulated communities;
- :mod:`.trials`, :mod:`.fits`: simulated trials of any design and their analyses (cluster-level t,
  MixedLM, GEE with the Mancl-DeRouen correction), fits classified;
- :mod:`.schema`: the design file (``designs/*.yaml``), validated like scenarios;
- :mod:`.evaluate`, :mod:`.search`: power of a design file, searches, curves;
- :mod:`.report`, :mod:`.parallel_report`: report.md, figures, console tables.
"""

from __future__ import annotations

from .analytic import (
    cluster_trial_power,
    clusters_needed,
    design_effect,
    design_effect_unweighted,
    two_sided_t_power,
)
from .commands import check_power_options, run_design_command, run_scenario_command
from .common import LIKERT_RANGE, MAX_CLUSTERS, OUTCOMES, SIMULATED_POWER_STREAM, Kind, PowerError
from .inputs import DesignInputs, anova_icc, design_chunk, design_inputs, reduce_design, simulate_design
from .parallel_report import needed_clusters, print_power, write_power, write_power_dir
from .resample import power_table, simulated_power
from .schema import Design, DesignError, load_design

__all__ = [
    "LIKERT_RANGE",
    "MAX_CLUSTERS",
    "OUTCOMES",
    "SIMULATED_POWER_STREAM",
    "Design",
    "DesignError",
    "DesignInputs",
    "Kind",
    "PowerError",
    "anova_icc",
    "check_power_options",
    "cluster_trial_power",
    "clusters_needed",
    "design_chunk",
    "design_effect",
    "design_effect_unweighted",
    "design_inputs",
    "load_design",
    "needed_clusters",
    "power_table",
    "print_power",
    "reduce_design",
    "run_design_command",
    "run_scenario_command",
    "simulate_design",
    "simulated_power",
    "two_sided_t_power",
    "write_power",
    "write_power_dir",
]
