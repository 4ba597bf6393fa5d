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
    return all(_wave_is_the_papers(name, waves[name], [c for c in communities if c.wave == name]) for name in waves)


def _wave_is_the_papers(name: str, wave: Any, communities: list[Any]) -> bool:
    """The wave ``name`` has the paper's follow-up, communities, scheduling and recruits."""
    months, n, scheduling = PAPER_WAVES[name]
    if abs(float(wave.follow_up_months) - months) > 1e-9 or len(communities) != n:
        return False
    if any(c.scheduling != scheduling for c in communities):
        return False
    providers, consumers = (ins.PAPER_RETENTION[(role, name)][1] for role in ("provider", "consumer"))
    return sum(c.providers for c in communities) == providers and sum(c.consumers for c in communities) == consumers
