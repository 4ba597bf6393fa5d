"""The work folder of an on-disk run (``DEST_PARENT/.DEST_NAME.work``): its metadata, the checks that let
``--resume`` reuse finished chunks only for the same run, the destination's lock, and cleaning up after a
failed write."""

from __future__ import annotations

import hashlib
import json
import shutil
from contextlib import suppress
from pathlib import Path
from typing import Any

from ..outputs import DestinationError, acquire_lock, atomic_write_bytes, describe_os_error, release_lock, temp_path
from .base import ResumeError, RunnerError, WriteError
from .chunks import finished_chunks


def scenario_hash(scenario: Any) -> str:
    """SHA-256 of the validated scenario (model parameters included; seed and replications
    excluded: they are checked separately). Comments and formatting of the file do not count."""
    data = scenario.model_dump(mode="json", exclude={"seed", "replications", "source_path", "source_sha256"})
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def work_dir_for(out_dir: Path) -> Path:
    """The stable work folder of a destination: ``DEST_PARENT/.DEST_NAME.work``."""
    out_dir = Path(out_dir)
    return out_dir.parent / f".{out_dir.name}.work"


def _check_stale_work(work: Path, meta: dict[str, Any], resume: bool, discard: bool, chunk_size_free: bool) -> None:
    """``resume``: check the work folder came from the same run. Otherwise refuse to discard the finished
    chunks of an interrupted run silently (unless ``discard``): say how to reuse or discard them."""
    if not work.exists():
        return
    if resume:
        _resume_meta(work, meta, chunk_size_free)
        return
    if discard:
        return
    done = finished_chunks(work)
    if done:
        raise RunnerError(
            f"{work} holds {done} finished chunk{'s' if done > 1 else ''} of an interrupted run: add --resume to "
            "reuse them (same scenario, seed and replications), or --force to discard them"
        )


def _check_resume(work: Path, meta: dict[str, Any]) -> None:
    try:
        old = {"table_format": "csv", **json.loads((work / "meta.json").read_text())}  # older folders: CSV
    except (OSError, ValueError):
        raise ResumeError(
            f"cannot resume: {work} has no readable meta.json; run without --resume to start afresh"
        ) from None
    labels = {
        "scenario_hash": "a different scenario",
        "seed": "seed {old}",
        "replications": "{old} replications",
        "package_version": "package version {old}",
        "chunk_size": "chunk size {old}",
        "post": "post-processing {old}",
        "precision": "precision {old}",
        "format": "work-folder format {old}",
        "table_format": "table format {old}",
    }
    for k, msg in labels.items():
        if old.get(k) != meta.get(k):
            what = msg.format(old=old.get(k))
            raise ResumeError(
                f"cannot resume {work}: it was made from {what} (now: "
                f"{meta.get(k) if k != 'scenario_hash' else 'changed'}); "
                "run without --resume to start afresh"
            )


def _resume_meta(work: Path, meta: dict[str, Any], chunk_size_free: bool) -> None:
    """Check that ``work`` was made by the same run (else :class:`ResumeError`); an unspecified chunk
    size takes the stored one."""
    if (work / "meta.json").exists() and chunk_size_free:
        with suppress(OSError, ValueError):
            meta["chunk_size"] = int(json.loads((work / "meta.json").read_text()).get("chunk_size", meta["chunk_size"]))
    _check_resume(work, meta)


def _prepare_work(out_dir: Path, meta: dict[str, Any], resume: bool, chunk_size_free: bool) -> Path:
    """Create (or, with ``resume``, check and reuse) the work folder; ``meta['chunk_size']`` takes the
    stored chunk size when resuming without an explicit one."""
    work = work_dir_for(out_dir)
    chunks_dir = work / "chunks"
    if work.exists() and resume:
        _resume_meta(work, meta, chunk_size_free)
    elif work.exists():
        shutil.rmtree(work)
    chunks_dir.mkdir(parents=True, exist_ok=True)
    if not (work / "meta.json").exists():
        atomic_write_bytes(work / "meta.json", json.dumps(meta, indent=1).encode())
    for stale in chunks_dir.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return work


def _write_failure(exc: OSError, out_dir: Path) -> str:
    """Clean up after an ``OSError`` (temporary folders; the work folder unless it holds finished chunks)
    and describe it in one line, with how to resume when chunks were kept."""
    work = work_dir_for(out_dir)
    shutil.rmtree(temp_path(out_dir), ignore_errors=True)
    remove_partial_chunks(work / "chunks")
    msg = describe_os_error(exc, out_dir)
    done = finished_chunks(work)
    if done:
        return f"{msg}; {done} finished chunk{'s' if done > 1 else ''} kept in {work}: add --resume to continue"
    shutil.rmtree(work, ignore_errors=True)
    return msg


def remove_partial_chunks(chunks_dir: Path) -> None:
    """Remove the half-written chunk folders (``.tmp-*``) a failed or stopped worker left behind."""
    with suppress(OSError):
        for stale in chunks_dir.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)


def _lock(out_dir: Path) -> Any:
    """Refuse a second command writing the same destination at the same time (:func:`sim.outputs.acquire_lock`)."""
    try:
        return acquire_lock(out_dir)
    except DestinationError as exc:
        raise RunnerError(str(exc)) from None
    except OSError as exc:  # the parent folder cannot be created, or the lock file cannot be written
        raise WriteError(describe_os_error(exc, out_dir)) from None


def _unlock(lock: Any) -> None:
    release_lock(lock)
