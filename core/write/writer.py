"""The only code that writes to an image.

A :class:`WritePlan` (built by a pure planner such as :mod:`vhdxray.core.write.update`) lists
exact byte ranges to write, in order. :func:`execute` carries it out safely:

1. open read-write (never create or truncate), take the locks (:mod:`.locking`);
2. check every range still holds the bytes the planner saw (else the image changed: refuse);
3. save every byte range it will overwrite, and the file size, into a backup file, fsync it;
4. for each write: write, fsync, read back and compare, run the plan's own verification;
   stop at the first problem;
5. extend the file when the plan asks (log replay), fsync, release the locks.

Nothing is written when a refusal is raised; after a failure the backup restores the image.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vhdxray.core.fileio import open_regular, pread_exact, pwrite_all
from vhdxray.core.write.backup import BackupError, BackupRange, write_backup
from vhdxray.core.write.locking import LockUnavailable, lock_image


class WriteRefused(Exception):
    """The write was not started; nothing changed. The message says why, in plain words."""


class WriteFailed(Exception):
    """Writing started and failed part-way. ``backup_path`` restores the image."""

    def __init__(self, message: str, backup_path: Path | None) -> None:
        super().__init__(message)
        self.backup_path = backup_path


Verify = Callable[[bytes], str | None]
"""Given the bytes read back, return a problem in plain words, or None when all is well."""


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    offset: int
    data: bytes
    label: str  # e.g. "header slot 2 (sequence 11)"
    expected: bytes | None = None  # what the planner saw there; None: don't check
    verify: Verify | None = None


@dataclass(frozen=True, slots=True)
class WritePlan:
    operation: str  # e.g. "update-headers"
    writes: tuple[PlannedWrite, ...]
    extend_to: int | None = None  # make the file at least this long after the writes
    # Index of the write after which to extend (None: after the last write; -1: before the
    # first write, so that metadata written later never points past the end of the file).
    extend_after: int | None = None


@dataclass(frozen=True, slots=True)
class WriteHooks:
    """Test hooks to simulate crashes: ``tear`` may shorten a write's data (a torn write),
    ``after_write`` runs after write *i* is durable and may raise to stop the run."""

    tear: Callable[[int, PlannedWrite], bytes] | None = None
    after_write: Callable[[int], None] | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    backup_path: Path
    writes_done: int
    bytes_written: int
    extended_to: int | None = None
    labels: tuple[str, ...] = field(default=())


def open_for_writing(path: Path) -> int:
    """Open ``path`` read-write and lock it; raise :class:`WriteRefused` with the reason."""
    try:
        fd = open_regular(path, os.O_RDWR)
    except OSError as exc:
        raise WriteRefused(f"cannot open {path} for writing: {exc.strerror or exc}") from exc
    try:
        lock_image(fd)
    except LockUnavailable as exc:
        os.close(fd)
        raise WriteRefused(str(exc)) from exc
    except OSError as exc:
        os.close(fd)
        raise WriteRefused(
            f"cannot lock {path} ({exc.strerror or exc}); vhdxray does not write unlocked"
        ) from exc
    return fd


def execute(
    path: str | os.PathLike[str],
    plan: WritePlan,
    *,
    backup_dir: str | os.PathLike[str] | None = None,
    hooks: WriteHooks | None = None,
) -> WriteResult:
    """Carry out ``plan`` on the image at ``path`` (see the module docstring)."""
    image = Path(path)
    fd = open_for_writing(image)
    try:
        size_before = os.fstat(fd).st_size
        ranges: list[BackupRange] = []
        for w in plan.writes:
            before = pread_exact(fd, w.offset, len(w.data))
            if w.expected is not None and before != w.expected[: len(w.data)]:
                raise WriteRefused(
                    f"{w.label} changed since the image was read; reload and try again"
                )
            ranges.append(BackupRange(w.offset, before, w.data))
        try:
            backup_path = write_backup(
                image,
                operation=plan.operation,
                ranges=ranges,
                size_before=size_before,
                size_after=_size_after(size_before, plan),
                backup_dir=Path(backup_dir) if backup_dir is not None else None,
            )
        except BackupError as exc:
            raise WriteRefused(str(exc)) from exc
        written = 0
        extended: int | None = None
        if plan.extend_to is not None and plan.extend_after == -1:
            extended = _extend(fd, plan.extend_to, backup_path)
        for i, w in enumerate(plan.writes):
            data = w.data if hooks is None or hooks.tear is None else hooks.tear(i, w)
            try:
                pwrite_all(fd, w.offset, data)
                os.fsync(fd)
                back = pread_exact(fd, w.offset, len(w.data))
            except OSError as exc:
                raise WriteFailed(
                    f"writing {w.label} failed: {exc.strerror or exc}", backup_path
                ) from exc
            if back != w.data:
                raise WriteFailed(
                    f"{w.label} reads back differently from what was written", backup_path
                )
            problem = w.verify(back) if w.verify is not None else None
            if problem is not None:
                raise WriteFailed(f"{w.label}: {problem}", backup_path)
            written += len(w.data)
            if hooks is not None and hooks.after_write is not None:
                hooks.after_write(i)
            if plan.extend_to is not None and plan.extend_after == i:
                extended = _extend(fd, plan.extend_to, backup_path)
        if plan.extend_to is not None and plan.extend_after is None:
            extended = _extend(fd, plan.extend_to, backup_path)
        return WriteResult(
            backup_path=backup_path,
            writes_done=len(plan.writes),
            bytes_written=written,
            extended_to=extended,
            labels=tuple(w.label for w in plan.writes),
        )
    finally:
        os.close(fd)


def _size_after(size_before: int, plan: WritePlan) -> int:
    end = max((w.offset + len(w.data) for w in plan.writes), default=0)
    return max(size_before, end, plan.extend_to or 0)


def _extend(fd: int, size: int, backup_path: Path) -> int | None:
    try:
        if os.fstat(fd).st_size >= size:
            return None
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError as exc:
        raise WriteFailed(f"extending the file failed: {exc.strerror or exc}", backup_path) from exc
    return size


def truncate_image(path: str | os.PathLike[str], size: int, *, expected_size: int) -> None:
    """Cut the image back to ``size`` (undoing an extension), under the same locks; refuse
    unless the file is still ``expected_size`` bytes."""
    fd = open_for_writing(Path(path))
    try:
        current = os.fstat(fd).st_size
        if current != expected_size:
            raise WriteRefused(
                f"the image is {current} bytes, expected {expected_size}; not truncating"
            )
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)
