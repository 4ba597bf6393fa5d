"""Planning a scale-up: statistics a district planner reads (no presentation code).

- :mod:`sim.planning.resources`: ``resource_use(frames)`` (resources.csv), ``utilisation``,
  ``trainer_utilisation``, ``lost_by_cause`` and ``bottlenecks``;
- :mod:`sim.planning.costs`: ``CostSpec`` (the scenario's ``costs:`` section), ``costs(frames, spec)``,
  ``cost_by_month``, ``cost_per_replication`` and ``cost_summary``;
- :mod:`sim.planning.paper`: is a scenario the paper's study (or one of its waves)?
- :mod:`sim.planning.tables`: per-replication monthly series aggregated by wave and setting, and
  per-replication totals, computed chunk by chunk (:func:`sim.planning.tables.planning_chunk`);
- :mod:`sim.planning.summary`: :class:`sim.planning.summary.PlanningAccumulator` gives their means and
  95% intervals over replications in memory flat in the replications.

The planner's report built on them is :mod:`sim.reporting.planning`.
"""
