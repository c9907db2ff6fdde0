"""The main screen: file facts and verdict on top, the views in tabs, a status line, the Footer."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane

from vhdxray.core.reader import Report
from vhdxray.core.verdict import Verdict
from vhdxray.tui.safe_text import plain
from vhdxray.tui.widgets.headers import HeadersView
from vhdxray.tui.widgets.hexview import hex_renderable
from vhdxray.tui.widgets.info import InfoBar
from vhdxray.tui.widgets.sections import (
    SectionView,
    bat_renderable,
    findings_renderable,
    log_renderable,
    metadata_renderable,
    regions_renderable,
)

# (tab id, title, key)
VIEWS: tuple[tuple[str, str, str], ...] = (
    ("headers", "Headers", "1"),
    ("regions", "Region tables", "2"),
    ("metadata", "Metadata", "3"),
    ("log", "Log", "4"),
    ("bat", "BAT", "5"),
    ("findings", "Findings", "6"),
    ("hex", "Hex", "7"),
)

SECTIONS = {
    "regions": regions_renderable,
    "metadata": metadata_renderable,
    "log": log_renderable,
    "bat": bat_renderable,
    "findings": findings_renderable,
    "hex": hex_renderable,
}


class MainScreen(Screen[None]):
    """Everything about one VHDX image."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(key, f"view('{view}')", title, show=False, id=f"view-{view}")
        for view, title, key in VIEWS
    ]

    def __init__(self, report: Report, name: str, v: Verdict, *, read_only: bool = False) -> None:
        super().__init__()
        self._initial = (report, name, v)
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        yield InfoBar(id="info")
        with TabbedContent(initial="tab-headers", id="views"):
            for view, title, key in VIEWS:
                with TabPane(f"{key} {title}", id=f"tab-{view}"):
                    if view == "headers":
                        yield HeadersView(id="headers-view")
                    else:
                        yield SectionView(SECTIONS[view], id=f"view-{view}")
        yield Static(id="status", classes="-empty")
        yield Footer()

    def on_mount(self) -> None:
        if self.read_only:
            self.query_one(InfoBar).border_title = plain("read-only: write actions are hidden")
        self.show(*self._initial)

    def show(self, report: Report, name: str, v: Verdict) -> None:
        """Fill every view from ``report``."""
        self.query_one(InfoBar).show(report, name, v)
        self.query_one(HeadersView).show(report)
        for section in self.query(SectionView):
            section.show(report)
        findings_tab = self.query_one(TabbedContent).get_tab("tab-findings")
        errors = len(report.errors)
        findings_tab.label = (
            f"6 Findings ({len(report.findings)})"
            if not errors
            else (f"6 Findings ({errors} error{'s' if errors != 1 else ''})")
        )

    def set_status(self, text: Text | None, kind: str = "") -> None:
        """The line above the Footer: busy, done (with the backup path) or empty."""
        status = self.query_one("#status", Static)
        for k in ("busy", "done", "error"):
            status.set_class(kind == k, f"-{k}")
        status.set_class(text is None, "-empty")
        status.update(text if text is not None else "")

    def set_busy(self, busy: bool) -> None:
        self.query_one(HeadersView).loading = busy

    def action_view(self, view: str) -> None:
        self.query_one(TabbedContent).active = f"tab-{view}"
