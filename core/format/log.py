"""The VHDX log (MS-VHDX §2.3): entries, descriptors, data sectors, the active sequence, replay.

The log is a ring of 4 KiB sectors. :func:`analyse_log` finds every structure that starts with
``loge`` on a 4 KiB boundary, validates each one completely (§2.3.1 checklist, including the data
sectors and the CRC over EntryLength bytes, and entries that wrap past the end of the ring), then
runs the active-sequence search of §2.3.3:

- sequences are compared by their *head* entry's sequence number (QEMU compares the first entry);
- every entry after the first must carry the previous number + 1 (QEMU skips this check for the
  second entry);
- a sequence is valid only when its head's Tail points at an entry inside it (QEMU never checks).

The active sequence is reported from the entry the head's Tail names (the tail entry of §2.3.2)
to the head. Entries of the same run that precede that tail were already written to their final
place; they are listed as stale and are not replayed.

Parsing never raises. Work is bounded: sectors without the signature are skipped with
``bytes.find``; descriptor and data-sector checks stop at the first broken one; the CRC of an
entry whose structure is already broken is computed only while a budget proportional to the log
lasts. Structurally sound entries cannot overlap (each of their sectors after the first starts
with a descriptor or ``data``), so the total work is linear in the log size.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable, Iterable, Iterator

from vhdxray.core.format import layout
from vhdxray.core.format.checksum import checksum_with_field_zeroed
from vhdxray.core.format.findings import Finding, error, info, warning
from vhdxray.core.format.guid import guid_str, read_guid
from vhdxray.core.format.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import uuid  # the annotations' uuid.UUID is what guid.Guid is to type checkers
    from typing import Any, Final

SECTOR: Final = layout.LOG_SECTOR_SIZE
DESCRIPTORS_PER_SECTOR: Final = SECTOR // layout.LOG_DESCRIPTOR_SIZE  # 128
CHECKSUM_OFFSET: Final = 4

_ENTRY_HEADER: Final = struct.Struct("<4sIIIQII16sQQ")  # 64 bytes
_DESCRIPTOR: Final = struct.Struct("<4sI8sQQ")  # sig, trailing/reserved, leading/zero-length, ...
_DATA_SECTOR_HEAD: Final = struct.Struct("<4sI")
_U32: Final = struct.Struct("<I")

JSON_STALE_CAP: Final = 100  # entries outside the active sequence put in JSON without --full
MAX_PROBLEMS: Final = 8  # per entry; more are summarised
MAX_DAMAGED_REPORTED: Final = 5  # one finding each; the rest are summed up in one more
MAX_KEPT_BROKEN: Final = 8  # descriptors kept for an entry that is not sound
# CRC work allowed for entries that are already known to be broken, beyond the log size.
_EXTRA_CRC_BUDGET: Final = 64 * layout.MiB
_STRUCT_PIECE: Final = 64 * 1024  # bytes of records fetched at a time (iter_structs)


def descriptor_sectors(descriptor_count: int) -> int:
    """Ceil((DescriptorCount + 2) / 128): the 64-byte entry header takes two descriptor slots."""
    return layout.ceil_div(descriptor_count + 2, DESCRIPTORS_PER_SECTOR)


@record
class LogDescriptor:
    kind: str  # "data" | "zero"
    index: int  # position in the entry
    file_offset: int
    length: int  # 4096 for data, ZeroLength for zero
    sequence_number: int
    leading_bytes: bytes  # data only (8 bytes), else b""
    trailing_bytes: bytes  # data only (4 bytes), else b""
    data_log_position: int | None = None  # data only: log offset of its data sector
    reserved: int = 0  # zero only: the Reserved field (must be 0)


@record
class LogEntry:
    log_position: int  # byte offset of the entry inside the log (0..LogLength)
    signature_ok: bool
    checksum_ok: bool
    stored_checksum: int
    computed_checksum: int  # 0 when it was not computed (see problems)
    entry_length: int
    tail: int
    sequence_number: int
    descriptor_count: int
    log_guid: uuid.UUID
    flushed_file_offset: int
    last_file_offset: int
    # Those parsed: all of them when the entry is sound; else up to the first broken one (at
    # most MAX_KEPT_BROKEN), so the descriptor counts of a broken entry may be partial.
    descriptors: tuple[LogDescriptor, ...]
    problems: tuple[str, ...]  # plain-words reasons it is not valid (empty when valid)
    guid_matches: bool  # LogGuid equals the header's (never true when the header's is zero)
    intact: bool = False  # every check passes except, perhaps, the LogGuid match
    remarks: tuple[str, ...] = ()  # irregular but tolerated (reserved fields, alignment)
    reserved: int = 0
    wraps: bool = False  # the entry runs past the end of the ring back to offset 0

    @property
    def valid(self) -> bool:
        """Fully valid per §2.3.1: structure, data sectors, CRC and LogGuid match."""
        return self.intact and self.guid_matches and not self.problems

    @property
    def data_descriptor_count(self) -> int:
        return sum(1 for d in self.descriptors if d.kind == "data")

    @property
    def zero_descriptor_count(self) -> int:
        return sum(1 for d in self.descriptors if d.kind == "zero")

    @property
    def end_position(self) -> int:
        """Log offset just after the entry (not wrapped)."""
        return self.log_position + self.entry_length

    def to_json(self) -> dict[str, object]:
        return {
            "position": self.log_position,
            "sequence_number": self.sequence_number,
            "entry_length": self.entry_length,
            "tail": self.tail,
            "log_guid": guid_str(self.log_guid),
            "guid_matches": self.guid_matches,
            "checksum_ok": self.checksum_ok,
            "stored_checksum": self.stored_checksum,
            "computed_checksum": self.computed_checksum,
            "descriptor_count": self.descriptor_count,
            "data_descriptors": self.data_descriptor_count,
            "zero_descriptors": self.zero_descriptor_count,
            "flushed_file_offset": self.flushed_file_offset,
            "last_file_offset": self.last_file_offset,
            "wraps": self.wraps,
            "intact": self.intact,
            "valid": self.valid,
            "problems": list(self.problems),
            "remarks": list(self.remarks),
        }


@record
class LogSequence:
    entries: tuple[LogEntry, ...]  # tail first, head last
    scan_start: int = 0  # where the search found the run (may precede the tail entry)

    @property
    def tail_position(self) -> int:
        return self.entries[0].log_position

    @property
    def head(self) -> LogEntry:
        return self.entries[-1]

    @property
    def head_sequence_number(self) -> int:
        return self.entries[-1].sequence_number

    @property
    def data_pages(self) -> int:
        return sum(e.data_descriptor_count for e in self.entries)

    @property
    def zero_ranges(self) -> int:
        return sum(e.zero_descriptor_count for e in self.entries)


@record
class RejectedRun:
    """A run of valid, consecutive entries that the search found but could not use."""

    start: int
    head_position: int
    head_sequence_number: int
    head_tail: int
    entry_count: int
    reason: str

    def to_json(self) -> dict[str, object]:
        return {
            "start": self.start,
            "head": self.head_position,
            "head_sequence_number": self.head_sequence_number,
            "head_tail": self.head_tail,
            "entries": self.entry_count,
            "reason": self.reason,
        }


@record
class LogInfo:
    log_guid: uuid.UUID
    log_offset: int
    log_length: int
    entries: tuple[LogEntry, ...]  # every "loge" at a 4 KiB boundary, valid or not, in log order
    active: LogSequence | None
    replay_needed: bool  # LogGuid != 0 and an active sequence exists
    stale_entries: tuple[LogEntry, ...]  # found but not part of the active sequence
    file_too_short: bool  # file size < head.FlushedFileOffset
    required_file_size: int  # head.LastFileOffset (replay extends the file to it) or 0
    log_version: int = 0
    bytes_examined: int = 0  # how much of the log region was available to read
    rejected: tuple[RejectedRun, ...] = ()
    replay_blockers: tuple[str, ...] = ()  # why the plan must not be applied as it stands

    @property
    def active_positions(self) -> frozenset[int]:
        """Log positions of the entries in the active sequence."""
        if self.active is None:
            return frozenset()
        return frozenset(e.log_position for e in self.active.entries)

    def to_json(self, full: bool = False) -> dict[str, object]:
        """The log as JSON. Entries outside the active sequence (stale ones) are listed up to
        JSON_STALE_CAP unless ``full``; ``entry_count`` and ``stale_entry_count`` always count
        all of them and ``entries_truncated`` says whether some were left out."""
        active_positions = self.active_positions
        active: dict[str, object] | None = None
        if self.active is not None:
            active = {
                "tail": self.active.tail_position,
                "head": self.active.head.log_position,
                "head_sequence_number": self.active.head_sequence_number,
                "entries": [e.log_position for e in self.active.entries],
                "data_pages": self.active.data_pages,
                "zero_ranges": self.active.zero_ranges,
            }
        entries = []
        left = len(self.entries) if full else JSON_STALE_CAP
        for e in self.entries:
            is_active = e.log_position in active_positions
            if not is_active:
                if left <= 0:
                    continue
                left -= 1
            item = e.to_json()
            item["active"] = is_active
            entries.append(item)
        stale = self.stale_entries if full else self.stale_entries[:JSON_STALE_CAP]
        return {
            "guid": guid_str(self.log_guid),
            "log_offset": self.log_offset,
            "log_length": self.log_length,
            "log_version": self.log_version,
            "bytes_examined": self.bytes_examined,
            "replay_needed": self.replay_needed,
            "file_too_short": self.file_too_short,
            "required_file_size": self.required_file_size,
            "active_sequence": active,
            "entry_count": len(self.entries),
            "stale_entry_count": len(self.stale_entries),
            "entries_truncated": len(stale) < len(self.stale_entries),
            "entries": entries,
            "stale_entries": [e.log_position for e in stale],
            "rejected_sequences": [r.to_json() for r in self.rejected],
            "replay_blockers": list(self.replay_blockers),
        }


@record
class ReplayWrite:
    """One write of a replay, in order.

    A data descriptor gives a 4 KiB page: ``data`` holds the rebuilt 4096 bytes and
    ``length == 4096``. A zero descriptor gives ``data == b""`` and ``length == ZeroLength``:
    write that many zero bytes at ``file_offset`` (in chunks, or as a hole-punching/zeroing call;
    nothing of that size is allocated here).
    """

    file_offset: int
    data: bytes
    entry_sequence_number: int
    descriptor_index: int
    length: int = SECTOR
    entry_position: int = 0

    @property
    def is_zero(self) -> bool:
        return not self.data

    @property
    def end(self) -> int:
        return self.file_offset + self.length


# --------------------------------------------------------------------------------------------
# Reading the ring


LogRead = Callable[[int, int], "bytes | memoryview"]
"""``read(position, length)``: log bytes from ``position`` (within the readable part)."""
LogProbe = Callable[[int], Iterable[int]]
"""``probe(limit)``: ascending 4 KiB-aligned log positions below ``limit`` that start with
``loge``. It may read only those four bytes of each sector (see core.fileio.probe_sectors)."""


class _Ring:
    """The log region as a ring: reads wrap at LogLength; bytes past ``avail`` are absent.

    The bytes come from ``fetch``: slices of the log in memory, or reads from the file, so that
    only the entries found by the sector probe are ever read.
    """

    __slots__ = ("avail", "fetch", "probe", "size")

    def __init__(self, fetch: LogRead, avail: int, size: int, probe: LogProbe) -> None:
        self.fetch = fetch
        self.size = size
        self.avail = min(avail, size)
        self.probe = probe

    @classmethod
    def of_bytes(cls, data: bytes, size: int) -> _Ring:
        view = memoryview(data)

        def fetch(pos: int, length: int) -> memoryview:
            return view[pos : pos + length]

        return cls(fetch, len(data), size, lambda limit: _find_signatures(data, limit))

    def available(self, pos: int, length: int) -> bool:
        """True when all of ``length`` bytes from log offset ``pos`` (wrapping) were read."""
        if length > self.size or pos >= self.size:
            return False
        end = pos + length
        return end <= self.avail if end <= self.size else self.avail == self.size

    def read(self, pos: int, length: int) -> bytes | memoryview | None:
        """``length`` bytes from log offset ``pos``, wrapping; None if any of them is absent.

        Only a read that wraps copies; the others are views (of a log in memory).
        """
        if not self.available(pos, length):
            return None
        end = pos + length
        if end <= self.size:
            return self.fetch(pos, length)
        return bytes(self.fetch(pos, self.size - pos)) + bytes(self.fetch(0, end - self.size))

    def unpack(self, fmt: struct.Struct, pos: int) -> tuple[Any, ...]:
        """``fmt`` unpacked at log offset ``pos`` (mod LogLength); the bytes must be readable."""
        pos %= self.size
        if pos + fmt.size <= self.avail:
            return fmt.unpack(self.fetch(pos, fmt.size))
        raw = self.read(pos, fmt.size)
        if raw is None:
            raise ValueError(f"log bytes at {pos} are not available")  # callers check first
        return fmt.unpack(raw)

    def iter_structs(self, fmt: struct.Struct, pos: int, count: int) -> Iterator[tuple[Any, ...]]:
        """``count`` consecutive ``fmt`` records from ``pos``, wrapping once.

        The caller has checked that the span is readable and no longer than the ring. The
        records are fetched :data:`_STRUCT_PIECE` bytes at a time, so a caller that stops early
        (a broken descriptor) has read little, whatever count the entry claims.
        """
        size = fmt.size
        per_piece = max(1, _STRUCT_PIECE // size)
        pos %= self.size
        while count > 0:
            n = min(count, (self.size - pos) // size, per_piece)
            if n == 0:  # a record straddles the end of the ring (LogLength not aligned)
                yield self.unpack(fmt, pos)
                n = 1
            else:
                yield from fmt.iter_unpack(self.fetch(pos, n * size))
            count -= n
            pos = (pos + n * size) % self.size


def _find_signatures(raw: bytes, limit: int) -> list[int]:
    """Sector-aligned ``loge`` positions below ``limit`` in a log held in memory.

    Only the first four bytes of each sector are looked at: strided slices gather them (C
    loops), and one search runs over those 4-byte heads; a search over every byte would cost
    milliseconds on a zero-filled log.
    """
    sig = layout.LOG_ENTRY_SIGNATURE
    width = len(sig)
    lanes = [raw[k:limit:SECTOR] for k in range(width)]
    count = min(len(lane) for lane in lanes)  # sectors whose four bytes are all below limit
    heads = bytearray(count * width)
    for k, lane in enumerate(lanes):
        heads[k::width] = lane[:count]
    found: list[int] = []
    at = heads.find(sig)
    while at >= 0:
        if at % width:
            at = heads.find(sig, at + width - at % width)
            continue
        found.append(at // width * SECTOR)
        at = heads.find(sig, at + width)
    return found


def _hex(value: int) -> str:
    return f"0x{value:x}"


# --------------------------------------------------------------------------------------------
# One entry


class _Problems:
    __slots__ = ("items", "more")

    def __init__(self) -> None:
        self.items: list[str] = []
        self.more = 0

    def add(self, text: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(text)
        else:
            self.more += 1

    def __bool__(self) -> bool:
        return bool(self.items)

    def result(self) -> tuple[str, ...]:
        if self.more:
            return (*self.items, f"... and {self.more} more problems")
        return tuple(self.items)


def _parse_entry(ring: _Ring, pos: int, header_guid: uuid.UUID, budget: list[int]) -> LogEntry:
    """Validate the entry at log offset ``pos`` (which starts with ``loge``)."""
    log_length = ring.size
    head = ring.read(pos, layout.LOG_ENTRY_HEADER_SIZE)
    if head is None:  # the signature was seen, so only a cut file gets here
        head = bytes(ring.fetch(pos, ring.avail - pos)).ljust(layout.LOG_ENTRY_HEADER_SIZE, b"\0")
    (sig, stored, entry_length, tail, seq, count, reserved, raw_guid, flushed, last) = (
        _ENTRY_HEADER.unpack(head)
    )
    entry_guid = read_guid(raw_guid)
    problems = _Problems()
    remarks: list[str] = []
    guid_matches = header_guid.int != 0 and entry_guid == header_guid

    if ring.read(pos, layout.LOG_ENTRY_HEADER_SIZE) is None:
        problems.add("the entry header is cut off by the end of the readable log")
    if entry_length < SECTOR:
        problems.add(f"EntryLength {entry_length} is smaller than one 4 KiB sector")
    elif entry_length % SECTOR:
        problems.add(f"EntryLength {entry_length} is not a multiple of 4096")
    if entry_length > log_length:
        problems.add(f"EntryLength {entry_length} is larger than the log ({log_length} bytes)")
    if tail % SECTOR:
        problems.add(f"Tail {tail} is not a multiple of 4096")
    elif tail >= log_length:
        problems.add(f"Tail {tail} lies outside the log ({log_length} bytes)")
    if seq == 0:
        problems.add("SequenceNumber is 0 (must be greater than 0)")
    if reserved:
        remarks.append(f"Reserved field is {_hex(reserved)} (should be 0)")
    if flushed % layout.MiB:
        remarks.append(f"FlushedFileOffset {flushed} is not a multiple of 1 MiB")
    if last % layout.MiB:
        remarks.append(f"LastFileOffset {last} is not a multiple of 1 MiB")

    n_desc_sectors = descriptor_sectors(count)
    structure_ok = not problems
    if structure_ok and n_desc_sectors * SECTOR > entry_length:
        problems.add(
            f"DescriptorCount {count} needs {n_desc_sectors} descriptor sectors, "
            f"more than EntryLength {entry_length} holds"
        )
        structure_ok = False

    readable = False
    if structure_ok:
        readable = ring.available(pos, entry_length)
        if not readable:
            problems.add(
                "the entry runs past the end of the log bytes that could be read "
                "(the file is cut short)"
            )
            structure_ok = False

    descriptors: list[LogDescriptor] = []
    if readable:
        structure_ok = _check_descriptors(
            ring, pos, entry_length, seq, count, descriptors, problems, remarks
        )

    computed = 0
    checksum_ok = False
    if readable and (structure_ok or budget[0] >= entry_length):
        if not structure_ok or pos + entry_length > log_length:
            budget[0] -= entry_length  # broken entries, and copies for wrapped ones
        body = ring.read(pos, entry_length)
        assert body is not None
        computed = checksum_with_field_zeroed(body, CHECKSUM_OFFSET)
        checksum_ok = computed == stored
        if not checksum_ok:
            problems.add(
                f"checksum mismatch: stored {stored:#010x}, computed {computed:#010x} "
                f"over {entry_length} bytes"
            )
    elif readable:
        problems.add("checksum not computed (the entry is already invalid)")

    intact = not problems and checksum_ok
    if not guid_matches:
        if header_guid.int == 0:
            problems.add(
                f"the header's LogGuid is zero (the log is empty); this entry carries "
                f"{guid_str(entry_guid)}"
            )
        else:
            problems.add(
                f"LogGuid {guid_str(entry_guid)} differs from the header's {guid_str(header_guid)}"
            )
    return LogEntry(
        log_position=pos,
        signature_ok=sig == layout.LOG_ENTRY_SIGNATURE,
        checksum_ok=checksum_ok,
        stored_checksum=stored,
        computed_checksum=computed,
        entry_length=entry_length,
        tail=tail,
        sequence_number=seq,
        descriptor_count=count,
        log_guid=entry_guid,
        flushed_file_offset=flushed,
        last_file_offset=last,
        descriptors=tuple(descriptors),
        problems=problems.result(),
        guid_matches=guid_matches,
        intact=intact,
        remarks=tuple(remarks),
        reserved=reserved,
        wraps=pos + entry_length > log_length,
    )


def _check_descriptors(
    ring: _Ring,
    pos: int,
    entry_length: int,
    seq: int,
    count: int,
    descriptors: list[LogDescriptor],
    problems: _Problems,
    remarks: list[str],
) -> bool:
    """Check the descriptors, then the data sectors; stop at the first broken one.

    Returns True when the entry's structure is sound. Appends the parsed descriptors (for a
    broken entry only the first :data:`MAX_KEPT_BROKEN` of them, to bound memory on garbage).
    """
    log_length = ring.size
    n_desc_sectors = descriptor_sectors(count)
    expected_data = entry_length // SECTOR - n_desc_sectors
    rows: list[tuple[str, int, int, int, int, bytes, bytes, int]] = []
    data_count = 0
    checked = 0
    for i, (d_sig, d_a, d_b, d_offset, d_seq) in enumerate(
        ring.iter_structs(_DESCRIPTOR, pos + layout.LOG_ENTRY_HEADER_SIZE, count)
    ):
        checked = i + 1
        if d_sig == layout.LOG_DESC_SIGNATURE:
            kind = "data"
        elif d_sig == layout.LOG_ZERO_SIGNATURE:
            kind = "zero"
        else:
            problems.add(f"descriptor {i}: signature {d_sig!r} is neither 'desc' nor 'zero'")
            break
        bad = False
        if d_seq != seq:
            problems.add(f"descriptor {i}: SequenceNumber {d_seq} differs from the entry's {seq}")
            bad = True
        if d_offset % SECTOR:
            problems.add(f"descriptor {i}: FileOffset {d_offset} is not a multiple of 4096")
            bad = True
        if kind == "zero":
            zero_length = int.from_bytes(d_b, "little")
            if zero_length % SECTOR:
                problems.add(f"descriptor {i}: ZeroLength {zero_length} is not a multiple of 4096")
                bad = True
            if d_a and len(remarks) < MAX_PROBLEMS:
                remarks.append(f"zero descriptor {i}: Reserved is {_hex(d_a)} (should be 0)")
            rows.append(("zero", i, d_offset, zero_length, d_seq, b"", b"", d_a))
        else:
            rows.append(("data", i, d_offset, SECTOR, d_seq, d_b, _U32.pack(d_a), data_count))
            data_count += 1
        if bad:
            break
    sound = not problems
    if sound and data_count != expected_data:
        problems.add(
            f"{data_count} data descriptors, but EntryLength {entry_length} leaves room "
            f"for {expected_data} data sectors after {n_desc_sectors} descriptor sector(s)"
        )
        sound = False
    if not sound:
        if checked < count:
            problems.add(f"the {count - checked} later descriptor(s) were not checked")
        rows = rows[:MAX_KEPT_BROKEN]
    for kind, i, d_offset, length, d_seq, lead, trail, extra in rows:
        if kind == "zero":
            descriptors.append(
                LogDescriptor(kind, i, d_offset, length, d_seq, b"", b"", None, extra)
            )
        else:
            data_pos = (pos + (n_desc_sectors + extra) * SECTOR) % log_length
            descriptors.append(
                LogDescriptor(kind, i, d_offset, length, d_seq, lead, trail, data_pos)
            )
    if not sound:
        return False
    high, low = seq >> 32, seq & 0xFFFFFFFF
    k = 0
    for d in descriptors:
        if d.kind != "data":
            continue
        assert d.data_log_position is not None
        d_sig, d_high = ring.unpack(_DATA_SECTOR_HEAD, d.data_log_position)
        (d_low,) = ring.unpack(_U32, d.data_log_position + SECTOR - 4)
        where = f"data sector {k} (descriptor {d.index}, log offset {d.data_log_position})"
        if d_sig != layout.LOG_DATA_SIGNATURE:
            problems.add(f"{where}: signature {d_sig!r} is not 'data'")
            return False
        if d_high != high or d_low != low:
            problems.add(
                f"{where}: SequenceHigh/SequenceLow {_hex(d_high)}/{_hex(d_low)} do not match the "
                f"entry's sequence number {_hex(seq)} (a torn or misdirected write)"
            )
            return False
        k += 1
    return True


def _scan_entries(ring: _Ring, header_guid: uuid.UUID) -> dict[int, LogEntry]:
    """Every 4 KiB-aligned ``loge`` in the readable part of the ring, parsed."""
    found: dict[int, LogEntry] = {}
    budget = [2 * ring.size + _EXTRA_CRC_BUDGET]
    for hit in ring.probe(ring.avail):
        found[hit] = _parse_entry(ring, hit, header_guid, budget)
    return found


# --------------------------------------------------------------------------------------------
# The active-sequence search (§2.3.3)


@record
class _Search:
    active: LogSequence | None
    rejected: tuple[RejectedRun, ...]


def _find_active(valid: dict[int, LogEntry], log_length: int) -> _Search:
    """The spec's procedure, with each run computed once.

    Valid entries never overlap, so "the entry that follows" is a function: each valid entry has
    at most one successor (the valid entry at its end, numbered one higher) and at most one
    predecessor. The runs therefore form disjoint chains; the run the spec builds from a start
    position is the rest of that position's chain. The scan positions that hold no valid entry
    give empty sequences and a 4 KiB step, so the loop jumps straight to the next valid entry.
    """
    if not valid or log_length <= 0:
        return _Search(None, ())
    positions = sorted(valid)
    successor: dict[int, int] = {}
    for p in positions:
        e = valid[p]
        n = (p + e.entry_length) % log_length
        nxt = valid.get(n)
        if nxt is not None and n != p and nxt.sequence_number == e.sequence_number + 1:
            successor[p] = n
    has_pred = set(successor.values())
    chains: list[list[LogEntry]] = []
    place: dict[int, tuple[int, int]] = {}  # position -> (chain id, index in chain)
    roots = [p for p in positions if p not in has_pred]
    for p in roots + positions:  # positions again: guards against a cycle (impossible)
        if p in place:
            continue
        chain: list[LogEntry] = []
        cid = len(chains)
        cur: int | None = p
        while cur is not None and cur not in place:
            place[cur] = (cid, len(chain))
            chain.append(valid[cur])
            cur = successor.get(cur)
        chains.append(chain)

    candidate: LogSequence | None = None
    rejected: list[RejectedRun] = []
    tail = 0
    old_tail = 0
    for _ in range(len(positions) + 2):  # tail strictly increases until the scan wraps
        cid, idx = place.get(tail, (-1, -1))
        run_ok = False
        if cid >= 0:
            chain = chains[cid]
            head = chain[-1]
            tail_place = place.get(head.tail)
            if tail_place is not None and tail_place[0] == cid and tail_place[1] >= idx:
                run_ok = True
                run = LogSequence(tuple(chain[tail_place[1] :]), scan_start=tail)
                if candidate is None or run.head_sequence_number > candidate.head_sequence_number:
                    candidate = run
            elif idx == 0:  # report each rejected chain once, from its first entry
                rejected.append(
                    RejectedRun(
                        start=tail,
                        head_position=head.log_position,
                        head_sequence_number=head.sequence_number,
                        head_tail=head.tail,
                        entry_count=len(chain),
                        reason=(
                            f"the run at log offset {tail} ends with sequence "
                            f"{head.sequence_number}, whose Tail {head.tail} is not an entry "
                            "of the run"
                        ),
                    )
                )
        if run_ok:
            head = chains[cid][-1]
            tail = (head.log_position + head.entry_length) % log_length
            if tail <= old_tail:
                break  # wrapped: the whole ring has been scanned
        else:
            # Stepping 4 KiB at a time meets only empty sequences until the next valid entry.
            k = bisect.bisect_right(positions, tail)
            if k >= len(positions):
                break  # ... or the end of the ring
            tail = positions[k]
        old_tail = tail
    return _Search(candidate, tuple(rejected))


# --------------------------------------------------------------------------------------------
# Analysis


def analyse_log(
    log_bytes: bytes | bytearray | memoryview,
    *,
    log_guid: uuid.UUID,
    log_offset: int,
    log_length: int,
    log_version: int,
    file_size: int,
) -> tuple[LogInfo, list[Finding]]:
    """Parse the log region (``log_bytes``, read from ``log_offset``; may be cut short)."""
    data = bytes(log_bytes) if not isinstance(log_bytes, bytes) else log_bytes
    return _analyse(
        _Ring.of_bytes(data, log_length),
        log_guid=log_guid,
        log_offset=log_offset,
        log_length=log_length,
        log_version=log_version,
        file_size=file_size,
    )


def analyse_log_at(
    read: LogRead,
    available: int,
    probe: LogProbe,
    *,
    log_guid: uuid.UUID,
    log_offset: int,
    log_length: int,
    log_version: int,
    file_size: int,
) -> tuple[LogInfo, list[Finding]]:
    """:func:`analyse_log` without the log in memory: ``probe`` names the sectors that start
    with ``loge`` and only those entries are read, through ``read(position, length)``
    (``available`` bytes of the log can be read). The results are the same."""
    return _analyse(
        _Ring(read, available, log_length, probe),
        log_guid=log_guid,
        log_offset=log_offset,
        log_length=log_length,
        log_version=log_version,
        file_size=file_size,
    )


def _analyse(
    ring: _Ring,
    *,
    log_guid: uuid.UUID,
    log_offset: int,
    log_length: int,
    log_version: int,
    file_size: int,
) -> tuple[LogInfo, list[Finding]]:
    findings: list[Finding] = []
    where = f"log @ {_hex(log_offset)}"
    dirty = log_guid.int != 0
    blockers: list[str] = []

    if log_version != layout.LOG_VERSION:
        if dirty:
            findings.append(
                error(
                    "log.version_unsupported",
                    where,
                    f"LogVersion is {log_version}, not 0, and LogGuid is set: the log's format "
                    "is unknown, so the file must not be processed (MS-VHDX §2.2.2). The entries "
                    "below are read as version 0 for information only.",
                )
            )
            blockers.append(f"LogVersion {log_version} is not 0")
        else:
            findings.append(
                warning(
                    "log.version_nonzero",
                    where,
                    f"LogVersion is {log_version}, not 0. The spec allows this while LogGuid is "
                    "zero, but QEMU refuses to open the file.",
                )
            )
    if dirty and log_length == 0:
        findings.append(
            error(
                "log.length_zero",
                where,
                "LogGuid is set but LogLength is 0: the header claims a pending log that has no "
                "space. QEMU treats this as no log; the spec has no answer.",
            )
        )
        blockers.append("LogLength is 0")
    if log_offset % layout.MiB:
        findings.append(
            error("log.offset_unaligned", where, f"LogOffset {log_offset} is not 1 MiB aligned")
        )
    if log_offset < layout.HEADER_SECTION_SIZE:
        findings.append(
            error(
                "log.offset_in_header_section",
                where,
                f"LogOffset {log_offset} lies inside the 1 MiB header section",
            )
        )
        blockers.append("the log lies inside the header section")
    if log_length % layout.MiB:
        findings.append(
            error(
                "log.length_unaligned",
                where,
                f"LogLength {log_length} is not a multiple of 1 MiB",
            )
        )
    available = ring.avail
    if log_length and log_offset + log_length > file_size:
        findings.append(
            error(
                "log.past_eof",
                where,
                f"the log ({log_length} bytes at {_hex(log_offset)}) runs past the end of the "
                f"file ({file_size} bytes); {available} bytes of it could be read",
            )
        )
    elif available < log_length:
        findings.append(
            warning(
                "log.partially_read",
                where,
                f"only the first {available} of the log's {log_length} bytes were examined",
            )
        )

    found = _scan_entries(ring, log_guid) if log_length > 0 else {}
    entries = tuple(found[p] for p in sorted(found))

    search = _Search(None, ())
    if dirty and log_length > 0:
        search = _find_active({p: e for p, e in found.items() if e.valid}, log_length)
    active = search.active
    active_positions = (
        frozenset(e.log_position for e in active.entries) if active is not None else frozenset()
    )
    stale = tuple(e for e in entries if e.log_position not in active_positions)

    file_too_short = False
    required = 0
    if active is not None:
        head = active.head
        required = head.last_file_offset
        file_too_short = file_size < head.flushed_file_offset
        if file_too_short:
            blockers.append(
                f"the file ({file_size} bytes) is shorter than the head entry's "
                f"FlushedFileOffset ({head.flushed_file_offset})"
            )

    info_ = LogInfo(
        log_guid=log_guid,
        log_offset=log_offset,
        log_length=log_length,
        entries=entries,
        active=active,
        replay_needed=dirty and active is not None,
        stale_entries=stale,
        file_too_short=file_too_short,
        required_file_size=required,
        log_version=log_version,
        bytes_examined=available,
        rejected=search.rejected,
        replay_blockers=tuple(blockers),
    )
    findings += _sequence_findings(info_, where, file_size)
    return info_, findings


def _sequence_findings(log: LogInfo, where: str, file_size: int) -> list[Finding]:
    findings: list[Finding] = []
    dirty = log.log_guid.int != 0
    active = log.active
    if dirty and log.log_length > 0 and active is None:
        matching = [e for e in log.entries if e.guid_matches]
        detail = (
            "no entry in the log carries it"
            if not matching
            else f"{len(matching)} entries carry it, but none forms a valid sequence"
        )
        reasons = "; ".join(r.reason for r in log.rejected[:3])
        findings.append(
            error(
                "log.no_valid_sequence",
                where,
                f"LogGuid is {guid_str(log.log_guid)} (a log is pending) but {detail}"
                + (f" ({reasons})" if reasons else "")
                + ". The spec says such a file is corrupt and must not be opened. "
                + (
                    "This is typically a crash between setting LogGuid in the header and writing "
                    "the first log entry: nothing was changed through the log yet."
                    if not matching
                    else "This is typically a crash while the entries were being written "
                    "(a writer changes metadata only after its log entry is complete and "
                    "flushed), or damage to the log region."
                ),
            )
        )
    if active is not None:
        head = active.head
        n = len(active.entries)
        seqs = (
            f"sequence {head.sequence_number}"
            if n == 1
            else f"sequences {active.entries[0].sequence_number}-{head.sequence_number}"
        )
        grow = (
            f" and extend the file from {file_size} to {head.last_file_offset} bytes"
            if head.last_file_offset > file_size
            else ""
        )
        findings.append(
            error(
                "log.replay_needed",
                where,
                f"the log holds {n} entr{'y' if n == 1 else 'ies'} ({seqs}, tail at log offset "
                f"{active.tail_position}) not yet applied: {active.data_pages} metadata page(s) "
                f"and {active.zero_ranges} zero range(s) to write{grow}. Replay the log before "
                "using the file; readers that ignore the log see stale metadata.",
            )
        )
        if log.file_too_short:
            findings.append(
                error(
                    "log.file_too_short",
                    where,
                    f"the file is {file_size} bytes, shorter than the head entry's "
                    f"FlushedFileOffset {head.flushed_file_offset}: it was truncated after the "
                    "log was written, and the spec forbids opening it.",
                )
            )
        for e in active.entries:
            for remark in e.remarks:
                findings.append(
                    info("log.entry.irregular", _entry_where(log, e), f"active entry: {remark}")
                )

    if log.stale_entries:
        findings.append(_stale_finding(log, where))

    if dirty:
        head_seq = active.head_sequence_number if active is not None else 0
        damaged = [e for e in log.entries if e.guid_matches and not e.valid]
        for e in damaged[:MAX_DAMAGED_REPORTED]:
            follows = (
                active is not None
                and e.sequence_number == head_seq + 1
                and e.log_position == active.head.end_position % log.log_length
            )
            note = (
                " It follows the head entry: it was probably being written when the writer "
                "stopped, and is ignored as the spec requires."
                if follows
                else " It is ignored."
            )
            findings.append(
                warning(
                    "log.entry.damaged",
                    _entry_where(log, e),
                    f"entry (sequence {e.sequence_number}) carries the header's LogGuid but is "
                    f"damaged: {'; '.join(e.problems)}.{note}",
                )
            )
        if len(damaged) > MAX_DAMAGED_REPORTED:
            findings.append(
                warning(
                    "log.entry.damaged",
                    where,
                    f"{len(damaged) - MAX_DAMAGED_REPORTED} more damaged entries carry the "
                    "header's LogGuid; they are ignored.",
                )
            )
        if active is not None:
            in_active = log.active_positions
            newer = [
                e
                for e in log.entries
                if e.valid and e.log_position not in in_active and e.sequence_number > head_seq
            ]
            if newer:
                findings.append(
                    warning(
                        "log.entry.newer_than_active",
                        where,
                        f"{len(newer)} valid entr{'y' if len(newer) == 1 else 'ies'} numbered "
                        f"above the active head ({head_seq}) belong to no valid sequence (their "
                        "head's Tail is outside their run); they are ignored, as the spec "
                        "requires.",
                    )
                )
    return findings


def _stale_finding(log: LogInfo, where: str) -> Finding:
    stale = log.stale_entries
    n = len(stale)
    intact = sum(1 for e in stale if e.intact)
    other = sum(1 for e in stale if not e.guid_matches)
    tail_seq = log.active.entries[0].sequence_number if log.active is not None else None
    earlier = sum(
        1 for e in stale if e.guid_matches and tail_seq is not None and e.sequence_number < tail_seq
    )
    loose = n - other - earlier
    parts: list[str] = []
    if other:
        parts.append(
            f"{other} old entr{'y' if other == 1 else 'ies'} from an earlier session "
            + ("(the header's LogGuid is zero)" if log.log_guid.int == 0 else "(another LogGuid)")
        )
    if earlier:
        parts.append(
            f"{earlier} entr{'y' if earlier == 1 else 'ies'} of this log older than the active "
            "tail (already written to their final place)"
        )
    if loose:
        parts.append(
            f"{loose} entr{'y' if loose == 1 else 'ies'} with this LogGuid outside any valid "
            "sequence"
        )
    return info(
        "log.stale_entries",
        where,
        f"{'; '.join(parts)}; {intact} of the {n} are intact. They must not be replayed.",
    )


def _entry_where(log: LogInfo, e: LogEntry) -> str:
    return f"log entry @ +{_hex(e.log_position)} (file {_hex(log.log_offset + e.log_position)})"


# --------------------------------------------------------------------------------------------
# Replay plan


def replay_plan(info: LogInfo, log_bytes: bytes | bytearray | memoryview) -> list[ReplayWrite]:
    """Every descriptor of the active sequence, tail entry first, in descriptor order.

    Data pages are rebuilt as LeadingBytes (8) + Data (4084) + TrailingBytes (4). Zero
    descriptors become ``ReplayWrite(data=b"", length=ZeroLength)``. After applying the writes
    the file must be made at least ``info.required_file_size`` bytes long (§2.3.3). The plan is
    empty when no replay is needed. ``log_bytes`` must be the bytes given to :func:`analyse_log`;
    a data sector that no longer matches raises ``ValueError``.
    """
    if info.active is None or not info.replay_needed:
        return []
    data = bytes(log_bytes) if not isinstance(log_bytes, bytes) else log_bytes
    ring = _Ring.of_bytes(data, info.log_length)
    writes: list[ReplayWrite] = []
    for entry in info.active.entries:
        seq = entry.sequence_number
        for d in entry.descriptors:
            if d.kind == "zero":
                writes.append(
                    ReplayWrite(d.file_offset, b"", seq, d.index, d.length, entry.log_position)
                )
                continue
            assert d.data_log_position is not None
            sector = ring.read(d.data_log_position, SECTOR)
            if sector is None or bytes(sector[:4]) != layout.LOG_DATA_SIGNATURE:
                raise ValueError(
                    f"data sector at log offset {d.data_log_position} no longer matches the "
                    "analysed log"
                )
            page = d.leading_bytes + bytes(sector[8 : SECTOR - 4]) + d.trailing_bytes
            writes.append(
                ReplayWrite(d.file_offset, page, seq, d.index, SECTOR, entry.log_position)
            )
    return writes
