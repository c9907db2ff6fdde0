"""The screen shown instead of the header view when the file is not a usable VHDX.

Not a VHDX (a VHD, qcow2, raw disk...), empty, unreadable, or cut short inside the 1 MiB
header section: say what the file is, what a VHDX would have, and what is missing. Never a
traceback. A truncated VHDX can still be opened in the header view (Enter).
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen

from vhdxray.core.analysis.reader import NOT_REGULAR, Report
from vhdxray.tui.outcome import app_text
from vhdxray.tui.safe_text import join, plain, safe
from vhdxray.tui.textreport import size_text
from vhdxray.tui.widgets.keysfooter import REPORT_EXTRAS, KeysFooter
from vhdxray.tui.widgets.richstatic import RichStatic

VHDX_SHAPE = (
    "A VHDX file starts with the signature 'vhdxfile' at offset 0, has header slots "
    "signed 'head' at 64 KiB and 128 KiB, region tables signed 'regi' at 192 KiB and "
    "256 KiB, and is at least 1 MiB long."
)


def _present(flag: bool, good: str, bad: str) -> Text:
    return plain("✓ " + good, "green") if flag else plain("✗ " + bad, "bold red")


def explanation(report: Report, name: str) -> tuple[str, RenderableType]:
    """(title, body) for ``report``."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column()
    facts.add_row(plain("File"), safe(name))
    if report.kind not in ("unreadable", NOT_REGULAR):
        facts.add_row(plain("Size"), plain(size_text(report.file_size)))
    facts.add_row(plain("What it is"), safe(report.description))
    parts: list[RenderableType] = [facts, Text("")]

    if report.kind == NOT_REGULAR:
        title = "This is not a regular file"
        parts.append(
            plain(
                "A directory, a named pipe (FIFO), a socket or a device is never opened, so "
                "nothing here can hang or change it. Name the .vhdx file itself."
            )
        )
    elif report.kind == "unreadable":
        title = "The file cannot be read"
        parts.append(
            plain(
                "vhdxray could not open or read the file. Check the path and that you may read "
                "it (a disk image owned by root may need sudo; a file on a failing disk may "
                "need to be copied with ddrescue first)."
            )
        )
    elif report.kind == "empty":
        title = "The file is empty"
        parts.append(plain(VHDX_SHAPE))
        parts.append(Text(""))
        parts.append(
            plain(
                "This file has 0 bytes: everything is missing. It was probably created but "
                "never written, or its contents were lost. There is nothing to repair."
            )
        )
    elif not report.is_vhdx:
        title = "This is not a VHDX image"
        parts.append(plain(VHDX_SHAPE))
        parts.append(Text(""))
        parts.append(
            plain(
                "None of these signatures is in this file, so vhdxray does not treat it as a "
                "VHDX and will not offer to change it."
            )
        )
    else:
        title = "The VHDX file is cut short"
        parts.append(plain(VHDX_SHAPE))
        parts.append(Text(""))
        parts.append(
            plain(
                f"This file ends after {report.file_size} bytes, inside the 1 MiB header "
                "section. What is there:",
                "bold",
            )
        )
        checks = Table.grid(padding=(0, 2))
        checks.add_column(no_wrap=True)
        checks.add_column()
        ident = report.identifier
        checks.add_row(
            plain("File identifier @ 0x0"),
            _present(ident is not None and ident.signature_ok, "vhdxfile", "signature missing"),
        )
        for h in report.headers or ():
            if not h.present:
                state = _present(False, "", "missing (the file ends before it)")
            elif h.valid:
                state = _present(True, "valid", "")
            else:
                state = _present(False, "", "invalid: " + "; ".join(h.invalid_reasons()))
            checks.add_row(plain(f"Header slot {h.slot} @ 0x{h.offset:x}"), state)
        for t in report.region_tables or ():
            state = (
                _present(True, "valid", "")
                if t.valid
                else _present(False, "", "; ".join(t.problems) or "invalid")
            )
            checks.add_row(plain(f"Region table {t.slot} @ 0x{t.offset:x}"), state)
        parts.append(checks)
        parts.append(Text(""))
        parts.append(
            plain(
                "The metadata, log, BAT and data that follow the header section are missing. "
                f"A copy cut at {size_text(report.file_size)} cannot be repaired by rewriting "
                "headers: find the complete file (or the rest of it) first."
            )
        )
    errors = [f for f in report.findings if f.severity.value == "error"]
    if errors and report.is_vhdx:
        parts.append(Text(""))
        parts.append(plain("Findings", "bold underline"))
        for f in errors:
            parts.append(
                join(
                    plain("ERROR ", "bold red"),
                    safe(f.code + ": " + app_text(f.message, f.suggest)),
                )
            )
    return title, Group(*parts)


class ExplainScreen(Screen[None]):
    shows_report: ClassVar[bool] = True  # the app's report_screen (not imported at start-up)
    """What the file is and what is missing, instead of the header view."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_anyway", "Show the headers anyway")
    ]

    def __init__(self, report: Report, name: str) -> None:
        super().__init__()
        self.report = report
        self.display_name = name

    def compose(self) -> ComposeResult:
        title, body = explanation(self.report, self.display_name)
        with Vertical(id="explain"):
            yield RichStatic(plain(title), id="explain-title")
            with VerticalScroll(id="explain-scroll"):
                yield RichStatic(body, id="explain-body")
        yield KeysFooter(REPORT_EXTRAS)

    class OpenAnyway(Message):
        """The user asked for the header view of a truncated VHDX (handled by the app)."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_anyway":
            return self.report.is_vhdx and self.report.headers is not None
        return True

    def action_open_anyway(self) -> None:
        self.post_message(self.OpenAnyway())
