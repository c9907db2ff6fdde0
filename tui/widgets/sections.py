"""The other views of a report: region tables, metadata, log, BAT summary, findings.

Each ``*_renderable(report)`` is a pure function from a :class:`Report` to a Rich renderable
(so tests and the screenshot script can call them directly); :class:`SectionView` shows one in
a scrollable pane. Every value taken from the image goes through :mod:`vhdxray.tui.safe_text`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from vhdxray.core.analysis.reader import Report
from vhdxray.core.format import layout
from vhdxray.core.format.findings import Severity
from vhdxray.core.format.text import clip
from vhdxray.tui.outcome import app_text
from vhdxray.tui.safe_text import join, plain, safe
from vhdxray.tui.textreport import size_text
from vhdxray.tui.widgets.grid import WidthChoice
from vhdxray.tui.widgets.richstatic import RichStatic

if TYPE_CHECKING:
    from vhdxray.core.format.bat import BatGeometry

BAD = "bold red"
GOOD = "green"
WARN = "bold yellow"
TITLE = "bold underline"

SEVERITY_STYLE = {Severity.ERROR: BAD, Severity.WARNING: WARN, Severity.INFO: "cyan"}


def _table(*columns: str) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold", expand=False)
    for name in columns:
        table.add_column(name)
    return table


def _ok(flag: bool, good: str = "ok", bad: str = "BAD") -> Text:
    return plain(good, GOOD) if flag else plain(bad, BAD)


def _hex(value: int) -> str:
    return f"0x{value:x}"


# --- region tables --------------------------------------------------------------------------


def regions_renderable(report: Report) -> RenderableType:
    if report.region_tables is None:
        return plain("No region tables were read.")
    parts: list[RenderableType] = []
    for t in report.region_tables:
        used = report.active_region_table == t.slot
        title = plain(f"Region table copy {t.slot} @ {_hex(t.offset)}", TITLE)
        if used:
            title.append("  ★ USED", "bold green")
        parts.append(title)
        state = plain("valid", GOOD) if t.valid else plain("INVALID", BAD)
        for problem in t.problems:
            state.append("\n  ✗ ", BAD)
            state.append_text(safe(problem))
        parts.append(state)
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style="bold")
        facts.add_column()
        sig = join(plain(repr(t.signature)), "  ", _ok(t.signature_ok, "ok", "BAD: must be 'regi'"))
        facts.add_row(plain("Signature"), sig)
        crc = plain(f"stored 0x{t.checksum:08x}, computed 0x{t.computed_checksum:08x}  ")
        crc.append_text(_ok(t.checksum_ok, "✓ match", "✗ MISMATCH"))
        facts.add_row(plain("Checksum"), crc)
        facts.add_row(plain("EntryCount"), plain(str(t.entry_count)))
        parts.append(facts)
        if t.entries:
            table = _table("Region", "GUID", "FileOffset", "Length", "Required")
            narrow = _table("Region", "GUID")  # a narrow terminal: the GUID whole, its own line
            for e in t.entries:
                offset, length = _hex(e.file_offset), size_text(e.length)
                required = "yes" if e.is_required else "no"
                table.add_row(*map(plain, (e.name, str(e.guid), offset, length, required)))
                needed = "required" if e.is_required else "not required"
                detail = f"FileOffset {offset}, Length {length}, {needed}"
                narrow.add_row(plain(e.name), plain(f"{e.guid}\n{detail}"))
            parts.append(WidthChoice(table, narrow))
        parts.append(Text(""))
    if report.active_region_table is None:
        parts.append(plain("Neither copy is valid: the BAT and metadata cannot be located.", BAD))
    return Group(*parts)


# --- metadata -------------------------------------------------------------------------------


NOT_READ = "not read: the file ends before this structure"


def cut_short(report: Report, offset: int, length: int) -> str | None:
    """Why a structure at ``[offset, offset+length)`` is not (fully) in the file, or None."""
    size = report.file_size
    if offset >= size:
        return (
            f"{NOT_READ} (it starts at {_hex(offset)}; the file is only {size:,} bytes: "
            "the truncation map in the BAT view (5) lists what is lost)"
        )
    if offset + length > size:
        return (
            f"partly read: the file ends {size - offset:,} bytes into this structure "
            f"({length:,} bytes long); the rest is not in the file"
        )
    return None


def _region_entry(report: Report, guid: uuid.UUID) -> tuple[int, int] | None:
    tables, active = report.region_tables, report.active_region_table
    if tables is None or active is None:
        return None
    entry = tables[active - 1].find(guid)
    return None if entry is None else (entry.file_offset, entry.length)


def metadata_renderable(report: Report) -> RenderableType:
    meta = report.metadata
    if meta is None:
        where = _region_entry(report, layout.METADATA_REGION_GUID)
        why = None if where is None else cut_short(report, *where)
        if why is not None:
            return plain(f"Metadata region: {why}.", BAD)
        return plain("The metadata region was not read (no usable region table lists it).", BAD)
    missing = cut_short(report, meta.offset, meta.length)
    if missing is not None and meta.offset >= report.file_size:
        return Group(
            plain(f"Metadata region @ {_hex(meta.offset)}, {size_text(meta.length)}", TITLE),
            plain(missing[:1].upper() + missing[1:] + ".", BAD),
            plain("Without it the disk's size, block size and type are unknown.", BAD),
        )
    parts: list[RenderableType] = [
        plain(f"Metadata region @ {_hex(meta.offset)}, {size_text(meta.length)}", TITLE),
        join(
            "Signature 'metadata': ",
            _ok(meta.signature_ok),
            f"   EntryCount: {meta.entry_count}",
        ),
        Text(""),
    ]
    values = Table.grid(padding=(0, 2))
    values.add_column(style="bold")
    values.add_column()

    def opt(value: object, fmt: Callable[[int], str] | None = None) -> Text:
        if value is None:
            return plain("missing or unreadable", BAD)
        if fmt is not None and isinstance(value, int):
            return plain(fmt(value))
        return plain(str(value))

    values.add_row(plain("Disk type"), opt(meta.disk_type))
    values.add_row(plain("BlockSize"), opt(meta.block_size, size_text))
    values.add_row(plain("VirtualDiskSize"), opt(meta.virtual_size, size_text))
    values.add_row(plain("LogicalSectorSize"), opt(meta.logical_sector_size))
    values.add_row(plain("PhysicalSectorSize"), opt(meta.physical_sector_size))
    values.add_row(plain("VirtualDiskId"), opt(meta.virtual_disk_id))
    values.add_row(plain("LeaveBlocksAllocated"), opt(meta.leave_blocks_allocated))
    values.add_row(plain("HasParent"), opt(meta.has_parent))
    parts.append(values)
    parts.append(Text(""))
    if meta.entries:
        parts.append(plain("Metadata table entries", TITLE))
        table = _table("Item", "ItemId", "Offset", "Length", "Flags")
        narrow = _table("Item", "ItemId")  # a narrow terminal: the GUID whole, its own line
        for e in meta.entries:
            flags = [
                name
                for name, on in (
                    ("user", e.is_user),
                    ("virtual disk", e.is_virtual_disk),
                    ("required", e.is_required),
                )
                if on
            ]
            table.add_row(
                plain(e.name),
                plain(str(e.item_id)),
                plain(_hex(e.offset)),
                plain(str(e.length)),
                plain(", ".join(flags) or "-"),
            )
            detail = f"Offset {_hex(e.offset)}, Length {e.length}, {', '.join(flags) or 'no flags'}"
            narrow.add_row(plain(e.name), plain(f"{e.item_id}\n{detail}"))
        parts.append(WidthChoice(table, narrow))
    locator = meta.parent_locator
    if locator is not None:
        parts.append(Text(""))
        parts.append(plain(f"Parent locator (type {locator.locator_type})", TITLE))
        table = _table("Key", "Value")
        for key, value in locator.entries:
            table.add_row(safe(clip(key)), safe(clip(value)))
        parts.append(table)
    return Group(*parts)


# --- log --------------------------------------------------------------------------------------


def log_renderable(report: Report) -> RenderableType:
    log = report.log
    if log is None:
        return plain("The log was not examined (no header describes the file).", BAD)
    missing = cut_short(report, log.log_offset, log.log_length)
    if missing is not None and log.log_offset >= report.file_size:
        state = plain(NOT_READ, BAD)
    elif log.replay_needed:
        state = plain("REPLAY NEEDED: do not update headers or write to the image yet", BAD)
    elif missing is not None:
        state = plain(
            "no pending entry in the part that is in the file; the rest is cut off, so "
            "whether it held a pending entry is unknown",
            BAD,
        )
    else:
        state = plain("clean: nothing to replay", GOOD)
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row(plain("State"), state)
    facts.add_row(plain("LogGuid"), plain(str(log.log_guid)))
    facts.add_row(
        plain("Region"),
        plain(f"{_hex(log.log_offset)}, {size_text(log.log_length)}; LogVersion {log.log_version}"),
    )
    examined = plain(f"{log.bytes_examined:,} of {log.log_length:,} bytes")
    if missing is not None:
        examined.append(f"  ({missing})", BAD)
    facts.add_row(plain("Examined"), examined)
    if log.active is not None:
        active = log.active
        seqs = [e.sequence_number for e in active.entries]
        facts.add_row(
            plain("Active sequence"),
            plain(
                f"{len(seqs)} entr{'y' if len(seqs) == 1 else 'ies'}, sequence "
                f"{seqs[0]}..{seqs[-1]}, tail at log offset {active.tail_position}; "
                f"{active.data_pages} data page(s), {active.zero_ranges} zero range(s)"
            ),
        )
        facts.add_row(
            plain("After replay"),
            plain(f"the file must be at least {log.required_file_size} bytes"),
        )
    if log.file_too_short:
        facts.add_row(plain("File"), plain("shorter than the head's FlushedFileOffset", BAD))
    for blocker in log.replay_blockers:
        facts.add_row(plain("Blocker"), safe(blocker, BAD))
    parts: list[RenderableType] = [plain("Log", TITLE), facts, Text("")]
    active_positions = log.active_positions
    if log.entries:
        parts.append(plain(f"Entries found in the log ({len(log.entries)})", TITLE))
        table = _table("Position", "Seq", "Length", "Tail", "Desc", "GUID", "CRC", "Role")
        for e in log.entries:
            if e.log_position in active_positions:
                role = plain("ACTIVE", BAD if log.replay_needed else GOOD)
            elif e.valid:
                role = plain("stale (applied)")
            elif e.intact and not e.guid_matches:
                role = plain("stale (old LogGuid)", "dim")
            else:
                role = safe("broken: " + "; ".join(e.problems[:2]), WARN)
            table.add_row(
                plain(str(e.log_position)),
                plain(str(e.sequence_number)),
                plain(str(e.entry_length)),
                plain(str(e.tail)),
                plain(f"{e.data_descriptor_count}d/{e.zero_descriptor_count}z"),
                _ok(e.guid_matches, "match", "other"),
                _ok(e.checksum_ok, "ok", "BAD"),
                role,
            )
        parts.append(table)
    else:
        parts.append(plain("No log entries were found in the log region."))
    for run in log.rejected:
        parts.append(safe("Rejected run: " + run.reason, WARN))
    return Group(*parts)


# --- BAT ------------------------------------------------------------------------------------------


def _state_table(title: str, counts: dict[str, int]) -> RenderableType:
    table = _table(title, "Count")
    for name, count in counts.items():
        if count:
            table.add_row(plain(name), plain(str(count)))
    if not any(counts.values()):
        table.add_row(plain("(no entries)"), plain("0"))
    zero = sum(1 for n in counts.values() if not n)
    if zero:
        table.add_row(plain(f"({zero} other states)", "dim"), plain("0", "dim"))
    return table


def entries_text(g: BatGeometry) -> str:
    """What the BAT's expected entries count, in a sum that adds up: a payload entry per
    block, then (after each chunk of ChunkRatio payload entries) a sector bitmap entry; a
    differencing disk's BAT fills its last chunk up with unused payload entries and ends with
    that chunk's sector bitmap entry, a fixed or dynamic disk's ends after its last block."""
    ratio = g.chunk_ratio
    bitmaps = g.total_entries // (ratio + 1)  # entries at ratio, 2·ratio+1, ... below the total
    unused = g.total_entries - bitmaps - g.data_blocks_count
    terms = [f"{g.data_blocks_count} payload (one per block)"]
    if unused:
        terms.append(f"{unused} unused payload (the last chunk filled up)")
    end = "" if g.differencing else ", none at the end"
    terms.append(f"{bitmaps} sector bitmap (one after every {ratio} payload entries{end})")
    return f"{g.total_entries} expected = " + " + ".join(terms)


def bat_renderable(report: Report) -> RenderableType:
    bat = report.bat
    if bat is None:
        where = _region_entry(report, layout.BAT_GUID)
        why = None if where is None else cut_short(report, *where)
        if why is not None:
            return plain(f"BAT region: {why}.", BAD)
        meta_where = _region_entry(report, layout.METADATA_REGION_GUID)
        if meta_where is not None and cut_short(report, *meta_where) is not None:
            return plain(
                "The BAT was not analysed: the metadata region (which gives the block size "
                "and the disk size) is not in the file: the file ends before it.",
                BAD,
            )
        return plain(
            "The BAT was not analysed (the region table or the metadata is unusable).", BAD
        )
    g = bat.geometry
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row(
        plain("Entries"),
        plain(
            f"{entries_text(g)}; {bat.entries_in_region} fit the region, {bat.entries_read} read"
        ),
    )
    facts.add_row(
        plain("Geometry"),
        plain(
            f"block {size_text(g.block_size)}, chunk ratio {g.chunk_ratio}, "
            f"{'differencing' if g.differencing else 'not differencing'}"
        ),
    )
    facts.add_row(
        plain("Allocated"),
        plain(
            f"{bat.allocated_blocks} payload block(s), {bat.allocated_sector_bitmaps} sector "
            f"bitmap(s): {size_text(bat.allocated_bytes)}"
        ),
    )
    facts.add_row(
        plain("File size"),
        plain(f"{size_text(bat.file_size)}; blocks need {size_text(bat.required_file_size)}"),
    )
    lost = plain(f"{bat.past_eof_blocks} block(s)")
    if bat.past_eof_blocks:
        lost.stylize(BAD)
        lost.append(f": {size_text(bat.lost_virtual_bytes)} of the virtual disk is lost", BAD)
    facts.add_row(plain("Past end of file"), lost)
    if bat.reserved_bits_entries:
        facts.add_row(
            plain("Reserved bits"),
            plain(f"set in {bat.reserved_bits_entries} entr(ies) (must be 0)", WARN),
        )
    parts: list[RenderableType] = [plain("Block allocation table", TITLE), facts, Text("")]
    parts.append(_state_table("Payload block state", bat.payload_states))
    if any(bat.sector_bitmap_states.values()):
        parts.append(Text(""))
        parts.append(_state_table("Sector bitmap state", bat.sector_bitmap_states))
    if bat.lost_ranges:
        parts.append(Text(""))
        more = " (first ones)" if bat.lost_ranges_truncated else ""
        parts.append(plain(f"Virtual ranges whose data lies past the end of the file{more}", TITLE))
        table = _table("Block", "Virtual start", "Virtual end", "File offset")
        for r in bat.lost_ranges:
            table.add_row(
                plain(str(r.block)),
                plain(_hex(r.virtual_start)),
                plain(_hex(r.virtual_end)),
                plain(_hex(r.file_offset)),
            )
        parts.append(table)
    return Group(*parts)


# --- findings ---------------------------------------------------------------------------------


def findings_renderable(report: Report) -> RenderableType:
    if not report.findings:
        return plain("No findings: nothing unusual was seen.", GOOD)
    counts = {s: 0 for s in Severity}
    for f in report.findings:
        counts[f.severity] += 1
    summary = plain(
        f"{counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} warning(s), "
        f"{counts[Severity.INFO]} info",
        TITLE,
    )
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold", expand=True)
    table.add_column("Severity", no_wrap=True)
    table.add_column("Code", no_wrap=True)
    table.add_column("Where", ratio=1)
    table.add_column("What", ratio=3)
    for f in report.findings:
        table.add_row(
            plain(f.severity.value.upper(), SEVERITY_STYLE[f.severity]),
            safe(f.code),
            safe(f.where),
            safe(app_text(f.message, f.suggest)),
        )
    return Group(summary, Text(""), table)


Renderer = Callable[[Report], RenderableType]


class SectionView(VerticalScroll):
    """A scrollable pane showing one renderer's view of the report, and below it an optional
    extra part (what the repair planner found: the replay preview, the truncation map...).

    It may be shown a report before it is mounted (the main screen makes a view when its tab
    is first shown): its first frame then already shows it."""

    def __init__(self, renderer: Renderer, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes="section")
        self.renderer = renderer
        self._shown: tuple[RenderableType, RenderableType | None] | None = None
        self._composed = False

    def compose(self) -> ComposeResult:
        yield RichStatic(classes="section-body")
        yield RichStatic(classes="section-extra -empty")

    def on_mount(self) -> None:
        self._composed = True
        if self._shown is not None:
            self._update(*self._shown)

    def show(self, report: Report, extra: RenderableType | None = None) -> None:
        """Show ``report`` (and ``extra`` below it), now or, before mounting, once mounted."""
        self._shown = (self.renderer(report), extra)
        if self._composed:
            self._update(*self._shown)

    def _update(self, body: RenderableType, renderable: RenderableType | None) -> None:
        self.query_one(".section-body", Static).update(body)
        extra = self.query_one(".section-extra", Static)
        extra.set_class(renderable is None, "-empty")
        extra.update(renderable if renderable is not None else "")


__all__ = [
    "SectionView",
    "bat_renderable",
    "findings_renderable",
    "log_renderable",
    "metadata_renderable",
    "regions_renderable",
]
