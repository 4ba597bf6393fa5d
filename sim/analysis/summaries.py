"""Fast per-replication summaries of the paper's reported figures, for calibration
(``sim/calibration/``, ``calibration/report.md``).

``paper_summaries(frames)`` returns one row per replication (index ``replication``) and one
column per figure, computed with vectorised grouped statistics (``sim.analysis.grouped``: no
per-replication Python loop), so it can
be called on 10^4-10^5 replications. Column names are stable; ``<wave>`` is a wave name from the
data (the paper's ``initial`` and ``later``), ``<role>`` is ``provider`` or ``consumer``.

Counts are of "yes" among evaluated persons (blank answers are not counted); means and SDs (ddof 1)
are over those who answered. Paper source in brackets.

- ``retention.<role>.<wave>.recruited`` / ``.retained`` / ``.evaluated`` [Results, response rates:
  7/7, 5/6, 26/32, 16/22]
- ``evaluated.<role>`` [n = 12 providers, 42 consumers]
- ``provider.<item>.yes`` for ``sat_overall``, ``qualified``, ``stressful``, ``willing_continue``
  [Table 2], ``stress_poor_organizing``, ``stress_lack_confidence``, ``stress_topic_difficulty``
  [Results text] and the 14 Table 3 items ``ben_*``, ``others_*``
- ``provider.<likert>.mean`` / ``.sd`` for ``sat_time`` ... ``sat_rel_doctors`` [Table 2]
- ``provider.confidence.n`` / ``.mean`` / ``.sd`` and ``provider.confidence.mean.<wave>``
  [Table 2: 7.13 (2.366), n = 8; later 7.80]
- ``consumer.<item>.yes`` for ``sat_overall``, ``willing_continue`` [Table 4] and Table 3 items
- ``consumer.<likert>.mean`` / ``.sd`` for ``sat_competence`` ... ``sat_richness`` [Table 4]
- ``consumer.ben_mood.yes.<wave>`` [Results: 10 of 26 initial, 13 of 16 later]
- ``consumer.sat_punctuality.t`` / ``consumer.sat_richness.t``: first wave minus second, by the
  paper's rule (Welch when Levene p < 0.05, else Student; see ``stats.T_RULE``) [S4: -3.348,
  -2.853]; ``.t_student`` and ``.t_welch`` give both variants. Blank when not computable
  (fewer than two answers in a wave or no variation); present only with two or more waves.
- ``caregiver.n``, ``caregiver.female``, ``caregiver.age.mean``, ``caregiver.of_provider``,
  ``caregiver.of_consumer``, ``caregiver.<item>.yes`` for the attitude, member-benefit
  (``member_ben_*``) and self-benefit (``self_*``) items [Results, "Caregivers"]
- ``sessions.held`` (held before follow-up) [214], ``sessions.group_share`` [0.986],
  ``sessions.share.<category>`` for the eight content categories [top three 0.19, 0.16, 0.15]
  (when a sessions frame is given).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import prep as P
from . import stats as S
from .grouped import Grouped, matrix

T_ITEMS = ("sat_punctuality", "sat_richness")


def _cols(df: pd.DataFrame, items) -> list[str]:
    return [c for c in items if c in df.columns]


def paper_summaries(frames: dict[str, pd.DataFrame] | P.Prepared) -> pd.DataFrame:
    """One row per replication, one column per summary (see module docstring for the names)."""
    pr = frames if isinstance(frames, P.Prepared) else P.prepare(_slim(frames))
    reps = pd.Index(pr.replications, name="replication")
    out: dict[str, np.ndarray] = {}
    per = pr.persons
    waves = list(pr.waves)
    if len(per):
        out.update(_retention(per, reps, waves))
        ev = per[per["evaluated"].to_numpy() == 1]
        role = ev["role"].to_numpy(dtype=object)
        for r in ("provider", "consumer"):
            out[f"evaluated.{r}"] = _by_rep(ev[role == r], reps).size.astype(float)
        out.update(_provider(ev[role == "provider"], reps, waves))
        out.update(_consumer(ev[role == "consumer"], reps, waves))
    if pr.caregivers is not None and len(pr.caregivers):
        out.update(_caregiver(pr.caregivers, reps))
    if pr.sessions is not None and len(pr.sessions):
        out.update(_session(pr.sessions, reps))
    return pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in out.items()}, index=reps)


def _by_rep(df: pd.DataFrame, reps: pd.Index, groups: list | None = None, col: str | None = None) -> Grouped:
    """Rows grouped by replication (or by replication x ``df[col]`` in ``groups``)."""
    if groups is None:
        return Grouped.of(df["replication"].to_numpy(), reps.to_numpy(), np.zeros(len(df), dtype=object), [0])
    return Grouped.of(df["replication"].to_numpy(), reps.to_numpy(), df[col].to_numpy(dtype=object), groups)


def _x(df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    return matrix(df, cols)


def _retention(per: pd.DataFrame, reps: pd.Index, waves: list[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    role = per["role"].to_numpy(dtype=object)
    for r in ("provider", "consumer"):
        x = per[role == r]
        g = _by_rep(x, reps, waves, "wave")
        stats = {"recruited": g.size.astype(float), "evaluated": g.sum(_x(x, ["evaluated"]))[:, 0]}
        if "retained" in per.columns:
            stats["retained"] = g.sum(_x(x, ["retained"]))[:, 0]
        for k, w in enumerate(waves):
            for stat, v in stats.items():
                out[f"retention.{r}.{w}.{stat}"] = v.reshape(len(reps), len(waves))[:, k]
    return out


def _provider(prov: pd.DataFrame, reps: pd.Index, waves: list[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    g = _by_rep(prov, reps)
    pb = _cols(prov, P.PROVIDER_BINARY + P.STRESS + P.BENEFITS)
    for c, v in zip(pb, g.sum(_x(prov, pb)).T, strict=True):
        out[f"provider.{c}.yes"] = v
    pl = _cols(prov, tuple(c for c in P.PROVIDER_LIKERT if c != "confidence"))
    m, sd = g.mean(_x(prov, pl)), g.std(_x(prov, pl))
    for k, c in enumerate(pl):
        out[f"provider.{c}.mean"], out[f"provider.{c}.sd"] = m[:, k], sd[:, k]
    if "confidence" in prov.columns:
        conf = _x(prov, ["confidence"])
        out["provider.confidence.n"] = g.count(conf)[:, 0]
        out["provider.confidence.mean"] = g.mean(conf)[:, 0]
        out["provider.confidence.sd"] = g.std(conf)[:, 0]
        by_wave = _by_rep(prov, reps, waves, "wave").mean(conf)[:, 0].reshape(len(reps), len(waves))
        for k, w in enumerate(waves):
            out[f"provider.confidence.mean.{w}"] = by_wave[:, k]
    return out


def _consumer(cons: pd.DataFrame, reps: pd.Index, waves: list[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    g = _by_rep(cons, reps)
    cb = _cols(cons, P.CONSUMER_BINARY + P.BENEFITS)
    for c, v in zip(cb, g.sum(_x(cons, cb)).T, strict=True):
        out[f"consumer.{c}.yes"] = v
    cl = _cols(cons, P.CONSUMER_LIKERT)
    m, sd = g.mean(_x(cons, cl)), g.std(_x(cons, cl))
    for k, c in enumerate(cl):
        out[f"consumer.{c}.mean"], out[f"consumer.{c}.sd"] = m[:, k], sd[:, k]
    if "ben_mood" in cons.columns:
        mood = _by_rep(cons, reps, waves, "wave").sum(_x(cons, ["ben_mood"]))[:, 0].reshape(len(reps), len(waves))
        for k, w in enumerate(waves):
            out[f"consumer.ben_mood.yes.{w}"] = mood[:, k]
    if len(waves) >= 2:
        out.update(_wave_t(cons, reps, waves[0], waves[1]))
    return out


def _caregiver(cg: pd.DataFrame, reps: pd.Index) -> dict[str, np.ndarray]:
    part = cg[cg["participated"].to_numpy() == 1]
    g = _by_rep(part, reps)
    out = {
        "caregiver.n": g.size.astype(float),
        "caregiver.female": g.sum((part["gender"] == "female").to_numpy(dtype=float))[:, 0],
        "caregiver.age.mean": g.mean(_x(part, ["age"]))[:, 0],
    }
    for role in ("provider", "consumer"):
        out[f"caregiver.of_{role}"] = g.sum((part["member_role"] == role).to_numpy(dtype=float))[:, 0]
    cb = _cols(part, P.CAREGIVER_BINARY)
    for c, v in zip(cb, g.sum(_x(part, cb)).T, strict=True):
        out[f"caregiver.{c}.yes"] = v
    return out


def _session(ss: pd.DataFrame, reps: pd.Index) -> dict[str, np.ndarray]:
    from .. import instruments as ins

    held = ss[(ss["status"] == "held").to_numpy(dtype=bool) & (ss["before_follow_up"] == 1).to_numpy(dtype=bool)]
    g = _by_rep(held, reps)
    n = g.size.astype(float)
    nz = np.where(n > 0, n, np.nan)
    out = {
        "sessions.held": n,
        "sessions.group_share": g.sum((held["format"] == "group").to_numpy(dtype=float))[:, 0] / nz,
    }
    cats = list(ins.CONTENT_CATEGORIES)
    ct = g.level_counts(held["content"].to_numpy(dtype=object), cats)
    for k, c in enumerate(cats):
        out[f"sessions.share.{c}"] = ct[:, k] / nz
    return out


_PERSON_COLS = (
    "replication",
    "role",
    "wave",
    "evaluated",
    "retained",
    "recruited_day",
    *P.PROVIDER_BINARY,
    *P.STRESS,
    *P.BENEFITS,
    *P.PROVIDER_LIKERT,
    *P.CONSUMER_BINARY,
    *P.CONSUMER_LIKERT,
)
_KEEP = {
    "providers": _PERSON_COLS,
    "consumers": _PERSON_COLS,
    **P.READ_COLUMNS,
}


def _slim(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Only the columns the summaries read (filtering wide frames of 10^5 replications is the cost)."""
    return {
        k: (v[[c for c in v.columns if c in _KEEP[k]]] if k in _KEEP else v) for k, v in frames.items() if k in _KEEP
    }


def _wave_t(cons: pd.DataFrame, reps: pd.Index, w1: str, w2: str) -> dict[str, np.ndarray]:
    """Between-wave t statistics (w1 minus w2) of the consumer items of Table S4, vectorised."""
    items = _cols(cons, T_ITEMS)
    g = _by_rep(cons, reps, [w1, w2], "wave")
    X = _x(cons, items)
    dev = np.abs(X - g.transform_mean(X))
    mom = [g.count(X), g.mean(X), g.var(X), g.mean(dev), g.var(dev)]
    out = {}
    for k, c in enumerate(items):
        n1, n2, m1, m2, v1, v2, am1, am2, av1, av2 = (x[:, k].reshape(-1, 2)[:, i] for x in mom for i in (0, 1))
        lp = S.levene_from_moments(n1, am1, av1, n2, am2, av2)
        for suffix, method in (("t", "t"), ("t_student", "student"), ("t_welch", "welch")):
            r = S.t_tests(n1, m1, v1, n2, m2, v2, lp if method == "t" else None, method)
            out[f"consumer.{c}.{suffix}"] = np.asarray(r["statistic"], dtype=float)
    return out
