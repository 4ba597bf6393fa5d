"""The model compiled with mypyc: the same source run as C (optional; about 1.5 times as fast).

``python cli.py build-native`` compiles the model's modules (``sim/model/*.py`` but its ``__init__``)
with mypyc, the compiler the mypy project builds mypy with, into a folder of the user's cache
(``$SIM_NATIVE_DIR``, else ``$XDG_CACHE_HOME/peer-support-sim/native``, else
``~/.cache/peer-support-sim/native``). A build is never changed once made: its folder is named by a
hash of the model's sources and this Python's extension suffix, then a hash of every ``sim`` source it
was compiled with, and it holds a manifest listing every ``sim`` module the model imports with the
SHA-256 of the source that was compiled.

When ``sim.model`` is imported, :func:`use_compiled` puts a build first on the package's path only if
its manifest matches the sources on disk, file by file, and only if no other build's code is already
loaded in the process. So an edited model, or an edit to any module it imports, runs from its Python
source until it is rebuilt. ``SIM_NATIVE=0`` runs the Python source regardless; any problem with a
build (unreadable, half deleted) also falls back to the source, with the reason in :func:`status`.

The compiled model gives the same tables as its source, byte for byte: mypyc keeps Python's semantics,
the build turns off floating-point contraction (no fused multiply-add), and :func:`build` refuses a
build whose tables differ from the source's on a small check run. ``tests/test_native.py`` compares
both on every shipped scenario. Two differences remain outside the tables: where the model's
annotations say ``float`` the compiled code stores an ``int`` argument as a float (the model passes
floats; a value computed as ``0`` prints as ``0`` in a float column either way), and compiled functions
refuse a NumPy integer where the annotation says ``int`` (the public entry points convert theirs with
``operator.index``). Compiled model objects cannot be pickled; nothing pickles them (a replication's
result, which is pickled, is plain data).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent  # .../sim
MODEL = PACKAGE / "model"
MANIFEST = "manifest.json"
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
# mypy options for the compile: only the compiled modules are type-checked (follow_imports=silent),
# and third-party packages without type information (SimPy, SciPy) are used through Python's API.
MYPY_FLAGS = ("--ignore-missing-imports", "--follow-imports=silent")
# C flags of the compile, replacing the user's: no fused multiply-add (which rounds a*b+c once, where
# Python rounds twice) and no fast-math, so every float operation is the one Python does.
CFLAGS = "-ffp-contract=off -fno-fast-math"
STALE_BUILD_DIR_SECONDS = 24 * 3600  # a half-made build folder older than this was left by a killed build


def cache_root() -> Path:
    """Where compiled models are kept (see the module docstring)."""
    if os.environ.get("SIM_NATIVE_DIR"):
        return Path(os.environ["SIM_NATIVE_DIR"]).resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).resolve() / "peer-support-sim" / "native"


def model_sources(package: Path = PACKAGE) -> list[Path]:
    """The modules mypyc compiles: every module file of ``sim/model/`` except the package's ``__init__``
    (an editor's lock or backup file, such as ``.#sessions.py``, is not a module)."""
    return sorted(p for p in (package / "model").glob("*.py") if p.stem.isidentifier() and p.name != "__init__.py")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_key(package: Path = PACKAGE) -> str:
    """The first part of a build's folder name: a hash of the model's sources and this Python's ABI."""
    h = hashlib.sha256(SUFFIX.encode())
    for p in model_sources(package):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:20]


@dataclass(frozen=True)
class Status:
    """Which model this process runs, and why."""

    compiled: bool
    reason: str
    folder: Path | None = None

    def __str__(self) -> str:
        return f"compiled (mypyc, {self.folder})" if self.compiled else f"Python source ({self.reason})"


_decided: dict[str, Status] = {}  # "model": what use_compiled decided for this process


def status() -> Status:
    """This process's model: compiled or Python source, as ``sim.model`` decided on import (or, before
    it is imported, as it will decide)."""
    return _decided["model"] if "model" in _decided else decide()


def decide() -> Status:
    """What importing the model in a fresh process would decide now (never raises)."""
    try:
        folder, reason = find_build()
    except Exception as exc:  # as use_compiled: whatever is wrong with a build, the source runs
        return Status(False, f"compiled model not usable: {type(exc).__name__}: {exc}")
    return Status(folder is not None, reason, folder)


def _manifest(folder: Path) -> dict:
    manifest = json.loads((folder / MANIFEST).read_text())
    if not isinstance(manifest.get("sources"), dict) or not isinstance(manifest.get("group"), str):
        raise ValueError("not a manifest of this version")
    return manifest


def _mismatch(manifest: dict) -> str:
    """'' if every source the manifest lists is on disk unchanged, else which one changed."""
    for name, digest in manifest["sources"].items():
        path = PACKAGE.parent / name
        if not path.is_file() or _sha(path) != digest:
            return f"{name} changed since the model was compiled: python cli.py build-native"
    return ""


