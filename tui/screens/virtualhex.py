"""The bytes of the virtual disk at one guest structure (from the Inside screen, Enter).

The main Hex view (7) shows bytes of the *file* (the header slots). Guest structures live at
*virtual* offsets, which the BAT maps to file offsets block by block, a pending log may
overlay, and a differencing disk may leave to its parent. So this screen reads the virtual disk
itself (:mod:`vhdxray.core.analysis.virtual`: read-only, the log applied in memory, the chain
merged) and says, range by range, where those bytes come from: a file offset in this image (or
a parent), the pending log, zeros (nothing stored), or lost (and why). Escape goes back.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from vhdxray.tui.safe_text import join, plain, safe
from vhdxray.tui.screens.dialogs import closed_early, closing
from vhdxray.tui.widgets.keysfooter import REPORT_EXTRAS, KeysFooter
from vhdxray.tui.widgets.richstatic import RichStatic

ROW = 16
MAX_SHOWN = 4096  # bytes shown from the structure's start (the rest: the CLI's export)
MAX_RANGES = 32  # mapping lines shown


def offset_digits(last: int) -> int:
    """Hex digits for offsets up to ``last``: 8, or more past 4 GiB (10 reach 1 TiB)."""
    return max(8, len(f"{last:x}"))


def hex_rows(data: bytes, base: int) -> list[Text]:
    """16-byte rows: virtual offset, bytes, ASCII; runs of zero rows collapsed.

    A row is ``0x`` + the offset + 66 columns: 76 with 8 digits, 78 with 10, so it stays one
    line in an 80-column terminal (the screen keeps 2 columns: a 1-column margin and a
    1-column scroll bar)."""
    digits = offset_digits(base + max(len(data), 1) - 1)
    rows: list[Text] = []
    pos = 0
    while pos < len(data):
        chunk = data[pos : pos + ROW]
        if not any(chunk):
            start = pos
            while pos < len(data) and not any(data[pos : pos + ROW]):
                pos += ROW
            if pos - start > ROW:
                rows.append(
                    plain(
                        f"0x{base + start:0{digits}x}..0x{base + pos - 1:0{digits}x}  "
                        f"{pos - start} bytes, all zero",
                        "dim",
                    )
                )
                continue
            pos = start
        text = plain(f"0x{base + pos:0{digits}x} ", "bold")
        text.append(" ".join(f"{b:02x}" for b in chunk).ljust(ROW * 3 - 1))
        text.append(" │", "dim")
        text.append("".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk))
        rows.append(text)
        pos += ROW
    return rows


def mapping_lines(extents: list[tuple[int, int, str, str, int, str]], image: str) -> list[Text]:
    """Where each range of virtual bytes comes from, in words."""
    from vhdxray.core.analysis.virtual import DATA, FILE, GAP, GAP_REASONS

    lines: list[Text] = []
    for start, end, kind, path, file_offset, reason in extents[:MAX_RANGES]:
        span = f"  0x{start:x}..0x{end:x}  "
        if kind == FILE:
            where = "this image" if path == image else f"the parent {Path(path).name}"
            words = f"file offset 0x{file_offset:x} of {where} (through the BAT)"
        elif kind == DATA:
            words = "the pending log, applied in memory (the file still holds older bytes)"
        elif kind == GAP:
            words = f"LOST, read as zeros: {GAP_REASONS.get(reason, reason)}"
        else:
            words = "zeros: nothing is stored for these bytes (block not present or zero)"
        lines.append(join((span, "bold"), safe(words)))
    if len(extents) > MAX_RANGES:
        lines.append(plain(f"  … and {len(extents) - MAX_RANGES} more ranges", "dim"))
    return lines


def virtual_hex_renderable(
    image: str, name: str, structure: str, offset: int, length: int
) -> RenderableType:
    """Read ``length`` bytes (at most :data:`MAX_SHOWN`) of the virtual disk at ``offset``."""
    from vhdxray.core.analysis.virtual import OpenRefused, open_virtual_disk

    title = join(("Virtual disk bytes  ", "bold"), safe(f"{structure} ({name})", "bold"))
    try:
        with open_virtual_disk(image, allow_missing_parent=True) as disk:
            if not 0 <= offset < disk.size:
                return Group(title, plain(f"Offset 0x{offset:x} is past the disk's end."))
            n = max(1, min(length, MAX_SHOWN, disk.size - offset))
            data = disk.read(offset, n)
            merged = [
                (e.start, e.end, e.kind, e.path, e.file_offset, e.reason)
                for e in disk.runs(offset, offset + n)
            ]
    except (OpenRefused, OSError, ValueError) as exc:
        return Group(title, Text(""), safe(f"The virtual disk cannot be read: {exc}"))
    shown = "" if n == length else f" (the first {n} of {length})"
    parts: list[RenderableType] = [
        title,
        plain(
            f"Virtual offset 0x{offset:x}, {n} bytes{shown}. These are the guest's bytes, read "
            "through the image's block table (not the file at that offset); nothing is written."
        ),
        Text(""),
        plain("Where these bytes are stored", "bold"),
        *mapping_lines(merged, image),
        Text(""),
        *hex_rows(data, offset),
    ]
    return Group(*parts)


class VirtualHexScreen(Screen[None]):
    """Hex of the virtual disk at a guest structure, with its mapping to the file."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *closing("escape", "app.pop_screen", "Back", binding_id="vhex-back"),
    ]

    def __init__(self, image: str, name: str, structure: str, offset: int, length: int) -> None:
        super().__init__()
        self.image = image
        self.display_name = name
        self.structure = structure
        self.at = offset
        self.length = length

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="vhex-scroll"):
            yield RichStatic(id="vhex-view")
        yield KeysFooter(REPORT_EXTRAS)

    def on_mount(self) -> None:
        if closed_early(self):
            return
        self.query_one("#vhex-view", Static).update(
            virtual_hex_renderable(
                self.image, self.display_name, self.structure, self.at, self.length
            )
        )
        self.query_one("#vhex-scroll").focus()


__all__ = ["VirtualHexScreen", "hex_rows", "mapping_lines", "virtual_hex_renderable"]
