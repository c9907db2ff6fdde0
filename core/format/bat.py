"""Block Allocation Table: geometry, entry decoding and whole-table analysis (MS-VHDX §2.4–2.5).

How the analysis stays fast
---------------------------
A 64 TiB disk with 32 MiB blocks has about 2.1 million BAT entries (16 MiB of table), so no
step of the default path may loop over entries in Python. Everything here is done with
C-level bulk operations on bytes:

* Strided slices (``buf[k::8]``) give byte lane ``k`` of every entry at once.
* ``bytes.translate`` turns each entry's low byte into its state, and lanes into flags.
* One *class byte* per entry is built: bits 0-2 the state, ``_C_OFFSET`` when FileOffsetMB is
  not zero, ``_C_RESERVED`` when any of bits 3-19 is set, ``_C_SB`` for sector-bitmap slots and
  ``_C_PAD`` for the unused payload slots at the end of a differencing BAT. Several lanes are
  OR-ed together through ``int.from_bytes`` (one big-int OR per lane, linear time).
* A histogram of the class bytes (``bytes.count`` plus ``translate(None, delete)``, one pass per
  distinct value) gives every count. Positions of the rare entries of interest come from
  ``bytes.find`` over a 0/1 flag string, or ``itertools.compress`` when they are many.
* Allocated blocks are handled as arrays of FileOffsetMB values; uniqueness and overlap come
  from ``min(map(operator.sub, ...))`` over the (sorted) offsets, ranges from ``bisect``.

Python loops run only over problem entries, and those loops are capped.

The table is never held whole: :func:`analyse_bat_stream` reads it in chunks of about
``BAT_CHUNK_BYTES`` (whole rows of ChunkRatio + 1 entries), classifies each chunk as above and
keeps only counts, the first few positions of each class and the allocated offsets. A chunk in
which all payload entries hold one value and all sector bitmap entries another (fresh sparse
images) is recognised by comparing it in place with one repeated row. The previous
whole-table implementation is kept in tests/core/bat_reference.py and compared with this one
on random BATs.
"""

from __future__ import annotations

import bisect
import operator
import sys
from array import array
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from itertools import compress, islice, repeat

from vhdxray.core.format import layout
from vhdxray.core.format.findings import Finding, error, info, warning
from vhdxray.core.format.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

MiB: Final = layout.MiB
LOST_RANGES_CAP: Final = 1000  # LostRange records kept in a summary (all are counted)
EXAMPLES_CAP: Final = 8  # entry indexes quoted in one finding's message
DISK_TYPES: Final = ("fixed", "dynamic", "differencing")

_MB_SHIFT: Final = 20  # FileOffsetMB is bits 20..63: ``entry >> 20``
_ALLOCATED_STATES: Final = (
    layout.PAYLOAD_BLOCK_FULLY_PRESENT,
    layout.PAYLOAD_BLOCK_PARTIALLY_PRESENT,
)

# Class byte flags (bits 0-2 are the state).
_C_OFFSET: Final = 0x08
_C_RESERVED: Final = 0x10
_C_SB: Final = 0x20
_C_PAD: Final = 0x40
_FLAG_SETS: Final = (0, _C_OFFSET, _C_RESERVED, _C_OFFSET | _C_RESERVED)
# Above this share of matching entries, positions come from compress() rather than finditer().
_SPARSE_DIVISOR: Final = 64


# Translation tables over byte values. Each is every byte value (0..255) ANDed or ORed with
# one mask, computed as one operation on 256-byte integers: even ``map`` of an int's bound
# operator costs 256 calls per table, a measurable part of start-up (issue 9).
_ALL_BYTES: Final = int.from_bytes(bytes(range(256)), "big")


def _and_table(mask: int) -> bytes:
    """``bytes(v & mask for v in range(256))``."""
    return (_ALL_BYTES & int.from_bytes(bytes((mask,)) * 256, "big")).to_bytes(256, "big")


def _or_table(bits: int) -> bytes:
    """``bytes(v | bits for v in range(256))``."""
    return (_ALL_BYTES | int.from_bytes(bytes((bits,)) * 256, "big")).to_bytes(256, "big")


_T_STATE: Final = _and_table(layout.BAT_STATE_MASK)
_T_RES_LO: Final = _and_table(0xF8)  # reserved bits 3..7 of byte 0
_T_RES_B2: Final = _and_table(0x0F)  # reserved bits 16..19 (low nibble of byte 2)
_T_OFF_B2: Final = _and_table(0xF0)  # FileOffsetMB bits 20..23
_T_NZ_OFFSET: Final = b"\0" + bytes((_C_OFFSET,)) * 255  # _C_OFFSET for any non-zero byte
_T_NZ_RESERVED: Final = b"\0" + bytes((_C_RESERVED,)) * 255
_T_SET_SB: Final = _or_table(_C_SB)
_T_SET_PAD: Final = _or_table(_C_PAD)


# --------------------------------------------------------------------------------------------
# Geometry (§2.4, §2.5)


@record
class BatGeometry:
    """Sizes that fix the BAT layout; see :func:`bat_geometry`."""

    virtual_size: int
    block_size: int
    logical_sector_size: int
    differencing: bool
    chunk_ratio: int
    data_blocks_count: int
    sector_bitmap_blocks_count: int
    total_entries: int

    @property
    def chunk_size(self) -> int:
        """Virtual bytes covered by one sector bitmap block (2^23 logical sectors)."""
        return layout.SECTORS_PER_CHUNK * self.logical_sector_size

    def block_length(self, block: int) -> int:
        """Virtual bytes held by payload ``block`` (only the last one may be short)."""
        return max(0, min(self.block_size, self.virtual_size - block * self.block_size))

    def to_json(self) -> dict[str, object]:
        return {
            "virtual_size": self.virtual_size,
            "block_size": self.block_size,
            "logical_sector_size": self.logical_sector_size,
            "differencing": self.differencing,
            "chunk_ratio": self.chunk_ratio,
            "data_blocks_count": self.data_blocks_count,
            "sector_bitmap_blocks_count": self.sector_bitmap_blocks_count,
            "total_entries": self.total_entries,
        }