def matching_build() -> tuple[Path | None, str]:
    """The build of exactly the sources on disk (whatever ``SIM_NATIVE``), or None and why there is none."""
    builds = sorted(cache_root().glob(build_key() + ".*"), key=lambda p: p.name)
    reason = "not compiled: python cli.py build-native"
    for folder in builds:
        try:
            manifest = _manifest(folder)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            reason = f"unreadable compiled model {folder}: {exc}"
            continue
        mismatch = _mismatch(manifest)
        if not mismatch:
            return folder, ""
        reason = mismatch
    return None, reason


def find_build() -> tuple[Path | None, str]:
    """The build this process would use, or None and why it runs the Python source."""
    if os.environ.get("SIM_NATIVE", "1") == "0":
        return None, "SIM_NATIVE=0"
    return matching_build()


def use_compiled(package_path: list[str]) -> None:
    """Called by ``sim/model/__init__.py`` before it imports its modules: put the compiled modules
    first on ``package_path`` (the package's ``__path__``) if they match the sources on disk. Never
    raises: whatever goes wrong with a build, the model runs from its source."""
    try:
        folder, reason = find_build()
        if folder is not None:
            _load_shared_library(folder, _manifest(folder)["group"])
    except Exception as exc:  # a build half deleted, a cache on a noexec mount, no home folder ...
        folder, reason = None, f"compiled model not usable: {type(exc).__name__}: {exc}"
    if folder is None:
        _decided["model"] = Status(False, reason)
        return
    package_path.insert(0, str(folder / "sim" / "model"))
    _decided["model"] = Status(True, "", folder)


def _load_shared_library(folder: Path, group: str) -> None:
    """Import the build's shared library (``<group>__mypyc``, which each compiled module imports by name)
    from ``folder`` without putting ``folder`` on ``sys.path``: that would make its ``sim/`` a namespace
    package for any process that inherits the path (a spawned worker). Every build has its own group
    name, so a process that already holds another build's library never runs it in this one's place."""
    import importlib.util

    name = f"{group}__mypyc"
    path = folder / (name + SUFFIX)
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "")) != path:
            raise ImportError(f"{name} is already loaded from {getattr(loaded, '__file__', '?')}")
        return
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"no shared library at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module


class BuildError(RuntimeError):
    """The model could not be compiled; the message says why. ``unavailable``: this machine cannot compile
    it (mypyc, a C compiler or Python's headers missing, the C compile failing, an unwritable cache),
    as opposed to a model that the type checker rejects or whose compiled tables differ."""

    def __init__(self, message: str, unavailable: bool = False):
        super().__init__(message)
        self.unavailable = unavailable


def _c_compiler() -> str | None:
    """The C compiler setuptools would call (``$CC``, else Python's own build's), if it is installed."""
    import shlex
    import sysconfig

    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shutil.which(shlex.split(cc)[0])


def _check_toolchain() -> None:
    import sysconfig

    try:
        import mypyc  # noqa: F401
    except ImportError as exc:
        raise BuildError("mypyc is not installed: pip install -e '.[native]'", unavailable=True) from exc
    if _c_compiler() is None:
        raise BuildError("no C compiler found (set CC, or install gcc or clang)", unavailable=True)
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        raise BuildError("Python's C headers are not installed (Debian: python3-dev)", unavailable=True)


_SETUP = """
import sys
from mypyc.build import mypycify
from setuptools import setup
out, tmp, group, *args = sys.argv[1:]
setup(
    name="sim_model_native",
    ext_modules=mypycify(args, opt_level="3", group_name=group),
    script_args=["build_ext", "--build-lib", out, "--build-temp", tmp],
)
"""


