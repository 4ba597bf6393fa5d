"""Reliability: the tool never loses a user's files and fails cleanly on every bad input and write error.

Groups:
- destinations: a folder the tool did not write (no manifest.json or ``.peer-support-sim`` in it) is
  refused unless ``--force`` (run, compare, power, analyze); an existing file and a path under a file
  are refused; a folder the tool wrote is replaced only once the new result is complete; ``analyze``
  in place never replaces a file it did not write; compare and power lock their destination;
- write errors: a read-only destination and a full disk end in one line (exit 2) and leave nothing
  behind but finished chunks that ``--resume`` reuses. Where the test can mount a filesystem (root,
  ``mount`` allowed) it uses a real read-only tmpfs and a real 96 KiB tmpfs; elsewhere those two tests
  are skipped and the simulated versions below still run: ``EROFS`` raised by ``os.mkdir`` (monkeypatched)
  and ``ENOSPC`` raised while a chunk is written (monkeypatched ``sim.runner.tasks.write_chunk_meta``). Running as
  root, ``chmod`` cannot make a folder read-only, hence the mount;
- interruption: SIGKILL of a two-worker run: the workers exit with their parent, a rerun without
  ``--resume`` says finished chunks exist, ``--resume`` gives files byte-identical to an uninterrupted run;
- bounds and usage: replications, months and trials are bounded; typer's usage errors are one line;
  ``--version``; ``--resume`` takes no value;
- a seeded corpus of malformed scenarios (random mutations of every shipped scenario: wrong types,
  signs, NaN/inf, huge values, missing and unknown keys), every one ending valid or in one
  ``ScenarioError`` line naming the file, never another exception; a handful through the real CLI.

Commands run in-process (``sim.cli_app.app``, the same entry point as ``cli.py``) except where a real
process is the point (the kill, and a few corpus cases), to keep the module fast.
"""

from __future__ import annotations

import copy
import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
import yaml
from helpers import fakemodel as fm
from helpers.procs import alive, children

from sim import __version__
from sim.cli_app import app
from sim.outputs import (
    MARKER,
    DestinationError,
    acquire_lock,
    atomic_write_bytes,
    keep_first,
    merge_files_into_place,
    release_lock,
    staged,
    write_folder,
    written_by_us,
)
from sim.runner import work_dir_for
from sim.scenario import MAX_MONTHS, MAX_REPLICATIONS, ScenarioError, load_scenario, scenario_from_dict

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((REPO / "scenarios").glob("*.yaml"))


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def cli(capsys, *args: object) -> tuple[int, str, str]:
    """Run the CLI in-process; (exit code, stdout, stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        app([str(a) for a in args], prog_name="cli.py")
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err


def cli_process(*args: object, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, str(REPO / "cli.py"), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line(code: int, err: str, *words: str) -> str:
    """Assert exit code 2 and exactly one ``error:`` line on stderr containing ``words``; return it."""
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w.lower() in lines[0].lower(), (w, lines[0])
    return lines[0]


def tree(d: Path) -> dict[str, bytes]:
    """Every file under ``d`` (relative path -> bytes)."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def scen(tmp_path_factory) -> dict[str, Path]:
    """Two small scenarios (different names) and a data folder of a 3-replication run."""
    d = tmp_path_factory.mktemp("scen")
    a = fm.write_small_yaml(d / "small.yaml")
    b = fm.write_small_yaml(d / "other.yaml", name="other")
    from sim.runner import run_to_directory

    run_to_directory(load_scenario(a), d / "run", replications=3, workers=1)
    data = d / "data"  # the same CSVs in a folder the tool did not write (a user's data)
    data.mkdir()
    for t in ("providers", "consumers", "caregivers", "sessions"):
        (data / f"{t}.csv").write_bytes((d / "run" / f"{t}.csv").read_bytes())
    return {"a": a, "b": b, "run": d / "run", "data": data}


def command(kind: str, s: dict[str, Path], out: Path) -> list[object]:
    """The command line of ``kind`` writing to ``out`` (small and quick)."""
    return {
        "run": ["run", s["a"], "--reps", 2, "--workers", 1, "-q", "--out", out],
        "compare": ["compare", s["a"], s["b"], "--reps", 2, "--workers", 1, "-q", "--out", out],
        "power": [
            "power",
            s["a"],
            "--outcome",
            "ben_mood",
            "--control-rate",
            0.3,
            "--reps",
            2,
            "--workers",
            1,
            "-q",
            "--out",
            out,
        ],
        "analyze": ["analyze", s["run"], "--out", out],
    }[kind]


