"""Export a virtual disk into a new file: raw (sparse) or a fresh, clean dynamic VHDX.

The source is only read (through :class:`VirtualDisk`, which applies a pending log in memory
and merges a differencing chain). The output is written to a temporary name in the target's
directory and linked to its name only when complete, so OUTPUT never exists half-written; an
existing OUTPUT (or a symlink there) is never replaced. On any failure or cancellation the
temporary file is removed.

Copying: untouched file ranges go kernel-side (``os.copy_file_range``; ``pread``/``pwrite``
when the kernel or filesystem refuses), holes in the source stay holes, zeros are never
written; only logged pages pass through Python. Work is streamed a run at a time, so memory
does not depend on the virtual size. The disk writes each finished range while the copy goes on
(:mod:`writeback`), so the fsync before the rename has little left to do. ``flush=False``
skips both (as ``qemu-img convert`` and ``cp`` do) for a user who asked for speed over
durability.

Raw output is the virtual disk byte for byte (what ``qemu-img convert -O raw`` gives). VHDX
output has the source's block size, sector sizes and virtual size, no log, and only blocks that
hold data allocated (a block whose bytes are all holes or zeros in the source stays
NOT_PRESENT). VHDX blocks are read through Python to find the all-zero ones (that is what
makes the copy compact); raw output copies file ranges kernel-side as they are stored.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from vhdxray import __version__
from vhdxray.core.analysis.virtual import DATA, FILE, GAP, GAP_REASONS, ZERO, VirtualDisk
from vhdxray.core.fileio import (
    NewFile,
    data_segments,
    free_bytes,
    pread_exact,
    publish,
    pwrite_all,
    temp_name,
)
from vhdxray.core.format import layout
from vhdxray.core.format.bat import payload_index
from vhdxray.core.format.guid import new_guid
from vhdxray.core.format.record import record
from vhdxray.core.outcome import Refused, VhdxrayError
from vhdxray.core.progress import WRITING_TO_DISK, Progress, advance, check, set_phase
from vhdxray.core.write.create import BAT_OFFSET, CreateError, CreateOptions, skeleton
from vhdxray.core.write.writeback import Writeback

if TYPE_CHECKING:
    from vhdxray.core.analysis.guest.locate import Place
    from vhdxray.core.analysis.window import DiskWindow

RAW: Final = "raw"
VHDX: Final = "vhdx"
FORMATS: Final = (RAW, VHDX)

COPY_STEP: Final = 64 * layout.MiB  # bytes per kernel copy call (progress and cancel between)
_BUFFER: Final = 8 * layout.MiB  # the pread/pwrite fallback's buffer
_ZERO_BUFFER: Final = bytes(_BUFFER)
_SPACE_MARGIN: Final = 16 * layout.MiB
_NO_KERNEL_COPY: Final = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF, errno.EPERM}
)


class ExportRefused(Refused):
    """Nothing was written: a refusal of the outcome model. Codes: ``output_exists``,
    ``output_dir_missing``, ``gaps_file_exists``, ``no_space``, ``unsupported_geometry``,
    ``bad_format``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(code, reason)


class ExportFailed(VhdxrayError):
    """Writing failed part-way; the partial output was removed (the source was only read)."""


@record
class Gap:
    """Virtual bytes [virtual_start, virtual_end) zero-filled in the output because their
    data is lost; ``reason`` is a stable code (see ``virtual.GAP_REASONS``)."""

    virtual_start: int
    virtual_end: int
    reason: str
    where: tuple[Place, ...] = ()  # the partitions/filesystem it falls in (guest triage)

    @property
    def length(self) -> int:
        return self.virtual_end - self.virtual_start

    def describe(self) -> str:
        """One line; partition names and labels come from the guest: print it safely."""
        from vhdxray.core.analysis.guest.locate import where_words

        why = GAP_REASONS.get(self.reason, self.reason)
        return (
            f"0x{self.virtual_start:x}..0x{self.virtual_end:x} ({self.length} bytes): "
            f"zero-filled, {why}{where_words(self.where)}"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "virtual_start": self.virtual_start,
            "virtual_end": self.virtual_end,
            "reason": self.reason,
            "where": [p.to_json() for p in self.where],
        }