def build(log=None) -> tuple[Path, bool]:
    """Compile the model unless a build of these sources exists: (its folder, whether it was built now).

    The build runs in a temporary folder of the cache (on a copy of the ``sim`` sources, so the project's
    files are never written, and an edit made meanwhile cannot slip into the manifest), is checked
    against the source model and is renamed into place when complete."""
    folder, _ = matching_build()
    if folder is not None:
        return folder, False
    _check_toolchain()
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_builds(root)
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    except OSError as exc:
        raise BuildError(f"cannot write the cache {root}: {exc.strerror or exc}", unavailable=True) from exc
    try:
        src = work / "src"
        shutil.copytree(PACKAGE, src / "sim", ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyc"))
        tree = hashlib.sha256()
        for p in sorted((src / "sim").rglob("*.py")):
            tree.update(str(p.relative_to(src)).encode() + b"\0" + p.read_bytes() + b"\0")
        tag = tree.hexdigest()[:16]
        group = f"sim_model_{tag}"
        _compile(src, work, group, log)
        sources = _imported_sources(src)
        manifest = {"sources": sources, "group": group, "python": sys.version, "mypy": _mypy_version()}
        (work / "out" / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        name = f"{build_key(src / 'sim')}.{tag}"
        stage = work / "stage"  # a cache only this build's check sees: no run loads it before it passed
        stage.mkdir()
        (work / "out").rename(stage / name)
        _verify(stage)
        from .outputs import keep_first  # (here: importing the model must not load the output code)

        keep_first(stage / name, root / name)  # the same build, finished first by another process, stays
        return root / name, True
    except OSError as exc:
        raise BuildError(f"cannot write the cache {root}: {exc.strerror or exc}", unavailable=True) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _remove_abandoned_builds(root: Path) -> None:
    """Remove the half-made build folders (``.build-*``, this module's) that a killed build left behind."""
    now = time.time()
    for d in root.glob(".build-*"):
        try:
            if now - d.stat().st_mtime > STALE_BUILD_DIR_SECONDS:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass


def _compile(src: Path, work: Path, group: str, log) -> None:
    names = [f"sim/model/{p.name}" for p in model_sources(src / "sim")]
    config = work / "mypy.ini"  # no user configuration: the build is the same on every machine
    config.write_text("[mypy]\n")
    mypy_args = [*MYPY_FLAGS, "--config-file", str(config), *names]
    proc = subprocess.run(
        [sys.executable, "-c", _SETUP, str(work / "out"), str(work / "tmp"), group, *mypy_args],
        cwd=src,
        capture_output=True,
        text=True,
        env={**os.environ, "SIM_NATIVE": "0", "CFLAGS": CFLAGS},
    )
    output = proc.stdout + proc.stderr
    if log is not None:
        log(output)
    if proc.returncode == 0:
        return
    type_errors = [ln for ln in output.splitlines() if re.match(r"^sim/\S+\.py:\d+: error:", ln)]
    if type_errors:  # the model does not type-check: a defect of the model, not of this machine
        raise BuildError(f"mypyc rejects the model: {type_errors[0]}")
    c_errors = [ln for ln in output.splitlines() if ": error:" in ln or "fatal error" in ln]
    last = c_errors[0] if c_errors else (output.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
    raise BuildError(f"the C compile failed: {last.strip()}", unavailable=True)


def _mypy_version() -> str:
    from mypy.version import __version__

    return __version__


def _run_python(code: str, cwd: Path, env: dict[str, str], *args: str) -> str:
    """The last line a Python snippet prints, run in ``cwd`` with ``env`` added; BuildError if it fails."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **env}
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        raise BuildError(f"the model does not run: {lines[-1] if lines else f'exit code {proc.returncode}'}")
    return proc.stdout.strip().splitlines()[-1]


def _imported_sources(src: Path) -> dict[str, str]:
    """SHA-256 of every ``sim`` module that importing the model loads, from the compiled copy ``src``
    (paths relative to it, as to the project)."""
    code = (
        "import json, sys; import sim.model; "
        "print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items() "
        "if (n == 'sim' or n.startswith('sim.')) and getattr(m, '__file__', None))))"
    )
    files = [Path(f).resolve() for f in json.loads(_run_python(code, src, {"SIM_NATIVE": "0"}))]
    root = src.resolve()
    outside = [f for f in files if not f.is_relative_to(root)]
    if outside:
        raise BuildError(f"the model imports {outside[0]}, outside the copy being compiled")
    return {f.relative_to(root).as_posix(): _sha(f) for f in files if f.suffix == ".py"}


# A run of one model (``python -c CHECK SCENARIO_DIR REPS``) on two small communities (both kinds of
# scheduling, a later wave) and on the scenarios in SCENARIO_DIR, if any: prints whether it ran compiled
# and a digest of every column and the event count of REPS replications of each (tests/test_native.py too).
CHECK = r"""
import hashlib, json, sys
from pathlib import Path
from sim import native
from sim.model import simulate_replication
from sim.scenario import load_scenario, scenario_from_dict
small = scenario_from_dict({
    "name": "check", "seed": 11,
    "waves": {"initial": {"follow_up_months": 6}, "later": {"follow_up_months": 4, "experienced": True}},
    "communities": [
        {"name": "A", "wave": "initial", "scheduling": "unstructured", "providers": 3, "consumers": 9},
        {"name": "B", "wave": "later", "start_month": 2, "scheduling": "structured", "providers": 2, "consumers": 6},
    ],
})
scenarios = [small] + [load_scenario(p) for p in sorted(Path(sys.argv[1]).glob("*.yaml"))]
h = hashlib.sha256()
for sc in scenarios:
    for r in range(int(sys.argv[2])):
        res = simulate_replication(sc, r)
        h.update(repr((res.events, sorted((t, sorted(c.items())) for t, c in res.columns.items()))).encode())
print(json.dumps([native.status().compiled, h.hexdigest()]))
"""


def _verify(cache: Path) -> None:
    """Refuse the build in the folder ``cache`` (its only build) if its tables differ from the source model's."""
    scenarios = str(PACKAGE.parent / "scenarios")
    source = json.loads(_run_python(CHECK, PACKAGE.parent, {"SIM_NATIVE": "0"}, scenarios, "2"))
    compiled = json.loads(
        _run_python(CHECK, PACKAGE.parent, {"SIM_NATIVE": "1", "SIM_NATIVE_DIR": str(cache)}, scenarios, "2")
    )
    if compiled[0] is not True or compiled[1] != source[1]:
        why = "is not used" if compiled[0] is not True else "gives other tables than its source"
        raise BuildError(f"the compiled model {why}; the model runs from its source")