KINDS = ("run", "compare", "power", "analyze")


# ---------------------------------------------------------------------------------------------
# destinations
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_foreign_folder_is_refused_and_kept(tmp_path, capsys, scen, kind):
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "thesis.txt").write_text("four years of work")
    before = tree(tmp_path)
    code, _, err = cli(capsys, *command(kind, scen, dest))
    one_line(code, err, str(dest), "not written by", "--force")
    assert tree(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


@pytest.mark.parametrize("kind", KINDS)
def test_existing_file_and_path_under_a_file_are_refused(tmp_path, capsys, scen, kind):
    f = tmp_path / "notes.txt"
    f.write_text("keep me")
    code, _, err = cli(capsys, *command(kind, scen, f))
    one_line(code, err, str(f), "is a file")
    code, _, err = cli(capsys, *command(kind, scen, f / "sub"))
    one_line(code, err, "notes.txt is a file, not a folder")
    assert f.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_force_replaces_a_foreign_folder_and_a_tool_folder_is_replaced(tmp_path, capsys, scen):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "old.txt").write_text("x")
    code, _, err = cli(capsys, *command("run", scen, dest), "--no-analysis", "--force")
    assert code == 0, err
    assert not (dest / "old.txt").exists() and (dest / "consumers.csv").exists() and written_by_us(dest)
    first = fm.file_hashes(dest)
    code, _, err = cli(capsys, *command("run", scen, dest), "--no-analysis")  # ours now: replaced, no --force
    assert code == 0, err
    assert fm.file_hashes(dest) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder, work folder or lock left


def test_a_tool_folder_is_replaced_only_when_the_new_result_is_complete(tmp_path):
    dest = tmp_path / "out"
    write_folder(dest, lambda t: (t / "a.csv").write_text("old"))
    assert written_by_us(dest) and (dest / MARKER).exists()

    def broken(t: Path) -> None:
        (t / "a.csv").write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device", str(t / "b.csv"))

    with pytest.raises(DestinationError, match="no space left"):
        write_folder(dest, broken)
    assert (dest / "a.csv").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staged_is_all_or_nothing_for_files_and_folders(tmp_path):
    """sim.outputs.staged, the one write-then-move helper: a failed block leaves the old file or folder
    and no temporary; a completed one replaces it whole; keep_first keeps a chunk written first."""
    f = tmp_path / "meta.json"
    atomic_write_bytes(f, b"old")

    def half_written() -> None:
        with staged(f) as tmp:
            tmp.write_bytes(b"ha")
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    with pytest.raises(OSError, match="No space"):
        half_written()
    assert f.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]
    atomic_write_bytes(f, b"new")
    assert f.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]
    d = tmp_path / "chunk"
    for content in ("first", "second"):
        with staged(d, commit=keep_first) as tmp:
            tmp.mkdir()
            (tmp / "t.csv").write_text(content)
    assert (d / "t.csv").read_text() == "first" and sorted(p.name for p in tmp_path.iterdir()) == ["chunk", "meta.json"]
    with staged(d) as tmp:  # the default commit replaces a folder
        tmp.mkdir()
        (tmp / "t.csv").write_text("third")
    assert (d / "t.csv").read_text() == "third" and sorted(p.name for p in tmp_path.iterdir()) == ["chunk", "meta.json"]


def test_an_os_error_no_module_named_is_one_line(capsys, scen, tmp_path, monkeypatch):
    """An ``OSError`` that reaches the CLI as it is (here from the destination check) ends as one line naming
    the path and the cause, exit code 2, never a traceback."""
    import sim.outputs

    out = tmp_path / "o"

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(out))

    monkeypatch.setattr(sim.outputs, "check_destination", denied)
    code, _, err = cli(capsys, "run", scen["a"], "--reps", 2, "--workers", 1, "-q", "--out", out)
    one_line(code, err, "permission denied", str(out))


