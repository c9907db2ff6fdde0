"""The write session: the only code that writes to an image.

``with WriteSession(path) as s:`` opens the image read-write once (never creating or
truncating it), takes the exclusive lock and QEMU's lock bytes once (:mod:`.locking`) and holds
them until the block ends, across every step of a repair: the re-reads between steps
(:meth:`WriteSession.read_report`) go through the same descriptor, so no other program can
open the image in the middle of a multi-step repair. For each :class:`WritePlan`,
:meth:`WriteSession.execute`:

1. checks every range still holds the bytes the planner saw (else: refused, nothing written);
2. saves every byte range it will overwrite, and the file size, into a backup file (fsynced,
   unless the image is a copy this process just made: its original is the way back);
3. for each write: write, read back and compare, run the plan's own verification; stops at
   the first problem (:class:`WriteFailed`, naming the backup). Each write is fsynced before
   the next when their order matters (``WritePlan.flush_each``: a header update's two slots,
   MS-VHDX §2.2.2.1); otherwise (a log replay's pages, which may land in any order because
   the replay is idempotent and LogGuid stays set until a later step) one fsync ends the plan;
4. extends the file when the plan asks (log replay).

A staged copy (``repair --output``: :class:`~vhdxray.core.write.imagecopy.StagedCopy`, written
under a hidden name, published under ``name`` once the session is over) is flushed once when
it is published, not per write: until then no file has its name, and its original is intact.

:meth:`WriteSession.read_report` re-reads the image only when the session wrote to it since
the last read: the image is locked, so nothing else changed it (issue 9: a replay re-read the
whole image between steps that had written nothing).

``session.backups`` lists every backup made in the session, oldest first. ``hooks.on_step`` is
told each phase ("locked", "read", "backup", "write", "verify", "truncate", "unlock") so tests
can watch the locks from another process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import TracebackType

from vhdxray.core.fileio import open_regular, path_text, pread_exact, probe_sectors, pwrite_all
from vhdxray.core.format import layout
from vhdxray.core.format.record import record
from vhdxray.core.write.outcome import Option, RefusalCode, Refused, WriteFailed, suggest

TYPE_CHECKING = False
if TYPE_CHECKING:
    import uuid

    from vhdxray.core.analysis.reader import Report
    from vhdxray.core.progress import Progress

Verify = Callable[[bytes], str | None]
"""Given the bytes read back, return a problem in plain words, or None when all is well."""


@record
class PlannedWrite:
    offset: int
    data: bytes
    label: str  # e.g. "header slot 2 (sequence 11)"
    expected: bytes | None = None  # what the planner saw there; None: don't check
    verify: Verify | None = None


@record
class WritePlan:
    operation: str  # e.g. "update-headers": names the backup file
    writes: tuple[PlannedWrite, ...]
    extend_to: int | None = None  # make the file at least this long after the writes
    # Index of the write after which to extend (None: after the last write; -1: before the
    # first write, so that metadata written later never points past the end of the file).
    extend_after: int | None = None
    # True: fsync after every write (their order on disk matters); False: one fsync after the
    # last write (writes that may reach the disk in any order).
    flush_each: bool = True


@record
class WriteHooks:
    """Test hooks: ``tear`` may shorten a write's data (a torn write), ``after_write`` runs
    after write *i* is durable and may raise to stop the run (a crash), ``on_step`` is told
    each phase of the session."""

    tear: Callable[[int, PlannedWrite], bytes] | None = None
    after_write: Callable[[int], None] | None = None
    on_step: Callable[[str], None] | None = None


@record
class WriteResult:
    backup_path: str
    writes_done: int
    bytes_written: int
    extended_to: int | None = None
    labels: tuple[str, ...] = ()


def _open_locked(path: str) -> int:
    # Imported when a session opens, not with this module: the planners import the records
    # above, and a repair into a copy plans and starts copying before it opens a session.
    from vhdxray.core.write.locking import LockUnavailable, lock_image

    try:
        fd = open_regular(path, os.O_RDWR)
    except OSError as exc:
        raise Refused(
            RefusalCode.CANNOT_OPEN,
            f"cannot open {path} for writing: {exc.strerror or exc}",
            {"path": str(path)},
        ) from exc
    try:
        lock_image(fd)
    except LockUnavailable as exc:
        os.close(fd)
        raise Refused(RefusalCode.IN_USE, str(exc), {"path": str(path)}) from exc
    except OSError as exc:
        os.close(fd)
        raise Refused(
            RefusalCode.CANNOT_LOCK,
            f"cannot lock {path} ({exc.strerror or exc}); vhdxray does not write unlocked",
            {"path": str(path)},
        ) from exc
    return fd


class WriteSession:
    """One image opened for writing and locked for the whole ``with`` block."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | os.PathLike[str] | None = None,
        backup_dir: str | os.PathLike[str] | None = None,
        hooks: WriteHooks | None = None,
        progress: Progress | None = None,
    ) -> None:
        # Paths as str, written as pathlib writes them (fileio.path_text): no pathlib on the
        # write path (issue 9).
        self.file = path_text(path)  # the file opened and written
        # The image's name in reports and backups: a staged copy is written under a hidden
        # name and published under this one when the session is over.
        self.path = self.file if name is None else path_text(name)
        self.backup_dir = None if backup_dir is None else path_text(backup_dir)
        self.hooks = hooks
        self.progress = progress
        self.backups: list[str] = []
        self.file_write_guid: uuid.UUID | None = None  # set by the session's first header update
        self._fd = -1
        self._report: Report | None = None  # the last report read (see read_report)
        self._written: list[tuple[int, int]] = []  # ranges written since it was read
        self._staged = False  # a staged copy (see imagecopy.StagedCopy): nothing to flush

    # -- lifetime ------------------------------------------------------------------------

    def __enter__(self) -> WriteSession:
        from vhdxray.core.write.imagecopy import is_fresh_copy

        self._fd = _open_locked(self.file)
        self._staged = is_fresh_copy(self._fd)
        self.step("locked")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            self.step("unlock")
            os.close(self._fd)
            self._fd = -1

    @property
    def fd(self) -> int:
        if self._fd < 0:
            raise RuntimeError("the write session is not open")
        return self._fd

    def step(self, name: str) -> None:
        if self.hooks is not None and self.hooks.on_step is not None:
            self.hooks.on_step(name)

    # -- reading through the session's descriptor --------------------------------------------

    @property
    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def read_at(self, offset: int, length: int) -> bytes:
        size = self.size
        if length <= 0 or offset < 0 or offset >= size:
            return b""
        return pread_exact(self.fd, offset, min(length, size - offset))

    def probe(self, offset: int, length: int, step: int, signature: bytes) -> list[int]:
        """As :meth:`vhdxray.core.source.ImageSource.probe`, through the locked descriptor."""
        length = min(length, self.size - offset)
        if offset < 0 or length <= 0:
            return []
        return probe_sectors(self.fd, offset, length, step, signature)

    def read_report(self) -> Report:
        """The image as it is now, read through the locked descriptor: the last report again
        when the session has written nothing since it was read; when it wrote only inside the
        two header slots (a header update), the last report with the header section read again
        (:func:`~vhdxray.core.analysis.reader.reread_headers`); otherwise the whole image is
        read and analysed."""
        from vhdxray.core.analysis.reader import read_report_from, reread_headers

        self.step("read")
        if self._report is not None and self._written:
            # Writes only inside the two header slots (a header update): the rest stands.
            inside = all(
                _HEADER_SLOTS[0] <= start and end <= _HEADER_SLOTS[1]
                for start, end in self._written
            )
            self._report = reread_headers(self._report, self.read_at, self.size) if inside else None
        self._written = []
        if self._report is None:
            self._report = read_report_from(self, self.path)
        return self._report

    # -- writing ---------------------------------------------------------------------------

    def execute(self, plan: WritePlan) -> WriteResult:
        """Carry out ``plan`` (see the module docstring); the backup is added to
        :attr:`backups` as soon as it exists."""
        from vhdxray.core.write.backup import BackupError, BackupRange, write_backup

        fd = self.fd
        hooks = self.hooks
        size_before = os.fstat(fd).st_size
        ranges: list[BackupRange] = []
        for w in plan.writes:
            before = pread_exact(fd, w.offset, len(w.data))
            if w.expected is not None and before != w.expected[: len(w.data)]:
                raise Refused(
                    RefusalCode.CHANGED,
                    f"{w.label} changed since the image was read; reload and try again",
                    {"label": w.label, "offset": w.offset},
                )
            ranges.append(BackupRange(w.offset, before, w.data))
        self.step("backup")
        try:
            backup_path = write_backup(
                self.path,
                operation=plan.operation,
                ranges=ranges,
                size_before=size_before,
                size_after=_size_after(size_before, plan),
                backup_dir=self.backup_dir,
                durable=not self._staged,
            )
        except BackupError as exc:
            elsewhere = suggest(Option.BACKUP_DIR) if exc.another_folder_helps else ()
            raise Refused(RefusalCode.BACKUP_FAILED, str(exc), suggest=elsewhere) from exc
        self.backups.append(backup_path)
        self._written.extend((w.offset, w.offset + len(w.data)) for w in plan.writes)
        if plan.extend_to is not None:
            self._report = None
        written = 0
        extended: int | None = None
        if plan.extend_to is not None and plan.extend_after == -1:
            extended = self._extend(plan.extend_to, backup_path)
        for i, w in enumerate(plan.writes):
            self.step("write")
            data = w.data if hooks is None or hooks.tear is None else hooks.tear(i, w)
            try:
                pwrite_all(fd, w.offset, data)
                if plan.flush_each and not self._staged:
                    os.fsync(fd)
                back = pread_exact(fd, w.offset, len(w.data))
            except OSError as exc:
                raise WriteFailed(
                    f"writing {w.label} failed: {exc.strerror or exc}", backup_path
                ) from exc
            self.step("verify")
            if back != w.data:
                raise WriteFailed(
                    f"{w.label} reads back differently from what was written", backup_path
                )
            problem = w.verify(back) if w.verify is not None else None
            if problem is not None:
                raise WriteFailed(f"{w.label}: {problem}", backup_path)
            written += len(w.data)
            if self.progress is not None:
                self.progress.advance(len(w.data))
            if hooks is not None and hooks.after_write is not None:
                hooks.after_write(i)
            if plan.extend_to is not None and plan.extend_after == i:
                extended = self._extend(plan.extend_to, backup_path)
        if plan.extend_to is not None and plan.extend_after is None:
            extended = self._extend(plan.extend_to, backup_path)
        if not plan.flush_each and plan.writes and not self._staged:
            try:
                os.fsync(fd)
            except OSError as exc:
                raise WriteFailed(
                    f"flushing the writes failed: {exc.strerror or exc}", backup_path
                ) from exc
        return WriteResult(
            backup_path=backup_path,
            writes_done=len(plan.writes),
            bytes_written=written,
            extended_to=extended,
            labels=tuple(w.label for w in plan.writes),
        )

    def _extend(self, size: int, backup_path: str) -> int | None:
        try:
            if os.fstat(self.fd).st_size >= size:
                return None
            os.ftruncate(self.fd, size)
            if not self._staged:
                os.fsync(self.fd)
        except OSError as exc:
            raise WriteFailed(
                f"extending the file failed: {exc.strerror or exc}", backup_path
            ) from exc
        return size

    def truncate(self, size: int, *, expected_size: int) -> None:
        """Cut the image back to ``size`` (undoing an extension); refuse unless the file is
        still ``expected_size`` bytes."""
        current = os.fstat(self.fd).st_size
        if current != expected_size:
            raise Refused(
                RefusalCode.RESTORE_MISMATCH,
                f"the image is {current} bytes, expected {expected_size}; not truncating",
                {"size": current, "expected": expected_size},
            )
        self.step("truncate")
        self._report = None
        os.ftruncate(self.fd, size)
        os.fsync(self.fd)


_HEADER_SLOTS = (
    layout.HEADER_SLOT_OFFSETS[0],
    layout.HEADER_SLOT_OFFSETS[1] + layout.HEADER_SIZE,
)


def _size_after(size_before: int, plan: WritePlan) -> int:
    end = max((w.offset + len(w.data) for w in plan.writes), default=0)
    return max(size_before, end, plan.extend_to or 0)


__all__ = [
    "PlannedWrite",
    "Verify",
    "WriteHooks",
    "WritePlan",
    "WriteResult",
    "WriteSession",
]
