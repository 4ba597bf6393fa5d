"""Fast per-replication summaries of the paper's reported figures, for calibration
(``sim/calibration/``, ``calibration/report.md``).

``paper_summaries(frames)`` returns one row per replication (index ``replication``) and one
column per figure, computed with vectorised ``groupby`` (no per-replication Python loop), so it can
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

import pandas as pd

from . import prep as P
from . import stats as S

T_ITEMS = ("sat_punctuality", "sat_richness")


def _cols(df: pd.DataFrame, items) -> list[str]:
    return [c for c in items if c in df.columns]


def paper_summaries(frames: dict[str, pd.DataFrame] | P.Prepared) -> pd.DataFrame:
    """One row per replication, one column per summary (see module docstring for the names)."""
    pr = frames if isinstance(frames, P.Prepared) else P.prepare(_slim(frames))
    reps = pd.Index(pr.replications, name="replication")
    out: dict[str, pd.Series] = {}
    per = pr.persons
    waves = list(pr.waves)
    if len(per):
        g = per.groupby(["replication", "role", "wave"])
        ret = pd.DataFrame({"recruited": g.size(), "evaluated": g["evaluated"].sum()})
        if "retained" in per.columns:
            ret["retained"] = g["retained"].sum()
        for role, wave in [(r, w) for r in ("provider", "consumer") for w in waves]:
            for stat in ret.columns:
                try:
                    s = ret[stat].xs((role, wave), level=("role", "wave"))
                except KeyError:
                    s = pd.Series(dtype=float)
                out[f"retention.{role}.{wave}.{stat}"] = s.reindex(reps, fill_value=0)
        ev = per[per["evaluated"] == 1]
        for role in ("provider", "consumer"):
            out[f"evaluated.{role}"] = ev[ev["role"] == role].groupby("replication").size().reindex(reps, fill_value=0)
        prov = ev[ev["role"] == "provider"]
        cons = ev[ev["role"] == "consumer"]
        gp, gc = prov.groupby("replication"), cons.groupby("replication")
        pb = _cols(prov, P.PROVIDER_BINARY + P.STRESS + P.BENEFITS)
        for c, s in gp[pb].sum().reindex(reps, fill_value=0).items():
            out[f"provider.{c}.yes"] = s
        pl = _cols(prov, tuple(c for c in P.PROVIDER_LIKERT if c != "confidence"))
        m, sd = gp[pl].mean().reindex(reps), gp[pl].std(ddof=1).reindex(reps)
        for c in pl:
            out[f"provider.{c}.mean"], out[f"provider.{c}.sd"] = m[c], sd[c]
        if "confidence" in prov.columns:
            out["provider.confidence.n"] = gp["confidence"].count().reindex(reps, fill_value=0)
            out["provider.confidence.mean"] = gp["confidence"].mean().reindex(reps)
            out["provider.confidence.sd"] = gp["confidence"].std(ddof=1).reindex(reps)
            cw = prov.groupby(["replication", "wave"])["confidence"].mean().unstack("wave")
            for w in waves:
                out[f"provider.confidence.mean.{w}"] = (cw[w] if w in cw.columns else pd.Series(dtype=float)).reindex(
                    reps
                )
        cb = _cols(cons, P.CONSUMER_BINARY + P.BENEFITS)
        for c, s in gc[cb].sum().reindex(reps, fill_value=0).items():
            out[f"consumer.{c}.yes"] = s
        cl = _cols(cons, P.CONSUMER_LIKERT)
        m, sd = gc[cl].mean().reindex(reps), gc[cl].std(ddof=1).reindex(reps)
        for c in cl:
            out[f"consumer.{c}.mean"], out[f"consumer.{c}.sd"] = m[c], sd[c]
        if "ben_mood" in cons.columns:
            mw = cons.groupby(["replication", "wave"])["ben_mood"].sum().unstack("wave")
            for w in waves:
                out[f"consumer.ben_mood.yes.{w}"] = (mw[w] if w in mw.columns else pd.Series(dtype=float)).reindex(
                    reps, fill_value=0
                )
        if len(waves) >= 2:
            out.update(_wave_t(cons, reps, waves[0], waves[1]))
    cg = pr.caregivers
    if cg is not None and len(cg):
        part = cg[cg["participated"] == 1]
        gg = part.groupby("replication")
        out["caregiver.n"] = gg.size().reindex(reps, fill_value=0)
        out["caregiver.female"] = (
            (part["gender"] == "female").groupby(part["replication"]).sum().reindex(reps, fill_value=0)
        )
        out["caregiver.age.mean"] = gg["age"].mean().reindex(reps)
        for role in ("provider", "consumer"):
            out[f"caregiver.of_{role}"] = (
                (part["member_role"] == role).groupby(part["replication"]).sum().reindex(reps, fill_value=0)
            )
        for c, s in gg[_cols(part, P.CAREGIVER_BINARY)].sum().reindex(reps, fill_value=0).items():
            out[f"caregiver.{c}.yes"] = s
    ss = pr.sessions
    if ss is not None and len(ss):
        from .. import instruments as ins

        held = ss[(ss["status"] == "held") & (ss["before_follow_up"] == 1)]
        n = held.groupby("replication").size().reindex(reps, fill_value=0)
        out["sessions.held"] = n
        nz = n.where(n > 0)
        out["sessions.group_share"] = (held["format"] == "group").groupby(held["replication"]).sum().reindex(
            reps, fill_value=0
        ) / nz
        ct = (
            held.groupby(["replication", "content"]).size().unstack("content", fill_value=0).reindex(reps, fill_value=0)
        )
        for c in ins.CONTENT_CATEGORIES:
            out[f"sessions.share.{c}"] = (ct[c] if c in ct.columns else pd.Series(0, index=reps)) / nz
    df = pd.DataFrame({k: v.to_numpy(dtype=float) for k, v in out.items()}, index=reps)
    return df


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
    "caregivers": ("replication", "participated", "gender", "age", "member_role", *P.CAREGIVER_BINARY),
    "sessions": ("replication", "status", "before_follow_up", "format", "content"),
}


def _slim(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Only the columns the summaries read (filtering wide frames of 10^5 replications is the cost)."""
    return {
        k: (v[[c for c in v.columns if c in _KEEP[k]]] if k in _KEEP else v) for k, v in frames.items() if k in _KEEP
    }