def test_ctrl_c_before_any_chunk_exits_130_and_leaves_nothing(capsys, scen, tmp_path, monkeypatch):
    """Ctrl-C during a run with no finished chunk: exit code 130, one line, no output and no work folder."""
    import sim.runner

    out = tmp_path / "o"

    def interrupted(*args: object, **kwargs: object) -> None:
        work_dir_for(out).mkdir(parents=True)  # as a run that had started its work folder
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.runner, "run_to_directory", interrupted)
    code, _, err = cli(capsys, "run", scen["a"], "--reps", 2, "--workers", 1, "-q", "--out", out)
    assert code == 130 and err.strip().splitlines() == ["error: interrupted; nothing was written"], err
    assert not out.exists() and not work_dir_for(out).exists()


def test_merge_files_into_place_replaces_only_the_files_written(tmp_path, monkeypatch):
    """The calibration's and validate's commit: the new files replace those of the same name, subfolders
    included; the folder's other files (recovery.*, validation/) stay; a failed block changes nothing; the
    files named ``last`` (the calibration's calibrated.yaml, which scenarios read) are moved after the others."""
    out = tmp_path / "calibration"
    (out / "figures").mkdir(parents=True)
    (out / "fit.csv").write_text("old fit")
    (out / "recovery.md").write_text("recovery")
    (out / "figures" / "recovery.png").write_text("recovery figure")
    (out / "figures" / "pairs.png").write_text("old pairs")

    def half_written() -> None:
        with staged(out, commit=merge_files_into_place) as tmp:
            tmp.mkdir()
            (tmp / "fit.csv").write_text("half")
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    with pytest.raises(OSError, match="No space"):
        half_written()
    assert (out / "fit.csv").read_text() == "old fit" and sorted(p.name for p in tmp_path.iterdir()) == ["calibration"]
    with staged(out, commit=merge_files_into_place) as tmp:
        (tmp / "figures").mkdir(parents=True)
        (tmp / "fit.csv").write_text("new fit")
        (tmp / "figures" / "pairs.png").write_text("new pairs")
    files = {p.relative_to(out).as_posix(): p.read_text() for p in out.rglob("*") if p.is_file()}
    assert files == {
        "fit.csv": "new fit",
        "recovery.md": "recovery",
        "figures/recovery.png": "recovery figure",
        "figures/pairs.png": "new pairs",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calibration"]
    moved = []
    real_replace = os.replace

    def recording_replace(src, dst):
        moved.append(Path(dst).relative_to(out).as_posix())
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)
    with staged(out, commit=partial(merge_files_into_place, last=("calibrated.yaml",))) as tmp:
        tmp.mkdir()
        for name in ("calibrated.yaml", "fit.csv", "report.md"):
            (tmp / name).write_text("new")
    assert moved[-1] == "calibrated.yaml" and sorted(moved) == ["calibrated.yaml", "fit.csv", "report.md"]


def _fake_analysis(in_dir, out_dir, method="t", with_paper=True, scenario_name=None, frames=None):
    """Stands in for the (slow) analysis: reads the data folder, writes a report and a table folder."""
    out = Path(out_dir)
    (out / "report.md").write_text(f"# report of {sorted(p.name for p in Path(in_dir).glob('*.csv'))}\n")
    (out / "tables").mkdir()
    (out / "tables" / "t1.csv").write_text("a\n1\n")
    return out


def test_analyze_in_place_never_replaces_a_user_file(tmp_path, capsys, scen, monkeypatch):
    """``analyze DIR`` adds its files beside the data; a file of the user's with the same name is refused
    (unless --force); its own earlier files are replaced; the folder stays the user's. (The analysis
    itself is replaced by a stand-in: what is tested is where its files go.)"""
    import sim.analysis

    monkeypatch.setattr(sim.analysis, "analyze_directory", _fake_analysis)
    data = tmp_path / "data"
    data.mkdir()
    for p in scen["data"].iterdir():
        (data / p.name).write_bytes(p.read_bytes())
    (data / "report.md").write_text("my own report")
    before = tree(data)
    code, _, err = cli(capsys, "analyze", data)
    one_line(code, err, "report.md", "did not write", "--force")
    assert tree(data) == before and sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    (data / "report.md").unlink()
    for _ in range(2):  # the second time it replaces only what it wrote itself
        code, _, err = cli(capsys, "analyze", data)
        assert code == 0, err
    assert (data / "tables" / "t1.csv").exists() and "consumers.csv" in (data / "report.md").read_text()
    assert all((data / n).read_bytes() == b for n, b in before.items() if n != "report.md")
    assert not written_by_us(data)  # still the user's folder: a run may not replace it
    code, _, err = cli(capsys, *command("run", scen, data))
    one_line(code, err, "not written by")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.parametrize("kind", ["compare", "power"])
