"""Write new, spec-correct VHDX images: fixed, dynamic, or a differencing child.

Layout (the one Windows and DiscUtils use): header section in the first 1 MiB, log at
1 MiB (1 MiB), metadata region at 2 MiB (1 MiB), BAT at 3 MiB (rounded up to 1 MiB), payload
blocks after it. Both headers are written (sequence 1 and 2) so a current header exists, and
both region table copies are identical. A new file only: an existing path is never touched.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vhdxray import __version__
from vhdxray.core.analysis.chain import windows_relative_path
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.fileio import NewFile, pwrite_all
from vhdxray.core.format import layout
from vhdxray.core.format.bat import BatGeometry, bat_geometry, payload_index
from vhdxray.core.format.guid import new_guid
from vhdxray.core.format.header import serialise_header
from vhdxray.core.format.identifier import serialise_identifier
from vhdxray.core.format.metadata import serialise_locator, serialise_metadata, system_item_flags
from vhdxray.core.format.record import record
from vhdxray.core.format.region import RegionEntry, serialise_region_table
from vhdxray.core.outcome import RefusalCode, Refused, WriteFailed

if TYPE_CHECKING:
    import uuid  # annotations only: uuid imports platform


LOG_OFFSET = 1 * layout.MiB
LOG_LENGTH = 1 * layout.MiB
METADATA_OFFSET = 2 * layout.MiB
METADATA_LENGTH = 1 * layout.MiB
BAT_OFFSET = 3 * layout.MiB
DEFAULT_BLOCK_SIZE = 32 * layout.MiB


class CreateError(Refused):
    """The image cannot be created as asked (nothing was written): a refusal of the outcome
    model; the message says why."""

    def __init__(self, reason: str, code: RefusalCode = RefusalCode.UNSUPPORTED_GEOMETRY) -> None:
        super().__init__(code, reason)


@record
class CreateOptions:
    virtual_size: int
    block_size: int = DEFAULT_BLOCK_SIZE
    fixed: bool = False
    logical_sector_size: int = 512
    physical_sector_size: int = 4096
    creator: str = f"vhdxray {__version__}"


def _round_up(value: int, to: int) -> int:
    return -(-value // to) * to


def _validate(opts: CreateOptions) -> None:
    bs = opts.block_size
    if not (layout.MIN_BLOCK_SIZE <= bs <= layout.MAX_BLOCK_SIZE and bs & (bs - 1) == 0):
        raise CreateError(f"block size {bs} is not a power of two from 1 MiB to 256 MiB")
    if opts.logical_sector_size not in layout.SECTOR_SIZES:
        raise CreateError("logical sector size must be 512 or 4096")
    if opts.physical_sector_size not in layout.SECTOR_SIZES:
        raise CreateError("physical sector size must be 512 or 4096")
    if opts.virtual_size <= 0 or opts.virtual_size > layout.MAX_VIRTUAL_DISK_SIZE:
        raise CreateError("virtual size must be more than 0 and at most 64 TiB")
    if opts.virtual_size % opts.logical_sector_size:
        raise CreateError(
            f"virtual size must be a multiple of the logical sector size "
            f"({opts.logical_sector_size})"
        )


def _metadata(
    opts: CreateOptions,
    *,
    disk_id: uuid.UUID,
    has_parent: bool,
    locator: list[tuple[str, str]] | None,
) -> bytes:
    flags = 0
    if opts.fixed:
        flags |= layout.FILE_PARAM_LEAVE_BLOCKS_ALLOCATED
    if has_parent:
        flags |= layout.FILE_PARAM_HAS_PARENT
    items = [
        (layout.FILE_PARAMETERS_GUID, struct.pack("<II", opts.block_size, flags)),
        (layout.VIRTUAL_DISK_SIZE_GUID, struct.pack("<Q", opts.virtual_size)),
        (layout.VIRTUAL_DISK_ID_GUID, disk_id.bytes_le),
        (layout.LOGICAL_SECTOR_SIZE_GUID, struct.pack("<I", opts.logical_sector_size)),
        (layout.PHYSICAL_SECTOR_SIZE_GUID, struct.pack("<I", opts.physical_sector_size)),
    ]
    if locator is not None:
        items.append((layout.PARENT_LOCATOR_GUID, serialise_locator(locator)))
    return serialise_metadata(
        [(guid, system_item_flags(guid), value) for guid, value in items], METADATA_LENGTH
    )


def _layout_blocks(
    geometry: BatGeometry, fixed: bool, data_start: int, data: Sequence[tuple[int, bytes]]
) -> tuple[bytes, int, list[tuple[int, bytes]]]:
    """The BAT bytes, the file size and the payload pieces to write.

    Fixed: every payload block FULLY_PRESENT, laid out in order from ``data_start``.
    Dynamic/differencing: entries zero (NOT_PRESENT) except the blocks ``data`` touches,
    which are allocated in order from ``data_start`` and marked FULLY_PRESENT.
    """
    bs = geometry.block_size
    bat = bytearray(geometry.total_entries * layout.BAT_ENTRY_SIZE)
    touched: list[int] = []
    for voffset, chunk in data:
        if voffset < 0 or voffset + len(chunk) > geometry.virtual_size:
            raise CreateError("initial data lies outside the virtual disk")
        touched.extend(range(voffset // bs, (voffset + len(chunk) - 1) // bs + 1))
    blocks = range(geometry.data_blocks_count) if fixed else sorted(set(touched))
    location: dict[int, int] = {}
    offset = data_start
    for block in blocks:
        index = payload_index(block, geometry.chunk_ratio)
        struct.pack_into("<Q", bat, index * 8, offset | layout.PAYLOAD_BLOCK_FULLY_PRESENT)
        location[block] = offset
        offset += bs
    pieces: list[tuple[int, bytes]] = []
    for voffset, chunk in data:
        pos = 0
        while pos < len(chunk):
            block, within = divmod(voffset + pos, bs)
            take = min(len(chunk) - pos, bs - within)
            pieces.append((location[block] + within, chunk[pos : pos + take]))
            pos += take
    return bytes(bat), offset, pieces


_RESERVE_STEP = 1 << 30


def _reserve(fd: int, offset: int, length: int) -> None:
    """Allocate ``length`` bytes at ``offset`` on the host (posix_fallocate): a full host disk
    fails here, at creation, with the partial file removed. Where the platform or filesystem
    has no such call the file stays as written (NTFS allocates a file's length anyway)."""
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is None:
        return
    end = offset + length
    # In steps, so that ctrl+c is seen between them where the C library emulates the call by
    # writing (NFS, some FUSE filesystems).
    for start in range(offset, end, _RESERVE_STEP):
        try:
            fallocate(fd, start, min(_RESERVE_STEP, end - start))
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise
            return


def _write_new(
    path: Path, pieces: list[tuple[int, bytes]], size: int, *, allocate_from: int | None = None
) -> None:
    """Write a new image; ``allocate_from`` (a fixed disk's first payload byte) reserves the
    file's space from there to its end, so a fixed disk is allocated on the host as Hyper-V's
    are, not a sparse file that can fail with a full host disk later."""
    try:
        new = NewFile(path)
    except FileExistsError as exc:
        raise CreateError(
            f"{path} already exists; vhdxray create never overwrites", RefusalCode.OUTPUT_EXISTS
        ) from exc
    except OSError as exc:
        raise CreateError(
            f"cannot create {path}: {exc.strerror or exc}", RefusalCode.CANNOT_OPEN
        ) from exc
    try:
        with new as fd:  # fsynced, and its name durable, on success; removed on error
            for offset, data in pieces:
                pwrite_all(fd, offset, data)
            os.ftruncate(fd, size)
            if allocate_from is not None and size > allocate_from:
                _reserve(fd, allocate_from, size - allocate_from)
    except OSError as exc:
        raise WriteFailed(
            f"writing {path} failed: {exc.strerror or exc}; the partial file was removed"
        ) from exc


@record
class Skeleton:
    """A new image's structures, without its BAT contents and payload: the file identifier,
    both headers, both region tables and the metadata, to be written at their offsets; the BAT
    lives at :data:`BAT_OFFSET` and payload blocks are allocated from ``data_start``."""

    geometry: BatGeometry
    data_start: int
    structure: tuple[tuple[int, bytes], ...]


def skeleton(
    opts: CreateOptions,
    *,
    disk_id: uuid.UUID,
    has_parent: bool = False,
    locator: list[tuple[str, str]] | None = None,
) -> Skeleton:
    """Lay out a new image (raises :class:`CreateError` when ``opts`` cannot be written)."""
    _validate(opts)
    geometry = bat_geometry(
        opts.virtual_size, opts.block_size, opts.logical_sector_size, has_parent
    )
    bat_length = _round_up(geometry.total_entries * layout.BAT_ENTRY_SIZE, layout.MiB)
    regions = serialise_region_table(
        [
            RegionEntry(layout.BAT_GUID, BAT_OFFSET, bat_length, layout.REGION_REQUIRED),
            RegionEntry(
                layout.METADATA_REGION_GUID,
                METADATA_OFFSET,
                METADATA_LENGTH,
                layout.REGION_REQUIRED,
            ),
        ]
    )
    file_write, data_write = new_guid(), new_guid()
    headers = [
        serialise_header(
            sequence_number=seq,
            file_write_guid=file_write,
            data_write_guid=data_write,
            log_guid=layout.ZERO_GUID,
            log_length=LOG_LENGTH,
            log_offset=LOG_OFFSET,
        )
        for seq in (1, 2)
    ]
    structure = (
        (0, serialise_identifier(opts.creator)),
        (layout.HEADER_SLOT_OFFSETS[0], headers[0]),
        (layout.HEADER_SLOT_OFFSETS[1], headers[1]),
        (layout.REGION_TABLE_OFFSETS[0], regions),
        (layout.REGION_TABLE_OFFSETS[1], regions),
        (METADATA_OFFSET, _metadata(opts, disk_id=disk_id, has_parent=has_parent, locator=locator)),
    )
    return Skeleton(geometry, BAT_OFFSET + bat_length, structure)


def _assemble(
    path: Path,
    opts: CreateOptions,
    *,
    disk_id: uuid.UUID,
    has_parent: bool = False,
    locator: list[tuple[str, str]] | None = None,
    data: Sequence[tuple[int, bytes]] = (),
) -> None:
    sk = skeleton(opts, disk_id=disk_id, has_parent=has_parent, locator=locator)
    bat, size, payload = _layout_blocks(sk.geometry, opts.fixed, sk.data_start, data)
    pieces = [*sk.structure, (BAT_OFFSET, bat), *payload]
    _write_new(path, pieces, size, allocate_from=sk.data_start if opts.fixed else None)


def create_image(
    path: str | os.PathLike[str], opts: CreateOptions, data: Sequence[tuple[int, bytes]] = ()
) -> Path:
    """Create a new fixed or dynamic image at ``path``; ``data`` is (virtual offset, bytes)
    to place on the new virtual disk (the demo and the tests use it)."""
    target = Path(path)
    _assemble(target, opts, disk_id=new_guid(), data=data)
    return target


def create_child(
    path: str | os.PathLike[str],
    parent: str | os.PathLike[str],
    *,
    creator: str = f"vhdxray {__version__}",
) -> Path:
    """Create a differencing child of ``parent``: same geometry, parent_linkage = the
    parent's DataWriteGuid, relative and absolute paths in the locator."""
    parent_path = Path(parent)
    report = read_report(parent_path)
    eff = report.effective_header
    meta = report.metadata
    if not report.is_vhdx or eff is None or meta is None:
        raise CreateError(
            f"{parent_path} is not a usable VHDX parent: {report.description}",
            RefusalCode.PARENT_UNUSABLE,
        )
    if (
        meta.virtual_size is None
        or meta.block_size is None
        or meta.logical_sector_size is None
        or meta.virtual_disk_id is None
    ):
        raise CreateError(
            f"{parent_path} has unusable metadata; cannot make a child of it",
            RefusalCode.PARENT_UNUSABLE,
        )
    opts = CreateOptions(
        virtual_size=meta.virtual_size,
        block_size=meta.block_size,
        logical_sector_size=meta.logical_sector_size,
        physical_sector_size=meta.physical_sector_size or 4096,
        creator=creator,
    )
    locator = [
        ("parent_linkage", "{" + str(eff.data_write_guid) + "}"),
        ("relative_path", windows_relative_path(Path(path), parent_path)),
    ]
    if os.name == "nt":  # pragma: no cover - only Windows has a Win32 absolute path to give
        locator.append(("absolute_win32_path", str(parent_path.resolve())))
    target = Path(path)
    _assemble(target, opts, disk_id=meta.virtual_disk_id, has_parent=True, locator=locator)
    return target
