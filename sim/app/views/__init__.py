"""One Streamlit page per module: scenario, run, compare, trial power (they call only sim.app.backend)."""