def test_compare_and_power_lock_their_destination(tmp_path, capsys, scen, kind):
    dest = tmp_path / "out"
    lock = acquire_lock(dest)
    try:
        code, _, err = cli(capsys, *command(kind, scen, dest))
        one_line(code, err, "another command is writing", str(dest))
    finally:
        release_lock(lock)
    assert not dest.exists()


def test_calibrate_does_not_default_to_the_folder_the_scenarios_read():
    from typer.main import get_command

    params = {p.name: p for p in get_command(app).commands["calibrate"].params}
    default = Path(params["out"].default)
    assert default.resolve() != (Path.cwd() / "calibration").resolve() and default.parts[0] == "outputs"
    for s in SCENARIOS:  # what the shipped scenarios read
        pset = yaml.safe_load(s.read_text()).get("parameter_set")
        assert pset is None or Path(pset).parts[-2] == "calibration"


# ---------------------------------------------------------------------------------------------
# write errors: read-only destination, full disk
# ---------------------------------------------------------------------------------------------
def _mount_tmpfs(where: Path, options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    return r.returncode == 0


def _umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture
def ro_mount(tmp_path):
    where = tmp_path / "ro"
    if not _mount_tmpfs(where, "size=1m,ro"):
        pytest.skip("cannot mount a read-only tmpfs here (the simulated EROFS test still runs)")
    yield where
    _umount(where)


@pytest.mark.parametrize("kind", KINDS)
def test_read_only_destination_real_mount(ro_mount, capsys, scen, kind):
    code, _, err = cli(capsys, *command(kind, scen, ro_mount / "out"))
    one_line(code, err, "read-only file system", str(ro_mount / "out"))
    assert list(ro_mount.iterdir()) == []


@pytest.mark.parametrize("kind", KINDS)
def test_read_only_destination_simulated(tmp_path, capsys, scen, kind, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    real_open = os.open

    def deny(path, *a, **k):  # every file or folder created under ro/ fails as on a read-only mount
        if str(path).startswith(str(ro)):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, *a, **k)

    def deny_mkdir(path, *a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    real_mkdir = os.mkdir
    monkeypatch.setattr(os, "open", deny)
    monkeypatch.setattr(
        os, "mkdir", lambda p, *a, **k: deny_mkdir(p) if str(p).startswith(str(ro)) else real_mkdir(p, *a, **k)
    )
    code, _, err = cli(capsys, *command(kind, scen, ro / "out"))
    one_line(code, err, "read-only file system", str(ro / "out"))
    assert list(ro.iterdir()) == []


def _assert_clean_after_full_disk(err: str, code: int, disk: Path, out: Path) -> bool:
    """One line; no temporary folder, lock or partial chunk left; the work folder only with finished
    chunks and a line saying --resume. Returns whether chunks were kept."""
    line = one_line(code, err, "no space left")
    names = sorted(p.name for p in disk.iterdir())
    assert not out.exists() and not [n for n in names if ".tmp-" in n or n.endswith(".lock")], names
    work = work_dir_for(out)
    if "--resume" in line:
        chunks = [p.name for p in (work / "chunks").iterdir()]
        assert chunks and not [c for c in chunks if c.startswith(".")], chunks
        assert names == [work.name]
        return True
    assert names == []
    return False


@pytest.fixture
def small_disk(tmp_path):
    where = tmp_path / "disk"
    if not _mount_tmpfs(where, "size=96k"):
        pytest.skip("cannot mount a small tmpfs here (the simulated ENOSPC test still runs)")
    yield where
    _umount(where)


@pytest.mark.parametrize("workers", [1, 2])
def test_full_disk_real_tmpfs_then_resume(small_disk, tmp_path, capsys, scen, workers):
    """In-process, the run writes each chunk from the bytes it computed; in a local pool each worker writes
    its own chunk's folder: a full disk in either is one line, leaves no partial chunk, and resumes."""
    out = small_disk / "out"
    args = ["run", scen["a"], "--reps", 12, "--chunk-size", 2, "--workers", workers, "--no-analysis", "-q"]
    code, _, err = cli(capsys, *args, "--out", out)
    kept = _assert_clean_after_full_disk(err, code, small_disk, out)
    if kept:  # make room and resume: the same files as an uninterrupted run
        subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], check=True)
        code, _, err = cli(capsys, *args, "--out", out, "--resume")
        assert code == 0, err
        code, _, err = cli(capsys, *args, "--out", tmp_path / "ref")
        assert code == 0, err
        assert fm.file_hashes(out) == fm.file_hashes(tmp_path / "ref")


