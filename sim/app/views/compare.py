"""Compare page: two or more scenarios with common random numbers, paired differences in plain words."""

from __future__ import annotations

import streamlit as st

from .. import backend, figures
from . import common

CURRENT = "the scenario being edited"


def _choices(sc) -> dict[str, object]:
    """Label -> validated scenario: the edited one (if valid) and every shipped one."""
    out: dict[str, object] = {}
    if sc is not None:
        out[f"{CURRENT} ({sc.name})"] = sc
    for stem, text in backend.shipped_scenarios().items():
        out[f"shipped: {stem}"] = backend.validate_text(text, f"{stem}.yaml")[1]
    for name, s in st.session_state.get("compare_uploads", {}).items():
        out[f"uploaded: {name}"] = s
    return out


def _distinct(scenarios: list) -> list:
    """Rename repeats ("later_wave", "later_wave (2)") so the comparison can tell them apart."""
    seen: dict[str, int] = {}
    out = []
    for s in scenarios:
        seen[s.name] = seen.get(s.name, 0) + 1
        out.append(s if seen[s.name] == 1 else backend.renamed(s, f"{s.name} ({seen[s.name]})"))
    return out


def _show(comp: backend.ComparisonResult) -> None:
    labels = backend.output_labels()
    base = comp.names[0]
    st.subheader(f"Difference from {base} ({comp.replications} paired replications, seed {comp.seed})")
    for name in comp.names[1:]:
        st.markdown(f"**{name}** compared with **{base}**:")
        t = comp.table[comp.table["scenario"] == name].set_index("output")
        lines = [
            figures.describe_difference(
                lab,
                t.loc[col, "difference"],
                t.loc[col, "diff_ci_low"],
                t.loc[col, "diff_ci_high"],
                share=any(w in lab.lower() for w in ("share", "rate")),
            )
            for col, (lab, _) in labels.items()
        ]
        st.markdown("\n".join(f"- {x}" for x in lines))
    if "fig" not in st.session_state.get("compare_figs", {}):
        st.session_state["compare_figs"] = {"fig": figures.png(figures.forest(comp.table, comp.names, labels))}
    st.image(st.session_state["compare_figs"]["fig"], caption="Forest plot of paired differences", width="stretch")
    st.dataframe(comp.table, hide_index=True, width="stretch")
    st.download_button(
        "Download the comparison (CSV)",
        comp.table.to_csv(index=False, float_format="%.6g", lineterminator="\n"),
        file_name="comparison.csv",
        mime="text/csv",
    )


def page() -> None:
    st.title("Compare")
    st.markdown(
        "Replication *r* of every scenario uses the same random numbers per community (common random "
        "numbers), so differences are paired and their intervals narrow. The first scenario is the baseline."
    )
    _, sc, err = common.current()
    if err:
        st.warning(f"The scenario being edited is not valid ({err}); only shipped or uploaded ones can be compared.")
    up = st.file_uploader("Add scenario YAML files to compare", type=["yaml", "yml"], accept_multiple_files=True)
    for f in up or []:
        try:
            st.session_state.setdefault("compare_uploads", {})[f.name] = backend.validate_text(f.getvalue(), f.name)[1]
        except backend.AppInputError as exc:
            st.error(str(exc), icon="⛔")
    choices = _choices(sc)
    default = [*[k for k in choices if k.startswith(CURRENT)][:1], "shipped: later_wave"]
    picked = st.multiselect("Scenarios (the first is the baseline)", list(choices), default=default)
    cap = backend.max_replications()
    a, b = st.columns(2)
    reps = a.number_input(f"Replications of each (2 to {cap})", min_value=2, max_value=max(2, cap), value=min(50, cap))
    seed = b.number_input("Seed (blank: the baseline's)", min_value=0, value=None, step=1)
    if st.button("Compare", type="primary"):
        try:
            with st.spinner("Running every scenario with the same random numbers…"):
                st.session_state["compare"] = backend.compare(
                    _distinct([choices[k] for k in picked]), int(reps), None if seed is None else int(seed)
                )
                st.session_state.pop("compare_figs", None)
        except backend.AppInputError as exc:
            st.error(str(exc), icon="⛔")
    if "compare" in st.session_state:
        _show(st.session_state["compare"])
