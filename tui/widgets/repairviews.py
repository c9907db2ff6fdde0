"""Renderables for what the repair planner found: the log replay's page-by-page preview, the
truncation map and the parent locator in words. Pure functions of core objects; every string
that may come from the image goes through :mod:`vhdxray.tui.safe_text`.

These modules are imported by the app at start-up, so they import no core module that writes
(the preview and the map are passed in already computed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from vhdxray.tui.safe_text import plain, safe

if TYPE_CHECKING:
    from vhdxray.core.analysis.truncation import TruncationMap
    from vhdxray.core.write.replay import ReplayPreview

TITLE = "bold underline"
MAX_PAGES: Final = 200  # rows of the page table; the rest are counted

STATUS_STYLE: Final = {
    "pending": "bold yellow",
    "applied": "green",
    "superseded": "dim",
}


def _lines(lines: list[str] | tuple[str, ...], style: str = "") -> Table:
    """Lines with a hanging indent (wrapped text stays right of the margin)."""
    table = Table.grid(padding=(0, 0))
    table.add_column(overflow="fold")
    for line in lines:
        table.add_row(safe(line, style))
    return table


def replay_pages_table(preview: ReplayPreview, limit: int = MAX_PAGES) -> RenderableType:
    """Every descriptor of the active sequence and what replaying it would do now."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold", expand=False)
    for name in ("Entry", "Desc", "Kind", "File offset", "Length", "Status", "Note"):
        table.add_column(name, no_wrap=name != "Note")
    for page in preview.pages[:limit]:
        table.add_row(
            plain(str(page.entry_sequence_number)),
            plain(str(page.descriptor_index)),
            plain("data page" if page.kind == "data" else "zero range"),
            plain(f"0x{page.file_offset:x}"),
            plain(f"{page.length} bytes"),
            plain(page.status, STATUS_STYLE.get(page.status, "")),
            safe(page.note, "dim"),
        )
    parts: list[RenderableType] = [table]
    rest = len(preview.pages) - limit
    if rest > 0:
        parts.append(plain(f"... and {rest} more descriptor(s), not shown", "dim"))
    if preview.extend_to is not None:
        parts.append(
            plain(f"The file grows from {preview.file_size} to {preview.extend_to} bytes first.")
        )
    return Group(*parts)


def replay_preview_renderable(preview: ReplayPreview, *, hint: str | None = None) -> RenderableType:
    """The log view's replay section: the summary, the page table and how to start it."""
    parts: list[RenderableType] = [
        plain("Log replay preview: what a replay would write now", TITLE),
        _lines(preview.describe()),
        plain(
            "pending = will be written; applied = already holds the logged bytes; "
            "superseded = a later descriptor rewrites it",
            "dim",
        ),
        replay_pages_table(preview),
    ]
    if hint:
        parts += [Text(""), plain(hint, "bold")]
    return Group(*parts)


NO_BLOCK_LOST = "No payload block of the virtual disk lies past the end of the file."


def truncation_renderable(
    tmap: TruncationMap, *, hint: str | None = None, bat_unread: bool = False
) -> RenderableType:
    """The truncation map: lost virtual ranges and the size the file should have.

    ``bat_unread``: the BAT itself is not in the file, so "no block lost" cannot be said."""
    described = tmap.describe()[1:]
    if bat_unread:
        described = [
            "Which payload blocks are lost is unknown: the BAT (the list of blocks) is itself "
            "not in the file."
            if line == NO_BLOCK_LOST
            else line
            for line in described
        ]
    parts: list[RenderableType] = [
        plain("Truncation map: the file was cut short", TITLE),
        _lines(
            [
                f"File size now: {tmap.file_size} bytes; it should be at least "
                f"{tmap.expected_size} bytes ({tmap.missing_bytes} bytes missing).",
            ]
        ),
        _lines(described),
    ]
    if hint:
        parts += [Text(""), plain(hint, "dim")]
    return Group(*parts)


def locator_renderable(lines: list[str]) -> RenderableType:
    """``core.chain.describe_locator`` lines (paths come from the image: shown literally)."""
    return Group(plain("Parent link", TITLE), _lines(lines))


__all__ = [
    "locator_renderable",
    "replay_pages_table",
    "replay_preview_renderable",
    "truncation_renderable",
]
