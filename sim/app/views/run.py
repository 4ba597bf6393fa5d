"""Run page: replications and seed, a progress bar, then the planner's summary as figures and tables."""

from __future__ import annotations

import io
import zipfile

import streamlit as st

from .. import backend, figures
from . import common

#: The planning outputs on the Run page: title -> what it answers (figures in sim/app/figures.py).
PLANNING_PLACES = {
    "Caseloads": "consumers in the programme and on the waiting list, month by month",
    "Staff pipeline": "providers in post, in training and on leave, month by month",
    "Bottlenecks": "which constraint cancels most sessions",
    "Costs": "ingredient costs in total and per consumer served or retained",
}


def _csv_zip(res: backend.RunResults, key) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, df in (
            ("summary", key),
            ("per_replication", res.key),
            ("sessions_per_month", res.monthly),
            ("enrolled_per_month", res.enrolled),
            ("answers", res.answers),
            ("caseload_per_month", res.caseload),
            ("staff_per_month", res.staff),
            ("sessions_lost_by_cause", res.lost),
            ("costs_per_replication", res.costs),
        ):
            z.writestr(f"{res.scenario}/{name}.csv", df.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    return buf.getvalue()


def _image(slot, fig) -> None:
    slot.image(figures.png(fig), width="stretch")


def _planning(state: dict, res: backend.RunResults) -> None:
    """Caseload, staff, bottlenecks and costs: a figure each (all communities together), and the tables."""
    st.subheader("Planning outputs")
    spec = res.cost_spec
    costs = backend.cost_table(res)
    ranking = backend.bottleneck_table(res)
    if "planning_figs" not in state:
        state["planning_figs"] = {
            "Caseloads": figures.png(figures.caseload(res.caseload)),
            "Staff pipeline": figures.png(figures.staff(res.staff)),
            "Bottlenecks": figures.png(figures.bottlenecks(ranking)),
            "Costs": figures.png(figures.costs(res.costs, costs, backend.cost_categories(), spec.currency)),
        }
    c = costs.set_index("measure")
    cols = st.columns(3)
    for col, measure in zip(
        cols, ("total_cost", "cost_per_consumers_served", "cost_per_consumers_retained"), strict=True
    ):
        r = c.loc[measure]
        col.metric(
            f"{r['label']} ({spec.currency})",
            f"{r['mean']:,.0f}" if r["mean"] == r["mean"] else "undefined (none)",
            help=f"95% CI {r['ci_low']:,.0f} to {r['ci_high']:,.0f}"
            if r["ci_low"] == r["ci_low"]
            else "no interval (needs two or more replications, and someone served)",
        )
    left, right = st.columns(2)
    for j, (title, img) in enumerate(state["planning_figs"].items()):
        (left if j % 2 == 0 else right).image(img, caption=f"{title}: {PLANNING_PLACES[title]}", width="stretch")
    st.markdown("**Bottleneck ranking** (sessions lost per replication, whole simulated period, 95% CI)")
    st.dataframe(ranking, hide_index=True, width="stretch")
    st.markdown(
        f"**Costs** ({spec.currency}, {spec.price_year} prices; unit costs from the scenario's `costs:` section, "
        "else illustrative defaults, sim/planning/cost_spec.py)"
    )
    st.dataframe(costs, hide_index=True, width="stretch")


def _results(state: dict) -> None:
    res: backend.RunResults = state["results"]
    key = backend.key_table(res)
    st.subheader(f"Results: {res.scenario}, {res.done} replications, seed {res.seed} ({res.wall_time:.1f} s)")
    k = key.set_index("output")
    cols = st.columns(4)
    for col, out, fmt in (
        (cols[0], "sessions_held", "{:.0f}"),
        (cols[1], "consumer_completion", "{:.0%}"),
        (cols[2], "consumer_attendance", "{:.0%}"),
        (cols[3], "consumer_satisfied", "{:.0%}"),
    ):
        r = k.loc[out]
        col.metric(
            r["label"], fmt.format(r["mean"]), help=f"95% CI {fmt.format(r['ci_low'])} to {fmt.format(r['ci_high'])}"
        )
    if "figs" not in state:
        state["figs"] = {
            "Sessions per month": figures.png(figures.sessions_per_month(res.monthly, res.done)),
            "Retention": figures.png(figures.retention(res.enrolled)),
            "Completion and attendance": figures.png(figures.completion_attendance(key)),
            "Answers at follow-up": figures.png(figures.answers(res.answers, res.labels)),
        }
    st.caption(
        "Dark band: 95% confidence interval of the mean over replications; light band: 95% of replications "
        "(the range one rollout could show)."
    )
    left, right = st.columns(2)
    for j, (title, img) in enumerate(state["figs"].items()):
        (left if j % 2 == 0 else right).image(img, caption=title, width="stretch")
    st.markdown("**Key table** (mean over replications, 95% CI)")
    st.dataframe(key, hide_index=True, width="stretch")

    _planning(state, res)

    st.subheader("Download")
    a, b = st.columns(2)
    a.download_button(
        "Download these results (CSV, zip)",
        _csv_zip(res, key),
        file_name=f"{res.scenario}_app_results.zip",
        mime="application/zip",
    )
    if b.button("Build the full outputs (datasets, analysis, report; as cli.py run)"):
        with st.spinner("Writing the datasets and the analysis…"):
            try:
                state["zip"] = backend.outputs_zip(state["scenario"], res.done, res.seed, state["folder"]).read_bytes()
            except backend.AppInputError as exc:
                st.error(str(exc))
    if state.get("zip"):
        b.download_button(
            "Download the full outputs (zip)",
            state["zip"],
            file_name=f"{res.scenario}_outputs.zip",
            mime="application/zip",
        )


def page() -> None:
    st.title("Run")
    got = common.needs_valid_scenario()
    if got is None:
        return
    _, sc = got
    cap = backend.max_replications()
    a, b = st.columns(2)
    reps = a.number_input(
        f"Replications (at most {cap}: PEER_SUPPORT_APP_MAX_REPS)",
        min_value=1,
        max_value=cap,
        value=min(sc.replications, cap),
        step=1,
    )
    seed = b.number_input("Seed", min_value=0, value=int(sc.seed), step=1)
    if st.button("Run", type="primary"):
        old = st.session_state.pop("run", None)
        backend.discard_run_folder(old and old.get("folder"))
        bar = st.progress(0.0, text="starting the workers…")
        first = st.empty()

        def progress(res: backend.RunResults) -> None:
            bar.progress(res.done / res.replications, text=f"{res.done} of {res.replications} replications")
            _image(first, figures.sessions_per_month(res.monthly, res.done))

        try:
            res = backend.run(sc, int(reps), int(seed), progress)
        except backend.AppInputError as exc:
            st.error(str(exc))
            return
        bar.empty()
        first.empty()
        st.session_state["run"] = {"results": res, "scenario": sc, "folder": backend.new_run_folder()}
    if "run" in st.session_state:
        _results(st.session_state["run"])
