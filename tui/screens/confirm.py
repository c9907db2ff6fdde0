"""The confirmation before any write: exactly what will be written, or why it will not be.

Generic over write actions: the app passes a :class:`Confirmation` built from the action's
plan. ``y`` confirms, ``n`` or Escape cancels. When the plan is refused (pending log, no
current header, image in use...) the screen says so and offers no way to confirm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from vhdxray.tui.safe_text import join, plain, safe


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What a confirmation dialog shows. All strings are shown literally."""

    title: str  # e.g. "Update headers"
    question: str  # e.g. "Write these two headers?"
    lines: tuple[str, ...] = ()  # the plan, one step per line
    backup: str | None = None  # where the backup of the overwritten bytes goes
    refusal: str | None = None  # set: the action will not run, and this says why
    notes: tuple[str, ...] = field(default=())  # extra hints (e.g. the CLI alternative)

    @property
    def refused(self) -> bool:
        return self.refusal is not None


def _indented(lines: tuple[str, ...] | list[str], style: str = "") -> Table:
    """Lines with a hanging indent, so wrapped text stays right of the margin."""
    table = Table.grid(padding=(0, 0))
    table.add_column(width=2, no_wrap=True)
    table.add_column(overflow="fold")
    for line in lines:
        table.add_row(plain(""), safe(line, style))
    return table


def confirmation_body(c: Confirmation) -> Group:
    parts: list[RenderableType] = []
    if c.refused:
        parts.append(plain("REFUSED: nothing will be written.", "bold red"))
        parts.append(plain("Why:", "bold"))
        parts.append(_indented([c.refusal or ""]))
        if c.lines:
            parts.append(plain(""))
            parts.append(plain("What would have been written:", "bold"))
            parts.append(_indented(c.lines, "dim"))
    else:
        parts.append(plain("vhdxray will write exactly this:", "bold"))
        parts.append(_indented(c.lines))
        if c.backup is not None:
            parts.append(plain(""))
            parts.append(plain("Backup of the bytes to be overwritten, written first:", "bold"))
            parts.append(_indented([c.backup]))
            parts.append(_indented(["(the name carries the UTC time of the write)"], "dim"))
    for note in c.notes:
        parts.append(plain(""))
        parts.append(safe(note, "italic"))
    return Group(*parts)


class ConfirmScreen(ModalScreen[bool]):
    """Ask before writing. Dismisses with True only when the user confirms an allowed plan."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes, write"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, confirmation: Confirmation) -> None:
        super().__init__()
        self.confirmation = confirmation

    def compose(self) -> ComposeResult:
        c = self.confirmation
        with Vertical(id="dialog", classes="-refused" if c.refused else "-ask"):
            yield Static(plain(c.title), id="dialog-title")
            with VerticalScroll(id="dialog-scroll"):
                yield Static(confirmation_body(c), id="dialog-body")
            if c.refused:
                yield Static(plain("Press n or Escape to close."), id="dialog-question")
                with Horizontal(id="dialog-buttons"):
                    yield Button("Close (Esc)", id="no")
            else:
                yield Static(
                    join(safe(c.question, "bold"), "  y = yes, write   n / Esc = cancel"),
                    id="dialog-question",
                )
                with Horizontal(id="dialog-buttons"):
                    yield Button("Yes, write (y)", id="yes", variant="error")
                    yield Button("No (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        refused = self.confirmation.refused
        return not (action == "answer" and parameters == (True,) and refused)

    def action_answer(self, answer: bool) -> None:
        self.dismiss(bool(answer) and not self.confirmation.refused)

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self.action_answer(True)

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.action_answer(False)
