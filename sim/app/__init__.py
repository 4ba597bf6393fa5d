"""The planners' web app (Streamlit): build a rollout, run it, compare it, plan a trial.

Start it with ``python cli.py app`` (127.0.0.1:8501 by default). Layout:

- :mod:`sim.app.backend`: the only module that imports the library (scenario validation, runner,
  compare, power, analysis); small documented functions the pages call;
- :mod:`sim.app.forms`: editor tables <-> scenario mapping (pure, no Streamlit);
- :mod:`sim.app.summaries`: per-replication planner tables from a chunk's frames (pure pandas);
- :mod:`sim.app.figures`: matplotlib figures from those tables;
- :mod:`sim.app.views`: one Streamlit page each (scenario, run, compare, trial power);
- :mod:`sim.app.main`: the Streamlit entry script; :mod:`sim.app.launch`: ``cli.py app``.
"""