def locate_gaps(disk: VirtualDisk | DiskWindow, gaps: tuple[Gap, ...]) -> tuple[Gap, ...]:
    """``gaps`` with the partitions and filesystem each falls in, from guest triage of the
    disk (which reads only its tables and filesystem headers; lost bytes read as zeros)."""
    if not gaps:
        return gaps
    from vhdxray.core.analysis.guest.locate import places
    from vhdxray.core.analysis.guest.triage import triage

    guest = triage(disk, sector_size=disk.logical_sector_size)
    return tuple(
        Gap(g.virtual_start, g.virtual_end, g.reason, places(guest, g.virtual_start, g.virtual_end))
        for g in gaps
    )


@record
class ExportPlan:
    """What an export will copy: bytes of data (file ranges and logged pages) and the gaps."""

    bytes_to_copy: int
    gaps: tuple[Gap, ...]
    blocks_with_data: int  # VHDX output: blocks that will be allocated
    bytes_needed: int  # free space the output needs (at most)


@record
class ExportResult:
    output: Path
    format: str
    virtual_size: int
    bytes_copied: int
    gaps: tuple[Gap, ...]
    blocks_allocated: int  # VHDX output only
    flushed: bool = True  # on disk before it got its name (False: ``flush=False`` was asked)

    @property
    def complete(self) -> bool:
        return not self.gaps


# --------------------------------------------------------------------------------------------
# What to copy


@record
class _Unit:
    start: int
    end: int
    kind: str  # FILE, DATA, ZERO or GAP; FILE units hold data (holes became ZERO)
    fd: int = -1
    file_offset: int = 0
    data: bytes = b""
    reason: str = ""


def _units(disk: VirtualDisk) -> Iterator[_Unit]:
    """The disk's runs with holes of the source files turned into zeros."""
    for run in disk.runs():
        if run.kind != FILE:
            yield _Unit(run.start, run.end, run.kind, data=run.data, reason=run.reason)
            continue
        shift = run.start - run.file_offset
        pos = run.file_offset
        end = run.file_offset + run.length
        for a, b in data_segments(run.fd, run.file_offset, end):
            if a > pos:
                yield _Unit(pos + shift, a + shift, ZERO)
            yield _Unit(a + shift, b + shift, FILE, run.fd, a)
            pos = b
        if pos < end:  # a trailing hole (or the file ended: the reader saw the same zeros)
            yield _Unit(pos + shift, end + shift, ZERO)


