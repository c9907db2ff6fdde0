"""Truncation map: what a file cut short has lost, and the size it should have.

Never a repair: extending the file with zeros would make the lost ranges read as zeros with
no trace of the loss. The map lists the virtual byte ranges (and LBAs) whose data lay past the
end of the file, merged, so the user can get them back from elsewhere or knows what is gone.
"""

from __future__ import annotations

import os
import sys
from array import array
from bisect import bisect_right
from itertools import compress, count

from vhdxray.core.analysis.reader import Report
from vhdxray.core.format import layout
from vhdxray.core.format.bat import BatGeometry, block_of_index
from vhdxray.core.format.record import record
from vhdxray.core.source import ImageSource

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

LOST: Final = "lost"  # the data of these bytes was in this file, past its end
PARTIAL: Final = "partial"  # PARTIALLY_PRESENT blocks: sectors held here are lost
UNKNOWN: Final = "unknown"  # their BAT entries could not be read: lost or never written
UNREAD_PAST_EOF: Final = "BAT entry past end of file"
UNREAD_OUTSIDE: Final = "BAT entry outside the BAT region"
# Differencing disks: a PARTIALLY_PRESENT block needs its chunk's sector bitmap to tell the
# sectors held here from those of the parent; without it the whole block is unknown.
SB_ENTRY_PAST_EOF: Final = "sector bitmap entry past end of file"
SB_PAST_EOF: Final = "sector bitmap past end of file"
SB_REASONS: Final = (SB_ENTRY_PAST_EOF, SB_PAST_EOF)
MAX_LISTED: Final = 20  # spans spelled out by describe()


@record
class LostSpan:
    """Virtual bytes [virtual_start, virtual_end) whose data lay past the end of the file."""

    virtual_start: int
    virtual_end: int
    blocks: int  # payload blocks that contributed
    kind: str  # LOST, PARTIAL or UNKNOWN
    reason: str = ""  # for UNKNOWN: why the blocks cannot be known (UNREAD_*)

    @property
    def length(self) -> int:
        return self.virtual_end - self.virtual_start

    def to_json(self) -> dict[str, object]:
        return {
            "virtual_start": self.virtual_start,
            "virtual_end": self.virtual_end,
            "length": self.length,
            "blocks": self.blocks,
            "kind": self.kind,
            "reason": self.reason,
        }


@record
class TruncationMap:
    file_size: int
    expected_size: int  # what the structures need (BAT blocks, regions, log)
    spans: tuple[LostSpan, ...]  # merged, in virtual order
    lost_bytes: int
    # Virtual ranges of PARTIALLY_PRESENT blocks whose sector bitmap is lost (its BAT entry or
    # its bytes past the end): also in ``spans`` as UNKNOWN, with an SB_REASONS reason.
    uncertain: tuple[tuple[int, int], ...]
    logical_sector_size: int
    notes: tuple[str, ...]
    unread_entries: int = 0  # BAT entries that could not be read
    blocks_unknown: bool = False  # no BAT could be analysed: nothing of the disk is known
    damaged_entries: bool = False
    """The blocks past the end are stray BAT entries, not a cut file (BatSummary
    ``past_eof_damaged``): ``expected_size`` is then what the rest of the file needs."""

    @property
    def missing_bytes(self) -> int:
        return max(0, self.expected_size - self.file_size)

    def describe(self) -> list[str]:
        lss = self.logical_sector_size or 512
        if self.damaged_entries:
            lines = [
                f"The file is {self.file_size} bytes and is not cut short: every structure and "
                "every other block lies inside it, but damaged BAT entries point past its end "
                "(with unallocated file space between), so the blocks they map cannot be read.",
            ]
        else:
            lines = [
                f"The file is {self.file_size} bytes; its structures need at least "
                f"{self.expected_size} bytes, so {self.missing_bytes} bytes are missing from its "
                "end (it was cut short: a full disk, an interrupted copy, a sync placeholder).",
            ]
        if self.unread_entries:
            lines.append(
                f"{self.unread_entries} BAT entries could not be read: the blocks they map are "
                "listed as unknown (their data may have been in the missing part of the file)."
            )
        if self.spans:
            unknown = any(s.kind == UNKNOWN for s in self.spans)
            label = "Lost or unknown" if unknown else "Lost"
            lines.append(
                f"{label}: {self.lost_bytes} bytes of the virtual disk in {len(self.spans)} "
                "range(s):"
            )
            for s in self.spans[:MAX_LISTED]:
                lba = f"LBA {s.virtual_start // lss}-{(s.virtual_end - 1) // lss}"
                text = (
                    f"  virtual bytes {s.virtual_start}-{s.virtual_end - 1} ({lba}, {s.length} "
                    f"bytes, {s.blocks} block(s))"
                )
                if s.kind == PARTIAL:
                    text += ": sectors written to this file are lost; the others still come "
                    text += "from the parent"
                elif s.kind == UNKNOWN:
                    text += f": unknown ({s.reason})"
                    if s.reason in SB_REASONS:
                        text += ": which sectors are in this file and which come from the "
                        text += "parent can no longer be known"
                lines.append(text)
            if len(self.spans) > MAX_LISTED:
                lines.append(f"  ... and {len(self.spans) - MAX_LISTED} more range(s)")
        elif self.blocks_unknown:
            lines.append(
                "The block layout cannot be read (the metadata or the BAT lies past the end of "
                "the file), so which ranges of the virtual disk are lost cannot be listed: treat "
                "all of its data as unknown."
            )
        else:
            lines.append("No payload block of the virtual disk lies past the end of the file.")
        lines.extend(self.notes)
        if self.damaged_entries:
            lines.append(
                "Where the data of those ranges is cannot be known from this file: get them from "
                "a backup or another copy of the disk; until then, treat them as gone (an export "
                "zero-fills and lists them)."
            )
            return lines
        lines.append(
            "vhdxray does not extend the file with zeros: the lost ranges would then read as "
            "zeros with no trace of the loss. Copy the missing end of the file back from where "
            "it came from (the original disk, a backup, the sync service); until then, treat the "
            "ranges above as gone."
        )
        return lines

    def to_json(self) -> dict[str, object]:
        return {
            "file_size": self.file_size,
            "expected_size": self.expected_size,
            "missing_bytes": self.missing_bytes,
            "lost_bytes": self.lost_bytes,
            "spans": [s.to_json() for s in self.spans],
            "uncertain": [list(r) for r in self.uncertain],
            "logical_sector_size": self.logical_sector_size,
            "notes": list(self.notes),
            "unread_entries": self.unread_entries,
            "blocks_unknown": self.blocks_unknown,
            "damaged_entries": self.damaged_entries,
        }


