"""The compiled model (``sim/native.py``, ``python cli.py build-native``): the same tables as its Python
source, byte for byte, and never used once its sources have changed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from helpers.cli import REPO

from sim import native


def _digests(compiled: bool, cache: Path) -> list:
    """[ran compiled, digest] of 6 replications of every shipped scenario and of two small communities
    (``native.CHECK``, the check each build passes), with the compiled model or the Python source."""
    env = {"SIM_NATIVE": "1" if compiled else "0", "SIM_NATIVE_DIR": str(cache)}
    return json.loads(native._run_python(native.CHECK, REPO, env, str(REPO / "scenarios"), "6"))


@pytest.fixture(scope="module")
def compiled_cache() -> Path:
    """The compiled model of these sources: the one ``build-native`` made, else built now (about a minute)."""
    if native.find_build()[0] is None:
        try:
            native.build()
        except native.BuildError as exc:
            if not exc.unavailable:  # the compiler rejects the model: a defect
                raise
            pytest.skip(f"this machine cannot compile the model: {exc}")
    return native.cache_root()


def test_the_compiled_model_gives_the_same_tables_as_its_source(compiled_cache: Path) -> None:
    source, compiled = _digests(False, compiled_cache), _digests(True, compiled_cache)
    assert source[0] is False
    assert compiled[0] is True
    assert compiled[1] == source[1]


def _fake_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sources: dict[str, str], tag: str = "t") -> Path:
    monkeypatch.setenv("SIM_NATIVE_DIR", str(tmp_path))
    monkeypatch.delenv("SIM_NATIVE", raising=False)
    folder = tmp_path / f"{native.build_key()}.{tag}"
    folder.mkdir()
    (folder / native.MANIFEST).write_text(json.dumps({"sources": sources, "group": f"sim_model_{tag}"}))
    return folder


def _sha(name: str) -> str:
    return native._sha(REPO / name)


def test_a_build_is_used_only_while_every_source_it_lists_is_unchanged(tmp_path, monkeypatch) -> None:
    names = ["sim/model/sessions.py", "sim/streams.py"]
    folder = _fake_build(tmp_path, monkeypatch, {n: _sha(n) for n in names})
    assert native.find_build() == (folder, "")
    # an imported module (not compiled itself) edited since the build: the Python source runs
    stale = {"sources": {**{n: _sha(n) for n in names}, names[1]: "0" * 64}, "group": "sim_model_t"}
    (folder / native.MANIFEST).write_text(json.dumps(stale))
    found, reason = native.find_build()
    assert found is None and reason.startswith("sim/streams.py changed since the model was compiled")
    # a second build of the same model sources, made after that edit, is found beside the stale one
    fresh = _fake_build(tmp_path, monkeypatch, {n: _sha(n) for n in names}, tag="u")
    assert native.find_build() == (fresh, "")
    # SIM_NATIVE=0 runs the source whatever is built; build() still sees the build (nothing to rebuild)
    monkeypatch.setenv("SIM_NATIVE", "0")
    assert native.find_build() == (None, "SIM_NATIVE=0")
    assert native.matching_build() == (fresh, "")
    assert native.build() == (fresh, False)


def test_a_build_of_other_model_sources_is_not_found(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SIM_NATIVE_DIR", str(tmp_path))
    other = tmp_path / ("f" * 20 + ".t")  # a build of other sources: another key
    other.mkdir()
    (other / native.MANIFEST).write_text(json.dumps({"sources": {}, "group": "sim_model_t"}))
    assert not native.build_key().startswith("f" * 20)
    assert native.find_build() == (None, "not compiled: python cli.py build-native")


def test_editor_files_beside_the_model_are_not_modules(tmp_path) -> None:
    model = tmp_path / "sim" / "model"
    model.mkdir(parents=True)
    for name in ("__init__.py", "sessions.py", "records.py"):
        (model / name).write_text("")
    (model / ".#sessions.py").symlink_to(tmp_path / "no-such-file")  # Emacs's lock while a buffer is edited
    (model / "sessions-old.py").write_text("")
    assert [p.name for p in native.model_sources(tmp_path / "sim")] == ["records.py", "sessions.py"]
    native.build_key(tmp_path / "sim")  # does not read the lock file


def test_use_compiled_puts_a_matching_build_first_on_the_package_path(tmp_path, monkeypatch) -> None:
    folder = _fake_build(tmp_path, monkeypatch, {"sim/model/sessions.py": _sha("sim/model/sessions.py")})
    path = ["/somewhere/sim/model"]
    monkeypatch.setitem(native._decided, "model", native.status())  # this process's model stays as it was
    loaded = []
    monkeypatch.setattr(native, "_load_shared_library", lambda f, group: loaded.append((f, group)))
    before = list(sys.path)
    native.use_compiled(path)
    assert path == [str(folder / "sim" / "model"), "/somewhere/sim/model"]
    assert loaded == [(folder, "sim_model_t")]
    assert sys.path == before  # never on sys.path: a spawned worker inherits it
    assert native.status() == native.Status(True, "", folder)


def test_a_build_that_cannot_be_loaded_leaves_the_source_model(tmp_path, monkeypatch) -> None:
    _fake_build(tmp_path, monkeypatch, {"sim/model/sessions.py": _sha("sim/model/sessions.py")})
    monkeypatch.setitem(native._decided, "model", native.status())
    path = ["/somewhere/sim/model"]
    native.use_compiled(path)  # the fake build has no shared library
    assert path == ["/somewhere/sim/model"]
    st = native.status()
    assert not st.compiled and st.reason.startswith("compiled model not usable: ImportError")


def test_build_native_check_says_which_model_runs(run_cli, tmp_path) -> None:
    r = run_cli("build-native", "--check", SIM_NATIVE_DIR=str(tmp_path), SIM_NATIVE="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "model: Python source (not compiled: python cli.py build-native)"


def test_build_native_if_possible_exits_0_where_no_compiler_exists(run_cli, tmp_path) -> None:
    env = {"SIM_NATIVE_DIR": str(tmp_path), "CC": str(tmp_path / "no-such-compiler")}
    r = run_cli("build-native", **env)
    assert r.returncode == 1 and r.stderr.strip().endswith("no C compiler found (set CC, or install gcc or clang)")
    r = run_cli("build-native", "--if-possible", **env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("model: Python source (this machine cannot compile it: no C compiler found")
    assert not any(tmp_path.iterdir())  # nothing built, nothing left behind


def test_status_before_the_model_is_imported_never_raises(monkeypatch) -> None:
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delitem(native._decided, "model", raising=False)
    monkeypatch.delenv("SIM_NATIVE", raising=False)
    monkeypatch.setattr(native, "cache_root", no_home)
    st = native.status()
    assert (
        not st.compiled and st.reason == "compiled model not usable: RuntimeError: Could not determine home directory."
    )
