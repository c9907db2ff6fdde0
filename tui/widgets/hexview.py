"""Hex view of a header slot with its fields marked.

Fields are told apart three ways, so the marking survives plain text: a colour per field,
a ``│`` between bytes of different fields, and the names of the fields a row holds at its
end. A row that differs from the same row of the other slot starts with ``≠``. The 4016
reserved bytes collapse to one line per run of zero rows.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from vhdxray.core.analysis.reader import Report
from vhdxray.core.format import layout
from vhdxray.core.format.header import FIELDS_BY_OFFSET, FieldKind, Header
from vhdxray.tui.safe_text import plain
from vhdxray.tui.widgets.headers import SLOT_TITLES

ROW = 16
MAX_NONZERO_ROWS = 48

# (offset, size, name) of the 80 defined bytes (MS-VHDX §2.2.2), in disk order
FIELD_SPANS: tuple[tuple[int, int, str], ...] = tuple(
    (f.offset, f.size, f.name) for f in FIELDS_BY_OFFSET
)
FIELD_COLOURS = ("cyan", "magenta", "green", "yellow", "bright_blue", "bright_cyan")
RESERVED = "Reserved"


def field_at(offset: int) -> tuple[int, str]:
    """(index, name) of the field holding byte ``offset``; index -1 for reserved bytes."""
    for index, (start, size, name) in enumerate(FIELD_SPANS):
        if start <= offset < start + size:
            return index, name
    return -1, RESERVED


def _byte_style(h: Header, index: int, name: str) -> str:
    if index < 0:
        return "bold yellow"
    kind = FIELDS_BY_OFFSET[index].kind
    if kind is FieldKind.SIGNATURE and not h.signature_ok:
        return "bold red reverse"
    if kind is FieldKind.CHECKSUM and not h.checksum_ok:
        return "bold red reverse"
    return FIELD_COLOURS[index % len(FIELD_COLOURS)]


def hex_row(h: Header, offset: int, other: bytes | None) -> Text:
    """One 16-byte row: marker, offset, bytes with field separators, ASCII, field names."""
    chunk = h.raw[offset : offset + ROW]
    differs = other is not None and other[offset : offset + ROW] != chunk
    text = plain("≠ " if differs else "  ", "bold yellow")
    text.append(f"0x{offset:04x} ")
    names: list[str] = []
    previous = None
    for i in range(ROW):
        pos = offset + i
        index, name = field_at(pos)
        separator = "│" if previous is not None and index != previous else " "
        if i == 0:
            separator = "│"
        text.append(separator, "dim")
        if i < len(chunk):
            text.append(f"{chunk[i]:02x}", _byte_style(h, index, name))
        else:
            text.append("  ")
        if name not in names:
            names.append(name)
        previous = index
    text.append("│ ", "dim")
    text.append("".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk).ljust(ROW))
    text.append("  " + " ".join(names), "dim")
    return text


def slot_hex(h: Header, other: Header | None, current: bool) -> RenderableType:
    title = plain(f"{SLOT_TITLES[h.slot - 1]} @ 0x{h.offset:x}", "bold underline")
    if current:
        title.append("  ★ CURRENT", "bold green")
    elif h.valid:
        title.append("  valid", "green")
    else:
        title.append("  INVALID: " + "; ".join(h.invalid_reasons()), "bold red")
    lines: list[RenderableType] = [title]
    other_raw = None if other is None else other.raw
    end = len(h.raw)
    for offset in range(0, min(layout.HEADER_FIELDS_SIZE, end), ROW):
        lines.append(hex_row(h, offset, other_raw))
    offset = layout.HEADER_FIELDS_SIZE
    shown = 0
    while offset < end:
        if not any(h.raw[offset : offset + ROW]):
            start = offset
            while offset < end and not any(h.raw[offset : offset + ROW]):
                offset += ROW
            lines.append(
                plain(
                    f"  0x{start:04x}..0x{offset - 1:04x}  {offset - start} reserved bytes, "
                    "all zero",
                    "dim",
                )
            )
            continue
        if shown < MAX_NONZERO_ROWS:
            lines.append(hex_row(h, offset, other_raw))
        shown += 1
        offset += ROW
    if shown > MAX_NONZERO_ROWS:
        lines.append(
            plain(f"  ... {shown - MAX_NONZERO_ROWS} more non-zero reserved rows", "bold yellow")
        )
    if shown:
        lines.append(plain("  Reserved bytes (80..4095) must be zero; these are not.", "yellow"))
    if end < layout.HEADER_SIZE:
        lines.append(plain(f"  The file ends after {end} of this slot's 4096 bytes.", "bold red"))
    return Group(*lines)


def hex_renderable(report: Report) -> RenderableType:
    if report.headers is None:
        return plain("No header slots were read.")
    h1, h2 = report.headers
    current = report.current_header
    legend = plain(
        "Fields: │ separates fields, names at the end of each row; ≠ = row differs from the "
        "other slot; red = fails its check.",
        "dim",
    )
    return Group(
        legend,
        Text(""),
        slot_hex(h1, h2, current == 1),
        Text(""),
        slot_hex(h2, h1, current == 2),
    )