def _split_at_blocks(units: Iterator[_Unit], block_size: int) -> Iterator[_Unit]:
    for u in units:
        pos = u.start
        while pos < u.end:
            stop = min(u.end, (pos // block_size + 1) * block_size)
            if pos == u.start and stop == u.end:
                yield u
            else:
                yield _Unit(
                    pos,
                    stop,
                    u.kind,
                    u.fd,
                    u.file_offset + (pos - u.start),
                    u.data[pos - u.start : stop - u.start] if u.data else b"",
                    u.reason,
                )
            pos = stop


def _merge_gap(gaps: list[Gap], u: _Unit) -> None:
    if gaps and gaps[-1].reason == u.reason and gaps[-1].virtual_end == u.start:
        gaps[-1] = Gap(gaps[-1].virtual_start, u.end, u.reason)
    else:
        gaps.append(Gap(u.start, u.end, u.reason))


def plan_export(disk: VirtualDisk, fmt: str = RAW, progress: Progress | None = None) -> ExportPlan:
    """Walk the disk once (BAT and bitmaps only, no payload) to count what will be copied."""
    copy = 0
    gaps: list[Gap] = []
    blocks: set[int] = set()
    bs = disk.block_size
    for u in _units(disk):
        check(progress)
        if u.kind in (FILE, DATA):
            copy += u.end - u.start
            if fmt == VHDX:
                blocks.update(range(u.start // bs, (u.end - 1) // bs + 1))
        elif u.kind == GAP:
            _merge_gap(gaps, u)
    needed = copy if fmt == RAW else len(blocks) * bs + BAT_OFFSET + disk.geometry.total_entries * 8
    return ExportPlan(copy, tuple(gaps), len(blocks), needed + _SPACE_MARGIN)


# --------------------------------------------------------------------------------------------
# Copying


def _copy_range(
    src: int,
    src_offset: int,
    out: int,
    out_offset: int,
    length: int,
    progress: Progress | None,
    wb: Writeback | None = None,
) -> None:
    """``length`` bytes from ``src`` to ``out``, kernel-side when possible."""
    done = 0
    kernel = hasattr(os, "copy_file_range")
    while done < length:
        check(progress)
        step = min(COPY_STEP, length - done)
        if kernel:
            try:
                n = os.copy_file_range(src, out, step, src_offset + done, out_offset + done)
            except OSError as exc:
                if exc.errno not in _NO_KERNEL_COPY:
                    raise
                kernel = False
                continue
            if n == 0:  # the source ended early: what is left reads as zeros (a hole)
                return
        else:
            data = pread_exact(src, src_offset + done, min(step, _BUFFER))
            if not data:
                return
            pwrite_all(out, out_offset + done, data)
            n = len(data)
        if wb is not None:
            wb.wrote(out_offset + done, n)
        done += n
        advance(progress, n)


def _write_unit(
    u: _Unit, out: int, out_offset: int, progress: Progress | None, wb: Writeback | None
) -> int:
    if u.kind == FILE:
        _copy_range(u.fd, u.file_offset, out, out_offset, u.end - u.start, progress, wb)
        return u.end - u.start
    if u.kind == DATA:
        pwrite_all(out, out_offset, u.data)
        if wb is not None:
            wb.wrote(out_offset, len(u.data))
        advance(progress, len(u.data))
        return len(u.data)
    return 0


def _write_raw(
    disk: VirtualDisk, out: int, progress: Progress | None, wb: Writeback | None = None
) -> tuple[int, int]:
    os.ftruncate(out, disk.size)
    copied = 0
    for u in _units(disk):
        copied += _write_unit(u, out, u.start, progress, wb)
    return copied, 0


def _is_zero(data: bytes) -> bool:
    if len(data) == _BUFFER:
        return data == _ZERO_BUFFER  # memcmp: stops at the first non-zero byte
    return data == bytes(len(data))


def _block_pieces(units: list[_Unit]) -> Iterator[tuple[int, bytes]]:
    """(virtual offset, bytes) of a block's data, read a buffer at a time."""
    for u in units:
        if u.kind == DATA:
            yield u.start, u.data
            continue
        pos = u.start
        while pos < u.end:
            data = pread_exact(u.fd, u.file_offset + (pos - u.start), min(_BUFFER, u.end - pos))
            if not data:
                break
            yield pos, data
            pos += len(data)


def _write_vhdx(
    disk: VirtualDisk, out: int, progress: Progress | None, wb: Writeback | None = None
) -> tuple[int, int]:
    """Blocks are allocated in order, each at its first non-zero byte; zero pieces stay holes."""
    opts = CreateOptions(
        virtual_size=disk.size,
        block_size=disk.block_size,
        logical_sector_size=disk.logical_sector_size,
        physical_sector_size=disk.physical_sector_size,
        creator=f"vhdxray {__version__} export",
    )
    try:
        sk = skeleton(opts, disk_id=new_guid())
    except CreateError as exc:
        raise ExportRefused("unsupported_geometry", f"a VHDX cannot be written: {exc}") from exc
    bs = disk.block_size
    ratio = sk.geometry.chunk_ratio
    next_offset = sk.data_start
    copied = allocated = 0

    def write_block(block: int, units: list[_Unit]) -> None:
        nonlocal next_offset, copied, allocated
        where: int | None = None
        for vpos, data in _block_pieces(units):
            check(progress)
            if not _is_zero(data):
                if where is None:
                    where = next_offset
                    next_offset += bs
                    allocated += 1
                    entry = struct.pack("<Q", where | layout.PAYLOAD_BLOCK_FULLY_PRESENT)
                    pwrite_all(out, BAT_OFFSET + payload_index(block, ratio) * 8, entry)
                pwrite_all(out, where + (vpos - block * bs), data)
                if wb is not None:
                    wb.wrote(where + (vpos - block * bs), len(data))
            copied += len(data)
            advance(progress, len(data))

    current = -1
    pending: list[_Unit] = []
    for u in _split_at_blocks(_units(disk), bs):
        block = u.start // bs
        if block != current:
            if pending:
                write_block(current, pending)
            pending = []
            current = block
        if u.kind in (FILE, DATA):
            pending.append(u)
    if pending:
        write_block(current, pending)
    for offset, data in sk.structure:
        pwrite_all(out, offset, data)
    os.ftruncate(out, next_offset)
    return copied, allocated


# --------------------------------------------------------------------------------------------
# The export


def check_output(output: str | os.PathLike[str]) -> Path:
    """Refuse an OUTPUT that exists (even as a dangling symlink) or whose folder is missing."""
    target = Path(output)
    if os.path.lexists(target):
        raise ExportRefused(
            "output_exists", f"{target} already exists; export never overwrites a file"
        )
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise ExportRefused("output_dir_missing", f"the folder {folder} does not exist")
    return target


def export(
    disk: VirtualDisk,
    output: str | os.PathLike[str],
    *,
    fmt: str = RAW,
    plan: ExportPlan | None = None,
    progress: Progress | None = None,
    flush: bool = True,
) -> ExportResult:
    """Write ``disk`` to the new file ``output`` (see the module docstring).

    ``flush=False`` names the output without waiting for its bytes to reach the disk (no
    writeback, no fsync: what ``qemu-img convert`` and ``cp`` do); it is still complete when
    named, but a crash soon after may leave it with missing data.

    Raises :class:`ExportRefused` before anything is written, :class:`ExportFailed` when
    writing fails, and ``progress``'s ``Cancelled`` when cancelled; in both of the last two
    cases the partial file is gone.
    """
    if fmt not in FORMATS:
        raise ExportRefused("bad_format", f"unknown output format {fmt!r} (raw or vhdx)")
    target = check_output(output)
    plan = plan_export(disk, fmt) if plan is None else plan
    folder = target.parent if str(target.parent) else Path(".")
    free = free_bytes(folder)
    if free < plan.bytes_needed:
        raise ExportRefused(
            "no_space",
            f"{folder} has {free} bytes free; the export needs up to {plan.bytes_needed}",
        )
    if progress is not None:
        progress.start(plan.bytes_to_copy, f"exporting to {target.name}")
    temp = Path(temp_name(target))
    try:
        new = NewFile(temp, durable=False)  # Writeback.finish fsyncs it; publish, its name
    except OSError as exc:  # nothing was written: a refusal (a name too long, no permission)
        raise ExportRefused("cannot_open", f"cannot create {temp}: {exc.strerror or exc}") from exc
    try:
        # durable before it gets its name (little is left to flush by then); removed on error
        with new as fd:
            wb = Writeback(fd) if flush else None
            try:
                if fmt == RAW:
                    copied, allocated = _write_raw(disk, fd, progress, wb)
                else:
                    copied, allocated = _write_vhdx(disk, fd, progress, wb)
                if wb is not None:
                    # Every byte is written; the disk may take seconds to take the rest: say so.
                    set_phase(progress, WRITING_TO_DISK)
                    wb.finish()
            finally:
                if wb is not None:
                    wb.close()
            check(progress)  # a cancel during the last step still leaves nothing behind
        try:
            publish(temp, target, durable=flush)
        except FileExistsError:
            raise ExportRefused(
                "output_exists", f"{target} appeared while exporting; it was left alone"
            ) from None
    except BaseException as exc:
        temp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ExportFailed(f"writing {target} failed: {exc.strerror or exc}") from exc
        raise
    return ExportResult(
        target, fmt, disk.size, copied, locate_gaps(disk, plan.gaps), allocated, flush
    )


__all__ = [
    "FORMATS",
    "RAW",
    "VHDX",
    "ExportFailed",
    "ExportPlan",
    "ExportRefused",
    "ExportResult",
    "Gap",
    "check_output",
    "export",
    "locate_gaps",
    "plan_export",
]
