"""Searches on the analytic power of a resolved design (statistics only): the fewest clusters, the smallest
cluster size and the minimum detectable effect for the target power. Power rises with each of them (the
analytic power of :func:`.evaluate.analytic_power` is monotone in clusters for a fixed schedule shape, in
cluster size and in the effect), so a doubling search followed by bisection finds the smallest value;
:func:`fewest_clusters_linear` is the slow reference the tests compare it with.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .common import MAX_CLUSTERS, PowerError
from .evaluate import Plan, adjusted_alpha, analytic_power


def min_clusters_allowed(plan: Plan) -> int:
    """Fewest clusters the design's schedule can take: four for parallel designs (two per arm, so that the
    cluster-level t has degrees of freedom), one per sequence
    (step x batch, or the rows of an explicit schedule) for a stepped wedge."""
    d = plan.design
    if d.type != "stepped_wedge":
        return 4
    sch = d.schedule
    assert sch is not None
    if sch.steps is not None or sch.clusters_per_step is not None:
        return (sch.steps or len(sch.clusters_per_step or [])) * sch.batches
    return plan.X.shape[0] if sch.matrix is not None else len(set(map(tuple, np.nan_to_num(plan.X, nan=-1))))


def _power_fn(plan: Plan, oi: int) -> Callable[[int], float]:
    o = plan.outcomes[oi]
    alpha = adjusted_alpha(plan.design)
    return lambda k: analytic_power(plan, o, k, plan.m, o.effect, alpha)["power_analytic"]


def smallest_int(power: Callable[[int], float], lo: int, hi: int, target: float) -> int:
    """Smallest integer in [lo, hi] with ``power >= target`` (power increasing); PowerError if none."""
    if power(lo) >= target:
        return lo
    a, b = lo, lo
    while power(b) < target:
        a, b = b, min(2 * b, hi)
        if a == hi:
            raise PowerError(f"target power not reached with {hi}")
    while b - a > 1:
        mid = (a + b) // 2
        a, b = (mid, b) if power(mid) < target else (a, mid)
    return b


def fewest_clusters(plan: Plan, oi: int = 0, target: float | None = None) -> int:
    """Fewest clusters (total) reaching ``target`` (default the design's) for outcome ``oi``."""
    target = plan.design.target_power if target is None else target
    return smallest_int(_power_fn(plan, oi), min_clusters_allowed(plan), MAX_CLUSTERS, target)


def fewest_clusters_linear(plan: Plan, oi: int = 0, target: float | None = None) -> int:
    target = plan.design.target_power if target is None else target
    f = _power_fn(plan, oi)
    for k in range(min_clusters_allowed(plan), MAX_CLUSTERS + 1):
        if f(k) >= target:
            return k
    raise PowerError(f"target power not reached with {MAX_CLUSTERS}")


def smallest_cluster_size(plan: Plan, oi: int = 0, target: float | None = None, max_size: int = 10_000) -> int:
    """Fewest consumers recruited per cluster (whole numbers) reaching ``target`` at the design's clusters."""
    target = plan.design.target_power if target is None else target
    o = plan.outcomes[oi]
    alpha = adjusted_alpha(plan.design)
    return smallest_int(
        lambda m: analytic_power(plan, o, plan.clusters, float(m), o.effect, alpha)["power_analytic"],
        1,
        max_size,
        target,
    )


def minimum_detectable_effect(plan: Plan, oi: int = 0, target: float | None = None, tol: float = 1e-4) -> float:
    """Smallest effect (same sign as the design's) with power ``target`` at the design's clusters and size;
    bounded for binary outcomes by the rate scale."""
    target = plan.design.target_power if target is None else target
    o = plan.outcomes[oi]
    alpha = adjusted_alpha(plan.design)
    sign = 1.0 if o.effect > 0 else -1.0
    hi = (1 - o.control - 1e-6 if sign > 0 else o.control - 1e-6) if o.kind == "binary" else 20 * o.sd

    def f(e: float) -> float:
        return analytic_power(plan, o, plan.clusters, plan.m, sign * e, alpha)["power_analytic"]

    if f(hi) < target:
        raise PowerError(f"{o.name}: target power not reached by any effect on the outcome's scale")
    lo = 0.0
    while hi - lo > tol * max(1.0, hi):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
    return sign * hi


def searches(plan: Plan) -> list[dict]:
    """All three searches for every outcome (``"not reached"`` where the target is out of reach)."""
    out = []
    for oi, o in enumerate(plan.outcomes):
        r: dict = {"outcome": o.name, "target_power": plan.design.target_power}
        for key, fn in (
            ("fewest_clusters", fewest_clusters),
            ("smallest_cluster_size", smallest_cluster_size),
            ("minimum_detectable_effect", minimum_detectable_effect),
        ):
            if key != "minimum_detectable_effect" and plan.design.type == "individual":
                r[key] = "n/a"
                continue
            try:
                r[key] = fn(plan, oi)
            except PowerError:
                r[key] = "not reached"
        out.append(r)
    return out
