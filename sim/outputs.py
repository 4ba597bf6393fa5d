"""Destinations: where the commands write, and how they never lose a user's files.

Every command that writes a folder (``run``, ``analyze``, ``compare``, ``power``, ``calibrate``)
goes through :func:`destination`:

- a destination that exists and was not written by this tool (no :data:`MARKER` and no
  ``manifest.json`` of ours in it) is refused with one line, unless ``force``; an existing *file* is
  always refused (a folder never replaces a file);
- the destination is locked (``DEST_PARENT/.DEST_NAME.lock``, ``flock``) so that two commands
  never write it at the same time;
- results are built in a temporary folder beside the destination (:func:`write_folder`) and moved
  into place only when complete: an existing folder of ours is replaced only then;
- every ``OSError`` while writing (permissions, read-only filesystem, no space, a path under a
  file, a name too long) becomes a :class:`DestinationError` whose ``str()`` is one line naming the
  path and the cause; the temporary folder is removed.

Nothing outside the destination, its temporary folder, its lock and (for ``run``) its work folder
is ever deleted.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

PACKAGE = "peer-support-sim"
MARKER = ".peer-support-sim"  # written into every folder this tool writes (with the command that wrote it)


class DestinationError(ValueError):
    """A refused or failed write; ``str()`` is one line naming the path and the cause."""


# ---------------------------------------------------------------------------------------------
# OS errors as one line
# ---------------------------------------------------------------------------------------------
_HINTS = {
    errno.ENOSPC: "no space left on the device: free some space or choose another --out",
    errno.EDQUOT: "disk quota exceeded: free some space or choose another --out",
    errno.EROFS: "read-only file system: choose a writable --out",
    errno.EACCES: "permission denied: choose a folder you can write",
    errno.EPERM: "operation not permitted: choose a folder you can write",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "exists already",
    errno.ENAMETOOLONG: "file name too long",
    errno.EISDIR: "is a folder",
}


def describe_os_error(exc: OSError, path: Path | str | None = None) -> str:
    """One line for an ``OSError`` while writing ``path`` (the destination): ``cannot write PATH: CAUSE``,
    with the file that failed when it is not ``path`` itself (a lock, a temporary or work file)."""
    failed = exc.filename
    where = path if path is not None else failed
    cause = _HINTS.get(exc.errno or -1) or (exc.strerror or type(exc).__name__)
    if exc.errno == errno.ENOTDIR:
        blocker = _file_in_path(Path(failed if failed is not None else where or "."))
        if blocker is not None:
            cause = f"{blocker} is a file, not a folder"
    at = f" (at {failed})" if failed is not None and path is not None and str(failed) != str(path) else ""
    return " ".join(f"cannot write {where if where is not None else 'output'}: {cause}{at}".split())


def _file_in_path(path: Path) -> Path | None:
    """The first component of ``path`` that exists and is not a folder (a path under a file)."""
    for p in [*reversed(path.parents), path]:
        if p.exists() and not p.is_dir():
            return p
    return None


# ---------------------------------------------------------------------------------------------
# Ownership: was a folder written by this tool?
# ---------------------------------------------------------------------------------------------
def _marker(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("package") == PACKAGE else None


def written_by_us(folder: Path) -> bool:
    """Whether this tool wrote ``folder`` as a whole: our :data:`MARKER` (without an ``entries`` list,
    which marks only some entries of someone else's folder) or a ``manifest.json`` naming this package."""
    folder = Path(folder)
    marker = _marker(folder)
    if marker is not None and marker.get("entries") is None:
        return True
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("package") == PACKAGE


def entries_by_us(folder: Path) -> set[str]:
    """Names in someone else's ``folder`` that this tool added (``analyze`` in place)."""
    marker = _marker(folder) or {}
    return set(marker.get("entries") or ())


def write_marker(folder: Path, command: str, entries: list[str] | None = None) -> None:
    """Mark ``folder`` as written by this tool (``.peer-support-sim``: the command that wrote it), or,
    with ``entries``, only those entries of a folder that is not ours."""
    data: dict[str, Any] = {"package": PACKAGE, "command": command}
    if entries is not None:
        data["entries"] = sorted(entries)
    (Path(folder) / MARKER).write_text(json.dumps(data) + "\n", encoding="utf-8")


def check_destination(
    dest: Path, force: bool = False, option: str = "--out", ours: Callable[[Path], bool] = written_by_us
) -> None:
    """Refuse a destination that is a file, lies under a file, or is a non-empty folder this tool did
    not write (unless ``force``). ``ours`` decides what counts as written by this tool."""
    dest = Path(dest)
    blocker = _file_in_path(dest)
    if blocker == dest:
        raise DestinationError(f"{option}: {dest} exists and is a file, not a folder; choose another {option}")
    if blocker is not None:
        raise DestinationError(f"{option}: cannot create {dest}: {blocker} is a file, not a folder")
    if dest.is_dir() and not force and any(dest.iterdir()) and not ours(dest):
        raise DestinationError(
            f"{option}: {dest} exists and was not written by {PACKAGE} (no manifest.json or {MARKER} in it); "
            f"choose another {option}, or add --force to replace it"
        )


# ---------------------------------------------------------------------------------------------
# Lock
# ---------------------------------------------------------------------------------------------
def lock_path(dest: Path) -> Path:
    dest = Path(dest)
    return dest.parent / f".{dest.name}.lock"


def acquire_lock(dest: Path) -> Any:
    """Lock ``dest`` against a second writer (an ``flock`` on ``.DEST.lock``, released by the OS if the
    process dies); :class:`DestinationError` if another command holds it. Release with :func:`release_lock`."""
    import fcntl

    path = lock_path(dest)
    created = [p for p in [path.parent, *path.parent.parents] if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fh = open(path, "a")  # noqa: SIM115 -- held open for the lock's lifetime
    except OSError:
        _remove_empty(created)
        raise
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise DestinationError(
            f"another command is writing {dest} (lock {path}); wait for it or choose another --out"
        ) from None
    return (fh, path, created)


def release_lock(lock: Any) -> None:
    """Release the lock, and remove the parent folders it created if nothing was written in them."""
    fh, path, created = lock
    with suppress(OSError):
        path.unlink()
    fh.close()
    _remove_empty(created)


def _remove_empty(folders: list[Path]) -> None:
    for p in folders:  # deepest first
        with suppress(OSError):
            p.rmdir()


# ---------------------------------------------------------------------------------------------
# Building a folder and moving it into place
# ---------------------------------------------------------------------------------------------
def temp_path(dest: Path) -> Path:
    dest = Path(dest)
    return dest.parent / f".{dest.name}.tmp-{os.getpid()}"


def move_into_place(tmp: Path, dest: Path) -> None:
    """Replace ``dest`` by the finished folder or file ``tmp``. A file is replaced atomically
    (``os.replace``); an existing folder is moved aside first and removed only once ``tmp`` is in
    place (on failure it is put back)."""
    tmp, dest = Path(tmp), Path(dest)
    if not dest.exists() or not (tmp.is_dir() or dest.is_dir()):
        os.replace(tmp, dest)
        return
    old = dest.parent / f".{dest.name}.old-{os.getpid()}"
    _remove(old)
    os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except BaseException:
        os.replace(old, dest)
        raise
    _remove(old)


def _remove(path: Path) -> None:
    """Remove a file or folder this tool made (a temporary one), if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with suppress(FileNotFoundError, IsADirectoryError):
            path.unlink()


def keep_first(tmp: Path, dest: Path) -> None:
    """Commit for :func:`staged` when ``dest`` may have been written already by someone else (a chunk
    computed twice): move ``tmp`` into place unless ``dest`` exists, in which case the first one stays."""
    try:
        os.replace(tmp, dest)
    except OSError:
        if not dest.exists():
            raise


@contextmanager
def staged(
    dest: Path | str, tmp: Path | str | None = None, commit: Callable[[Path, Path], None] = move_into_place
) -> Iterator[Path]:
    """The one way this tool writes anything that must never be seen half-written: yield a fresh
    temporary path beside ``dest`` (``tmp``, default :func:`temp_path`), in which the block writes a
    file or builds a folder; when the block completes, ``commit(tmp, dest)`` moves it into place
    (default :func:`move_into_place`; :func:`keep_first`; or :func:`merge_into_place`). If the block
    or the commit fails, the temporary path is removed and ``dest`` is left as it was."""
    dest = Path(dest)
    tmp = temp_path(dest) if tmp is None else Path(tmp)
    _remove(tmp)
    try:
        yield tmp
        commit(tmp, dest)
    finally:
        _remove(tmp)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write a file through :func:`staged`: readers see the old file or the whole new one, never a part."""
    with staged(path) as tmp:
        tmp.write_bytes(data)


def merge_files_into_place(tmp: Path, dest: Path, last: tuple[str, ...] = ()) -> None:
    """Commit for :func:`staged` into a folder that holds other files worth keeping (the calibration's
    folder, with the recovery's and validation's files beside the calibration's): move every file of the
    finished folder ``tmp`` (subfolders included) to the same place under ``dest``, each replaced
    atomically (``os.replace``), the files named in ``last`` (paths relative to ``tmp``) after the others;
    files of ``dest`` that ``tmp`` does not have stay. Each file is whole, old or new; a move that fails
    part-way leaves the files moved so far new and the others old (hence ``last``: the file that makes
    the others count, moved once they are in place)."""
    dest.mkdir(parents=True, exist_ok=True)
    files = [p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file()]
    for rel in sorted(files, key=lambda f: (f in last, f)):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / rel, target)


def merge_into_place(tmp: Path, dest: Path, force: bool = False, command: str = "") -> None:
    """Move every top-level entry of the finished folder ``tmp`` into ``dest``, replacing entries of the
    same name only (``analyze`` into a data folder: the folder's other files are inputs and stay). In a
    folder this tool did not write, an existing entry is replaced only if this tool added it (or with
    ``force``), and the added entries are recorded in its marker."""
    dest.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in tmp.iterdir() if p.name != MARKER)
    ours = written_by_us(dest)
    if not ours:
        mine = entries_by_us(dest)
        clash = [n for n in names if (dest / n).exists() and n not in mine]
        if clash and not force:
            raise DestinationError(
                f"{dest}: would replace {', '.join(clash[:3])}{' ...' if len(clash) > 3 else ''}, which this tool "
                "did not write; choose --out, or add --force to replace"
            )
    for name in names:
        p, target = tmp / name, dest / name
        if p.is_dir() and target.exists():
            move_into_place(p, target)
        else:
            os.replace(p, target)
    if not ours:
        write_marker(dest, command, sorted(entries_by_us(dest) | set(names)))