def test_full_disk_simulated_keeps_finished_chunks_and_says_resume(tmp_path, capsys, scen, monkeypatch):
    from sim.runner import tasks

    real = tasks.write_chunk_meta
    calls = {"n": 0}

    def write_chunk_meta(folder, *args):
        calls["n"] += 1
        if calls["n"] < 3:
            return real(folder, *args)
        partial = folder.parent / ".tmp-0000000099-0000000100-1"  # as a stopped worker leaves one
        partial.mkdir()
        (partial / "providers.csv").write_bytes(b"half a ")
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / "summary.pkl"))

    monkeypatch.setattr(tasks, "write_chunk_meta", write_chunk_meta)
    disk = tmp_path / "disk"
    disk.mkdir()
    out = disk / "out"
    args = ["run", scen["a"], "--reps", 8, "--chunk-size", 2, "--workers", 1, "--no-analysis", "-q"]
    code, _, err = cli(capsys, *args, "--out", out)
    assert _assert_clean_after_full_disk(err, code, disk, out)
    monkeypatch.setattr(tasks, "write_chunk_meta", real)
    code, _, err = cli(capsys, *args, "--out", out)  # without --resume: says how to reuse or discard
    one_line(code, err, "2 finished chunks", "--resume", "--force")
    code, _, err = cli(capsys, *args, "--out", out, "--resume")
    assert code == 0, err
    assert json.loads((out / "manifest.json").read_text())["chunks_reused"] == 2
    assert sorted(p.name for p in disk.iterdir()) == ["out"]


# ---------------------------------------------------------------------------------------------
# SIGKILL: workers exit with the parent; resume is byte-identical
# ---------------------------------------------------------------------------------------------
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the worker processes")
def test_sigkill_workers_exit_and_resume_is_byte_identical(tmp_path, capsys):
    scen_file = REPO / "scenarios" / "paper_study.yaml"
    args = ["run", scen_file, "--reps", 8, "--chunk-size", 1, "--no-analysis", "-q"]
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "cli.py"), *map(str, args), "--workers", "2", "--out", str(out)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    chunks = work_dir_for(out) / "chunks"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if chunks.exists() and len([p for p in chunks.iterdir() if not p.name.startswith(".")]) >= 2:
            break
        time.sleep(0.005)
    workers = children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "the run finished before it could be killed"
    assert len(workers) >= 2
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(w) for w in workers):
        time.sleep(0.05)
    assert not any(alive(w) for w in workers), "worker processes outlived their parent"

    done = sorted(p.name for p in chunks.iterdir() if not p.name.startswith("."))
    code, _, err = cli(capsys, *args, "--workers", 1, "--out", out)
    one_line(code, err, "finished chunk", "--resume", "--force")
    assert sorted(p.name for p in chunks.iterdir() if not p.name.startswith(".")) == done  # nothing discarded
    code, _, err = cli(capsys, *args, "--workers", 1, "--out", out, "--resume")
    assert code == 0, err
    assert json.loads((out / "manifest.json").read_text())["chunks_reused"] >= 2
    code, _, err = cli(capsys, *args, "--workers", 1, "--out", tmp_path / "ref")
    assert code == 0, err
    assert fm.file_hashes(out) == fm.file_hashes(tmp_path / "ref")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "ref"]


# ---------------------------------------------------------------------------------------------
# bounds and usage errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "{a}", "--reps", "1000000000"], ["--reps", f"{MAX_REPLICATIONS:,}"]),
        (["compare", "{a}", "{b}", "--reps", "1000000000"], ["--reps"]),
        (["power", "{a}", "--outcome", "ben_mood", "--control-rate", "0.3", "--reps", "1000000000"], ["--reps"]),
        (["power", "{a}", "--outcome", "ben_mood", "--control-rate", "0.3", "--trials", "1000000000"], ["--trials"]),
        (["power", "{a}", "--outcome", "sat_competence", "--control-mean", "7"], ["--control-mean", "between 1"]),
        (["power", "{a}", "--outcome", "sat_competence", "--control-rate", "0.3"], ["--control-mean"]),
        (["run", "{a}", "--workers", "0"], ["--workers", "(see 'cli.py run --help')"]),
        (["compare", "{a}", "{b}", "--workers", "0"], ["--workers"]),
        (["run", "{a}", "--seed", "-1"], ["--seed"]),
        (["run", "{a}", "--resume", "true"], ["unexpected extra argument"]),
        (["run", "{a}", "--bogus"], ["--bogus"]),
        (["frobnicate"], ["no such command"]),
        (["run"], ["missing argument"]),
    ],
)
def test_bounds_and_usage_errors_are_one_line(tmp_path, capsys, scen, args, words):
    code, out, err = cli(capsys, *[a.format(a=scen["a"], b=scen["b"]) for a in args], "--out", tmp_path / "o")
    one_line(code, err, *words)
    assert out == "" and list(tmp_path.iterdir()) == []


