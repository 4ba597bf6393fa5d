"""The model compiled with mypyc: the same source, run as C (optional; about 1.4 times as fast).

``python cli.py build-native`` compiles the model's modules (``sim/model/*.py`` but its ``__init__``)
with mypyc, the compiler the mypy project uses for mypy itself, into a folder of the user's cache
(``$SIM_NATIVE_DIR``, else ``$XDG_CACHE_HOME/peer-support-sim/native``, else
``~/.cache/peer-support-sim/native``). The folder's name is a hash of the model's sources and this
Python's extension suffix, and it holds a manifest listing every ``sim`` module the model imports with
the SHA-256 of its source.

When ``sim.model`` is imported, :func:`use_compiled` puts the compiled modules first on the package's
path only if that manifest matches the sources on disk, file by file. So an edited model, or an edit
to any module it imports, runs from its Python source until it is rebuilt: compiled code is never
stale. ``SIM_NATIVE=0`` runs the Python source regardless.

The compiled and the Python model give the same tables, byte for byte (``tests/test_native.py``): the
compiler keeps Python's semantics and the same floating-point operations, and the model's types are
checked by mypy as it compiles (a value of another type than its annotation is an error, never a
conversion). Where no C compiler is available the model runs from its source, as it always did.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent  # .../sim
MODEL = PACKAGE / "model"
MANIFEST = "manifest.json"
GROUP = "sim_model_native"  # the shared library's module name: sim_model_native__mypyc
# mypy options for the compile: only the compiled modules are type-checked (follow_imports=silent),
# and third-party packages without type information (SimPy, SciPy) are used through Python's API.
MYPY_FLAGS = ("--ignore-missing-imports", "--follow-imports=silent")


def cache_root() -> Path:
    """Where compiled models are kept (see the module docstring)."""
    if os.environ.get("SIM_NATIVE_DIR"):
        return Path(os.environ["SIM_NATIVE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "peer-support-sim" / "native"


def model_sources() -> list[Path]:
    """The modules mypyc compiles: every ``sim/model/*.py`` except the package's ``__init__``."""
    return sorted(p for p in MODEL.glob("*.py") if p.name != "__init__.py")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_key() -> str:
    """The compiled model's folder name: a hash of the model's sources and this Python's ABI."""
    h = hashlib.sha256(importlib.machinery.EXTENSION_SUFFIXES[0].encode())
    for p in model_sources():
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
    if "model" in _decided:
        return _decided["model"]
    folder, reason = find_build()
    return Status(folder is not None, reason, folder)


def find_build() -> tuple[Path | None, str]:
    """The compiled model that matches the sources on disk, or None and why there is none."""
    if os.environ.get("SIM_NATIVE", "1") == "0":
        return None, "SIM_NATIVE=0"
    folder = cache_root() / build_key()
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        return None, "not compiled: python cli.py build-native"
    except (OSError, ValueError) as exc:
        return None, f"unreadable compiled model {folder}: {exc}"
    for name, digest in manifest["sources"].items():
        path = PACKAGE.parent / name
        if not path.is_file() or _sha(path) != digest:
            return None, f"{name} changed since the model was compiled: python cli.py build-native"
    return folder, ""


def use_compiled(package_path: list[str]) -> None:
    """Called by ``sim/model/__init__.py`` before it imports its modules: put the compiled modules
    first on ``package_path`` (the package's ``__path__``) if they match the sources on disk."""
    folder, reason = find_build()
    if folder is None:
        _decided["model"] = Status(False, reason)
        return
    _load_shared_library(folder)
    package_path.insert(0, str(folder / "sim" / "model"))
    _decided["model"] = Status(True, "", folder)


def _load_shared_library(folder: Path) -> None:
    """Import the compiled modules' shared library (``sim_model_native__mypyc``, which each compiled
    module imports by name) from ``folder`` without putting ``folder`` on ``sys.path``: that would make its
    ``sim/`` a namespace package for any process that inherits the path (a spawned worker)."""
    import importlib.util

    name = f"{GROUP}__mypyc"
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, folder / (name + importlib.machinery.EXTENSION_SUFFIXES[0]))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_SETUP = """
import sys
from mypyc.build import mypycify
from setuptools import setup
out, tmp, *args = sys.argv[1:]
setup(
    name="sim_model_native",
    ext_modules=mypycify(args, opt_level="3", group_name="{group}"),
    script_args=["build_ext", "--build-lib", out, "--build-temp", tmp],
)
"""


class BuildError(RuntimeError):
    """The model could not be compiled; the message says why. ``unavailable``: this machine cannot compile
    (mypyc or a C compiler missing), as opposed to a model the compiler rejects."""

    def __init__(self, message: str, unavailable: bool = False):
        super().__init__(message)
        self.unavailable = unavailable


def _c_compiler() -> str | None:
    """The C compiler setuptools would call (``$CC``, else Python's own build's), if it is installed."""
    import shlex
    import sysconfig

    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shutil.which(shlex.split(cc)[0])


def build(log=None) -> tuple[Path, bool]:
    """Compile the model unless a matching build exists: (its folder, whether it was built now).

    The build runs in a temporary folder beside the cache (a copy of the ``sim`` sources, so the
    project's own files are never written) and is renamed into place when complete."""
    root = cache_root()
    folder = root / build_key()
    if (folder / MANIFEST).is_file() and find_build()[0] == folder:
        return folder, False
    try:
        import mypyc  # noqa: F401
    except ImportError as exc:
        raise BuildError("mypyc is not installed: pip install -e '.[native]'", unavailable=True) from exc
    if _c_compiler() is None:
        raise BuildError("no C compiler found (set CC, or install gcc or clang)", unavailable=True)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        src, out = work / "src", work / "out"
        shutil.copytree(PACKAGE, src / "sim", ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyc"))
        names = [f"sim/model/{p.name}" for p in model_sources()]
        proc = subprocess.run(
            [sys.executable, "-c", _SETUP.format(group=GROUP), str(out), str(work / "tmp"), *MYPY_FLAGS, *names],
            cwd=src,
            capture_output=True,
            text=True,
            env={**os.environ, "SIM_NATIVE": "0"},
        )
        if log is not None:
            log(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "error" in ln.lower()]
            raise BuildError(f"mypyc failed: {lines[0] if lines else 'exit code ' + str(proc.returncode)}")
        sources = _imported_sources()
        (out / MANIFEST).write_text(json.dumps({"sources": sources, "python": sys.version}, indent=1) + "\n")
        if folder.exists():  # a build of the same model sources whose imported modules have changed since
            shutil.rmtree(folder)
        out.rename(folder)
        return folder, True
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _imported_sources() -> dict[str, str]:
    """SHA-256 of every ``sim`` module that importing the model loads (paths relative to the project)."""
    code = (
        "import json, sys; import sim.model; "
        "print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items() "
        "if (n == 'sim' or n.startswith('sim.')) and getattr(m, '__file__', None))))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SIM_NATIVE": "0"},
    )
    files = [Path(f).resolve() for f in json.loads(proc.stdout)]
    return {str(f.relative_to(PACKAGE.parent)): _sha(f) for f in files if f.suffix == ".py"}