def write_folder(
    dest: Path | str,
    writer: Callable[[Path], Any],
    *,
    force: bool = False,
    command: str | None = None,
    merge: bool = False,
    lock: bool = False,
) -> Any:
    """Call ``writer(tmp)`` on a fresh temporary folder next to ``dest``, mark it as ours and move it into
    place (``merge``: entry by entry, see :func:`merge_into_place`). On any error the temporary
    folder is removed and ``dest`` is left as it was; an ``OSError`` becomes :class:`DestinationError`.
    ``force=False`` refuses a destination this tool did not write (:func:`check_destination`);
    ``lock=True`` holds the destination's lock while writing (commands hold it for their whole run
    with :func:`claim`, and leave this off)."""
    dest = Path(dest)
    check_destination(dest, force=force or merge)

    def commit(tmp: Path, dest: Path) -> None:
        if merge:
            merge_into_place(tmp, dest, force=force, command=command or "")
        else:
            write_marker(tmp, command or "")
            move_into_place(tmp, dest)

    with destination_lock(dest, enabled=lock):
        try:
            with staged(dest, commit=commit) as tmp:
                tmp.mkdir()
                result = writer(tmp)
        except OSError as exc:
            raise DestinationError(describe_os_error(exc, dest)) from None
    return result


@contextmanager
def destination_lock(dest: Path, enabled: bool = True) -> Iterator[None]:
    """Hold :func:`acquire_lock` on ``dest`` for the block (creating its parent folder); an ``OSError``
    while creating the parent or the lock becomes :class:`DestinationError`."""
    if not enabled:
        yield
        return
    try:
        lk = acquire_lock(dest)
    except OSError as exc:
        raise DestinationError(describe_os_error(exc, dest)) from None
    try:
        yield
    finally:
        release_lock(lk)


@contextmanager
def claim(
    dest: Path | str,
    force: bool = False,
    option: str = "--out",
    merge: bool = False,
    ours: Callable[[Path], bool] = written_by_us,
) -> Iterator[Path]:
    """A command's hold on its destination, from before any work until the result is in place:
    :func:`check_destination` (``merge``: only that it is not a file; entries are checked when merged),
    then the lock; ``OSError`` inside the block becomes :class:`DestinationError` (one line with the
    path and the cause)."""
    dest = Path(dest)
    check_destination(dest, force=force or merge, option=option, ours=ours)
    with destination_lock(dest):
        try:
            yield dest
        except OSError as exc:
            raise DestinationError(describe_os_error(exc, dest)) from None
