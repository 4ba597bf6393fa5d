"""Is a scenario the paper's study? Decided by its structure, never by its file or scenario name.

The paper (Fan et al. 2019, Methods, 'Participants' and 'Procedure') ran two waves in Chaoyang
District: an *initial* wave of two communities with unstructured scheduling, evaluated at 18 months,
and a *later* wave of two communities with a fixed timetable, evaluated at 12 months; 7 and 6
providers, 32 and 22 consumers (Results, 'Participant characteristics and response rates':
``sim.instruments.PAPER_RETENTION``). A scenario is the paper's study, or one of its waves run
alone (``scenarios/initial_wave.yaml``, ``scenarios/later_wave.yaml``), when each of its waves is
one of these two with the same follow-up, the same number of communities and scheduling, and the
same numbers of providers and consumers recruited, and it adds no open caseload or staff pipeline
(which would make it a different service). Only then do the paper's printed figures belong beside
the simulated ones.
"""

from __future__ import annotations

from typing import Any

from .. import instruments as ins

# wave -> (follow-up months, communities, scheduling) from the paper's Methods.
PAPER_WAVES: dict[str, tuple[float, int, str]] = {
    "initial": (18.0, 2, "unstructured"),  # 'their evaluation was postponed to 18 months'
    "later": (12.0, 2, "structured"),  # '12 months for the later two communities'
}
PLANNING_SECTIONS = ("caseload", "staff_pipeline")  # an open service is not the study


def is_paper_study(scenario: Any) -> bool:
    """True when ``scenario`` (a validated :class:`sim.scenario.Scenario`) is the paper's study or
    one of its two waves run alone (see the module docstring)."""
    waves = dict(getattr(scenario, "waves", {}) or {})
    if not waves or not set(waves) <= set(PAPER_WAVES):
        return False
    if any(getattr(scenario, s, None) is not None for s in PLANNING_SECTIONS):
        return False
    communities = scenario.expanded_communities()
    for name, (months, n, scheduling) in PAPER_WAVES.items():
        if name not in waves:
            continue
        cs = [c for c in communities if c.wave == name]
        if abs(float(waves[name].follow_up_months) - months) > 1e-9 or len(cs) != n:
            return False
        if any(c.scheduling != scheduling for c in cs):
            return False
        if sum(c.providers for c in cs) != ins.PAPER_RETENTION[("provider", name)][1]:
            return False
        if sum(c.consumers for c in cs) != ins.PAPER_RETENTION[("consumer", name)][1]:
            return False
    return True
