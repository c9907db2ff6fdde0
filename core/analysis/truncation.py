"""Truncation map: what a file cut short has lost, and the size it should have.

Never a repair: extending the file with zeros would make the lost ranges read as zeros with
no trace of the loss. The map lists the virtual byte ranges (and LBAs) whose data lay past the
end of the file, merged, so the user can get them back from elsewhere or knows what is gone.
"""

from __future__ import annotations

import os
import sys
from array import array
from itertools import compress, count
from typing import Final

from vhdxray.core.analysis.reader import Report
from vhdxray.core.format import layout
from vhdxray.core.format.bat import BatGeometry, block_of_index
from vhdxray.core.format.record import record
from vhdxray.core.source import ImageSource

LOST: Final = "lost"  # the data of these bytes was in this file, past its end
PARTIAL: Final = "partial"  # PARTIALLY_PRESENT blocks: sectors held here are lost
UNKNOWN: Final = "unknown"  # their BAT entries could not be read: lost or never written
UNREAD_PAST_EOF: Final = "BAT entry past end of file"
UNREAD_OUTSIDE: Final = "BAT entry outside the BAT region"
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
    uncertain: tuple[tuple[int, int], ...]  # virtual ranges whose sector bitmap is lost
    logical_sector_size: int
    notes: tuple[str, ...]
    unread_entries: int = 0  # BAT entries that could not be read
    blocks_unknown: bool = False  # no BAT could be analysed: nothing of the disk is known

    @property
    def missing_bytes(self) -> int:
        return max(0, self.expected_size - self.file_size)

    def describe(self) -> list[str]:
        lss = self.logical_sector_size or 512
        lines = [
            f"The file is {self.file_size} bytes; its structures need at least "
            f"{self.expected_size} bytes, so {self.missing_bytes} bytes are missing from its end "
            "(it was cut short: a full disk, an interrupted copy, a sync placeholder).",
        ]
        if self.unread_entries:
            lines.append(
                f"{self.unread_entries} BAT entries could not be read: the blocks they map are "
                "listed as unknown (their data may have been in the missing part of the file)."
            )
        if self.spans:
            label = "Lost or unknown" if self.unread_entries else "Lost"
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
        for start, end in self.uncertain[:MAX_LISTED]:
            lines.append(
                f"  virtual bytes {start}-{end - 1}: their sector bitmap is past the end, so which "
                "sectors are in this file and which come from the parent can no longer be known"
            )
        lines.extend(self.notes)
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


def _scan_bat(
    raw: bytes, geometry: BatGeometry, file_size: int
) -> tuple[list[LostSpan], list[tuple[int, int]]]:
    """Every allocated block and sector bitmap past ``file_size``: one pass over the BAT,
    run only for a truncated file."""
    n = min(len(raw) // layout.BAT_ENTRY_SIZE, geometry.total_entries)
    entries = array("Q")
    entries.frombytes(raw[: n * layout.BAT_ENTRY_SIZE])
    if sys.byteorder != "little":  # pragma: no cover
        entries.byteswap()
    block_size = geometry.block_size
    ratio = geometry.chunk_ratio
    spans: list[LostSpan] = []
    uncertain: list[tuple[int, int]] = []
    # An entry can reach past the end only if its offset is above file_size - block_size (a
    # sector bitmap block, 1 MiB, is never larger than a payload block). FileOffsetMB is the
    # top of the u64, so comparing whole entries against the threshold with its low 20 bits
    # set selects them in C; Python only looks at those few.
    threshold = max(0, file_size - block_size) | ((1 << 20) - 1)
    candidates = compress(count(), map(threshold.__lt__, entries))
    for index in candidates:
        entry = entries[index]
        state = entry & layout.BAT_STATE_MASK
        if state not in (
            layout.PAYLOAD_BLOCK_FULLY_PRESENT,
            layout.PAYLOAD_BLOCK_PARTIALLY_PRESENT,
        ):
            continue  # SB_BLOCK_PRESENT is 6 too; sector bitmap slots are told apart below
        start = entry & layout.BAT_OFFSET_MASK
        if index % (ratio + 1) == ratio:  # a sector bitmap entry
            if start + layout.SECTOR_BITMAP_BLOCK_SIZE > file_size:
                chunk = index // (ratio + 1)
                begin = chunk * geometry.chunk_size
                uncertain.append((begin, min(begin + geometry.chunk_size, geometry.virtual_size)))
            continue
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
    return spans, uncertain


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
    uncertain: list[tuple[int, int]] = []
    lss = 512
    bat = report.bat
    if bat is not None:
        lss = bat.geometry.logical_sector_size
        needs.append(bat.required_file_size)
        if bat.past_eof_blocks or bat.required_file_size > size:
            bat_entry = None
            if report.region_tables is not None and report.active_region_table is not None:
                table = report.region_tables[report.active_region_table - 1]
                bat_entry = table.find(layout.BAT_GUID)
            # The summary lists every lost block (up to 1000) but not their states nor the
            # sector bitmaps: scan the BAT only when those matter or the list is cut.
            scan = (
                bat.lost_ranges_truncated
                or bat.sector_bitmap_states.get("SB_BLOCK_PRESENT", 0) > 0
                or bat.payload_states.get("PAYLOAD_BLOCK_PARTIALLY_PRESENT", 0) > 0
            )
            if scan and path is not None and bat_entry is not None:
                with ImageSource(path) as source:
                    raw = source.read_at(
                        bat_entry.file_offset,
                        min(bat_entry.length, bat.geometry.total_entries * layout.BAT_ENTRY_SIZE),
                    )
                spans, uncertain = _scan_bat(raw, bat.geometry, size)
            else:
                spans = [LostSpan(r.virtual_start, r.virtual_end, 1, LOST) for r in bat.lost_ranges]
                if bat.lost_ranges_truncated:
                    notes.append(
                        f"Only the first {len(bat.lost_ranges)} of {bat.past_eof_blocks} lost "
                        "blocks are listed."
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
    merged = _merge(spans)
    if not merged and not uncertain and not cut:
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
    )