def test_version_and_resume_flag_help(capsys):
    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.strip() == f"peer-support-sim {__version__}"
    code, out, _ = cli(capsys, "run", "--help")
    assert code == 0 and "95% CI" in out and "95%%" not in out
    resume = next(line for line in out.splitlines() if line.strip().startswith("--resume"))
    assert "<" not in resume  # a flag: no value


def test_months_are_bounded(tmp_path):
    base = yaml.safe_load((REPO / "scenarios" / "later_wave.yaml").read_text())
    base.pop("parameter_set")
    for where, value in (("follow_up_months", 1e8), ("start_month", float("inf")), ("start_month", MAX_MONTHS)):
        d = copy.deepcopy(base)
        target = d["waves"]["later"] if where == "follow_up_months" else d["communities"][0]
        target[where] = value
        with pytest.raises(ScenarioError, match=where if value != MAX_MONTHS else "longest period"):
            scenario_from_dict(d, "s.yaml")


# ---------------------------------------------------------------------------------------------
# malformed scenarios: a seeded corpus of mutations of every shipped scenario
# ---------------------------------------------------------------------------------------------
BAD_VALUES = [
    "text",
    [1, 2],
    {"a": 1},
    None,
    True,
    -1,
    -1e9,
    0,
    float("nan"),
    float("inf"),
    float("-inf"),
    10**30,
    1e300,
]
PARAMETER_NAMES = sorted(__import__("sim.parameters", fromlist=["ModelParameters"]).ModelParameters.model_fields)


