"""The planners' web app without a browser (sim/app/): form input -> scenario mapping -> validated
scenario; uploads (safe_load, size limit, one-line errors, parameter files confined to the repository);
the downloaded YAML round-trips through sim.scenario.scenario_from_dict; results -> figures; and the
pages themselves through streamlit.testing.v1.AppTest. Browser tests: tests/test_app_browser.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from sim.app import backend, figures, forms, summaries
from sim.compare import planner_outputs
from sim.runner import simulate_frames
from sim.scenario import DAYS_PER_MONTH, scenario_from_dict

streamlit_testing = pytest.importorskip("streamlit.testing.v1", reason="streamlit is not installed (extra 'app')")


@pytest.fixture(autouse=True)
def _keep_main_module():
    """AppTest runs a page as ``__main__`` and leaves it there; processes spawned later (Dask's
    LocalCluster in tests/test_runner_dask.py) would re-run that temporary script. Put ours back."""
    import sys

    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="module")
def later_wave():
    return backend.validate_text(backend.shipped_scenarios()["later_wave"], "later_wave.yaml")


def _dump(sc) -> dict:
    return sc.model_dump(mode="json", exclude={"parameter_set"})


# --- form input -> scenario ------------------------------------------------------------------------
def test_form_parts_round_trip_every_shipped_scenario():
    for stem, text in backend.shipped_scenarios().items():
        data, sc = backend.validate_text(text, f"{stem}.yaml")
        again = forms.scenario_mapping(**forms.mapping_parts(data))
        assert backend.validate(again, stem).model_dump() == sc.model_dump(), stem


def test_app_validation_equals_load_scenario():
    """The app's validation (parameter file read once, merged in the backend) gives the scenario the
    CLI loads from the same file."""
    from sim.scenario import load_scenario

    for path in sorted(backend.SCENARIO_DIR.glob("*.yaml")):
        _, sc = backend.validate_text(path.read_text(), path.name)
        assert sc.model_dump() == load_scenario(path).model_dump(), path.name


def test_changed_community_reaches_the_validated_scenario(later_wave):
    data, _ = later_wave
    parts = forms.mapping_parts(data)
    parts["communities"][0].update(consumers=20.0, setting="rural", scheduling="unstructured", timetable_weeks=2)
    parts["communities"].append({**forms.COMMUNITY_DEFAULTS, **forms.NEW_COMMUNITY, "wave": "later", "copies": 3})
    sc = backend.validate(forms.scenario_mapping(**parts), "form")
    first = sc.communities[0]
    assert (first.consumers, first.setting, first.scheduling, first.timetable_weeks) == (
        20,
        "rural",
        "unstructured",
        None,
    )
    assert len(sc.expanded_communities()) == 2 + 3
    entry = forms.community_entry(parts["communities"][0])
    assert "timetable_weeks" not in entry and "copies" not in entry and isinstance(entry["consumers"], int)


def test_form_errors_are_the_clis_one_line_messages(later_wave):
    data, _ = later_wave
    parts = forms.mapping_parts(data)
    parts["communities"][1]["providers"] = 1  # a session needs two providers
    with pytest.raises(backend.AppInputError) as e:
        backend.validate(forms.scenario_mapping(**parts), "scenario form")
    assert str(e.value).startswith("scenario form: communities[1].providers: ") and "\n" not in str(e.value)
    parts["communities"][1].update(providers=2, wave="nowhere")
    with pytest.raises(backend.AppInputError, match="unknown wave 'nowhere'"):
        backend.validate(forms.scenario_mapping(**parts), "scenario form")


def test_parameter_overrides_only_keep_changes(later_wave):
    data, _ = later_wave
    base = backend.base_parameter_values(data["parameter_set"])
    values = {k: base[k] for k in backend.PLANNER_PARAMETERS} | {"training_days": 21.0}
    over = forms.parameter_overrides(values, base, kept={"group_share": 0.9})
    assert over == {"training_days": 21.0, "group_share": 0.9}
    sc = backend.validate({**data, "parameters": over}, "form")
    assert sc.parameters.training_days == 21.0 and sc.parameters.group_share == 0.9
    # the calibrated set replaces the defaults before the overrides
    assert (
        sc.parameters.attendance_mean
        == base["attendance_mean"]
        != backend.base_parameter_values(None)["attendance_mean"]
    )


# --- uploads -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\ncommunities: [\n  {name: A, wave\n", "up.yaml: line 4: malformed YAML: "),
        ("- just\n- a list\n", "up.yaml: (top level): expected a mapping"),
        ("name: !!python/object/apply:os.system ['true']\n", "up.yaml: line 1: malformed YAML: "),
    ],
)
def test_bad_uploads_get_one_line(text, expected):
    with pytest.raises(backend.AppInputError) as e:
        backend.validate_text(text, "up.yaml")
    assert str(e.value).startswith(expected) and "\n" not in str(e.value)


def test_upload_size_limit_and_confined_parameter_files(later_wave):
    with pytest.raises(backend.AppInputError, match="the limit is 200,000"):
        backend.parse_yaml(b"#" * (backend.MAX_UPLOAD_BYTES + 1), "big.yaml")
    data, _ = later_wave
    for pset in ("/etc/hosts", "../../../../etc/hosts", "../README.md", "../calibration/missing.yaml"):
        with pytest.raises(backend.AppInputError, match="parameter_set: must name a parameter file inside"):
            backend.validate({**data, "parameter_set": pset}, "up.yaml")


def test_replication_cap_is_adjustable(monkeypatch):
    assert backend.check_replications(backend.DEFAULT_MAX_REPS) == backend.DEFAULT_MAX_REPS
    with pytest.raises(backend.AppInputError, match="between 1 and 500"):
        backend.check_replications(501)
    monkeypatch.setenv("PEER_SUPPORT_APP_MAX_REPS", "30")
    assert backend.max_replications() == 30
    with pytest.raises(backend.AppInputError, match="between 1 and 30"):
        backend.check_replications(31)


# --- YAML download --------------------------------------------------------------------------------
def test_downloaded_yaml_round_trips_through_scenario_from_dict(later_wave):
    data, _ = later_wave
    parts = forms.mapping_parts(data)
    parts["communities"][0]["consumers"] = 20
    parts["parameters"] = {"training_days": 21.0}
    edited = forms.scenario_mapping(**parts)
    text = backend.to_yaml(edited)
    loaded = yaml.safe_load(text)
    assert "parameter_set" not in loaded  # inlined: the file runs from any folder
    assert _dump(scenario_from_dict(loaded, "download.yaml")) == _dump(backend.validate(edited))


# --- results -> figures ----------------------------------------------------------------------------
def test_band_matches_the_t_interval_and_percentiles():
    df = pd.DataFrame({"g": [0] * 4, "v": [1.0, 2.0, 3.0, 4.0]})
    b = summaries.band(df, ["g"], "v").iloc[0]
    h = stats.t.ppf(0.975, 3) * np.std([1, 2, 3, 4], ddof=1) / 2
    assert b["mean"] == 2.5 and b["ci_low"] == pytest.approx(2.5 - h) and b["ci_high"] == pytest.approx(2.5 + h)
    assert (b["p_low"], b["p_high"]) == pytest.approx((1.075, 3.925))


def test_planner_tables_agree_with_the_datasets(later_wave):
    _, sc = later_wave
    frames = simulate_frames(sc, 3, workers=1)
    monthly = summaries.sessions_per_month(frames, DAYS_PER_MONTH)
    ses = frames["sessions"]
    held = ses[ses["status"] == "held"].groupby("replication").size()
    assert monthly.groupby("replication")["held"].sum().to_dict() == held.to_dict()
    assert sorted(set(monthly["month"])) == list(range(12))  # 12-month follow-up
    enrolled = summaries.enrolled_per_month(frames, DAYS_PER_MONTH)
    last = enrolled[(enrolled["month"] == 11) & (enrolled["role"] == "consumer")].set_index("replication")
    cons = frames["consumers"]
    assert (last["recruited"] == cons.groupby("replication").size()).all()
    assert (last["enrolled"] == cons.groupby("replication")["retained"].sum()).all()
    ans = summaries.answer_shares(frames, backend.ANSWER_ITEMS)
    ev = cons[cons["evaluated"] == 1]
    mood = ans[(ans["item"] == "ben_mood") & (ans["role"] == "consumer")].set_index("replication")["share"]
    assert np.allclose(mood, ev.groupby("replication")["ben_mood"].mean())


def test_app_run_equals_the_librarys_replications_and_draws_figures(later_wave):
    _, sc = later_wave
    seen = []
    res = backend.run(sc, 5, progress_cb=lambda r: seen.append(r.done))
    assert seen[-1] == 5 and seen == sorted(seen)
    direct = planner_outputs(simulate_frames(sc, 5, workers=1))  # same seed, same replications
    pd.testing.assert_frame_equal(res.key.reset_index(drop=True), direct.reset_index(drop=True))
    key = backend.key_table(res)
    assert key.set_index("output").loc["sessions_held", "mean"] == pytest.approx(direct["sessions_held"].mean())
    for fig in (
        figures.sessions_per_month(res.monthly, res.done),
        figures.retention(res.enrolled),
        figures.completion_attendance(key),
        figures.answers(res.answers, res.labels),
    ):
        assert figures.png(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def test_concurrent_runs_share_the_pool_without_mixing_results(later_wave):
    """Two users' runs at once (the server's threads) on the shared pool: each gets its own numbers."""
    import threading

    _, sc = later_wave
    other = backend.renamed(sc, "other")
    out: dict[str, backend.RunResults] = {}
    threads = [
        threading.Thread(target=lambda s=s, seed=seed: out.__setitem__(s.name, backend.run(s, 4, seed)))
        for s, seed in ((sc, 1), (other, 2))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for name, seed in (("later_wave", 1), ("other", 2)):
        alone = planner_outputs(simulate_frames(sc, 4, seed, workers=1))
        pd.testing.assert_frame_equal(out[name].key.reset_index(drop=True), alone.reset_index(drop=True))


def test_plain_language_differences():
    assert (
        figures.describe_difference("Sessions held", 30.2, 12.4, 48.0, share=False)
        == "Sessions held: about 30 more (95% CI 12 more to 48 more)"
    )
    assert figures.describe_difference("Completion", -0.05, -0.08, -0.02, share=True) == (
        "Completion: about 5.0 percentage points lower (95% CI 8.0 percentage points lower to "
        "2.0 percentage points lower)"
    )
    assert figures.describe_difference("Attendance", 0.01, -0.02, 0.04, share=True).startswith(
        "Attendance: no clear difference"
    )
    assert figures.describe_difference("Recruited", -6.0, -6.0, -6.0, share=False) == (
        "Recruited: 6 fewer in every paired replication"
    )


# --- the pages through AppTest ----------------------------------------------------------------------
MAIN = str(backend.REPO_ROOT / "sim" / "app" / "main.py")


def _by_label(widgets, label):
    return next(w for w in widgets if w.label == label)


def test_scenario_page_edits_validates_and_offers_the_yaml():
    at = streamlit_testing.AppTest.from_file(MAIN, default_timeout=60).run()
    assert not at.exception
    assert "22 consumers" in at.success[0].value
    _by_label(at.number_input, "Consumers").set_value(20).run()
    assert "28 consumers" in at.success[0].value
    yaml_text = at.code[0].value
    assert yaml.safe_load(yaml_text)["communities"][0]["consumers"] == 20
    _by_label(at.number_input, "Providers").set_value(1).run()
    assert not at.success
    assert at.error[0].value.startswith("scenario form: communities[0].providers: ")


def _run_page():
    from sim.app.views import run

    run.page()


def test_run_page_shows_figures_and_the_planning_placeholders():
    at = streamlit_testing.AppTest.from_function(_run_page, default_timeout=120).run()
    assert not at.exception
    _by_label(at.number_input, "Replications (at most 500: PEER_SUPPORT_APP_MAX_REPS)").set_value(4).run()
    next(b for b in at.button if b.label == "Run").click().run()
    assert not at.exception
    assert any("Results: later_wave, 4 replications" in s.value for s in at.subheader)
    infos = " ".join(i.value for i in at.info)
    for place in ("Caseloads", "Staff pipeline", "Resource use and utilisation", "Costs"):
        assert f"**{place}**: not available yet" in infos
    assert len(at.get("image")) == 4  # sessions per month, retention, completion and attendance, answers


def _compare_page():
    from sim.app.views import compare

    compare.page()


def test_compare_page_identical_scenarios_differ_by_nothing():
    """The edited scenario against the same shipped one: common random numbers make every paired
    difference exactly zero, and the page says so in words."""
    at = streamlit_testing.AppTest.from_function(_compare_page, default_timeout=120).run()
    assert not at.exception
    _by_label(at.number_input, "Replications of each (2 to 500)").set_value(3).run()
    next(b for b in at.button if b.label == "Compare").click().run()
    assert not at.exception
    words = " ".join(m.value for m in at.markdown)
    assert "**later_wave (2)** compared with **later_wave**" in words
    assert words.count("no difference in every paired replication") == len(backend.output_labels())


def _power_page():
    from sim.app.views import power

    power.page()


def test_power_page_draws_the_curve():
    at = streamlit_testing.AppTest.from_function(_power_page, default_timeout=120).run()
    assert not at.exception
    _by_label(at.number_input, "Replications (at most 500)").set_value(6).run()
    _by_label(at.number_input, "Simulated trials per count").set_value(100).run()
    _by_label(at.text_input, "Communities per arm").set_value("2,6,20").run()
    next(b for b in at.button if b.label == "Compute power").click().run()
    assert not at.exception and not at.error
    assert len(at.get("image")) == 1
    table = at.dataframe[0].value
    assert list(table["clusters_per_arm"]) == [2, 6, 20]
    assert table["power_cluster_t"].is_monotonic_increasing  # more communities, more power


def test_outputs_zip_is_a_cli_run_in_its_own_temporary_folder(later_wave):
    import zipfile

    _, sc = later_wave
    folder = backend.new_run_folder()
    try:
        path = backend.outputs_zip(sc, 3, None, folder)
        assert path.parent == folder  # nothing written outside the run's own folder
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            assert {"later_wave/consumers.csv", "later_wave/manifest.json", "later_wave/report.md"} <= names
            consumers = pd.read_csv(z.open("later_wave/consumers.csv"))
        assert len(consumers) == 3 * (14 + 8)
    finally:
        backend.discard_run_folder(folder)
    assert not folder.exists()
    backend.discard_run_folder(backend.REPO_ROOT)  # refuses anything it did not make
    assert backend.REPO_ROOT.exists()


@pytest.mark.parametrize("args", [["--workers", "0"], ["--max-reps", "0"], ["--port", "0"]])
def test_app_command_refuses_bad_options_in_one_line(capsys, args):
    """``cli.py app`` checks its options through the CLI's shared path (one line naming the flag, exit 2)
    before starting any server."""
    from sim.cli_app import app

    with pytest.raises(SystemExit) as e:
        app(["app", *args], prog_name="cli.py")
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2
    assert err.startswith(f"error: {args[0]}") and "\n" not in err
