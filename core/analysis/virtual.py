"""The virtual disk of an image, read-only: what a guest would see, damaged or not.

:func:`open_virtual_disk` opens an image (and, for a differencing disk, its parents, to any
depth, each link's identity checked with :func:`chain.check_chain`) and returns a
:class:`VirtualDisk` whose :meth:`VirtualDisk.read` returns any virtual range and whose
:meth:`VirtualDisk.runs` describes the disk as extents (zeros, untouched file ranges that can be
copied kernel-side, logged bytes, and gaps whose data is lost) for fast copying.

Nothing is ever written: the pending log is applied in memory (:mod:`logoverlay`), the region
table used is the active one (copy 2 when copy 1 is bad), the header is the current one or the
slot the caller names. Payload states read as QEMU reads them: NOT_PRESENT, UNDEFINED, ZERO and
UNMAPPED (also v0.95's 5) as zeros, FULLY_PRESENT from the file; in a differencing disk
NOT_PRESENT reads the parent and PARTIALLY_PRESENT follows the sector bitmap (bit set: this
file, clear: the parent). What cannot be read is zero-filled and reported as a gap: data past
the end of the file, BAT entries cut off, a sector bitmap that is missing, a reserved state, a
missing parent. The BAT is read lazily a window at a time, so memory does not grow with the
virtual size.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from vhdxray.core.analysis import logoverlay
from vhdxray.core.analysis.logoverlay import LoggedFile
from vhdxray.core.analysis.reader import (
    Report,
    analyse_log_in_file,
    looks_like_vhdx,
    read_header_section,
)
from vhdxray.core.format import layout
from vhdxray.core.format.bat import (
    BatGeometry,
    bat_geometry,
    payload_index,
    sector_bitmap_index,
)
from vhdxray.core.format.header import Header, choose_current, effective_header
from vhdxray.core.format.metadata import Metadata, parse_metadata
from vhdxray.core.format.record import field, mutable_record, record
from vhdxray.core.format.region import choose_active, parse_region_table
from vhdxray.core.outcome import Option, Refused, Suggestion, Suggestions, suggest
from vhdxray.core.source import ImageSource

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

# Extent kinds
ZERO: Final = "zero"  # reads zeros (nothing to write)
FILE: Final = "file"  # bytes at ``file_offset`` of the layer's file, untouched by any log
DATA: Final = "data"  # bytes held in ``data`` (logged pages)
GAP: Final = "gap"  # lost: reads zeros, listed with ``reason``

# Gap reasons (stable codes)
PAST_END_OF_FILE: Final = "past_end_of_file"
BAT_CUT_OFF: Final = "bat_entry_cut_off"
SECTOR_BITMAP_LOST: Final = "sector_bitmap_lost"
RESERVED_STATE: Final = "reserved_bat_state"
PARENT_MISSING: Final = "parent_missing"

GAP_REASONS: Final = {
    PAST_END_OF_FILE: "its data lies past the end of the file (the file was cut short)",
    BAT_CUT_OFF: "its BAT entry is cut off (the file ends inside the BAT)",
    SECTOR_BITMAP_LOST: "its sector bitmap is missing or past the end of the file",
    RESERVED_STATE: "its BAT entry holds a reserved state",
    PARENT_MISSING: "it lives in the parent disk, which is missing",
}

MAX_CHAIN_DEPTH: Final = 256  # a longer chain is refused (it is a loop or hostile)
_WINDOW_ENTRIES: Final = 1 << 17  # about this many BAT entries are read at a time (1 MiB)
# Each payload entry's state, as one class letter: runs of blocks that read the same way
# (zeros "z", from below "p", cut off "c") are found with a regex instead of block by block.
_Z, _P, _D, _R, _C = b"z"[0], b"p"[0], b"d"[0], b"r"[0], b"c"[0]


def _class_table(differencing: bool) -> bytes:
    """The class letter of each value of an entry's first byte. Only the state (its low three
    bits) decides, so the letters of the eight states repeat over the 256 values."""
    table = bytearray()
    for state in range(layout.BAT_STATE_MASK + 1):
        if state == layout.PAYLOAD_BLOCK_NOT_PRESENT:
            table.append(_P if differencing else _Z)
        elif state in _ZERO_STATES_LIST:
            table.append(_Z)
        elif state in (layout.PAYLOAD_BLOCK_FULLY_PRESENT, layout.PAYLOAD_BLOCK_PARTIALLY_PRESENT):
            table.append(_D)
        else:
            table.append(_R)
    return bytes(table) * (256 // len(table))


_ZERO_STATES_LIST: Final = (
    layout.PAYLOAD_BLOCK_UNDEFINED,
    layout.PAYLOAD_BLOCK_ZERO,
    layout.PAYLOAD_BLOCK_UNMAPPED,
    layout.PAYLOAD_BLOCK_UNMAPPED_V095,
)
_RUN_LETTERS: Final = (_Z, _P, _C)  # classes whose blocks are taken a run at a time


class OpenRefused(Refused):
    """The virtual disk cannot be opened as asked: a refusal of the outcome model.

    Codes: ``unreadable``, ``not_vhdx``, ``no_header``, ``bad_slot``, ``no_region_table``,
    ``metadata_unusable``, ``parent_missing``, ``parent_mismatch``, ``parent_unusable``,
    ``parent_loop``, ``parent_not_needed``. ``suggest``: the choices that would open it (the
    front ends render them: flags in the CLI).
    """

    def __init__(self, code: str, reason: str, *, suggest: Suggestions = ()) -> None:
        super().__init__(code, reason, suggest=suggest)


@record
class Extent:
    """Virtual bytes [start, end) and where they come from (see the kind constants)."""

    start: int
    end: int
    kind: str
    fd: int = -1  # FILE: the layer file's read-only descriptor
    file_offset: int = 0  # FILE: where ``start`` is in that file
    data: bytes = b""  # DATA: exactly end - start bytes
    reason: str = ""  # GAP: one of GAP_REASONS
    path: str = ""  # the image (layer) the bytes belong to

    @property
    def length(self) -> int:
        return self.end - self.start


@record
class LogUse:
    """What the pending log contributed, in memory."""

    applied: bool
    data_pages: int = 0
    zero_runs: int = 0
    zeroed_bytes: int = 0
    entries: int = 0
    note: str = ""  # why it was not applied, when it was not

    def describe(self) -> str:
        if self.applied:
            return (
                f"the pending log ({self.entries} entr{'y' if self.entries == 1 else 'ies'}) "
                f"was applied in memory: {self.data_pages} data page(s) and {self.zero_runs} "
                "zero range(s) laid over the file; the file itself was not changed"
            )
        return self.note or "no log replay was pending"


@record
class _Window:
    number: int
    first_entry: int
    first_block: int
    raw: bytes
    cut: tuple[tuple[int, int], ...]  # entry index ranges cut off
    classes: bytes  # one letter per payload block from first_block
    others: dict[int, bytes] = field(default_factory=dict)  # per letter: 0 where it is, else 1

    def run_end(self, i: int) -> int:
        """The end of the run of ``classes[i]``'s letter that starts at ``i`` (one
        ``translate`` per letter and window, then one ``find`` per run)."""
        c = self.classes[i]
        others = self.others.get(c)
        if others is None:
            table = bytearray(b"\x01") * 256
            table[c] = 0
            others = self.others[c] = self.classes.translate(table)
        end = others.find(1, i)
        return len(others) if end < 0 else end


_TABLE_PLAIN: Final = _class_table(False)
_TABLE_DIFFERENCING: Final = _class_table(True)


@mutable_record
class VirtualDisk:
    """One image's virtual disk (and its parents'). Use :func:`open_virtual_disk`; close it."""

    path: str
    source: ImageSource
    file: LoggedFile
    header: Header
    region_table: int
    metadata: Metadata
    geometry: BatGeometry
    disk_type: str
    bat_offset: int
    bat_entries: int  # entries the BAT region holds (TotalBATEntries when long enough)
    log: LogUse
    report: Report  # the structures as read (no BAT summary), for chain checks
    parent: VirtualDisk | None = None
    parent_missing: bool = False
    owns_source: bool = True  # False: the caller opened ``source`` and closes it
    _window: _Window | None = None

    # -- description -------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.geometry.virtual_size

    @property
    def logical_sector_size(self) -> int:
        return self.geometry.logical_sector_size

    @property
    def physical_sector_size(self) -> int:
        return self.metadata.physical_sector_size or 4096

    @property
    def block_size(self) -> int:
        return self.geometry.block_size

    @property
    def differencing(self) -> bool:
        return self.geometry.differencing

    def chain(self) -> list[VirtualDisk]:
        """This disk and its parents, child first."""
        out: list[VirtualDisk] = []
        disk: VirtualDisk | None = self
        while disk is not None:
            out.append(disk)
            disk = disk.parent
        return out

    def close(self) -> None:
        for disk in self.chain():
            if disk.owns_source:
                disk.source.close()

    def __enter__(self) -> VirtualDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes of the virtual disk from ``offset``; lost bytes read as zeros."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ValueError(f"range {offset}+{length} is outside the {self.size}-byte disk")
        extents = list(self.extents(offset, offset + length))
        if len(extents) == 1:  # one piece: no assembly (and no copies of a large buffer)
            ext = extents[0]
            if ext.kind == FILE:
                data = os.pread(ext.fd, ext.length, ext.file_offset)
                return data if len(data) == ext.length else data + bytes(ext.length - len(data))
            return ext.data if ext.kind == DATA else bytes(ext.length)
        out = bytearray(length)  # zeros: only the file ranges and logged pages are filled in
        view = memoryview(out)
        for ext in extents:
            at = ext.start - offset
            if ext.kind == FILE:
                data = os.pread(ext.fd, ext.length, ext.file_offset)
                view[at : at + len(data)] = data
            elif ext.kind == DATA:
                view[at : at + ext.length] = ext.data
        view.release()
        return bytes(out)

    def may_hold_data(self, offset: int, length: int) -> bool:
        """Whether virtual [offset, offset + length) has any byte that may be non-zero (file
        ranges or logged pages), known from the BAT and the log alone: no payload is read."""
        return any(e.kind in (FILE, DATA) for e in self.extents(offset, offset + length))

    def runs(self, start: int = 0, end: int | None = None) -> Iterator[Extent]:
        """:meth:`extents` with neighbours of the same kind merged (contiguous file ranges of
        one file, zeros, gaps of one reason): the unit of copying."""
        pending: Extent | None = None
        for ext in self.extents(start, self.size if end is None else end):
            if pending is not None and _mergeable(pending, ext):
                pending = Extent(
                    pending.start,
                    ext.end,
                    pending.kind,
                    pending.fd,
                    pending.file_offset,
                    reason=pending.reason,
                    path=pending.path,
                )
                continue
            if pending is not None:
                yield pending
            pending = ext
        if pending is not None:
            yield pending

    def extents(self, start: int, end: int) -> Iterator[Extent]:
        """Virtual [start, end) as extents, in order, without gaps between them."""
        start, end = max(0, start), min(end, self.size)
        bs = self.block_size
        pos = start
        while pos < end:
            block = pos // bs
            win = self._load_window(self._window_of_block(block))
            i = block - win.first_block
            c = win.classes[i] if i < len(win.classes) else _C
            if c in _RUN_LETTERS:
                last = win.first_block + (win.run_end(i) if i < len(win.classes) else i + 1)
                stop = min(end, last * bs)
                if c == _Z:
                    yield Extent(pos, stop, ZERO, path=self.path)
                elif c == _P:
                    yield from self._below(pos, stop)
                else:
                    yield Extent(pos, stop, GAP, reason=BAT_CUT_OFF, path=self.path)
                pos = stop
                continue
            stop = min(end, (block + 1) * bs)
            yield from self._block(block, pos, stop)
            pos = stop

    # -- the BAT ---------------------------------------------------------------------------

    @property
    def _chunks_per_window(self) -> int:
        return max(1, _WINDOW_ENTRIES // (self.geometry.chunk_ratio + 1))

    def _window_of_block(self, block: int) -> int:
        return block // (self._chunks_per_window * self.geometry.chunk_ratio)

    def _load_window(self, w: int) -> _Window:
        """Window ``w``: whole chunks of BAT entries (payload entries and their sector
        bitmap entry), their bytes, which are cut off, and one class letter per payload block."""
        if self._window is not None and self._window.number == w:
            return self._window
        ratio = self.geometry.chunk_ratio
        per = self._chunks_per_window * (ratio + 1)
        first = w * per
        count = max(0, min(per, self.geometry.total_entries - first))
        have = max(0, min(count, self.bat_entries - first))
        offset = self.bat_offset + first * layout.BAT_ENTRY_SIZE
        raw = self.file.read(offset, have * layout.BAT_ENTRY_SIZE)
        cut: list[tuple[int, int]] = []
        for p in self.file.pieces(offset, have * layout.BAT_ENTRY_SIZE):
            if p.kind == logoverlay.ABSENT:
                lo = (p.start - offset) // layout.BAT_ENTRY_SIZE
                hi = -(-(p.end - offset) // layout.BAT_ENTRY_SIZE)
                cut.append((first + lo, first + hi))
        if have < count:  # the BAT region is shorter than the disk needs
            cut.append((first + have, first + count))
        entry_classes = bytearray(raw[0 :: layout.BAT_ENTRY_SIZE].translate(self._table()))
        entry_classes += bytes([_C]) * (count - len(entry_classes))
        for lo, hi in cut:
            entry_classes[lo - first : hi - first] = bytes([_C]) * (hi - lo)
        classes = b"".join(
            entry_classes[i : i + ratio] for i in range(0, len(entry_classes), ratio + 1)
        )
        first_block = w * self._chunks_per_window * ratio
        classes = classes[: max(0, self.geometry.data_blocks_count - first_block)]
        self._window = _Window(w, first, first_block, raw, tuple(cut), classes)
        return self._window

    def _table(self) -> bytes:
        return _TABLE_DIFFERENCING if self.differencing else _TABLE_PLAIN

    def _entry(self, index: int) -> int | None:
        """The BAT entry at ``index``, or None when it is cut off."""
        per = self._chunks_per_window * (self.geometry.chunk_ratio + 1)
        win = self._load_window(index // per)
        if any(lo <= index < hi for lo, hi in win.cut):
            return None
        start = (index - win.first_entry) * layout.BAT_ENTRY_SIZE
        if start + layout.BAT_ENTRY_SIZE > len(win.raw):
            return None
        return int.from_bytes(win.raw[start : start + layout.BAT_ENTRY_SIZE], "little")

    # -- one block -------------------------------------------------------------------------

    def _below(self, start: int, end: int) -> Iterator[Extent]:
        """What shows through where this file holds nothing: zeros, or the parent's bytes."""
        if not self.differencing:
            yield Extent(start, end, ZERO, path=self.path)
        elif self.parent is not None:
            yield from self.parent.extents(start, end)
        else:
            yield Extent(start, end, GAP, reason=PARENT_MISSING, path=self.path)

    def _block(self, block: int, start: int, end: int) -> Iterator[Extent]:
        entry = self._entry(payload_index(block, self.geometry.chunk_ratio))
        if entry is None:
            yield Extent(start, end, GAP, reason=BAT_CUT_OFF, path=self.path)
            return
        state = entry & layout.BAT_STATE_MASK
        offset = entry & layout.BAT_OFFSET_MASK
        block_start = block * self.block_size
        if state == layout.PAYLOAD_BLOCK_FULLY_PRESENT or (
            state == layout.PAYLOAD_BLOCK_PARTIALLY_PRESENT and not self.differencing
        ):
            yield from self._file(offset + (start - block_start), start, end)
        elif state == layout.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
            yield from self._partial(block, offset, start, end)
        elif state == layout.PAYLOAD_BLOCK_NOT_PRESENT:
            yield from self._below(start, end)
        elif state in _ZERO_STATES_LIST:
            yield Extent(start, end, ZERO, path=self.path)
        else:
            yield Extent(start, end, GAP, reason=RESERVED_STATE, path=self.path)

    def _file(self, file_offset: int, start: int, end: int) -> Iterator[Extent]:
        fd = self.source.fileno()
        for p in self.file.pieces(file_offset, end - start):
            vs, ve = start + (p.start - file_offset), start + (p.end - file_offset)
            if p.kind == logoverlay.FILE:
                yield Extent(vs, ve, FILE, fd, p.start, path=self.path)
            elif p.kind == logoverlay.PAGE_DATA:
                yield Extent(vs, ve, DATA, data=p.data, path=self.path)
            elif p.kind == logoverlay.ZEROS:
                yield Extent(vs, ve, ZERO, path=self.path)
            else:
                yield Extent(vs, ve, GAP, reason=PAST_END_OF_FILE, path=self.path)

    def _partial(self, block: int, offset: int, start: int, end: int) -> Iterator[Extent]:
        g = self.geometry
        lss = g.logical_sector_size
        chunk, in_chunk = divmod(block, g.chunk_ratio)
        sb = self._entry(sector_bitmap_index(chunk, g.chunk_ratio))
        if sb is None or sb & layout.BAT_STATE_MASK != layout.SB_BLOCK_PRESENT:
            yield Extent(start, end, GAP, reason=SECTOR_BITMAP_LOST, path=self.path)
            return
        block_start = block * g.block_size
        first = (start - block_start) // lss
        stop = -(-(end - block_start) // lss)
        bit0 = in_chunk * (g.block_size // lss) + first
        byte0 = bit0 // 8
        nbytes = -(-(bit0 + stop - first) // 8) - byte0
        bitmap, complete = self.file.read_present((sb & layout.BAT_OFFSET_MASK) + byte0, nbytes)
        if not complete:
            yield Extent(start, end, GAP, reason=SECTOR_BITMAP_LOST, path=self.path)
            return
        skip = bit0 - byte0 * 8
        for s_from, s_to, present in _bit_runs(bitmap, skip, stop - first):
            vs = max(start, block_start + (first + s_from) * lss)
            ve = min(end, block_start + (first + s_to) * lss)
            if vs >= ve:
                continue
            if present:
                yield from self._file(offset + (vs - block_start), vs, ve)
            else:
                yield from self._below(vs, ve)


def _mergeable(a: Extent, b: Extent) -> bool:
    if a.kind != b.kind or a.end != b.start:
        return False
    if a.kind == ZERO:
        return True
    if a.kind == GAP:
        return a.reason == b.reason
    if a.kind == FILE:
        return a.fd == b.fd and a.file_offset + a.length == b.file_offset
    return False


def _bit_runs(bitmap: bytes, skip: int, count: int) -> Iterator[tuple[int, int, bool]]:
    """Runs (first, end, bit) over ``count`` bits of ``bitmap`` starting at bit ``skip``
    (bit 0 of byte 0 first); whole 0x00/0xFF bytes are taken at once."""
    runs: list[tuple[int, int, bool]] = []

    def add(a: int, b: int, bit: bool) -> None:
        a, b = max(a - skip, 0), min(b - skip, count)
        if a >= b:
            return
        if runs and runs[-1][2] == bit and runs[-1][1] == a:
            runs[-1] = (runs[-1][0], b, bit)
        else:
            runs.append((a, b, bit))

    import re  # only for differencing disks' sector bitmaps: the check path does without

    for m in re.finditer(rb"\x00+|\xff+|[\x01-\xfe]", bitmap):
        first_bit = m.start() * 8
        value = m.group()
        if len(value) > 1 or value in (b"\x00", b"\xff"):
            add(first_bit, m.end() * 8, value[0] == 0xFF)
        else:
            byte = value[0]
            for i in range(8):
                add(first_bit + i, first_bit + i + 1, bool(byte >> i & 1))
    return iter(runs)


# --------------------------------------------------------------------------------------------
# Opening


def _open_layer(path: str, from_slot: int | None) -> VirtualDisk:
    try:
        source = ImageSource(path)
    except OSError as exc:
        raise OpenRefused("unreadable", f"{path} cannot be opened: {exc.strerror or exc}") from exc
    try:
        return _parse_layer(path, source, from_slot)
    except OpenRefused:
        source.close()
        raise
    except OSError as exc:
        source.close()
        raise OpenRefused("unreadable", f"reading {path} failed: {exc.strerror or exc}") from exc


def _parse_layer(
    path: str, source: ImageSource, from_slot: int | None, known: Report | None = None
) -> VirtualDisk:
    """One layer, parsed from ``source``; ``known`` (the report ``check`` made of this same
    open file) saves reading the header section, the log and, when no log is applied, the
    region tables and metadata again."""
    size = source.size
    read = source.read_at
    if (
        known is not None
        and known.is_vhdx
        and known.headers is not None
        and known.identifier is not None
    ):
        identifier, headers = known.identifier, known.headers
    else:
        known = None
        identifier, _, headers, raw_tables = read_header_section(read)
        if not looks_like_vhdx(identifier, headers, raw_tables):
            from vhdxray.core.analysis.sniff import identify_other

            _, description = identify_other(read, size)
            raise OpenRefused("not_vhdx", f"{path} is not a VHDX image: {description}")
    choice = choose_current(*headers)
    if from_slot is not None:
        if from_slot not in (1, 2):
            raise OpenRefused(
                "bad_slot",
                f"the header slot must be 1 or 2, not {from_slot}",
                suggest=suggest(Option.FROM_SLOT, 1, 2),
            )
        header = headers[from_slot - 1]
        if not header.valid:
            why = "; ".join(header.invalid_reasons())
            raise OpenRefused("bad_slot", f"header slot {from_slot} of {path} is not valid: {why}")
    else:
        chosen = effective_header(headers, choice)
        if chosen is None:
            valid = tuple(Suggestion(Option.FROM_SLOT, h.slot) for h in headers if h.valid)
            # Naming a slot helps only when one is valid (Disk2VHD's equal sequences).
            then = (
                "name the slot to read"
                if valid
                else "neither slot can be read through; restore a backup of the file"
            )
            raise OpenRefused(
                "no_header",
                f"{path}: {choice.explain(headers).rstrip('.')}; {then}",
                suggest=valid,
            )
        header = chosen

    writes: list[logoverlay.Write] = []
    log_use = LogUse(applied=False)
    log_info = None
    if header.log_guid != layout.ZERO_GUID:
        # Probed by sector signature: only the entries found are read, and the overlay keeps
        # references to the logged pages, not their bytes (memory bounded by the descriptors).
        same_log = known is not None and known.log is not None and from_slot is None
        log_info = known.log if same_log and known is not None else None
        if log_info is None:
            log_info, _ = analyse_log_in_file(header, source)
        if log_info.replay_needed and log_info.active is not None:
            if log_info.replay_blockers:
                log_use = LogUse(
                    applied=False,
                    note="the pending log was NOT applied: " + "; ".join(log_info.replay_blockers),
                )
            else:
                writes = logoverlay.log_pages(log_info)
    file = LoggedFile(read, size, writes, header.log_offset)
    if writes:
        assert log_info is not None and log_info.active is not None
        log_use = LogUse(
            applied=True,
            data_pages=file.data_pages,
            zero_runs=file.zero_runs,
            zeroed_bytes=file.zeroed_bytes,
            entries=len(log_info.active.entries),
        )

    if known is not None and not writes and known.region_tables is not None:
        tables = known.region_tables  # nothing laid over the file: what check read holds
    else:
        tables = (
            parse_region_table(
                file.read(layout.REGION_TABLE_OFFSETS[0], layout.REGION_TABLE_SIZE), 1
            ),
            parse_region_table(
                file.read(layout.REGION_TABLE_OFFSETS[1], layout.REGION_TABLE_SIZE), 2
            ),
        )
    active = choose_active(tables)
    if active is None:
        raise OpenRefused("no_region_table", f"{path} has no valid region table copy")
    table = tables[active - 1]
    meta_entry = table.find(layout.METADATA_REGION_GUID)
    bat_entry = table.find(layout.BAT_GUID)
    if meta_entry is None or bat_entry is None:
        raise OpenRefused(
            "no_region_table", f"the active region table of {path} lacks the BAT or metadata"
        )
    if (
        known is not None
        and not writes
        and known.metadata is not None
        and known.active_region_table == active
    ):
        metadata = known.metadata
    else:
        metadata, _ = parse_metadata(meta_entry.file_offset, meta_entry.length, file.read)
    disk_type = metadata.disk_type
    if (
        metadata.block_size is None
        or metadata.logical_sector_size is None
        or metadata.virtual_size is None
        or disk_type is None
    ):
        raise OpenRefused(
            "metadata_unusable", f"the disk geometry in the metadata of {path} is unusable"
        )
    try:
        geometry = bat_geometry(
            metadata.virtual_size,
            metadata.block_size,
            metadata.logical_sector_size,
            disk_type == "differencing",
        )
    except ValueError as exc:
        raise OpenRefused("metadata_unusable", f"{path}: {exc}") from exc
    report = Report(
        path=path,
        file_size=size,
        kind="vhdx",
        description=f"A {disk_type} VHDX image.",
        identifier=identifier,
        headers=headers,
        header_choice=choice,
        region_tables=tables,
        active_region_table=active,
        metadata=metadata,
        log=log_info,
    )
    return VirtualDisk(
        path=path,
        source=source,
        file=file,
        header=header,
        region_table=active,
        metadata=metadata,
        geometry=geometry,
        disk_type=disk_type,
        bat_offset=bat_entry.file_offset,
        bat_entries=bat_entry.length // layout.BAT_ENTRY_SIZE,
        log=log_use,
        report=report,
    )


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def locate_by_locator(disk: VirtualDisk) -> str | None:
    """The parent the child's locator leads to on this machine (:func:`chain.locate_parent`),
    or None when it leads to no file. A file there that is not the parent is refused."""
    from vhdxray.core.analysis.chain import MISSING, NO_LOCATOR, locate_parent  # pathlib

    lookup = locate_parent(disk.path, disk.report)
    if lookup.status in (NO_LOCATOR, MISSING) or lookup.path is None:
        return None
    if not lookup.ok:
        reasons = "; ".join(f.message for f in lookup.findings(disk.path))
        raise OpenRefused(
            "parent_mismatch",
            f"the parent of {disk.path} found through its locator cannot be used: {reasons}; "
            "name the right one",
            suggest=suggest(Option.PARENT),
        )
    return os.fspath(lookup.path)


def open_virtual_disk(
    path: str | os.PathLike[str],
    *,
    parents: Sequence[str | os.PathLike[str]] = (),
    from_slot: int | None = None,
    allow_missing_parent: bool = False,
    source: ImageSource | None = None,
    report: Report | None = None,
) -> VirtualDisk:
    """Open ``path`` read-only as a virtual disk.

    ``parents`` are the parent chain, the child's own parent first; a differencing disk whose
    parent is not given is linked to the file its locator leads to (chain.locate_parent). Each link
    must pass :func:`check_chain` (identity and geometry). A parent that cannot be found is
    refused unless ``allow_missing_parent``, which reads its sectors as gaps. ``from_slot``
    applies to ``path`` only. Raises :class:`OpenRefused`.

    ``source``: ``path`` already open (the caller keeps it and closes it); with ``report``,
    the report read through that same source, whose parsed structures are reused.
    """
    if source is None:
        top = _open_layer(os.fspath(path), from_slot)
    else:
        try:
            top = _parse_layer(os.fspath(path), source, from_slot, report)
        except OSError as exc:
            raise OpenRefused(
                "unreadable", f"reading {path} failed: {exc.strerror or exc}"
            ) from exc
        top.owns_source = False
    given = [os.fspath(p) for p in parents]
    try:
        disk = top
        depth = 0
        while disk.differencing:
            depth += 1
            if depth > MAX_CHAIN_DEPTH:
                raise OpenRefused("parent_loop", f"the chain is deeper than {MAX_CHAIN_DEPTH}")
            ppath = given.pop(0) if given else locate_by_locator(disk)
            if ppath is None or not os.path.exists(ppath):
                if allow_missing_parent:
                    disk.parent_missing = True
                    break
                what = f"{ppath} does not exist" if ppath else "its locator leads to no file here"
                raise OpenRefused(
                    "parent_missing",
                    f"{disk.path} is a differencing disk and its parent is missing ({what}); "
                    "name it, or read without it (its sectors are then zero-filled and "
                    "listed as gaps)",
                    suggest=(*suggest(Option.PARENT), *suggest(Option.ALLOW_MISSING_PARENT)),
                )
            if any(_same_file(ppath, d.path) for d in top.chain()):
                raise OpenRefused("parent_loop", f"{ppath} is already in the chain")
            try:
                parent = _open_layer(ppath, None)
            except OpenRefused as exc:
                raise OpenRefused(
                    "parent_unusable", f"the parent {ppath} cannot be used: {exc.reason}"
                ) from exc
            disk.parent = parent
            from vhdxray.core.analysis.chain import MISMATCH, check_chain  # only for a child

            check = check_chain(disk.report, parent.report, child_path=disk.path, parent_path=ppath)
            if not check.consistent:
                bad = [i.message for i in check.items if i.status == MISMATCH]
                raise OpenRefused(
                    "parent_mismatch",
                    f"{ppath} is not the parent of {disk.path}: " + "; ".join(bad),
                )
            disk = parent
        if given:
            raise OpenRefused(
                "parent_not_needed",
                f"more parents were given than the chain has ({', '.join(given)} not used)",
            )
    except BaseException:
        top.close()
        raise
    return top


__all__ = [
    "BAT_CUT_OFF",
    "DATA",
    "FILE",
    "GAP",
    "GAP_REASONS",
    "PARENT_MISSING",
    "PAST_END_OF_FILE",
    "RESERVED_STATE",
    "SECTOR_BITMAP_LOST",
    "ZERO",
    "Extent",
    "LogUse",
    "OpenRefused",
    "VirtualDisk",
    "open_virtual_disk",
]
