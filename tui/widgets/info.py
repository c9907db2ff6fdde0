"""The top of the main screen: what the file is, and one plain-words verdict."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from vhdxray.core.analysis.reader import Report
from vhdxray.core.analysis.verdict import Verdict
from vhdxray.tui.safe_text import join, plain, safe
from vhdxray.tui.textreport import size_text

LEVEL_WORDS = {
    "ok": ("OK", "bold green"),
    "warning": ("WARNING", "bold yellow"),
    "error": ("ERROR", "bold red"),
    "not_vhdx": ("NOT VHDX", "bold red"),
}


def verdict_text(v: Verdict) -> Text:
    word, style = LEVEL_WORDS.get(v.level, (v.level.upper(), "bold"))
    return join((f"{word}  ", style), safe(v.headline))


def info_renderable(report: Report, name: str, v: Verdict) -> RenderableType:
    meta = report.metadata
    grid = Table.grid(padding=(0, 2), expand=True)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(ratio=3, overflow="fold")
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(ratio=2, overflow="fold")
    creator = report.creator
    grid.add_row(
        plain("File"),
        safe(name),
        plain("Disk type"),
        plain(report.disk_type or "unknown"),
    )
    grid.add_row(
        plain("Size"),
        plain(size_text(report.file_size)),
        plain("Virtual size"),
        plain(size_text(None if meta is None else meta.virtual_size)),
    )
    grid.add_row(
        plain("Creator"),
        safe(creator) if creator else plain("(empty)", "dim"),
        plain("Block size"),
        plain(size_text(None if meta is None else meta.block_size)),
    )
    return Group(grid, Text(""), verdict_text(v))


class InfoBar(Static):
    """File facts and the verdict; its class follows the verdict level (for the border)."""

    def show(self, report: Report, name: str, v: Verdict) -> None:
        for level in LEVEL_WORDS:
            self.set_class(v.level == level, f"-{level}")
        self.update(info_renderable(report, name, v))
