"""How many replications? The replications algorithm of Hoad, Robinson and Davies (2010).

Hoad K, Robinson S, Davies R (2010). Automated selection of the number of replications for a
discrete-event simulation. Journal of the Operational Research Society 61:1632-1644.

Replications are added one at a time (in replication order, so the answer never depends on how
they were computed). For each key output the relative half-width of the 95% confidence interval of
its mean, ``d_n = t(0.975, n - 1) * s_n / sqrt(n) / |mean_n|``, is tracked. The first ``n`` at which
``d_n`` meets the precision is a candidate ``Nsol``; it is accepted once it has stayed met for a
look-ahead of ``kLimit`` further replications (``kLimit = look_ahead`` up to n = 100, then
``floor(look_ahead * n / 100)``), otherwise the search goes on from the failure. With several key
outputs, the answer is the largest candidate, found at the first ``n`` where every output's candidate
has survived its look-ahead, so every output meets the precision at the answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from scipy import stats


class Welford:
    """Running mean and variance (Welford's online algorithm)."""

    __slots__ = ("_m2", "mean", "n")

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self._m2 = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self._m2 += delta * (x - self.mean)

    @property
    def variance(self) -> float:
        return self._m2 / (self.n - 1) if self.n > 1 else math.nan

    @property
    def std(self) -> float:
        return math.sqrt(self.variance) if self.n > 1 else math.nan

    def half_width(self, alpha: float = 0.05) -> float:
        if self.n < 2:
            return math.inf
        return float(stats.t.ppf(1 - alpha / 2, self.n - 1)) * self.std / math.sqrt(self.n)

    def relative_half_width(self, alpha: float = 0.05) -> float:
        hw = self.half_width(alpha)
        if hw == 0.0:
            return 0.0
        if self.mean == 0.0 or not math.isfinite(hw):
            return math.inf
        return hw / abs(self.mean)


def look_ahead_for(n: int, look_ahead: int = 5) -> int:
    """HRD's ``f(kLimit, n)``: ``kLimit`` up to 100 replications, then ``floor(kLimit * n / 100)``."""
    return look_ahead if n <= 100 else (look_ahead * n) // 100


@dataclass
class ReplicationsAlgorithm:
    """Feed per-replication key outputs in replication order with :meth:`add`; stop when
    :attr:`solved`; the answer is :attr:`solution` (``None`` until solved).

    ``precision`` is the relative half-width of the ``1 - alpha`` confidence interval (0.05 = 5%).
    Non-finite values (e.g. a proportion of nobody) are skipped for that output.
    """

    outputs: tuple[str, ...]
    precision: float = 0.05
    alpha: float = 0.05
    initial: int = 3
    look_ahead: int = 5
    n: int = 0
    solution: int | None = None
    stats: dict[str, Welford] = field(default_factory=dict)
    candidate: dict[str, int | None] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 < self.precision < 1:
            raise ValueError(f"precision must be between 0 and 1, got {self.precision}")
        self.initial = max(int(self.initial), 2)
        self.stats = {o: Welford() for o in self.outputs}
        self.candidate = dict.fromkeys(self.outputs)

    @property
    def solved(self) -> bool:
        return self.solution is not None

    def add(self, values: Mapping[str, float]) -> bool:
        """Add one replication's key outputs; returns :attr:`solved`."""
        if self.solved:
            return True
        self.n += 1
        rhw: dict[str, float] = {}
        for o in self.outputs:
            x = float(values[o])
            w = self.stats[o]
            if math.isfinite(x):
                w.add(x)
            d = w.relative_half_width(self.alpha) if w.n >= self.initial else math.inf
            rhw[o] = d
            if d <= self.precision:
                if self.candidate[o] is None:
                    self.candidate[o] = self.n
            else:
                self.candidate[o] = None
        self.history.append(rhw)
        cands = self.candidate
        if all(c is not None and self.n >= c + look_ahead_for(c, self.look_ahead) for c in cands.values()):
            self.solution = max(c for c in cands.values() if c is not None)
        return self.solved

    def relative_half_widths(self, n: int | None = None) -> dict[str, float]:
        """Relative half-widths after ``n`` replications (default: the solution, else the last)."""
        n = n or self.solution or self.n
        return dict(self.history[n - 1]) if n and n <= len(self.history) else dict.fromkeys(self.outputs, math.inf)
