"""Small scenarios several test files share."""

from __future__ import annotations

from sim.datasets import to_frames
from sim.model import simulate_replication
from sim.scenario import scenario_from_dict


def open_caseload_frames(reps: int = 3) -> dict:
    """The tables of ``reps`` replications of two small communities with an open caseload (3 referrals a
    month, 4 consumers per provider) whose services run 6 months past the 12-month follow-up, so that
    consumers.csv lists people still waiting at follow-up and people referred after it."""
    sc = scenario_from_dict(
        {
            "name": "open",
            "seed": 3,
            "horizon_months": 18,
            "waves": {"w": {"follow_up_months": 12}},
            "communities": [
                {"name": "A", "wave": "w", "scheduling": "structured", "providers": 2, "consumers": 6, "copies": 2}
            ],
            "caseload": {"referrals_per_month": 3, "consumers_per_provider": 4},
        }
    )
    return to_frames([simulate_replication(sc, r) for r in range(reps)])
