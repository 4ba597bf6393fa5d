"""Streamlit entry script of the planners' app (``python cli.py app`` runs it; see sim/app/launch.py)."""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])  # this copy of the sim package, whatever else is installed
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def main() -> None:
    import streamlit as st

    from sim.app.views import compare, power, run, scenario

    st.set_page_config(page_title="Peer-support rollout planner", layout="wide")
    st.navigation(
        [
            st.Page(scenario.page, title="Scenario", url_path="scenario", default=True),
            st.Page(run.page, title="Run", url_path="run"),
            st.Page(compare.page, title="Compare", url_path="compare"),
            st.Page(power.page, title="Trial power", url_path="power"),
        ]
    ).run()


# Streamlit runs this file as "__main__". A process that imports it under another name (a worker started by a
# forkserver imports a main script as "__mp_main__", sim/runner/backends.py) must not draw the app.
if __name__ == "__main__":
    main()
