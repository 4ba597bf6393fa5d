"""Planner statistics (no presentation): resource use, utilisation, bottlenecks and costs.

- :mod:`sim.planning.resources`: ``resource_use(frames)`` (resources.csv), ``utilisation``,
  ``trainer_utilisation``, ``lost_by_cause`` and ``bottlenecks``;
- :mod:`sim.planning.costs`: ``CostSpec`` (the scenario's ``costs:`` section), ``costs(frames, spec)``,
  ``cost_by_month``, ``cost_per_replication`` and ``cost_summary``.
"""