def _merge(spans: list[LostSpan]) -> list[LostSpan]:
    out: list[LostSpan] = []
    for s in sorted(spans, key=lambda x: x.virtual_start):
        last = out[-1] if out else None
        if (
            last is not None
            and (last.kind, last.reason) == (s.kind, s.reason)
            and last.virtual_end == s.virtual_start
        ):
            out[-1] = LostSpan(
                last.virtual_start, s.virtual_end, last.blocks + s.blocks, s.kind, s.reason
            )
        else:
            out.append(s)
    return out


def _entries(raw: bytes, geometry: BatGeometry) -> array[int]:
    n = min(len(raw) // layout.BAT_ENTRY_SIZE, geometry.total_entries)
    entries = array("Q")
    entries.frombytes(raw[: n * layout.BAT_ENTRY_SIZE])
    if sys.byteorder != "little":  # pragma: no cover
        entries.byteswap()
    return entries


def _scan_bat(raw: bytes, geometry: BatGeometry, file_size: int) -> list[LostSpan]:
    """Every allocated block past ``file_size``: one pass over the BAT, run only for a
    truncated file."""
    entries = _entries(raw, geometry)
    block_size = geometry.block_size
    ratio = geometry.chunk_ratio
    spans: list[LostSpan] = []
    # An entry can reach past the end only if its offset is above file_size - block_size.
    # FileOffsetMB is the top of the u64, so comparing whole entries against the threshold with
    # its low 20 bits set selects them in C; Python only looks at those few.
    threshold = max(0, file_size - block_size) | ((1 << 20) - 1)
    candidates = compress(count(), map(threshold.__lt__, entries))
    for index in candidates:
        if index % (ratio + 1) == ratio:
            continue  # a sector bitmap entry: see _lost_bitmaps
        entry = entries[index]
        state = entry & layout.BAT_STATE_MASK
        if state not in (
            layout.PAYLOAD_BLOCK_FULLY_PRESENT,
            layout.PAYLOAD_BLOCK_PARTIALLY_PRESENT,
        ):
            continue
        start = entry & layout.BAT_OFFSET_MASK
        block = block_of_index(index, ratio)
        if block >= geometry.data_blocks_count:
            continue
        length = geometry.block_length(block)
        inside = max(0, file_size - start)
        if inside >= length:
            continue
        base = block * block_size
        kind = PARTIAL if state == layout.PAYLOAD_BLOCK_PARTIALLY_PRESENT else LOST
        spans.append(LostSpan(base + inside, base + length, 1, kind))
    return spans


# One byte per payload entry (its first byte): PARTIALLY_PRESENT has the low three bits 111.
_PARTIAL_MARK: Final = bytes(
    1 if b & layout.BAT_STATE_MASK == layout.PAYLOAD_BLOCK_PARTIALLY_PRESENT else 0
    for b in range(256)
)


def _lost_bitmaps(raw: bytes, geometry: BatGeometry, file_size: int) -> list[LostSpan]:
    """Differencing disks: the PARTIALLY_PRESENT blocks whose sector bitmap cannot be read,
    because the chunk's sector bitmap entry is cut off (the file ends inside the BAT, after the
    block's own entry) or because the bytes of the bitmap that cover the block lie past the end
    of the file. Each such block is unknown as a whole, as the virtual-disk reader reads it.

    Python looks at each chunk's one sector bitmap entry (at most 16384 chunks: 2^23 sectors
    each, 64 TiB at most); the payload entries of an affected chunk are searched in C.
    """
    g = geometry
    if not g.differencing:
        return []
    import re  # here, not at import: the check and repair paths never need it (issue 9)

    marked_runs = re.compile(b"\x01+")
    n = min(len(raw) // layout.BAT_ENTRY_SIZE, g.total_entries)
    entries = _entries(raw, g)
    ratio = g.chunk_ratio
    row = ratio + 1
    lss = g.logical_sector_size
    bitmap_bytes = g.block_size // lss // 8  # of one block's sectors
    out: list[LostSpan] = []
    for chunk in range(-(-n // row)):
        first = chunk * row
        sb_index = first + ratio
        if sb_index < n:
            sb = entries[sb_index]
            if sb & layout.BAT_STATE_MASK != layout.SB_BLOCK_PRESENT:
                continue  # not a truncation matter (the BAT analysis reports it)
            sb_offset = sb & layout.BAT_OFFSET_MASK
            if sb_offset + layout.SECTOR_BITMAP_BLOCK_SIZE <= file_size:
                continue
            # Block j's bits start at byte j * bitmap_bytes: j is lost once they pass the end.
            from_j = max(0, (file_size - sb_offset) // bitmap_bytes)
            reason = SB_PAST_EOF
        else:
            from_j = 0
            reason = SB_ENTRY_PAST_EOF
        first_block = chunk * ratio
        stop = min(first + ratio, n)
        marks = raw[first * layout.BAT_ENTRY_SIZE : stop * layout.BAT_ENTRY_SIZE]
        marks = marks[:: layout.BAT_ENTRY_SIZE].translate(_PARTIAL_MARK)
        for m in marked_runs.finditer(marks, from_j):
            lo = first_block + m.start()
            hi = min(first_block + m.end(), g.data_blocks_count)
            if lo >= hi:
                continue
            if reason == SB_PAST_EOF and hi == g.data_blocks_count:
                # The last block may be shorter: it has fewer bits, maybe all inside the file.
                last = hi - 1
                sectors = -(-g.block_length(last) // lss)
                end = sb_offset + (last - first_block) * bitmap_bytes + -(-sectors // 8)
                if end <= file_size:
                    hi -= 1
                    if lo >= hi:
                        continue
            start = lo * g.block_size
            end_v = min(hi * g.block_size, g.virtual_size)
            out.append(LostSpan(start, end_v, hi - lo, UNKNOWN, reason))
    return out


def _without_blocks(spans: list[LostSpan], unknown: list[LostSpan]) -> list[LostSpan]:
    """``spans`` less those inside an ``unknown`` range (a partial block whose bitmap is lost
    is unknown as a whole, not "partially lost")."""
    if not unknown:
        return spans
    ordered = sorted((u.virtual_start, u.virtual_end) for u in unknown)
    starts = [a for a, _ in ordered]

    def covered(s: LostSpan) -> bool:
        k = bisect_right(starts, s.virtual_start) - 1
        return k >= 0 and ordered[k][0] <= s.virtual_start and s.virtual_end <= ordered[k][1]

    return [s for s in spans if not covered(s)]


def truncation_map(
    report: Report, path: str | os.PathLike[str] | None = None
) -> TruncationMap | None:
    """The map for a truncated file, or None when nothing lies past its end.

    The report's BAT summary gives the lost blocks when it holds them all (up to 1000) and the
    disk has no partially present blocks; otherwise, with ``path``, the BAT is scanned (every
    entry is compared in C; Python sees only those past the end) and sector bitmaps past the
    end are listed too.
    """
    if not report.is_vhdx:
        return None
    size = report.file_size
    notes: list[str] = []
    needs = [size]
    cut = False
    if report.region_tables is not None and report.active_region_table is not None:
        table = report.region_tables[report.active_region_table - 1]
        for e in table.entries:
            end = e.file_offset + e.length
            needs.append(end)
            if end > size:
                cut = True
                notes.append(
                    f"The {e.name} region (0x{e.file_offset:x}-0x{end:x}) runs past the end of "
                    "the file"
                    + (
                        ": the BAT entries past the end cannot be read, so the blocks they map "
                        "are listed as unknown."
                        if e.name == "BAT"
                        else "."
                    )
                )
    eff = report.effective_header
    if eff is not None and eff.log_length:
        end = eff.log_offset + eff.log_length
        needs.append(end)
        if end > size:
            cut = True
            notes.append(f"The log (ending at 0x{end:x}) runs past the end of the file.")
    log = report.log
    if log is not None and log.active is not None:
        flushed = log.active.head.flushed_file_offset
        needs.append(flushed)
        if log.file_too_short:
            cut = True
            notes.append(
                f"The pending log says the file was at least {flushed} bytes when it was "
                "written (FlushedFileOffset): the log must not be replayed on the cut file."
            )
    spans: list[LostSpan] = []
    lss = 512
    bat = report.bat
    if bat is not None:
        g = bat.geometry
        lss = g.logical_sector_size
        if not bat.past_eof_damaged:  # stray entries say nothing of the file's size
            needs.append(bat.required_file_size)
        partial = bat.payload_states.get("PAYLOAD_BLOCK_PARTIALLY_PRESENT", 0) > 0
        if bat.past_eof_blocks or bat.required_file_size > size or bat.unread_entries:
            bat_entry = None
            if report.region_tables is not None and report.active_region_table is not None:
                table = report.region_tables[report.active_region_table - 1]
                bat_entry = table.find(layout.BAT_GUID)
            # The summary lists every lost block (up to 1000) but not their states nor the
            # sector bitmaps: scan the BAT only when those matter or the list is cut.
            scan = (
                bat.lost_ranges_truncated
                or bat.sector_bitmap_states.get("SB_BLOCK_PRESENT", 0) > 0
                or partial
            )
            if scan and path is not None and bat_entry is not None:
                with ImageSource(path) as source:
                    raw = source.read_at(
                        bat_entry.file_offset,
                        min(bat_entry.length, g.total_entries * layout.BAT_ENTRY_SIZE),
                    )
                spans = _scan_bat(raw, g, size)
                if partial:
                    unknown = _lost_bitmaps(raw, g, size)
                    spans = _without_blocks(spans, unknown) + unknown
            else:
                spans = [LostSpan(r.virtual_start, r.virtual_end, 1, LOST) for r in bat.lost_ranges]
                if bat.lost_ranges_truncated:
                    notes.append(
                        f"Only the first {len(bat.lost_ranges)} of {bat.past_eof_blocks} lost "
                        "blocks are listed."
                    )
                if partial and g.differencing:
                    notes.append(
                        "The sector bitmaps of the partially present blocks were not checked "
                        "(the file was not read again)."
                    )
    unread = 0
    if bat is not None and bat.unknown_virtual_start is not None:
        unread = bat.unread_entries
        start = bat.unknown_virtual_start
        g = bat.geometry
        reason = UNREAD_PAST_EOF if bat.unread_past_eof else UNREAD_OUTSIDE
        blocks = g.data_blocks_count - start // g.block_size
        spans = [s for s in spans if s.virtual_end <= start]
        spans.append(LostSpan(start, g.virtual_size, blocks, UNKNOWN, reason))
    elif bat is not None and bat.geometry.differencing:
        unread = bat.unread_entries  # only sector bitmap entries (see _lost_bitmaps)
    merged = _merge(spans)
    uncertain = [(s.virtual_start, s.virtual_end) for s in merged if s.reason in SB_REASONS]
    if not merged and not cut:
        return None
    return TruncationMap(
        file_size=size,
        expected_size=max(needs),
        spans=tuple(merged),
        lost_bytes=sum(s.length for s in merged),
        uncertain=tuple(uncertain),
        logical_sector_size=lss,
        notes=tuple(notes),
        unread_entries=unread,
        blocks_unknown=bat is None and cut,
        damaged_entries=bat is not None and bat.past_eof_damaged and not cut,
    )