def bat_geometry(
    virtual_size: int, block_size: int, logical_sector_size: int, differencing: bool
) -> BatGeometry:
    """ChunkRatio, block counts and TotalBATEntries (vhdx-format.md §6.2).

    * ChunkRatio = 2^23 × LogicalSectorSize / BlockSize
    * DataBlocksCount = Ceil(VirtualDiskSize / BlockSize)
    * SectorBitmapBlocksCount = Ceil(DataBlocksCount / ChunkRatio)
    * fixed/dynamic: TotalBATEntries = DataBlocksCount + Fl((DataBlocksCount − 1) / ChunkRatio)
    * differencing: TotalBATEntries = SectorBitmapBlocksCount × (ChunkRatio + 1)

    The arguments come from metadata that the caller has already validated. Values that
    cannot describe any BAT (block size not a positive multiple of 1 MiB, a chunk that is not a
    whole number of blocks, negative sizes) raise ``ValueError``.
    """
    if virtual_size < 0:
        raise ValueError(f"virtual size {virtual_size} is negative")
    if block_size <= 0 or block_size % MiB:
        raise ValueError(f"block size {block_size} is not a positive multiple of 1 MiB")
    if logical_sector_size <= 0:
        raise ValueError(f"logical sector size {logical_sector_size} is not positive")
    chunk = layout.SECTORS_PER_CHUNK * logical_sector_size
    if chunk % block_size:
        raise ValueError(
            f"a chunk ({chunk} bytes) is not a whole number of {block_size}-byte blocks"
        )
    chunk_ratio = chunk // block_size
    data_blocks = layout.ceil_div(virtual_size, block_size)
    sb_blocks = layout.ceil_div(data_blocks, chunk_ratio)
    if differencing:
        total = sb_blocks * (chunk_ratio + 1)
    else:
        total = data_blocks + (data_blocks - 1) // chunk_ratio if data_blocks else 0
    return BatGeometry(
        virtual_size=virtual_size,
        block_size=block_size,
        logical_sector_size=logical_sector_size,
        differencing=differencing,
        chunk_ratio=chunk_ratio,
        data_blocks_count=data_blocks,
        sector_bitmap_blocks_count=sb_blocks,
        total_entries=total,
    )


def payload_index(block: int, chunk_ratio: int) -> int:
    """BAT index of payload block ``block``: block + Fl(block / ChunkRatio)."""
    return block + block // chunk_ratio


def sector_bitmap_index(chunk: int, chunk_ratio: int) -> int:
    """BAT index of the sector bitmap entry of ``chunk``: chunk × (ChunkRatio + 1) + ChunkRatio."""
    return chunk * (chunk_ratio + 1) + chunk_ratio


def block_of_index(index: int, chunk_ratio: int) -> int:
    """Payload block number of BAT index ``index`` (which must not be a sector bitmap slot)."""
    return index - index // (chunk_ratio + 1)


def unread_virtual_start(geometry: BatGeometry, entries_read: int) -> int | None:
    """The first virtual byte whose block's BAT entry is not among the first ``entries_read``
    entries (so whether its data was in the file cannot be known); None when every payload
    entry was read. Payload entries come in block order, so the rest of the disk follows."""
    if entries_read >= geometry.total_entries:
        return None
    first_block = entries_read - entries_read // (geometry.chunk_ratio + 1)
    if first_block >= geometry.data_blocks_count:
        return None
    return first_block * geometry.block_size


# --------------------------------------------------------------------------------------------
# Summary records


@record
class LostRange:
    """Virtual bytes [virtual_start, virtual_end) of ``block`` whose data lies past end of file.

    ``file_offset`` is where the block starts in the file (its FileOffsetMB in bytes).
    """

    block: int
    virtual_start: int
    virtual_end: int
    file_offset: int

    def to_json(self) -> dict[str, int]:
        return {
            "block": self.block,
            "virtual_start": self.virtual_start,
            "virtual_end": self.virtual_end,
            "file_offset": self.file_offset,
        }


@record
class BatSummary:
    """What :func:`analyse_bat` counted. Only the first ``LOST_RANGES_CAP`` lost ranges are kept;
    ``past_eof_blocks`` and ``lost_virtual_bytes`` count all of them."""

    geometry: BatGeometry
    entries_in_region: int
    entries_read: int
    payload_states: dict[str, int]
    sector_bitmap_states: dict[str, int]
    allocated_blocks: int
    allocated_sector_bitmaps: int
    allocated_bytes: int
    required_file_size: int
    file_size: int
    past_eof_blocks: int
    lost_ranges: tuple[LostRange, ...]
    lost_virtual_bytes: int
    reserved_bits_entries: int
    unknown_virtual_start: int | None = None
    """Virtual bytes from here to the end of the disk have BAT entries that could not be read
    (past the end of the file, or outside the BAT region): lost or never written, unknown."""
    unread_past_eof: bool = False  # the entries are missing because the file ends
    past_eof_damaged: bool = False
    """The blocks past the end are stray BAT entries (damaged entries), not a cut file: the
    finding is ``bat.entry.stray_offset`` rather than ``bat.block.past_eof``; the loss is the
    same (``lost_ranges``)."""

    @property
    def unread_entries(self) -> int:
        return self.geometry.total_entries - self.entries_read

    @property
    def unknown_virtual_bytes(self) -> int:
        start = self.unknown_virtual_start
        return 0 if start is None else self.geometry.virtual_size - start

    @property
    def lost_ranges_truncated(self) -> bool:
        return len(self.lost_ranges) < self.past_eof_blocks

    def to_json(self) -> dict[str, object]:
        return {
            "geometry": self.geometry.to_json(),
            "entries_in_region": self.entries_in_region,
            "entries_read": self.entries_read,
            "payload_states": dict(self.payload_states),
            "sector_bitmap_states": dict(self.sector_bitmap_states),
            "allocated_blocks": self.allocated_blocks,
            "allocated_sector_bitmaps": self.allocated_sector_bitmaps,
            "allocated_bytes": self.allocated_bytes,
            "required_file_size": self.required_file_size,
            "file_size": self.file_size,
            "past_eof_blocks": self.past_eof_blocks,
            "lost_virtual_bytes": self.lost_virtual_bytes,
            "lost_ranges": [r.to_json() for r in self.lost_ranges],
            "lost_ranges_truncated": self.lost_ranges_truncated,
            "reserved_bits_entries": self.reserved_bits_entries,
            "unread_entries": self.unread_entries,
            "unread_past_eof": self.unread_past_eof,
            "past_eof_damaged": self.past_eof_damaged,
            "unknown_virtual_start": self.unknown_virtual_start,
            "unknown_virtual_bytes": self.unknown_virtual_bytes,
        }


# --------------------------------------------------------------------------------------------
# Bulk helpers


def _or_bytes(parts: Sequence[bytes], size: int) -> bytes:
    """Byte-wise OR of equally long byte strings (big-int OR, linear time)."""
    if len(parts) == 1:
        return parts[0]
    value = 0
    for part in parts:
        value |= int.from_bytes(part, "little")
    return value.to_bytes(size, "little")


