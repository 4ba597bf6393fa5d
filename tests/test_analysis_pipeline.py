"""The analysis pipeline: analyze_chunk structure, consistency between tests, cells and summaries,
chunk invariance, written outputs (deterministic bytes), CSV validation and ``cli.py analyze``,
and an integration run on the model's own datasets (scenarios/paper_study.yaml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.analysis_fixtures import random_frames
from helpers.cli import run_cli

from sim import instruments as ins
from sim.analysis import DatasetError, analyze_chunk, analyze_directory, paper_summaries, read_directory, write_analysis
from sim.analysis.compare import TEST_COLUMNS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def frames():
    return random_frames(n_reps=4, seed=11)


@pytest.fixture(scope="module")
def result(frames):
    return analyze_chunk(frames)


def test_tests_structure(result):
    t = result["tests"]
    assert list(t.columns) == TEST_COLUMNS
    assert sorted(t["replication"].unique()) == [0, 1, 2, 3]
    per_rep = t.groupby("replication").size()
    assert per_rep.nunique() == 1  # the same planned tests in every replication
    # one row per (family, groups, item) per replication
    assert not t.duplicated(["replication", "family", "groups", "item"]).any()
    # families have the documented sizes, and thresholds are 0.05/m
    m = t[t["replication"] == 0].groupby("family").size()
    assert m["S1.demographics.consumer"] == 6 and m["S1.clinical.provider"] == 2
    assert m["T3.provider_vs_consumer"] == 14 and m["S4.consumer"] == 7 and m["S2.provider"] == 11
    thr = t.groupby("family")["threshold"].first()
    assert thr["S1.demographics.consumer"] == pytest.approx(0.05 / 6)
    # never a silent NaN: every NaN p comes with 'not computable' and a reason
    nan_p = t["p"].isna()
    assert (t.loc[nan_p, "test"] == "not computable").all() and (t.loc[nan_p, "note"].str.len() > 0).all()
    assert t.loc[~nan_p, "p"].between(0, 1).all()
    assert (t["significant"] == (t["p"] < t["threshold"])).all()


def test_tests_agree_with_the_scalar_functions(frames, result):
    from sim.analysis import stats as S

    t = result["tests"].set_index(["replication", "family", "item"])
    c = frames["consumers"]
    ev = c[(c["replication"] == 2) & (c["evaluated"] == 1)]
    x = ev.loc[ev["wave"] == "initial", "sat_richness"].astype(float)
    y = ev.loc[ev["wave"] == "later", "sat_richness"].astype(float)
    row = t.loc[(2, "S4.consumer", "sat_richness")]
    ref = S.compare_continuous(x, y)
    assert (
        row["test"] == ref.test
        and row["statistic"] == pytest.approx(ref.statistic)
        and row["p"] == pytest.approx(ref.p)
    )
    row = t.loc[(2, "S4.consumer", "willing_continue")]
    ref = S.compare_binary(
        ev.loc[ev["wave"] == "initial", "willing_continue"].astype(float),
        ev.loc[ev["wave"] == "later", "willing_continue"].astype(float),
    )
    assert row["test"] == ref.test and row["p"] == pytest.approx(ref.p, nan_ok=True)


def test_cells_agree_with_direct_counts_and_summaries(frames, result):
    cells = result["cells"].set_index(["table", "row", "column", "replication"])["value"]
    s = result["summaries"].set_index("replication")
    p = frames["providers"]
    for r in range(4):
        ev = p[(p["replication"] == r) & (p["evaluated"] == 1)]
        assert cells[("table2", "qualified", "all_n", r)] == ev["qualified"].sum() == s.loc[r, "provider.qualified.yes"]
        assert cells[("table2", "sat_time", "all_mean", r)] == pytest.approx(ev["sat_time"].astype(float).mean())
        assert s.loc[r, "provider.sat_time.sd"] == pytest.approx(ev["sat_time"].astype(float).std())
        assert cells[("retention", "provider", "later_evaluated", r)] == s.loc[r, "retention.provider.later.evaluated"]
        n_conf = ev["confidence"].notna().sum()
        assert cells[("table2", "confidence", "all_of", r)] == n_conf == s.loc[r, "provider.confidence.n"]
    # summaries' wave t equals the S4 test statistic (same rule)
    t = result["tests"]
    st = t[(t["family"] == "S4.consumer") & (t["item"] == "sat_punctuality")].set_index("replication")["statistic"]
    assert np.allclose(st.to_numpy(), s["consumer.sat_punctuality.t"].to_numpy(), equal_nan=True)
    # table1 percentages sum to 100 within each categorical variable
    t1 = result["cells"]
    g = t1[(t1["table"] == "table1") & t1["row"].str.startswith("education=") & (t1["column"] == "consumer_pct")]
    assert np.allclose(g.groupby("replication")["value"].sum(), 100)


def test_summaries_columns_are_stable_and_documented(frames):
    s = paper_summaries(frames)
    import sim.analysis.summaries as mod

    assert s.index.name == "replication" and len(s) == 4
    for col in (
        "retention.provider.initial.evaluated",
        "evaluated.consumer",
        "provider.ben_work_skill.yes",
        "consumer.sat_richness.mean",
        "consumer.sat_richness.sd",
        "provider.confidence.mean.later",
        "consumer.ben_mood.yes.initial",
        "consumer.sat_punctuality.t",
        "caregiver.n",
        "caregiver.self_mood.yes",
        "sessions.held",
        "sessions.group_share",
        "sessions.share.fine_motor_skill_practice",
        "provider.stress_poor_organizing.yes",
    ):
        assert col in s.columns
    # every column family is named in the module docstring (the calibration maps targets to these)
    for col in s.columns:
        stem = col.split(".")[0]
        assert f"``{stem}." in mod.__doc__
    # sessions: 18 before follow-up, 2 of those cancelled (i % 10 == 0) -> 16 held per wave
    assert (s["sessions.held"] == 32).all()


def test_chunks_concatenate(frames, result):
    """Analysing replications in two chunks gives the same rows as one call (runner chunks)."""
    parts = []
    for reps in ([0, 1], [2, 3]):
        sub = {k: v[v["replication"].isin(reps)].reset_index(drop=True) for k, v in frames.items()}
        parts.append(analyze_chunk(sub))
    for key in ("tests", "cells", "summaries"):
        a = pd.concat([p[key] for p in parts], ignore_index=True)
        b = result[key]
        if key == "cells":
            a = a.sort_values(["table", "row", "column", "replication"]).reset_index(drop=True)
            b = b.sort_values(["table", "row", "column", "replication"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_single_wave_has_no_between_wave_tests():
    f = random_frames(n_reps=2, seed=3, waves=("later",))
    t = analyze_chunk(f)["tests"]
    assert not t["family"].str.startswith(("S1.", "S2.", "S3.", "S4.", "retention.")).any()
    assert t["family"].str.startswith("dropout.").any() and (t["family"] == "T3.provider_vs_consumer").any()


def test_mwu_method_option(frames):
    t = analyze_chunk(frames, method="mwu")["tests"]
    cont = t[t["item"].isin(["age", "sat_richness"])]
    assert set(cont["test"]) <= {"Mann-Whitney U", "not computable"}


# --- writing ---------------------------------------------------------------------------------
def _write(tmp: Path, frames, result, name="x"):
    write_analysis(tmp, result["tests"], result["cells"], frames, name)
    return {p.relative_to(tmp).as_posix(): p.read_bytes() for p in sorted(tmp.rglob("*")) if p.is_file()}


def test_write_analysis_outputs_and_is_byte_stable(tmp_path, frames, result):
    a = _write(tmp_path / "a", frames, result)
    b = _write(tmp_path / "b", frames, result)
    assert a == b
    for f in (
        "tests.csv",
        "test_summary.csv",
        "report.md",
        "tables/table1.csv",
        "tables/table2.csv",
        "tables/table3.csv",
        "tables/table4.csv",
        "tables/tableS1.csv",
        "tables/tableS2.csv",
        "tables/tableS3.csv",
        "tables/tableS4.csv",
        "tables/caregivers.csv",
        "tables/stress_reasons.csv",
        "tables/retention.csv",
        "figures/retention_by_wave.png",
        "figures/satisfaction_by_wave.png",
        "figures/benefits_providers_vs_consumers.png",
        "figures/test_power.png",
    ):
        assert f in a, f
    assert b"Software" not in a["figures/retention_by_wave.png"][:400]
    t1 = pd.read_csv(tmp_path / "a" / "tables" / "table1.csv")
    assert list(t1.columns) == ["row", "label", "column", "mean", "q025", "q975", "reps", "paper"]
    age = t1[(t1["row"] == "age") & (t1["column"] == "provider_mean")].iloc[0]
    assert age["paper"] == ins.TABLE1["provider"]["age"][0] and age["q025"] <= age["mean"] <= age["q975"]
    report = a["report.md"].decode()
    assert "χ2(1) = 1.264, p = 0.462" in report and "Share significant" in report and "8.33" in report
    ts = pd.read_csv(tmp_path / "a" / "test_summary.csv")
    assert ts["share_significant"].between(0, 1).all() and (ts["replications"] == 4).all()


def _documented_columns(doc: str, heading: str) -> set[str]:
    """Column names in the first cells of the table that follows the line starting with ``heading``."""
    lines = doc[doc.index(heading) :].splitlines()[1:]
    start = next(i for i, line in enumerate(lines) if line.startswith("| column |"))
    names: set[str] = set()
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        names.update(n.strip() for n in line.split("|")[1].split(","))
    return names


def test_analysis_outputs_columns_are_in_the_data_dictionary(tmp_path, frames, result):
    """Every column of tests.csv, test_summary.csv and tables/*.csv is described in docs/data_dictionary.md."""
    _write(tmp_path, frames, result)
    doc = (Path(__file__).resolve().parents[1] / "docs" / "data_dictionary.md").read_text(encoding="utf-8")
    for file, heading in (
        ("tests.csv", "`tests.csv`, one row"),
        ("test_summary.csv", "`test_summary.csv`, one row"),
        ("tables/table1.csv", "`tables/<table>.csv`, one row"),
    ):
        missing = set(pd.read_csv(tmp_path / file, nrows=1).columns) - _documented_columns(doc, heading)
        assert not missing, f"{file}: {sorted(missing)} not in docs/data_dictionary.md"


def _per_rep_chunks(frames, sizes):
    """analyze_chunk over consecutive chunks of replications of the given sizes."""
    reps = sorted(frames["consumers"]["replication"].unique())
    out, a = [], 0
    for n in sizes:
        sel = reps[a : a + n]
        out.append(analyze_chunk({k: v[v["replication"].isin(sel)] for k, v in frames.items()}))
        a += n
    return out


def _files(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_write_analysis_from_chunk_iterables_same_bytes(tmp_path, frames, result, monkeypatch):
    """The streamed path (per-chunk tables, as the runner hands them over) writes the same files as
    the concatenated frames, however the replications are chunked. Figures are drawn for the
    reference and the one-replication chunks (the same bytes); the other writes are compared on every
    other file and on the numbers the figures are drawn from (to 1e-12: a streamed 2.5% percentile may
    differ from the reference in its last bits, which no figure shows)."""
    from sim.analysis import report

    drawn: list[tuple] = []
    names: list[str] = []
    draw = False
    real = report.start_figures

    class Record:
        """What write_analysis asks start_figures for (drawn only for the reference and when ``draw``)."""

        def __init__(self, out, agg, frames_, waves, single, with_paper=True):
            self.args = (out, agg, frames_, waves, single, with_paper)

        def finish(self, summary):
            out, agg, frames_, waves, single, with_paper = self.args
            drawn.append((agg, summary, waves, single, frames_ is None))
            if len(drawn) == 1:
                names.extend(real(out, agg, frames_, waves, single, with_paper).finish(summary))
            elif draw:
                assert real(out, agg, frames_, waves, single, with_paper).finish(summary) == names
            return list(names)

    monkeypatch.setattr(report, "start_figures", Record)
    ref = _write(tmp_path / "ref", frames, result)
    assert len(names) >= 4 and all(f"figures/{n}" in ref for n in names)
    ref_all, ref = ref, {k: v for k, v in ref.items() if not k.startswith("figures/")}
    for sizes in ((1, 3), (2, 2), (1, 1, 1, 1)):
        draw = sizes == (1, 1, 1, 1)
        chunks = _per_rep_chunks(frames, sizes)
        d = tmp_path / "-".join(map(str, sizes))
        write_analysis(
            d, lambda chunks=chunks: iter([c["tests"] for c in chunks]), [c["cells"] for c in chunks], frames, "x"
        )
        assert _files(d) == (ref_all if draw else ref), sizes
    draw = False
    # and from the concatenation of the chunks' frames (what the runner used to pass)
    chunks = _per_rep_chunks(frames, (1, 3))
    write_analysis(
        tmp_path / "cat",
        pd.concat([c["tests"] for c in chunks], ignore_index=True),
        pd.concat([c["cells"] for c in chunks], ignore_index=True),
        frames,
        "x",
    )
    assert _files(tmp_path / "cat") == ref
    assert len(drawn) == 5
    for agg, summary, waves, single, no_frames in drawn[1:]:
        pd.testing.assert_frame_equal(agg, drawn[0][0], check_exact=False, rtol=1e-12, atol=0)
        pd.testing.assert_frame_equal(summary, drawn[0][1], check_exact=False, rtol=1e-12, atol=0)
        assert (waves, single, no_frames) == drawn[0][2:]


def test_write_analysis_beyond_median_cap(tmp_path, frames, monkeypatch):
    """Beyond MEDIAN_REPS_MAX replications: percentiles and medians over the first ones, means and
    shares over all, the same bytes however the chunks are cut, and the report says so."""
    from sim.analysis import accumulators

    monkeypatch.setattr(accumulators, "MEDIAN_REPS_MAX", 2)
    outs = []
    for sizes in ((1, 3), (3, 1)):
        chunks = _per_rep_chunks(frames, sizes)
        d = tmp_path / "-".join(map(str, sizes))
        write_analysis(d, [c["tests"] for c in chunks], [c["cells"] for c in chunks], None, "x")
        outs.append(_files(d))
    assert outs[0] == outs[1]
    report = outs[0]["report.md"].decode()
    assert "over the first 2 replications" in report and "means and shares over all 4" in report
    cells = pd.concat([c["cells"] for c in _per_rep_chunks(frames, (4,))], ignore_index=True)
    t1 = pd.read_csv(tmp_path / "1-3" / "tables" / "table1.csv")
    age = cells[(cells["table"] == "table1") & (cells["row"] == "age") & (cells["column"] == "provider_mean")]
    got = t1[(t1["row"] == "age") & (t1["column"] == "provider_mean")].iloc[0]
    assert got["mean"] == pytest.approx(age["value"].mean(), rel=1e-5) and got["reps"] == 4
    first = age[age["replication"] < 2]["value"]
    assert got["q975"] == pytest.approx(first.quantile(0.975), rel=1e-5)
    ts = pd.read_csv(tmp_path / "1-3" / "test_summary.csv")
    assert (ts["replications"] == 4).all()


def test_write_single_replication_values(tmp_path, frames):
    one = {k: v[v["replication"] == 1] for k, v in frames.items()}
    res = analyze_chunk(one)
    write_analysis(tmp_path, res["tests"], res["cells"], None, "one")
    t2 = pd.read_csv(tmp_path / "tables" / "table2.csv")
    assert list(t2.columns) == ["row", "label", "column", "value", "paper"]
    report = (tmp_path / "report.md").read_text()
    assert "one replication" in report and "Share significant" not in report


# --- reading CSVs and the CLI -------------------------------------------------------------------
def _to_dir(frames, d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for k in ("providers", "consumers", "caregivers", "sessions"):
        frames[k].to_csv(d / f"{k}.csv", index=False)
    return d


def test_directory_round_trip_gives_the_same_tables(tmp_path, frames, result):
    d = _to_dir(frames, tmp_path / "in")
    back = analyze_chunk(read_directory(d))
    pd.testing.assert_frame_equal(back["cells"], result["cells"], check_dtype=False)
    pd.testing.assert_frame_equal(back["tests"], result["tests"], check_dtype=False)
    out = analyze_directory(d, tmp_path / "out")
    assert (out / "report.md").exists() and (out / "tables" / "table4.csv").exists()


def test_missing_replication_column_means_one_replication(tmp_path, frames):
    one = {k: v[v["replication"] == 0].drop(columns="replication") for k, v in frames.items()}
    d = _to_dir(one, tmp_path / "in")
    f = read_directory(d)
    assert (f["providers"]["replication"] == 0).all()
    assert analyze_chunk(f)["tests"]["replication"].unique().tolist() == [0]


@pytest.mark.parametrize(
    ("file", "edit", "expect"),
    [
        ("consumers.csv", lambda d: d.drop(columns="gender"), "consumers.csv: column 'gender': missing"),
        (
            "providers.csv",
            lambda d: d.assign(sat_time=d["sat_time"].astype(object).where(d.index != 2, "good")),
            "providers.csv: column 'sat_time': expected a number, found 'good' (row 3)",
        ),
        (
            "consumers.csv",
            lambda d: d.assign(sat_richness=d["sat_richness"].astype(float).where(d.index != 0, 7)),
            "consumers.csv: column 'sat_richness': expected whole numbers 1-5",
        ),
        (
            "providers.csv",
            lambda d: d.assign(education=d["education"].where(d.index != 1, "phd")),
            "providers.csv: column 'education': expected one of",
        ),
        (
            "caregivers.csv",
            lambda d: d.assign(participated=d["participated"].where(d.index != 0, 2)),
            "caregivers.csv: column 'participated': expected 0/1",
        ),
        (  # a person without a wave would silently vanish from every between-wave table and test
            "consumers.csv",
            lambda d: d.assign(wave=d["wave"].where(d.index != 1, None)),
            "consumers.csv: column 'wave': blank value (row 2)",
        ),
        (
            "providers.csv",
            lambda d: d.assign(role=d["role"].where(d.index != 0, None)),
            "providers.csv: column 'role': blank value (row 1)",
        ),
    ],
)
def test_bad_input_gives_one_line_error(tmp_path, frames, file, edit, expect):
    d = _to_dir(frames, tmp_path / "in")
    df = pd.read_csv(d / file)
    edit(df).to_csv(d / file, index=False)
    with pytest.raises(DatasetError) as e:
        read_directory(d)
    assert str(e.value).startswith(f"{d / expect}") and "\n" not in str(e.value)  # the file with its folder


def test_missing_file_error(tmp_path, frames):
    d = _to_dir(frames, tmp_path / "in")
    (d / "caregivers.csv").unlink()
    with pytest.raises(DatasetError) as e:
        read_directory(d)
    assert str(e.value) == f"{d / 'caregivers.csv'}: file not found"
    (d / "sessions.csv").unlink()  # optional: no error about it
    _to_dir(dict(frames.items()), d)
    (d / "sessions.csv").unlink()
    assert "sessions" not in read_directory(d)


def test_data_without_any_person_is_refused_in_one_line(tmp_path, frames):
    """Header rows only (a template not yet filled in): nothing to analyse, one line and exit 2, not an
    empty report and a flood of plotting warnings."""
    d = _to_dir(frames, tmp_path / "in")
    for name in ("providers.csv", "consumers.csv", "caregivers.csv"):
        pd.read_csv(d / name).iloc[:0].to_csv(d / name, index=False)
    (d / "sessions.csv").unlink()
    res = run_cli("analyze", d, "--out", tmp_path / "o", cwd=ROOT)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [f"error: {d}: providers, consumers: no rows (nobody to analyse)"]
    assert not (tmp_path / "o").exists()


def test_cli_analyze_exit_codes_and_method(tmp_path, frames):
    """Exit 0 and the tests; ``--method mwu`` tests the continuous and Likert items with Mann-Whitney U, the
    default (the paper's t rule) never does; bad data: one line naming file and column, exit 2."""
    d = _to_dir(frames, tmp_path / "in")
    for method in ("t", "mwu"):  # in this process: tests/helpers/cli.py
        ok = run_cli("analyze", d, "--method", method, "--out", tmp_path / method, cwd=ROOT)
        assert ok.returncode == 0, ok.stderr
    t, mwu = (pd.read_csv(tmp_path / m / "tests.csv") for m in ("t", "mwu"))
    assert set(mwu.loc[mwu["item"] == "age", "test"]) <= {"Mann-Whitney U", "not computable"}
    assert (mwu["test"] == "Mann-Whitney U").any() and not (t["test"] == "Mann-Whitney U").any()
    assert t["test"].isin(["Student t", "Welch t"]).any()
    df = pd.read_csv(d / "consumers.csv").drop(columns="wave")
    df.to_csv(d / "consumers.csv", index=False)
    bad = run_cli("analyze", d, cwd=ROOT)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        f"error: {d / 'consumers.csv'}: column 'wave': missing (required: see docs/data_dictionary.md)"
    )
    assert "Traceback" not in bad.stderr


# --- integration with the model -----------------------------------------------------------------
def test_integration_with_the_model():
    model = pytest.importorskip("sim.model")
    from sim.datasets import to_frames
    from sim.scenario import load_scenario

    sc = load_scenario(ROOT / "scenarios" / "paper_study.yaml")
    frames = to_frames([model.simulate_replication(sc, r) for r in range(3)])
    res = analyze_chunk(frames)
    t, c, s = res["tests"], res["cells"], res["summaries"]
    assert list(t.columns) == TEST_COLUMNS and sorted(t["replication"].unique()) == [0, 1, 2]
    assert {
        "retention.provider",
        "S4.consumer",
        "T3.provider_vs_consumer",
        "dropout.demographics.consumer.initial",
    } <= set(t["family"])
    assert t.loc[t["p"].isna(), "test"].eq("not computable").all()
    # the paper's design: 13 providers and 54 consumers recruited in every replication
    n = c[(c["table"] == "table1") & (c["row"] == "N")].pivot(index="replication", columns="column", values="value")
    assert (n["provider_n"] == 13).all() and (n["consumer_n"] == 54).all()
    assert (s["retention.consumer.initial.recruited"] == 32).all() and (s["sessions.held"] > 0).all()
    assert s.shape[0] == 3 and s.notna().sum().sum() > 0.9 * s.size


_FORK_SCRIPT = """
import sys, threading
from pathlib import Path
sys.path.insert(0, {tests!r})
from helpers.analysis_fixtures import random_frames
import sim.forked
from sim.analysis import analyze_chunk, write_analysis

out = Path({out!r})
res = analyze_chunk(random_frames(n_reps=4, seed=11))
child = sim.forked._run_and_send

def marked(job, send):  # runs in the forked child
    (out / "forked").write_text("yes")
    child(job, send)

sim.forked._run_and_send = marked
write_analysis(out / "forked_run", res["tests"], res["cells"], None, "x")  # the only thread: forks
stop = threading.Event()
t = threading.Thread(target=stop.wait)
t.start()  # a second thread: everything drawn in this process
write_analysis(out / "one_process", res["tests"], res["cells"], None, "x")
stop.set()
t.join()
"""


def test_figures_drawn_in_a_forked_child_are_the_bytes_drawn_in_one_process(tmp_path):
    """write_analysis draws the figures of the cells in a forked child while the process writes
    tests.csv and draws the power figure (when it is the only thread: here a fresh interpreter); every
    output file is the same bytes as when all figures are drawn in one process."""
    script = _FORK_SCRIPT.format(tests=str(ROOT / "tests"), out=str(tmp_path))
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=300)
    assert (tmp_path / "forked").read_text() == "yes"
    a, b = tmp_path / "forked_run", tmp_path / "one_process"
    files = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert "figures/test_power.png" in files
    assert files == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_power_figure_rows_name_each_family_once_above_its_tests():
    """The power figure: a header row per family (with its pair of groups where the family compares
    several pairs), then one bar per test labelled with the paper's item label, bars at the share
    significant with 1.96 Monte Carlo SE; no bar on a header row."""
    from sim.analysis.figures import _power_rows
    from sim.analysis.prep import label

    s = pd.DataFrame(
        {
            "family": ["S3.consumer", "S3.consumer", "S3.consumer", "T3.provider_vs_consumer"],
            "groups": ["initial vs later", "initial vs later", "initial vs third", "provider vs consumer"],
            "item": ["ben_knowledge", "ben_stability", "ben_knowledge", "ben_stability"],
            "share_significant": [0.5, 0.1, 0.2, 0.8],
            "mc_se": [0.05, 0.03, 0.04, 0.02],
        }
    )
    labels, heads, shares, errors = _power_rows(s)
    assert labels == [
        "S3.consumer (initial vs later)",
        label("ben_knowledge"),
        label("ben_stability"),
        "S3.consumer (initial vs third)",
        label("ben_knowledge"),
        "T3.provider_vs_consumer",
        label("ben_stability"),
    ]
    assert label("ben_knowledge") != "ben knowledge"  # the paper's wording, not the column name
    assert heads == [True, False, False, True, False, True, False]
    assert np.isnan(shares[0]) and shares[1:3] == [0.5, 0.1] and shares[-1] == 0.8
    assert errors[1] == pytest.approx(1.96 * 0.05)