def _paths(node, prefix=()):
    """Every (container path, key) in a YAML tree."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for k, v in items:
        yield (*prefix, k)
        yield from _paths(v, (*prefix, k))


def _get(node, path):
    for k in path:
        node = node[k]
    return node


def _typo(key: str, rng: random.Random) -> str:
    i = rng.randrange(len(key))
    return key[:i] + key[i + 1 :] if len(key) > 2 else key + "x"


def mutate(data: dict, rng: random.Random) -> tuple[dict, str]:
    """One random mutation of a scenario mapping, and a description of it."""
    d = copy.deepcopy(data)
    paths = list(_paths(d))
    op = rng.choice(["value", "value", "value", "delete", "unknown", "typo", "parameter", "swap_type_top"])
    if op == "parameter":
        name, value = rng.choice(PARAMETER_NAMES), rng.choice([*BAD_VALUES, 5.0, 1e4, -0.5])
        d.setdefault("parameters", {})
        if isinstance(d["parameters"], dict):
            d["parameters"][name] = value
        return d, f"parameters.{name} = {value!r}"
    if op == "swap_type_top":
        key = rng.choice(list(d))
        d[key] = rng.choice(BAD_VALUES)
        return d, f"{key} = {d[key]!r}"
    path = rng.choice(paths)
    parent, key = _get(d, path[:-1]), path[-1]
    if op == "value":
        old = parent[key]
        value = rng.choice(BAD_VALUES)
        if isinstance(old, (int, float)) and not isinstance(old, bool) and rng.random() < 0.4:
            value = rng.choice([-old, old * 10**6, old + 0.5, float("nan")])
        parent[key] = value
        return d, f"{path} = {value!r}"
    if op == "delete":
        del parent[key]
        return d, f"delete {path}"
    if isinstance(parent, list):
        parent.append(rng.choice(BAD_VALUES))
        return d, f"append to {path[:-1]}"
    if op == "unknown":
        parent["colour"] = "blue"
        return d, f"unknown key at {path[:-1]}"
    new = _typo(str(key), rng)
    parent[new] = parent.pop(key)
    return d, f"rename {path} -> {new}"


def corpus(parameter_set: Path, n_per_scenario: int = 80, seed: int = 8) -> list[tuple[str, dict, str]]:
    """Seeded mutations of every shipped scenario; their ``parameter_set`` is replaced by
    ``parameter_set`` (the same parameters, in a small file: the posterior draws make the shipped one slow
    to parse hundreds of times)."""
    rng = random.Random(seed)
    out = []
    for s in SCENARIOS:
        data = yaml.safe_load(s.read_text())
        if "parameter_set" in data:
            data["parameter_set"] = str(parameter_set)
        for _ in range(n_per_scenario):
            d, what = mutate(data, rng)
            if rng.random() < 0.3:  # and sometimes a second mutation on top
                d, what2 = mutate(d, rng)
                what = f"{what}; {what2}"
            out.append((s.name, d, what))
    return out


def _check_scenario_case(path: Path, data: dict) -> str | None:
    """Validate through YAML text and ``load_scenario``: None if valid, else the error line."""
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        load_scenario(path)
    except ScenarioError as exc:
        msg = str(exc)
        assert "\n" not in msg and msg.startswith(f"{path}: "), msg
        return msg
    return None


def test_malformed_scenario_corpus_in_process(tmp_path):
    """Every mutation is valid or one ScenarioError line naming the file, never another exception."""
    calibrated = yaml.safe_load((REPO / "calibration" / "calibrated.yaml").read_text())
    pset = tmp_path / "calibrated_point.yaml"
    pset.write_text(yaml.safe_dump({"parameters": calibrated["parameters"]}))
    cases = corpus(pset)
    assert len(cases) >= 300
    errors = 0
    for name, data, what in cases:
        path = tmp_path / "scenarios" / name  # beside the shipped ones' parameter_set path
        path.parent.mkdir(exist_ok=True)
        try:
            msg = _check_scenario_case(path, data)
        except Exception as exc:  # the point: nothing but a ScenarioError line may come out
            pytest.fail(f"{name}: {what}: {type(exc).__name__}: {exc}")
        errors += msg is not None
    assert errors > len(cases) // 2  # the corpus really is malformed, mostly


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\x00\x01\xff\xfe binary", ["not a YAML text file"]),
        ("later_wave:consumers->consumer", ["unknown key", "did you mean 'consumers'"]),
        ("later_wave:start_month->.inf", ["start_month", "finite"]),
        ("later_wave:doctors->0", ["doctors"]),
        ("later_wave:duplicate", ["used twice"]),
    ],
)
def test_malformed_scenarios_through_the_real_cli(tmp_path, content, words):
    path = tmp_path / "bad.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        text = (REPO / "scenarios" / "later_wave.yaml").read_text().replace("../calibration", str(REPO / "calibration"))
        change = content.split(":", 1)[1]
        if change == "duplicate":
            text = text.replace("name: Jingsong", "name: Xiangheyuan")
        else:
            old, new = change.split("->")
            text = text.replace(f"{old}: 14", f"{new}: 14") if old == "consumers" else text
            text = text.replace("start_month: 0,", f"start_month: {new},", 1) if old == "start_month" else text
            text = text.replace("doctors: 1}", f"doctors: {new}}}", 1) if old == "doctors" else text
        path.write_text(text)
    r = cli_process("run", path, "--out", tmp_path / "o", "-q", cwd=tmp_path)
    one_line(r.returncode, r.stderr, "bad.yaml", *words)
    assert r.stdout == "" and sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("[" * 20000, ["nested too deeply"]),
        ("a:\n" + "".join("  " * i + "b:\n" for i in range(1, 3000)), ["nested too deeply"]),
        (b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(random.Random(3).randrange(256) for _ in range(400)), ["not a YAML"]),
        ("a: &x [1]\nb: *y\n", ["line 2", "undefined alias"]),
        ('!!python/object/apply:os.system ["echo owned"]\n', ["malformed YAML"]),
        ("", ["expected a mapping"]),
        ("- 1\n- 2\n", ["expected a mapping"]),
        ("name: x\nparameters: {1: 2}\n", ["parameters"]),
    ],
    ids=["deep-flow", "deep-block", "binary", "alias", "python-tag", "empty", "list", "int-keys"],
)
def test_hostile_yaml_files_are_one_line(tmp_path, content, words):
    path = tmp_path / "hostile.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(path))
    for w in words:
        assert w in msg, msg
