"""The top of the main screen: what the file is, and one plain-words verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import events

from vhdxray.core.analysis.reader import Report
from vhdxray.core.analysis.verdict import Verdict
from vhdxray.tui.chainstatus import ParentStatus
from vhdxray.tui.headline import Headline, headline, with_guest
from vhdxray.tui.outcome import app_text
from vhdxray.tui.safe_text import join, plain, safe
from vhdxray.tui.sizes import natural_size
from vhdxray.tui.textreport import size_text
from vhdxray.tui.widgets.grid import WidthChoice
from vhdxray.tui.widgets.richstatic import RichStatic

if TYPE_CHECKING:
    from vhdxray.core.analysis.guest.triage import GuestReport

LEVEL_WORDS = {
    "ok": ("OK", "bold green"),
    "warning": ("WARNING", "bold yellow"),
    "error": ("ERROR", "bold red"),
    "not_vhdx": ("NOT VHDX", "bold red"),
}


COMPACT_WIDTH = 100  # below this the facts fit in two short lines


def verdict_text(v: Verdict | Headline) -> Text:
    word, style = LEVEL_WORDS.get(v.level, (v.level.upper(), "bold"))
    text = v.text if isinstance(v, Headline) else app_text(v.headline, v.suggest)
    return join((f"{word}  ", style), safe(text))


def short_size(value: int | None) -> str:
    return "unknown" if value is None else natural_size(value)


def compact_renderable(report: Report, name: str, h: Headline) -> RenderableType:
    """Two lines of facts (no byte counts) and the headline: for 80-column terminals. The
    creator is never cut: it ends the second line where it fits there, else the first, else
    it takes a line of its own (wrapped as long as it is)."""
    meta = report.metadata
    virtual = None if meta is None else meta.virtual_size
    block = None if meta is None else meta.block_size
    line1 = join(("File ", "bold"), safe(name), " · ", (report.disk_type or "unknown", "bold"))
    line2 = join(
        ("Size ", "bold"),
        short_size(report.file_size),
        " · ",
        ("Virtual ", "bold"),
        short_size(virtual),
        " · ",
        ("Block ", "bold"),
        short_size(block),
    )
    creator = join(
        ("Creator ", "bold"),
        safe(report.creator) if report.creator else plain("(empty)", "dim"),
    )
    with_creator = [join(line, " · ", creator) for line in (line1, line2)]
    for line in (line1, line2, *with_creator):
        line.no_wrap = True
        line.overflow = "ellipsis"  # the file's name, only where it is longer than the line
    creator.overflow = "fold"
    facts = WidthChoice(
        Group(line1, with_creator[1]),
        WidthChoice(
            Group(with_creator[0], line2),
            Group(line1, line2, creator),
            probe=with_creator[0],
        ),
        probe=with_creator[1],
    )
    return Group(facts, verdict_text(h))


def info_renderable(report: Report, name: str, v: Verdict | Headline) -> RenderableType:
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


class InfoBar(RichStatic):
    """File facts and the headline; its class follows the level (for the border). Below
    :data:`COMPACT_WIDTH` columns the facts take two lines instead of four."""

    _shown: tuple[Report, str, Headline] | None = None
    _container: Headline | None = None  # the headline before the guest was looked at
    _compact: bool | None = None  # the layout of the facts shown (None: nothing shown yet)

    def show(
        self,
        report: Report,
        name: str,
        v: Verdict,
        parent: ParentStatus | None = None,
        *,
        writable: bool = True,
    ) -> None:
        h = headline(
            report,
            v,
            parent.sentence if parent is not None else "",
            parent is not None and parent.bad,
            writable=writable,
        )
        self._container = h
        self._set_headline(report, name, h)

    def show_guest(self, guest: GuestReport | None) -> None:
        """Name the guest layer in the headline (guest triage has finished)."""
        if self._shown is None or self._container is None:
            return
        report, name, _h = self._shown
        self._set_headline(report, name, with_guest(self._container, guest, name))

    @property
    def headline(self) -> Headline | None:
        return None if self._shown is None else self._shown[2]

    def _set_headline(self, report: Report, name: str, h: Headline) -> None:
        for level in LEVEL_WORDS:
            self.set_class(h.level == level, f"-{level}")
        self._shown = (report, name, h)
        self._render_shown(self.app.size.width)

    def _render_shown(self, width: int) -> None:
        if self._shown is None:
            return
        report, name, h = self._shown
        self._compact = width < COMPACT_WIDTH
        if self._compact:
            self.update(compact_renderable(report, name, h))
        else:
            self.update(info_renderable(report, name, h))

    def on_resize(self, event: events.Resize) -> None:
        # Both layouts fit any width of their range by themselves: only crossing
        # COMPACT_WIDTH changes what is shown.
        if (self.app.size.width < COMPACT_WIDTH) != self._compact:
            self._render_shown(self.app.size.width)
