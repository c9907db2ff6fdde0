"""Log replay (MS-VHDX §2.3.3): preview every page it writes, then apply it safely.

The order is the spec's (and QEMU's):

1. a header update with a new FileWriteGuid that keeps LogGuid (the entries must still match);
2. every descriptor of the active sequence, tail entry to head entry: data pages and zero
   ranges, and the file made at least the head's LastFileOffset long. The extension is done
   *first*, so no BAT entry written by the replay ever points past the end of the file;
3. flush: every page is read back and compared as it is written, and one fsync ends the
   step (the pages may reach the disk in any order: until step 4 the log is still pending);
4. a header update with LogGuid zero.

A crash anywhere leaves either the old headers or new ones with the same LogGuid, and an
intact log (no descriptor may touch the headers or the log: that is checked before anything
is written), so running the replay again finishes the job. Replaying writes the same bytes
again, so it is idempotent.

The descriptors are first reduced to their end result: a page written twice is written once
with its last contents; a page inside a zero range that a later data descriptor rewrites gets
the data. Pages that already hold their bytes are skipped, and zero ranges are written only
where the file holds non-zero bytes, in 1 MiB pieces. So the writes never overlap (each backup
range can be put back on its own) and a large zero range costs memory only for the existing
data it destroys, which the backup must keep anyway (capped by :data:`MAX_ZEROED_DATA`).

DataWriteGuid is kept: the writer that logged these changes had to change it before making
them (§2.2.2), and a new one would break every differencing child linked to this disk. QEMU
changes it on replay.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Sequence

from vhdxray.core.analysis.logoverlay import end_result
from vhdxray.core.analysis.reader import Report, read_log, read_report
from vhdxray.core.analysis.updatebase import source_slot
from vhdxray.core.fileio import pread_exact
from vhdxray.core.format import layout
from vhdxray.core.format.log import LogInfo, ReplayWrite, replay_plan
from vhdxray.core.format.record import record
from vhdxray.core.write.imagecopy import CHUNK, ZERO_CHUNK, nonzero_chunks
from vhdxray.core.write.outcome import (
    Option,
    RefusalCode,
    Refused,
    WriteFailed,
    WriteState,
    suggest,
)
from vhdxray.core.write.session import PlannedWrite, WriteHooks, WritePlan, WriteSession
from vhdxray.core.write.update import Refusal, plan_header_update, run_header_update

TYPE_CHECKING = False
if TYPE_CHECKING:
    import uuid  # annotations only: uuid imports platform
    from typing import Final


PAGE: Final = layout.LOG_SECTOR_SIZE
PENDING: Final = "pending"
APPLIED: Final = "applied"
SUPERSEDED: Final = "superseded"

# The backup holds every existing byte a zero range overwrites, in memory while it is
# written; above this, replay in place is refused (a replay into a copy needs none).
MAX_ZEROED_DATA: Final = 256 * layout.MiB
# No descriptor of a real log reaches this far (64 TiB of data plus metadata).
MAX_TARGET_END: Final = 2 * layout.MAX_VIRTUAL_DISK_SIZE
# Descriptors may rewrite the region tables (their updates go through the log) but never the
# file identifier or the headers (§2.3: the log must not be used for headers).
PROTECTED_END: Final = layout.REGION_TABLE_OFFSETS[0]


ReplayRefused = Refused  # the replay was not done; nothing unsafe was written
ReplayFailed = WriteFailed  # stopped part-way (state REPLAY_INCOMPLETE): run it again


def _incomplete(message: str, backups: list[str]) -> WriteFailed:
    """The replay stopped part-way: the log is intact and LogGuid still set, so running it
    again finishes the job; ``backups`` undo what was written."""
    return WriteFailed(message, tuple(backups), WriteState.REPLAY_INCOMPLETE)


@record
class ReplayPage:
    """One descriptor of the active sequence and what replaying it would do now."""

    entry_sequence_number: int
    entry_position: int  # log offset of its entry
    descriptor_index: int
    kind: str  # "data" (one 4 KiB page) or "zero" (a zero range)
    file_offset: int
    length: int
    status: str  # PENDING, APPLIED or SUPERSEDED
    note: str = ""

    @property
    def end(self) -> int:
        return self.file_offset + self.length

    def describe(self) -> str:
        what = "data page" if self.kind == "data" else "zero range"
        size = f"{self.length} bytes" if self.kind == "zero" else "4 KiB"
        text = (
            f"entry {self.entry_sequence_number} descriptor {self.descriptor_index}: {what} "
            f"at 0x{self.file_offset:x} ({size}): {self.status}"
        )
        return f"{text} ({self.note})" if self.note else text

    def to_json(self) -> dict[str, object]:
        return {
            "entry_sequence_number": self.entry_sequence_number,
            "entry_position": self.entry_position,
            "descriptor_index": self.descriptor_index,
            "kind": self.kind,
            "file_offset": self.file_offset,
            "length": self.length,
            "status": self.status,
            "note": self.note,
        }


@record
class ReplayPreview:
    """What a replay would do to the file as it is now. Built by :func:`preview_replay`."""

    log_guid: uuid.UUID
    tail_position: int
    head_position: int
    first_sequence_number: int
    head_sequence_number: int
    entry_count: int
    pages: tuple[ReplayPage, ...]  # every descriptor, tail entry first, in order
    file_size: int
    required_file_size: int  # the head's LastFileOffset
    extend_to: int | None  # the size the replay grows the file to, or None
    final_zero_runs: tuple[tuple[int, int], ...]  # zeroed ranges in the end result
    writes: tuple[PlannedWrite, ...]  # what is still to write, coalesced, non-overlapping
    zeroed_data_bytes: int  # existing non-zero bytes the zero ranges overwrite
    blockers: tuple[str, ...]  # why the replay must not be done

    def count(self, status: str) -> int:
        return sum(1 for p in self.pages if p.status == status)

    @property
    def pending(self) -> int:
        return self.count(PENDING)

    @property
    def applied(self) -> int:
        return self.count(APPLIED)

    @property
    def superseded(self) -> int:
        return self.count(SUPERSEDED)

    @property
    def state(self) -> str:
        """ "pending" when anything is left to write, else "applied" (only the header update
        that clears LogGuid is missing, e.g. after an interrupted replay)."""
        return PENDING if self.pending or self.extend_to is not None or self.writes else APPLIED

    @property
    def bytes_to_write(self) -> int:
        return sum(len(w.data) for w in self.writes)

    def write_plan(self) -> WritePlan:
        return WritePlan(
            "log-replay", self.writes, extend_to=self.extend_to, extend_after=-1, flush_each=False
        )

    def describe(self) -> list[str]:
        seqs = (
            f"sequence {self.head_sequence_number}"
            if self.entry_count == 1
            else f"sequences {self.first_sequence_number}-{self.head_sequence_number}"
        )
        data = sum(1 for p in self.pages if p.kind == "data")
        zero = len(self.pages) - data
        lines = [
            f"The active log sequence has {self.entry_count} "
            f"entr{'y' if self.entry_count == 1 else 'ies'} ({seqs}, tail at log offset "
            f"{self.tail_position}), LogGuid {self.log_guid}.",
            f"It holds {data} data page(s) and {zero} zero range(s): {self.pending} pending, "
            f"{self.applied} already applied, {self.superseded} superseded by a later "
            "descriptor.",
        ]
        if self.state == APPLIED:
            lines.append(
                "Every page already holds its logged bytes (an earlier replay was interrupted "
                "before LogGuid was cleared); only the header updates remain."
            )
        else:
            lines.append(
                f"Bytes to write: {self.bytes_to_write} in {len(self.writes)} write(s)"
                + (
                    f"; the file grows from {self.file_size} to {self.extend_to} bytes first."
                    if self.extend_to is not None
                    else "."
                )
            )
        if self.zeroed_data_bytes:
            lines.append(
                f"Zero ranges overwrite {self.zeroed_data_bytes} bytes that are not zero now "
                "(the backup keeps them)."
            )
        lines.extend(f"Refused: {b}" for b in self.blockers)
        return lines

    def to_json(self) -> dict[str, object]:
        return {
            "log_guid": str(self.log_guid),
            "tail_position": self.tail_position,
            "head_position": self.head_position,
            "first_sequence_number": self.first_sequence_number,
            "head_sequence_number": self.head_sequence_number,
            "entries": self.entry_count,
            "state": self.state,
            "pending": self.pending,
            "applied": self.applied,
            "superseded": self.superseded,
            "file_size": self.file_size,
            "required_file_size": self.required_file_size,
            "extend_to": self.extend_to,
            "bytes_to_write": self.bytes_to_write,
            "zeroed_data_bytes": self.zeroed_data_bytes,
            "final_zero_runs": [list(r) for r in self.final_zero_runs],
            "blockers": list(self.blockers),
            "pages": [p.to_json() for p in self.pages],
        }


# --------------------------------------------------------------------------------------------
# Preview


def _read_log(fd: int, report: Report) -> tuple[LogInfo, bytes] | None:
    eff = report.effective_header
    if eff is None:
        return None
    info, log_bytes, _ = read_log(
        eff, lambda offset, length: pread_exact(fd, offset, length), os.fstat(fd).st_size
    )
    return info, log_bytes


def _target_blockers(info: LogInfo, writes: Sequence[ReplayWrite]) -> list[str]:
    blockers: list[str] = []
    log_start, log_end = info.log_offset, info.log_offset + info.log_length
    for w in writes:
        where = f"entry {w.entry_sequence_number} descriptor {w.descriptor_index}"
        if w.file_offset < PROTECTED_END:
            blockers.append(
                f"{where} writes at 0x{w.file_offset:x}, inside the file identifier or the "
                "headers, which the log must never change"
            )
        elif w.file_offset < log_end and log_start < w.end:
            blockers.append(
                f"{where} writes at 0x{w.file_offset:x}, inside the log itself: replaying it "
                "would destroy the log being replayed"
            )
        elif w.end > MAX_TARGET_END:
            blockers.append(
                f"{where} writes at 0x{w.file_offset:x}, far beyond any possible VHDX size"
            )
        if len(blockers) >= 5:
            break
    return blockers


def _zero_now(fd: int, start: int, end: int, file_size: int) -> bool:
    if end > file_size:
        return False
    return next(nonzero_chunks(fd, start, end), None) is None


def _surviving(start: int, end: int, pages: Sequence[int]) -> list[tuple[int, int]]:
    """``[start, end)`` minus the data pages (sorted) that a later descriptor writes."""
    lo = bisect.bisect_left(pages, start)
    hi = bisect.bisect_left(pages, end)
    out: list[tuple[int, int]] = []
    pos = start
    for page in pages[lo:hi]:
        if page > pos:
            out.append((pos, page))
        pos = max(pos, page + PAGE)
    if pos < end:
        out.append((pos, end))
    return out


def preview_replay(
    path: str | os.PathLike[str], report: Report | None = None, *, fd: int | None = None
) -> ReplayPreview | None:
    """What replaying the log of ``path`` would do now, page by page; None when no replay is
    needed (LogGuid zero, or no valid sequence). Read-only; reads through ``fd`` when given
    (a write session's descriptor)."""
    report = read_report(path) if report is None else report
    if not report.is_vhdx or report.log is None or not report.log.replay_needed:
        return None
    own = fd is None
    if fd is None:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        read = _read_log(fd, report)
        if read is None:
            return None
        info, log_bytes = read
        if info.active is None or not info.replay_needed:
            return None
        return _preview(fd, info, log_bytes)
    finally:
        if own:
            os.close(fd)


def _preview(fd: int, info: LogInfo, log_bytes: bytes) -> ReplayPreview:
    assert info.active is not None
    file_size = os.fstat(fd).st_size
    writes = replay_plan(info, log_bytes)
    blockers = list(info.replay_blockers) + _target_blockers(info, writes)
    last_data, zero_runs = end_result(writes)
    data_pages = sorted(last_data)

    pages: list[ReplayPage] = []
    for i, w in enumerate(writes):
        kind = "zero" if w.is_zero else "data"
        note = ""
        if w.is_zero:
            parts = _surviving(w.file_offset, w.end, data_pages)
            if not parts:
                status, note = SUPERSEDED, "later data descriptors rewrite all of it"
            elif all(_zero_now(fd, a, b, file_size) for a, b in parts):
                status = APPLIED
            else:
                status = PENDING
                if w.end > file_size:
                    note = "past the end of the file"
        elif last_data.get(w.file_offset) != i:
            status, note = SUPERSEDED, "a later descriptor rewrites this page"
        elif pread_exact(fd, w.file_offset, PAGE) == w.data:
            status = APPLIED
        else:
            status = PENDING
            if w.end > file_size:
                note = "past the end of the file"
        pages.append(
            ReplayPage(
                entry_sequence_number=w.entry_sequence_number,
                entry_position=w.entry_position,
                descriptor_index=w.descriptor_index,
                kind=kind,
                file_offset=w.file_offset,
                length=w.length,
                status=status,
                note=note,
            )
        )

    planned: list[PlannedWrite] = []
    zeroed = 0
    for start, end in zero_runs:
        for a, b in nonzero_chunks(fd, start, end):
            data = ZERO_CHUNK if b - a == CHUNK else bytes(b - a)
            planned.append(PlannedWrite(a, data, f"log replay: zeros at 0x{a:x} ({b - a} bytes)"))
            zeroed += b - a
    run: list[tuple[int, bytes, bytes]] = []

    def flush_run() -> None:
        if run:
            start = run[0][0]
            planned.append(
                PlannedWrite(
                    start,
                    b"".join(r[1] for r in run),
                    f"log replay: {len(run)} page(s) at 0x{start:x}",
                    expected=b"".join(r[2] for r in run),
                )
            )
            run.clear()

    for page in data_pages:
        data = writes[last_data[page]].data
        now = pread_exact(fd, page, PAGE)
        if now == data:
            flush_run()
            continue
        if run and run[-1][0] + PAGE != page:
            flush_run()
        run.append((page, data, now))
    flush_run()

    ends = [info.required_file_size]
    ends += [w.end for w in writes]
    target = max(ends)
    extend_to = target if target > file_size else None
    head = info.active.head
    return ReplayPreview(
        log_guid=info.log_guid,
        tail_position=info.active.tail_position,
        head_position=head.log_position,
        first_sequence_number=info.active.entries[0].sequence_number,
        head_sequence_number=head.sequence_number,
        entry_count=len(info.active.entries),
        pages=tuple(pages),
        file_size=file_size,
        required_file_size=info.required_file_size,
        extend_to=extend_to,
        final_zero_runs=tuple(zero_runs),
        writes=tuple(planned),
        zeroed_data_bytes=zeroed,
        blockers=tuple(blockers),
    )


# --------------------------------------------------------------------------------------------
# Running it


@record
class ReplayOutcome:
    replayed: bool  # False: no replay was needed, nothing was written
    backups: tuple[str, ...]  # oldest first; restore them newest first
    bytes_written: int
    extended_to: int | None
    file_write_guid: uuid.UUID | None
    report: Report  # the image as read after the replay
    lines: tuple[str, ...]  # what was done, in plain words


def run_replay(
    path: str | os.PathLike[str],
    *,
    from_slot: int | None = None,
    file_write_guid: uuid.UUID | None = None,
    backup_dir: str | os.PathLike[str] | None = None,
    hooks: WriteHooks | None = None,
    session: WriteSession | None = None,
) -> ReplayOutcome:
    """Replay the pending log of ``path`` in place (see the module docstring), in ``session``
    (its locks held throughout) or in a session of its own.

    ``file_write_guid`` is the session's FileWriteGuid (a new one when None). Every backup made
    is in ``session.backups`` as soon as it exists. Raises :class:`Refused` before anything is
    written when the replay must not be done, and :class:`WriteFailed` when a write or a check
    after writing fails.
    """
    if session is None:
        with WriteSession(path, backup_dir=backup_dir, hooks=hooks) as own:
            return run_replay(
                path, from_slot=from_slot, file_write_guid=file_write_guid, session=own
            )
    backups = session.backups
    start_count = len(backups)
    report = session.read_report()
    preview = preview_replay(path, report, fd=session.fd)
    if preview is None:
        return ReplayOutcome(False, (), 0, None, None, report, ("No log replay is pending.",))
    if preview.blockers:
        raise Refused(
            RefusalCode.REPLAY_BLOCKED,
            "; ".join(preview.blockers),
            {"blockers": len(preview.blockers)},
        )
    if preview.zeroed_data_bytes > MAX_ZEROED_DATA:
        raise Refused(
            RefusalCode.ZEROED_DATA_TOO_LARGE,
            f"the replay would overwrite {preview.zeroed_data_bytes} bytes of existing data "
            f"with zeros, more than vhdxray backs up in one go ({MAX_ZEROED_DATA}); replay "
            "into a copy instead, which needs no such backup",
            {"zeroed_data_bytes": preview.zeroed_data_bytes, "limit": MAX_ZEROED_DATA},
            suggest=suggest(Option.OUTPUT),
        )
    plan1 = plan_header_update(
        report,
        from_slot=source_slot(report, from_slot),  # the one source-header rule
        file_write_guid=file_write_guid,
        allow_pending_log=True,
    )
    if isinstance(plan1, Refusal):
        raise plan1
    if plan1.log_guid != preview.log_guid:  # pragma: no cover - plan_header_update keeps it
        raise Refused(RefusalCode.LOG_GUID, "the header update would not keep the log's LogGuid")
    lines: list[str] = []
    out1 = run_header_update(path, plan1, operation="replay-headers", session=session)
    fwg = plan1.file_write_guid
    lines.append(
        f"Headers updated (sequence {plan1.second.sequence_number}): new FileWriteGuid {fwg}, "
        f"LogGuid {plan1.log_guid} kept."
    )

    # Only the two header slots changed (each read back): the pages and the log are as the
    # preview saw them (no descriptor may write the headers: a blocker). The fresh report of
    # the header update says whether the log still shows the same active sequence.
    log1 = out1.report.log
    if (
        log1 is None
        or log1.active is None
        or not log1.replay_needed
        or log1.active.head.sequence_number != preview.head_sequence_number
    ):
        raise _incomplete(
            "after the first header update the log no longer shows the same active sequence; "
            "nothing else was written",
            backups[start_count:],
        )
    written = 0
    extended: int | None = None
    if preview.writes or preview.extend_to is not None:
        if session.progress is not None:
            session.progress.start(preview.bytes_to_write, "log replay")
        result = session.execute(preview.write_plan())
        written, extended = result.bytes_written, result.extended_to
        lines.append(
            f"Replayed {preview.pending} pending descriptor(s): {written} bytes in "
            f"{result.writes_done} write(s)"
            + (f", file extended to {extended} bytes." if extended else ".")
        )
    else:
        lines.append("Every logged page already held its bytes; nothing to write.")

    # Every page written was read back equal (session.execute), and the pages the preview
    # found applied were not touched: the log's end result is on disk without reading it all
    # again. No descriptor may write the headers (a blocker), so the second update is planned
    # from the headers the first one left (read back after it; the update checks they are
    # still there before it writes); the image is read as a whole after it.
    plan3 = plan_header_update(
        out1.report, log_guid=layout.ZERO_GUID, file_write_guid=fwg, allow_pending_log=True
    )
    if isinstance(plan3, Refusal):
        raise _incomplete(
            f"the final header update was refused ({plan3.reason}); the log is replayed but "
            "LogGuid is still set: run the repair again",
            backups[start_count:],
        )
    out3 = run_header_update(path, plan3, operation="replay-clear-log-guid", session=session)
    lines.append(
        f"Headers updated (sequence {plan3.second.sequence_number}): LogGuid is now zero; the "
        "log is empty."
    )
    final = out3.report
    eff = final.effective_header
    if (
        eff is None
        or eff.log_guid != layout.ZERO_GUID
        or (final.log is not None and final.log.replay_needed)
    ):
        raise _incomplete(
            "after the replay the image still reads as needing a replay", backups[start_count:]
        )
    return ReplayOutcome(
        replayed=True,
        backups=tuple(backups[start_count:]),
        bytes_written=written,
        extended_to=extended,
        file_write_guid=fwg,
        report=final,
        lines=tuple(lines),
    )


def describe_replay(preview: ReplayPreview) -> list[str]:
    """The replay repair in plain words: what is written, what stays, the consequences."""
    lines = preview.describe()
    lines += [
        "Step 1: header update (both slots, each fsynced and verified): a new FileWriteGuid; "
        f"LogGuid {preview.log_guid} is kept so the log entries still match; DataWriteGuid "
        "is kept.",
        "Step 2: write the pending pages and zero ranges of the log to their places"
        + (
            f", after growing the file to {preview.extend_to} bytes"
            if preview.extend_to is not None
            else ""
        )
        + "; each write is fsynced and read back.",
        "Step 3: header update setting LogGuid to zero: the log is then empty and no reader "
        "replays it again.",
        "Stays: the log region's bytes (kept for inspection), DataWriteGuid (differencing "
        "children stay linked; QEMU would change it), every byte the log does not name.",
        "Afterwards every reader, including those that ignore the log (VirtualBox, dissect, "
        "older libvhdi), sees the metadata the log carried.",
        "If interrupted: the log stays valid and LogGuid stays set until the last step; run "
        "the repair again to finish (a replay writes the same bytes again).",
        "Three backups are written (one per step); restore them newest first to undo.",
    ]
    return lines
