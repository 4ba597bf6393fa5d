"""Trial power page: the inputs of ``cli.py power`` and its power curve."""

from __future__ import annotations

import streamlit as st

from .. import backend, figures
from . import common


def _clusters(text: str) -> list[int]:
    try:
        return sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise backend.AppInputError(
            f"communities per arm: expected comma-separated whole numbers, got {text!r}"
        ) from None


def page() -> None:
    st.title("Trial power")
    st.markdown(
        "Power of a cluster-randomised trial (communities randomised to peer support or usual care). The "
        "simulation supplies community sizes, completion, the peer-support arm's value and the ICC; the "
        "usual-care value is yours."
    )
    got = common.needs_valid_scenario()
    if got is None:
        return
    _, sc = got
    outcomes = backend.power_outcomes()
    a, b = st.columns(2)
    outcome = a.selectbox(
        "Outcome",
        list(outcomes),
        index=list(outcomes).index("ben_mood") if "ben_mood" in outcomes else 0,
        format_func=lambda o: f"{o}: {outcomes[o][0]} ({outcomes[o][1]})",
    )
    binary = outcomes[outcome][1] == "binary"
    control = b.number_input(
        "Usual-care rate" if binary else "Usual-care mean (1-5)", value=0.35 if binary else 3.5, format="%.3f"
    )
    cap = backend.max_replications()
    a, b, c, d = st.columns(4)
    reps = a.number_input(f"Replications (at most {cap})", min_value=1, max_value=cap, value=min(100, cap))
    clusters = b.text_input("Communities per arm", value="2,4,6,8,10,15,20")
    alpha = c.number_input("Alpha (two-sided)", min_value=0.001, max_value=0.5, value=0.05, format="%.3f")
    trials = d.number_input("Simulated trials per count", min_value=100, max_value=10_000, value=1000, step=100)
    if st.button("Compute power", type="primary"):
        try:
            with st.spinner("Simulating the design inputs…"):
                st.session_state["power"] = backend.power(
                    sc, outcome, float(control), _clusters(clusters), int(reps), alpha=float(alpha), trials=int(trials)
                )
                st.session_state.pop("power_fig", None)
        except backend.AppInputError as exc:
            st.error(str(exc), icon="⛔")
    res = st.session_state.get("power")
    if res is None:
        return
    row = res.design.set_index("outcome").loc[res.outcome]
    if "power_fig" not in st.session_state:
        st.session_state["power_fig"] = figures.png(
            figures.power_curve(res.table, res.outcome, row["mean"], res.control)
        )
    st.image(st.session_state["power_fig"], caption="Power curve", width="stretch")
    st.markdown(
        f"Peer-support arm {row['mean']:.3g}, usual care {res.control:g}; {row['m']:.1f} consumers recruited per "
        f"community (CV {row['cv_recruited']:.2f}), completion {row['completion']:.0%}, ICC {row['icc']:.3f}. "
        "Communities per arm needed: " + "; ".join(f"{k}: {v}" for k, v in res.needed.items()) + "."
    )
    st.dataframe(res.table, hide_index=True, width="stretch")
    with st.expander("Design inputs of every outcome"):
        st.dataframe(res.design, hide_index=True, width="stretch")