def _only_low_bytes(buf: bytes, lo: bytes) -> bool:
    """True when every byte but byte 0 of every entry is zero (a fresh sparse BAT).

    Counted rather than compared: the zero bytes of ``buf`` are those of lane 0 plus, exactly
    when the other seven lanes are all zero, seven per entry.
    """
    return buf.count(0) - lo.count(0) == 7 * len(lo)


def _histogram(data: bytes | bytearray) -> dict[int, int]:
    """Count of every byte value in ``data``; one count+delete pass per distinct value."""
    hist: dict[int, int] = {}
    rest = data
    while rest:
        value = rest[0]
        hist[value] = rest.count(value)
        rest = rest.translate(None, bytes((value,)))
    return hist


def _entry_class(entry: int) -> int:
    """The class byte of one entry (state, _C_OFFSET, _C_RESERVED; no slot flags)."""
    value = entry & layout.BAT_STATE_MASK
    if entry >> _MB_SHIFT:
        value |= _C_OFFSET
    if entry & layout.BAT_RESERVED_MASK:
        value |= _C_RESERVED
    return value


_UNIFORM_PIECE: Final = 64 * 1024  # bytes of whole rows compared at once (stays in cache)


def _uniform_classes(buf: bytes, cr: int) -> tuple[int, int] | None:
    """(payload class, sector bitmap class) when every payload entry of ``buf`` holds the same
    value and so does every sector bitmap entry (a freshly created sparse BAT: all zeros, or
    all PAYLOAD_BLOCK_ZERO); None otherwise. The chunk is compared in place with one row
    pattern repeated (``startswith`` at each piece: a memcmp, no copy of the chunk)."""
    n = len(buf) // layout.BAT_ENTRY_SIZE
    if not n or len(buf) != n * layout.BAT_ENTRY_SIZE:
        return None
    payload = buf[:8]
    sb = buf[cr * 8 : cr * 8 + 8] if n > cr else payload
    row = payload * cr + sb
    rows, rest = divmod(n, cr + 1)
    per_piece = max(1, _UNIFORM_PIECE // len(row))
    piece = row * per_piece
    whole = rows // per_piece * len(piece)
    startswith = buf.startswith
    for at in range(0, whole, len(piece)):
        if not startswith(piece, at):
            return None
    if not startswith(row * (rows % per_piece) + payload * rest, whole):
        return None
    return _entry_class(int.from_bytes(payload, "little")), _entry_class(
        int.from_bytes(sb, "little")
    )


@lru_cache(maxsize=64)
def _flag_table(values: frozenset[int]) -> bytes:
    return bytes(1 if v in values else 0 for v in range(256))


def _payload_values(states: Sequence[int], flags: Sequence[int] = _FLAG_SETS) -> frozenset[int]:
    """Class bytes of (non-pad) payload entries in ``states``, with any of ``flags``."""
    return frozenset(s | f for s in states for f in flags)


def _sb_values(states: Sequence[int], flags: Sequence[int] = _FLAG_SETS) -> frozenset[int]:
    return frozenset(s | f | _C_SB for s in states for f in flags)


def _ones(flags: bytes | bytearray) -> Iterator[int]:
    """The positions of the 1 bytes of ``flags``, ascending: one ``find`` (C) per position."""
    find = flags.find
    at = find(1)
    while at >= 0:
        yield at
        at = find(1, at + 1)


def _u64_view(buf: bytes) -> Sequence[int]:
    """The entries as unsigned 64-bit integers (zero-copy on little-endian hosts)."""
    if sys.byteorder == "little":
        return memoryview(buf).cast("Q")
    values = array("Q")
    values.frombytes(buf)
    values.byteswap()
    return values


def _examples(indexes: Sequence[int], total: int, noun: str = "entry") -> str:
    shown = ", ".join(str(i) for i in indexes[:EXAMPLES_CAP])
    plural = noun if total == 1 else ("entries" if noun == "entry" else noun + "s")
    more = f" and {total - min(total, EXAMPLES_CAP)} more" if total > EXAMPLES_CAP else ""
    return f"{plural} {shown}{more}"


def _ceil_mb(value: int) -> int:
    return -(-value // MiB)


class _Table:
    """One chunk of BAT entries (starting at entry ``base``), classified once: one class byte
    per entry. ``base`` is a multiple of ChunkRatio + 1, so sector bitmap slots sit at the same
    local positions in every chunk."""

    def __init__(self, buf: bytes, geometry: BatGeometry, base: int = 0) -> None:
        self.buf = buf
        self.base = base
        self.n = n = len(buf) // layout.BAT_ENTRY_SIZE
        self.geometry = geometry
        self.cr = cr = geometry.chunk_ratio
        self.values = _u64_view(buf)

        uniform = _uniform_classes(buf, cr)
        if uniform is not None:  # one payload value and one SB value throughout (fresh images)
            cat = bytearray(bytes((uniform[0],)) * n)
            if n > cr:
                cat[cr :: cr + 1] = bytes((uniform[1],)) * len(range(cr, n, cr + 1))
        else:
            lo = buf[0::8]
            states = lo.translate(_T_STATE)
            parts = [states]
            reserved_lanes = [] if states == lo else [lo.translate(_T_RES_LO)]
            zeros = bytes(n)
            lane3 = buf[3::8]  # non-zero for almost any real FileOffsetMB (bits 24..31)
            if lane3 != zeros or not _only_low_bytes(buf, lo):
                b2 = buf[2::8]
                reserved_lanes += [b2.translate(_T_RES_B2), buf[1::8]]
                offset_lanes = [b2.translate(_T_OFF_B2), lane3, *(buf[k::8] for k in range(4, 8))]
                live = [lane for lane in offset_lanes if lane != zeros]
                if live:
                    parts.append(_or_bytes(live, n).translate(_T_NZ_OFFSET))
                reserved_lanes = [lane for lane in reserved_lanes if lane != zeros]
            if reserved_lanes:
                parts.append(_or_bytes(reserved_lanes, n).translate(_T_NZ_RESERVED))
            cat = bytearray(_or_bytes(parts, n))
        if n > cr:
            cat[cr :: cr + 1] = cat[cr :: cr + 1].translate(_T_SET_SB)
        if geometry.differencing:
            first_pad = max(payload_index(geometry.data_blocks_count, cr) - base, 0)
            last_pad = min(geometry.total_entries - 1, base + n) - base
            if first_pad < last_pad:
                cat[first_pad:last_pad] = cat[first_pad:last_pad].translate(_T_SET_PAD)
        self.cat = cat
        if uniform is not None and not geometry.differencing:
            sb_slots = len(range(cr, n, cr + 1))
            hist = {uniform[0]: n - sb_slots, uniform[1] | _C_SB: sb_slots}
            self.hist = {value: count for value, count in hist.items() if count}
        else:
            self.hist = _histogram(cat)

    def count(self, values: frozenset[int]) -> int:
        return sum(self.hist.get(v, 0) for v in values)

    def positions(self, values: frozenset[int], count: int | None = None) -> Iterator[int]:
        """Local indexes whose class byte is in ``values``, ascending (C-level iteration)."""
        if count is None:
            count = self.count(values)
        if not count:
            return iter(())
        flags = self.cat.translate(_flag_table(values))
        if count * _SPARSE_DIVISOR < self.n:
            return _ones(flags)
        return compress(range(self.n), flags)

    def offsets_mb(self, values: frozenset[int], count: int) -> array[int]:
        """FileOffsetMB of the entries whose class byte is in ``values``, in BAT order."""
        if not count:
            return array("Q")
        if count * _SPARSE_DIVISOR < self.n:
            entries: Iterator[int] = map(self.values.__getitem__, self.positions(values, count))
        else:
            entries = compress(self.values, self.cat.translate(_flag_table(values)))
        return array("Q", map(operator.rshift, entries, repeat(_MB_SHIFT)))

    def first_positions(self, value: int, limit: int) -> list[int]:
        """Global indexes of the first ``limit`` entries whose class byte is ``value``."""
        out: list[int] = []
        find = self.cat.find
        at = find(value)
        while at >= 0 and len(out) < limit:
            out.append(self.base + at)
            at = find(value, at + 1)
        return out


# --------------------------------------------------------------------------------------------
# Analysis


# BAT bytes classified at once (peak memory ~ a few times this). 1 MiB rather than 8: each
# chunk is read into fresh memory, and touching new pages cost more than the reads (a 16 MiB
# sparse BAT: 27 ms in 8 MiB chunks, 8-10 ms in 1 MiB ones; 512 MiB: 175 -> 100-110 ms), while
# the per-chunk Python work stays small next to the chunk's bulk operations.
BAT_CHUNK_BYTES: Final = 1 * MiB
ReadBat = Callable[[int, int], bytes]  # (byte offset within the BAT, length) -> bytes


class _Stream:
    """The BAT entries in use, read chunk by chunk; never the whole table at once."""

    def __init__(self, read: ReadBat, n: int, geometry: BatGeometry, chunk_bytes: int) -> None:
        self.read = read
        self.n = n
        self.geometry = geometry
        row = geometry.chunk_ratio + 1
        self.step = max(row, (max(chunk_bytes, 8) // layout.BAT_ENTRY_SIZE) // row * row)

    def tables(self) -> Iterator[_Table]:
        for base in range(0, self.n, self.step):
            want = min(self.step, self.n - base) * layout.BAT_ENTRY_SIZE
            buf = self.read(base * layout.BAT_ENTRY_SIZE, want)
            usable = len(buf) // layout.BAT_ENTRY_SIZE * layout.BAT_ENTRY_SIZE
            if usable < want:  # the file shrank while being read: stop at what there is
                self.n = base + usable // layout.BAT_ENTRY_SIZE
                buf = buf[:usable]
            if buf:
                yield _Table(bytes(buf), self.geometry, base)
            if usable < want:
                return


@record
class _Blocks:
    """One kind of allocated block (payload or sector bitmap) as offsets in MiB."""

    size: int  # bytes
    values: frozenset[int]  # class bytes selecting the entries
    in_order: Sequence[int]  # FileOffsetMB per entry, BAT order, zeros included
    ordered: Sequence[int]  # non-zero offsets, ascending
    count: int
    zero_count: int
    min_gap_ok: bool  # no two of these overlap each other


class _Pass:
    """What one streaming pass over the BAT gathers: the class-byte histogram, the first few
    positions of every class byte, the allocated offsets in BAT order, the chunks with
    PARTIALLY_PRESENT blocks or a present sector bitmap, and the payload blocks past EOF."""

    def __init__(self, stream: _Stream, file_size: int) -> None:
        g = stream.geometry
        self.hist: dict[int, int] = {}
        self.first: dict[int, list[int]] = {}
        self.payload_values = _payload_values(_ALLOCATED_STATES)
        self.sb_values = _sb_values([layout.SB_BLOCK_PRESENT])
        self.payload_mb = array("Q")
        self.sb_mb = array("Q")
        self.partial_rows: set[int] = set()
        self.sb_rows: set[int] = set()
        self.lost_ranges: list[LostRange] = []
        self.last_entry: int | None = None
        row = g.chunk_ratio + 1
        partial_values = _payload_values([layout.PAYLOAD_BLOCK_PARTIALLY_PRESENT])
        last_index = payload_index(g.data_blocks_count - 1, g.chunk_ratio)
        threshold = max((file_size - g.block_size) // MiB, 0)  # offsets above it end past EOF
        for t in stream.tables():
            for value, count in t.hist.items():
                self.hist[value] = self.hist.get(value, 0) + count
                kept = self.first.setdefault(value, [])
                if len(kept) < EXAMPLES_CAP:
                    kept += t.first_positions(value, EXAMPLES_CAP - len(kept))
            count = t.count(self.payload_values)
            mbs = t.offsets_mb(self.payload_values, count)
            self.payload_mb.extend(mbs)
            self.sb_mb.extend(t.offsets_mb(self.sb_values, t.count(self.sb_values)))
            if g.differencing:
                base_row = t.base // row
                self.partial_rows.update(base_row + p // row for p in t.positions(partial_values))
                self.sb_rows.update(base_row + p // row for p in t.positions(self.sb_values))
            if t.base <= last_index < t.base + t.n:
                self.last_entry = t.values[last_index - t.base]
            if count and len(self.lost_ranges) < LOST_RANGES_CAP and max(mbs) > threshold:
                self._lost(t, count, mbs, threshold, file_size)

    def _lost(
        self, t: _Table, count: int, mbs: Sequence[int], threshold: int, file_size: int
    ) -> None:
        g = t.geometry
        past = compress(t.positions(self.payload_values, count), map(threshold.__lt__, mbs))
        for local in past:
            if len(self.lost_ranges) >= LOST_RANGES_CAP:
                break
            index = t.base + local
            blk = block_of_index(index, t.cr)
            start = (t.values[local] >> _MB_SHIFT) * MiB
            length = g.block_length(blk)
            inside = max(0, file_size - start)
            if inside >= length:
                continue
            base = blk * g.block_size
            self.lost_ranges.append(LostRange(blk, base + inside, base + length, start))

    def count(self, values: frozenset[int]) -> int:
        return sum(self.hist.get(v, 0) for v in values)

    def first_of(self, values: frozenset[int]) -> list[int]:
        """The first EXAMPLES_CAP BAT indexes whose class byte is in ``values``."""
        found = [i for v in values for i in self.first.get(v, ())]
        return sorted(found)[:EXAMPLES_CAP]


def _collect(
    in_order: Sequence[int], values: frozenset[int], size: int, zero_count: int
) -> _Blocks:
    size_mb = size >> _MB_SHIFT
    nonzero: Sequence[int] = array("Q", filter(None, in_order)) if zero_count else in_order
    ordered: Sequence[int] = nonzero
    ok = True
    # Already ascending and apart in BAT order (the usual case) needs no sort.
    if len(nonzero) > 1 and min(map(operator.sub, islice(nonzero, 1, None), nonzero)) < size_mb:
        ordered = sorted(nonzero)
        ok = min(map(operator.sub, islice(ordered, 1, None), ordered)) >= size_mb
    return _Blocks(size, values, in_order, ordered, len(in_order), zero_count, ok)


def analyse_bat(
    raw: bytes | bytearray | memoryview,
    geometry: BatGeometry,
    *,
    disk_type: str,
    file_size: int,
    bat_offset: int,
    bat_length: int,
    reserved: Sequence[tuple[int, int, str]],
    chunk_bytes: int = BAT_CHUNK_BYTES,
) -> tuple[BatSummary, list[Finding]]:
    """:func:`analyse_bat_stream` over BAT bytes already in memory."""
    view = memoryview(raw).cast("B")
    return analyse_bat_stream(
        lambda offset, length: bytes(view[offset : offset + length]),
        len(view),
        geometry,
        disk_type=disk_type,
        file_size=file_size,
        bat_offset=bat_offset,
        bat_length=bat_length,
        reserved=reserved,
        chunk_bytes=chunk_bytes,
    )


def analyse_bat_stream(
    read: ReadBat,
    available: int,
    geometry: BatGeometry,
    *,
    disk_type: str,
    file_size: int,
    bat_offset: int,
    bat_length: int,
    reserved: Sequence[tuple[int, int, str]],
    chunk_bytes: int = BAT_CHUNK_BYTES,
) -> tuple[BatSummary, list[Finding]]:
    """Count, check and locate everything the BAT says (MS-VHDX §2.5).

    ``read(offset, length)`` returns BAT bytes (offsets from the start of the BAT);
    ``available`` is how many of them can be read, which may be fewer than ``bat_length`` when
    the file is truncated. The table is read in chunks of about ``chunk_bytes`` (whole rows of
    ChunkRatio + 1 entries), so memory stays bounded by the chunk plus 8 bytes per allocated
    block, whatever the size of the BAT; a second pass reads it again only to name the entries
    behind overlapping blocks. Entries past ``geometry.total_entries`` are ignored. ``reserved``
    lists the file ranges (start, end, name) of the other structures, which no block may
    overlap. Never raises on any BAT bytes; an unknown ``disk_type`` raises ``ValueError``.
    """
    if disk_type not in DISK_TYPES:
        raise ValueError(f"disk type {disk_type!r} is not one of {DISK_TYPES}")
    g = geometry
    findings: list[Finding] = []
    where = f"BAT @ {bat_offset:#x}"
    file_size = max(file_size, 0)
    total = g.total_entries
    entries_in_region = max(bat_length, 0) // layout.BAT_ENTRY_SIZE
    stream = _Stream(
        read,
        min(max(available, 0) // layout.BAT_ENTRY_SIZE, total, entries_in_region),
        g,
        chunk_bytes,
    )
    gathered = _Pass(stream, file_size)
    n = stream.n

    if entries_in_region < total:
        findings.append(
            error(
                "bat.region.too_small",
                where,
                f"the BAT region is {bat_length} bytes, room for {entries_in_region} entries, "
                f"but this disk needs {total} entries ({total * 8} bytes); "
                "the entries that do not fit cannot be read",
            )
        )
    needed = min(total, entries_in_region)
    region_end = bat_offset + max(bat_length, 0)
    unknown_start = unread_virtual_start(g, n)
    if n < needed:
        unknown = (
            ""
            if unknown_start is None
            else f"; whether virtual bytes {unknown_start}..{g.virtual_size} "
            f"({g.virtual_size - unknown_start} bytes) were in this file cannot be known, "
            "so they count as lost"
        )
        findings.append(
            error(
                "bat.region.truncated",
                where,
                f"only {n} of the {needed} BAT entries in use could be read (file is "
                f"{file_size} bytes, the BAT region ends at {region_end}): the file was "
                f"probably truncated; the {needed - n} entries past the end of the file cannot "
                f"be read{unknown}",
            )
        )
    elif region_end > file_size:
        findings.append(
            warning(
                "bat.region.past_eof",
                where,
                f"the BAT region ends at {region_end}, past the end of the file "
                f"({file_size} bytes); every entry in use could still be read",
            )
        )

    payload_states, sb_states = _state_counts(gathered.hist)
    findings.extend(_state_findings(gathered, stream, disk_type, where))

    reserved_values = frozenset(v for v in gathered.hist if v & _C_RESERVED)
    reserved_count = gathered.count(reserved_values)
    if reserved_count:
        first = gathered.first_of(reserved_values)
        findings.append(
            warning(
                "bat.entry.reserved_bits",
                where,
                f"{reserved_count} entries have reserved bits 3-19 set, which must be 0 "
                f"({_examples(first, reserved_count)}); readers ignore them, "
                "but they can be a sign of a damaged BAT",
            )
        )

    payload = _blocks(gathered, gathered.payload_mb, gathered.payload_values, g.block_size)
    sb = _blocks(gathered, gathered.sb_mb, gathered.sb_values, layout.SECTOR_BITMAP_BLOCK_SIZE)
    findings.extend(_zero_offset_findings(gathered, payload, sb, where))
    findings.extend(_overlap_findings(stream, payload, sb, where))
    findings.extend(_reserved_range_findings(stream, payload, sb, reserved, where))
    eof = _EofCheck(gathered, g, payload, sb, file_size)
    eof.judge(payload, sb, reserved, all_read=n >= needed)
    findings.extend(eof.findings(where))

    summary = BatSummary(
        geometry=g,
        entries_in_region=entries_in_region,
        entries_read=n,
        payload_states=payload_states,
        sector_bitmap_states=sb_states,
        allocated_blocks=payload.count,
        allocated_sector_bitmaps=sb.count,
        allocated_bytes=payload.count * g.block_size + sb.count * layout.SECTOR_BITMAP_BLOCK_SIZE,
        required_file_size=eof.required,
        file_size=file_size,
        past_eof_blocks=eof.past_eof_blocks,
        lost_ranges=tuple(eof.lost_ranges),
        lost_virtual_bytes=eof.lost_bytes,
        reserved_bits_entries=reserved_count,
        unknown_virtual_start=unknown_start,
        unread_past_eof=n < needed,
        past_eof_damaged=eof.damaged_entries,
    )
    return summary, findings


def _blocks(gathered: _Pass, in_order: Sequence[int], values: frozenset[int], size: int) -> _Blocks:
    zero_count = gathered.count(frozenset(v for v in values if not v & _C_OFFSET))
    return _collect(in_order, values, size, zero_count)


def _state_counts(hist: dict[int, int]) -> tuple[dict[str, int], dict[str, int]]:
    payload = dict.fromkeys(layout.PAYLOAD_STATE_NAMES.values(), 0)
    sb = {layout.SB_STATE_NAMES.get(s, f"reserved ({s})"): 0 for s in range(8)}
    for value, count in hist.items():
        state = value & layout.BAT_STATE_MASK
        if value & _C_PAD:
            continue
        if value & _C_SB:
            sb[layout.SB_STATE_NAMES.get(state, f"reserved ({state})")] += count
        else:
            payload[layout.PAYLOAD_STATE_NAMES[state]] += count
    return payload, sb


def _listing(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {name}" for name, count in counts.items() if count) or "none"


def _state_findings(gathered: _Pass, stream: _Stream, disk_type: str, where: str) -> list[Finding]:
    out: list[Finding] = []
    payload, sb = _state_counts(gathered.hist)
    out.append(
        info(
            "bat.states",
            where,
            f"payload entries: {_listing(payload)}; sector bitmap entries: {_listing(sb)}",
        )
    )

    def located(
        values: frozenset[int], code: str, make: Callable[[str, str, str], Finding], text: str
    ) -> None:
        count = gathered.count(values)
        if not count:
            return
        first = gathered.first_of(values)
        out.append(make(code, where, text.format(count=count, at=_examples(first, count))))

    differencing = disk_type == "differencing"
    if not differencing:
        located(
            _payload_values([layout.PAYLOAD_BLOCK_PARTIALLY_PRESENT]),
            "bat.payload.partially_present",
            error,
            "{count} payload entries are PARTIALLY_PRESENT ({at}); that state is only valid "
            "in a differencing disk, and readers (QEMU, VirtualBox) refuse it here",
        )
    located(
        _payload_values([4]),
        "bat.payload.reserved_state",
        error,
        "{count} payload entries have the reserved state 4 ({at}); their contents are undefined",
    )
    located(
        _payload_values([layout.PAYLOAD_BLOCK_UNMAPPED_V095]),
        "bat.payload.unmapped_v095",
        warning,
        "{count} payload entries have state 5 ({at}), reserved in MS-VHDX 1.0; spec v0.95 "
        "called it UNMAPPED and QEMU still reads it as zeros",
    )
    if disk_type == "fixed":
        not_full = [s for s in range(8) if s != layout.PAYLOAD_BLOCK_FULLY_PRESENT]
        located(
            _payload_values(not_full),
            "bat.fixed.not_fully_present",
            warning,
            "this is a fixed disk but {count} payload entries are not FULLY_PRESENT ({at}); "
            "readers accept it, but a write to such a block allocates new space at the end of "
            "the file (QEMU creates fixed images with ZERO entries unless block_state_zero=off)",
        )
    located(
        _payload_values([layout.PAYLOAD_BLOCK_ZERO], [_C_OFFSET, _C_OFFSET | _C_RESERVED]),
        "bat.payload.zero_with_offset",
        warning,
        "{count} ZERO payload entries carry a non-zero FileOffsetMB ({at}); the field is "
        "reserved there, and QEMU notes that Hyper-V fails to read such a disk",
    )
    located(
        _payload_values([layout.PAYLOAD_BLOCK_NOT_PRESENT], [_C_OFFSET, _C_OFFSET | _C_RESERVED]),
        "bat.payload.not_present_with_offset",
        warning,
        "{count} NOT_PRESENT payload entries carry a non-zero FileOffsetMB ({at}); "
        "the field is reserved for that state",
    )
    if differencing:
        pad_values = frozenset(v for v in gathered.hist if v & _C_PAD and v != _C_PAD)
        located(
            pad_values,
            "bat.payload.beyond_disk",
            warning,
            "{count} entries in the unused payload slots after the last block are not zero "
            "({at}); they describe no part of the disk and are ignored",
        )
    else:
        located(
            _sb_values([layout.SB_BLOCK_PRESENT]),
            "bat.sector_bitmap.present",
            warning,
            "{count} sector bitmap entries are SB_BLOCK_PRESENT ({at}) in a "
            + disk_type
            + " disk, where the spec wants SB_BLOCK_NOT_PRESENT; VirtualBox notes real images "
            "do this, and readers ignore it",
        )
    located(
        _sb_values([1, 2, 3, 4, 5, 7]),
        "bat.sector_bitmap.reserved_state",
        error,
        "{count} sector bitmap entries have a reserved state (not 0 or 6) ({at})",
    )
    located(
        _sb_values([layout.SB_BLOCK_NOT_PRESENT], [_C_OFFSET, _C_OFFSET | _C_RESERVED]),
        "bat.sector_bitmap.not_present_with_offset",
        info,
        "{count} SB_BLOCK_NOT_PRESENT entries carry a non-zero FileOffsetMB ({at})",
    )
    if differencing:
        out.extend(_missing_bitmaps(gathered, stream, where))
    return out


def _missing_bitmaps(gathered: _Pass, stream: _Stream, where: str) -> list[Finding]:
    """Chunks with a PARTIALLY_PRESENT block whose sector bitmap is not present."""
    if not gathered.partial_rows:
        return []
    readable = stream.n // (stream.geometry.chunk_ratio + 1)  # chunks whose SB entry was read
    missing = sorted(c for c in gathered.partial_rows - gathered.sb_rows if c < readable)
    if not missing:
        return []
    return [
        error(
            "bat.sector_bitmap.missing",
            where,
            f"{len(missing)} chunks hold PARTIALLY_PRESENT blocks but their sector bitmap "
            f"entry is not SB_BLOCK_PRESENT (chunks {', '.join(map(str, missing[:EXAMPLES_CAP]))}"
            f"{' …' if len(missing) > EXAMPLES_CAP else ''}); which sectors are in this file "
            "cannot be known",
        )
    ]


def _zero_offset_findings(
    gathered: _Pass, payload: _Blocks, sb: _Blocks, where: str
) -> list[Finding]:
    out: list[Finding] = []
    for blocks, what in ((payload, "payload"), (sb, "sector bitmap")):
        if not blocks.zero_count:
            continue
        first = gathered.first_of(frozenset(v for v in blocks.values if not v & _C_OFFSET))
        out.append(
            error(
                "bat.block.offset_zero",
                where,
                f"{blocks.zero_count} allocated {what} entries have FileOffsetMB 0, inside the "
                f"header section ({_examples(first, blocks.zero_count)}); their data location "
                "is lost",
            )
        )
    return out


def _entries_at(stream: _Stream, blocks: _Blocks, offsets_mb: set[int]) -> dict[int, list[int]]:
    """BAT indexes of ``blocks`` entries located at each of ``offsets_mb`` (a second pass over
    the BAT, made only when a finding needs to name them)."""
    found: dict[int, list[int]] = {}
    if not offsets_mb:
        return found
    for t in stream.tables():
        count = t.count(blocks.values)
        in_order = t.offsets_mb(blocks.values, count)
        if offsets_mb.isdisjoint(in_order):
            continue
        hits = compress(
            zip(t.positions(blocks.values, count), in_order, strict=True),
            map(offsets_mb.__contains__, in_order),
        )
        for local, mb in hits:
            found.setdefault(mb, []).append(t.base + local)
    return found


def _overlap_findings(stream: _Stream, payload: _Blocks, sb: _Blocks, where: str) -> list[Finding]:
    size_mb = payload.size >> _MB_SHIFT
    pairs: list[tuple[int, int]] = []  # (earlier offset, later offset) in MiB, examples only
    duplicates = overlaps = 0
    ordered = payload.ordered
    if not payload.min_gap_ok:
        gaps = list(map(operator.sub, islice(ordered, 1, None), ordered))
        duplicates += gaps.count(0)
        overlaps += sum(map(size_mb.__gt__, gaps)) - gaps.count(0)
        flagged = compress(range(len(gaps)), map(size_mb.__gt__, gaps))
        pairs += [(ordered[i], ordered[i + 1]) for i in islice(flagged, EXAMPLES_CAP)]
    if sb.ordered:
        # Payload blocks starting in (s - B, s] cover sector bitmap block s.
        starts = list(sb.ordered)
        upper = list(map(bisect.bisect_right, repeat(ordered), starts))
        lower = list(
            map(bisect.bisect_right, repeat(ordered), map(operator.sub, starts, repeat(size_mb)))
        )
        covered = list(map(operator.sub, upper, lower))
        if any(covered):
            for s, lo, hi in zip(starts, lower, upper, strict=True):
                if hi > lo:
                    same = ordered[hi - 1] == s
                    duplicates += int(same)
                    overlaps += hi - lo - int(same)
                    if len(pairs) < EXAMPLES_CAP:
                        pairs.append((ordered[lo], s))
        if not sb.min_gap_ok:
            sb_gaps = list(map(operator.sub, islice(sb.ordered, 1, None), sb.ordered))
            duplicates += sb_gaps.count(0)
            pairs += [
                (sb.ordered[i], sb.ordered[i])
                for i in islice(
                    compress(range(len(sb_gaps)), map(operator.not_, sb_gaps)), EXAMPLES_CAP
                )
            ]
    if not duplicates and not overlaps:
        return []
    involved = {mb for pair in pairs for mb in pair}
    at = _entries_at(stream, payload, involved)
    for mb, indexes in _entries_at(stream, sb, involved).items():
        at.setdefault(mb, []).extend(indexes)
    described = []
    for first_mb, second_mb in pairs[:EXAMPLES_CAP]:
        a = at.get(first_mb, [])
        b = at.get(second_mb, []) if second_mb != first_mb else []
        entries = sorted(set(a + b))
        described.append(f"entries {', '.join(map(str, entries))} at {first_mb} MiB")
    out: list[Finding] = []
    detail = "; ".join(described)
    if duplicates:
        out.append(
            error(
                "bat.block.duplicate_offset",
                where,
                f"{duplicates} allocated blocks share their file offset with another block "
                f"({detail}); writing one of them overwrites the other",
            )
        )
    if overlaps:
        out.append(
            error(
                "bat.block.overlap",
                where,
                f"{overlaps} allocated blocks overlap another block in the file ({detail})",
            )
        )
    return out


def _reserved_range_findings(
    stream: _Stream,
    payload: _Blocks,
    sb: _Blocks,
    reserved: Sequence[tuple[int, int, str]],
    where: str,
) -> list[Finding]:
    out: list[Finding] = []
    for start, end, name in reserved:
        if end <= start:
            continue
        hits: list[tuple[str, list[int], int]] = []
        for blocks, what in ((payload, "payload"), (sb, "sector bitmap")):
            ordered = blocks.ordered
            lo = bisect.bisect_right(ordered, (start - blocks.size) // MiB)
            hi = bisect.bisect_left(ordered, _ceil_mb(end))
            if hi > lo:
                sample = set(ordered[lo : min(hi, lo + EXAMPLES_CAP)])
                indexes = sorted(
                    i for ix in _entries_at(stream, blocks, sample).values() for i in ix
                )
                hits.append((what, indexes, hi - lo))
        for what, indexes, count in hits:
            out.append(
                error(
                    "bat.block.overlaps_structure",
                    where,
                    f"{count} allocated {what} blocks overlap the {name} "
                    f"(file bytes {start}..{end}; {_examples(indexes, count)}); "
                    f"writing the disk would destroy the {name}",
                )
            )
    return out


class _EofCheck:
    """Blocks whose data lies past the end of the file, and the virtual bytes that are lost."""

    def __init__(
        self, gathered: _Pass, geometry: BatGeometry, payload: _Blocks, sb: _Blocks, file_size: int
    ) -> None:
        self.geometry = geometry
        self.file_size = file_size
        block = geometry.block_size
        ends = [0]
        if payload.ordered:
            ends.append(payload.ordered[-1] * MiB + block)
        if sb.ordered:
            ends.append(sb.ordered[-1] * MiB + sb.size)
        self.required = max(ends)
        self.past_eof_blocks = 0
        self.lost_bytes = 0
        self.lost_ranges: list[LostRange] = []
        self.partial_last: tuple[int, int, int] | None = None  # (block, offset, block end)
        self.sb_past: list[int] = []
        self.damaged_entries = False  # see judge(): stray entries, not a cut file
        if self.required <= file_size:
            return
        self._payload(gathered, payload)
        self.sb_past = [mb for mb in sb.ordered if mb * MiB + sb.size > file_size]

    def _payload(self, gathered: _Pass, payload: _Blocks) -> None:
        g = self.geometry
        fs = self.file_size
        block = g.block_size
        ordered = payload.ordered
        threshold = max((fs - block) // MiB, 0)  # offsets above it end past EOF
        first_candidate = bisect.bisect_right(ordered, threshold)
        first_full = bisect.bisect_left(ordered, _ceil_mb(fs))  # starts at or past EOF
        candidates = len(ordered) - first_candidate
        if not candidates:
            return
        straddling = first_full - first_candidate
        straddle_sum = sum(ordered[first_candidate:first_full])
        lost = (len(ordered) - first_full) * block + straddling * (block - fs) + straddle_sum * MiB
        count = candidates
        last = g.data_blocks_count - 1
        short = g.block_length(last)
        entry = gathered.last_entry
        if short < block and entry is not None and entry & 7 in _ALLOCATED_STATES:
            start = entry & layout.BAT_OFFSET_MASK
            if start:
                as_block = max(0, min(block, start + block - fs))
                as_data = max(0, min(short, start + short - fs))
                lost += as_data - as_block
                if as_block and not as_data:
                    count -= 1
                    self.partial_last = (last, start, start + block)
        self.past_eof_blocks = count
        self.lost_bytes = lost
        self.lost_ranges = gathered.lost_ranges

    def judge(
        self,
        payload: _Blocks,
        sb: _Blocks,
        reserved: Sequence[tuple[int, int, str]],
        *,
        all_read: bool,
    ) -> None:
        """Whether the blocks past the end are stray BAT entries rather than a cut file
        (``damaged_entries``). Conservative: only when a cut cannot explain them, that is when
        every BAT entry was read, every other structure and block lies inside the file and the
        file ends where the last of them ends (within 1 MiB: the structures are MiB-aligned, so
        no writer leaves a whole unused MiB at its end), no block
        straddles the end, at least one block's room of file space separates the end from the
        nearest block past it (a cut would have left that block at the end), and the blocks
        past the end would fill at most half of the space a cut would have removed. A real
        truncation fails at least one of these; the loss (``lost_ranges``) is the same."""
        fs = self.file_size
        block = self.geometry.block_size
        if not all_read or not self.past_eof_blocks or self.sb_past:
            return  # (a sector bitmap past the end: left to the truncation words)
        if any(end > fs for _, end, _ in reserved):
            return
        ends = [end for _, end, _ in reserved]
        starts: list[int] = []
        count = 0
        for kind, size in ((payload, block), (sb, layout.SECTOR_BITMAP_BLOCK_SIZE)):
            ordered = kind.ordered
            inside = bisect.bisect_right(ordered, max(fs - size, -1) // MiB)
            if inside:
                ends.append(ordered[inside - 1] * MiB + size)
            past = len(ordered) - inside
            if kind is payload and self.partial_last is not None:
                blk, start, _ = self.partial_last  # the short last block: its data is inside
                if past <= 0 or ordered[inside] * MiB != start:
                    return
                ends.append(start + self.geometry.block_length(blk))
                past -= 1
                inside += 1
            if past > 0:
                starts.append(ordered[inside] * MiB)
                count += past * size
        if not starts or not ends or not 0 <= fs - max(ends) < MiB:
            return
        nearest = min(starts)
        self.damaged_entries = nearest >= fs + block and 2 * count <= self.required - fs

    def findings(self, where: str) -> list[Finding]:
        out: list[Finding] = []
        fs = self.file_size
        if self.past_eof_blocks and self.damaged_entries:
            ranges = self.lost_ranges
            listed = ", ".join(
                f"block {r.block} at file offset {r.file_offset} (virtual "
                f"{r.virtual_start}..{r.virtual_end})"
                for r in ranges[:EXAMPLES_CAP]
            )
            more = (
                f" and {self.past_eof_blocks - EXAMPLES_CAP} more"
                if self.past_eof_blocks > EXAMPLES_CAP
                else ""
            )
            n = self.past_eof_blocks
            entries = "1 BAT entry points" if n == 1 else f"{n} BAT entries point"
            out.append(
                error(
                    "bat.entry.stray_offset",
                    where,
                    f"{entries} past the end of the file ({fs} bytes), with unallocated file "
                    "space between the end and the block, while every other block and structure "
                    "lies inside the file and the file ends where they end: a damaged BAT entry, "
                    f"not a cut file. The {self.lost_virtual_text()} of the virtual disk it maps "
                    f"cannot be read: {listed}{more}",
                )
            )
        elif self.past_eof_blocks:
            ranges = self.lost_ranges
            listed = ", ".join(
                f"block {r.block} (virtual {r.virtual_start}..{r.virtual_end})"
                for r in ranges[:EXAMPLES_CAP]
            )
            more = (
                f" and {self.past_eof_blocks - EXAMPLES_CAP} more"
                if self.past_eof_blocks > EXAMPLES_CAP
                else ""
            )
            out.append(
                error(
                    "bat.block.past_eof",
                    where,
                    f"file is {fs} bytes, BAT needs {self.required}: the file was probably "
                    f"truncated. {self.past_eof_blocks} allocated blocks lie partly or wholly "
                    f"past the end, so {self.lost_virtual_text()} of the virtual disk are lost: "
                    f"{listed}{more}",
                )
            )
        if self.partial_last is not None:
            blk, start, end = self.partial_last
            length = self.geometry.block_length(blk)
            out.append(
                warning(
                    "bat.block.partial_last_block",
                    where,
                    f"the last block ({blk}, at file offset {start}) would end at {end}, past the "
                    f"end of the file ({fs} bytes), but it holds only {length} bytes of the disk "
                    "and those are all inside the file; the spec wants the file to grow in whole "
                    "blocks, but QEMU makes fixed images this way and accepts them",
                )
            )
        if self.sb_past:
            first = [mb * MiB for mb in self.sb_past[:EXAMPLES_CAP]]
            out.append(
                error(
                    "bat.sector_bitmap.past_eof",
                    where,
                    f"file is {fs} bytes, BAT needs {self.required}: {len(self.sb_past)} sector "
                    f"bitmap blocks lie past the end (file offsets {', '.join(map(str, first))}); "
                    "which sectors of their chunk are in this file can no longer be known",
                )
            )
        return out

    def lost_virtual_text(self) -> str:
        return f"{self.lost_bytes} bytes"