def _wave_t(cons: pd.DataFrame, reps: pd.Index, w1: str, w2: str) -> dict[str, pd.Series]:
    """Between-wave t statistics (w1 minus w2) of the consumer items of Table S4, vectorised."""
    items = _cols(cons, T_ITEMS)
    d = cons[cons["wave"].isin([w1, w2])]
    g = d.groupby(["replication", "wave"])
    idx = pd.MultiIndex.from_product([reps, [w1, w2]], names=["replication", "wave"])
    n = g[items].count().reindex(idx, fill_value=0)
    m = g[items].mean().reindex(idx)
    v = g[items].var(ddof=1).reindex(idx)
    dev = (d[items] - g[items].transform("mean")).abs()
    gd = dev.groupby([d["replication"], d["wave"]])
    am, av = gd.mean().reindex(idx), gd.var(ddof=1).reindex(idx)
    out = {}
    for c in items:
        a = [x[c].xs(w, level="wave").to_numpy() for x in (n, m, v, am, av) for w in (w1, w2)]
        n1, n2, m1, m2, v1, v2, am1, am2, av1, av2 = a
        lp = S.levene_from_moments(n1, am1, av1, n2, am2, av2)
        for suffix, method in (("t", "t"), ("t_student", "student"), ("t_welch", "welch")):
            r = S.t_tests(n1, m1, v1, n2, m2, v2, lp if method == "t" else None, method)
            out[f"consumer.{c}.{suffix}"] = pd.Series(r["statistic"], index=reps)
    return out
