"""Planner statistics (no presentation): resource use, utilisation, bottlenecks and costs.

- :mod:`sim.planning.resources`: ``resource_use(frames)`` (resources.csv), ``utilisation``,
  ``trainer_utilisation``, ``lost_by_cause`` and ``bottlenecks``;
- :mod:`sim.planning.cost_spec`: ``CostSpec``, the scenario's ``costs:`` section;
- :mod:`sim.planning.costs`: ``costs(frames, spec)``, ``cost_by_month``, ``cost_per_replication`` and
  ``cost_summary``;
- :mod:`sim.planning.cost_effectiveness`: incremental cost and effect of paired replications, ICER or
  dominance (``incremental``, ``classify``) and the acceptability curve (``ceac``), used by ``sim.compare``.
"""
