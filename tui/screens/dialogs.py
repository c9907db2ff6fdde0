"""Small modal dialogs: the error dialog (a write was refused or failed) and the help screen."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.widgets import Button

from vhdxray.tui.safe_text import plain
from vhdxray.tui.widgets.richstatic import RichStatic


def closing(
    keys: str,
    action: str,
    description: str = "",
    *,
    show: bool = True,
    binding_id: str | None = None,
) -> tuple[Binding, Binding]:
    """A screen's closing (or answering) keys, bound twice.

    As a priority binding the key acts as it is read, so the screen is gone before the next
    key is routed and that key reaches the screen below. (A plain binding acts only once the
    key has bubbled up from the focused widget; a key typed right after it, n then q, was
    routed into the closing screen and lost.) As a plain binding it still acts when it was
    read before the screen opened and bubbles up to it (? then Escape, typed ahead)."""
    return (
        Binding(keys, action, description, show=show, id=binding_id, priority=True),
        Binding(keys, action, description, show=False),
    )


# A dialog's text scrolls with these keys while the focus is on one of its buttons (which do
# not use them); a focused scroll area handles them itself first.
SCROLL_BODY: tuple[Binding, ...] = tuple(
    Binding(key, f"scroll_body('{how}')", show=False)
    for key, how in (
        ("up", "up"),
        ("down", "down"),
        ("pageup", "page_up"),
        ("pagedown", "page_down"),
        ("home", "home"),
        ("end", "end"),
    )
)


def scroll_body(screen: Screen[Any], how: str) -> None:
    """Scroll the dialog's ``#dialog-scroll`` (``how``: up, down, page_up, page_down, home,
    end), without animation."""
    try:
        body = screen.query_one("#dialog-scroll", VerticalScroll)
    except NoMatches:
        return
    getattr(body, f"scroll_{how}")(animate=False)


def closed_early(screen: Screen[Any]) -> bool:
    """The screen was closed before its ``on_mount`` ran: a closing key (see :func:`closing`)
    typed ahead can close a screen that is still being mounted."""
    return screen not in screen.app.screen_stack


class MessageScreen(ModalScreen[None]):
    """A titled message; Escape, Enter or q closes it. ``body`` must already be safe (Text)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *closing("escape,enter,q", "close", "Close"),
        *SCROLL_BODY,
    ]

    def __init__(self, title: str, body: RenderableType, *, kind: str = "info") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.kind = kind

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes=f"-{self.kind}"):
            yield RichStatic(plain(self.title_text), id="dialog-title")
            with VerticalScroll(id="dialog-scroll"):
                yield RichStatic(self.body, id="dialog-body")
            with Horizontal(id="dialog-buttons"):
                yield Button("Close (Esc)", id="close", variant="primary")

    def on_mount(self) -> None:
        if closed_early(self):
            return
        self.query_one("#close", Button).focus()
        self.call_after_refresh(fit_dialog, self)

    def on_resize(self) -> None:
        self.call_after_refresh(fit_dialog, self)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll_body(self, how: str) -> None:
        scroll_body(self, how)

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)


class ErrorScreen(MessageScreen):
    """A write was refused or failed; the body says what happened and what to do."""

    def __init__(self, title: str, body: RenderableType) -> None:
        super().__init__(title, body, kind="error")


HELP_KEYS: tuple[tuple[str, str], ...] = (
    ("u", "update headers: the MS-VHDX double update, after a confirmation"),
    ("R", "repair…: every repair this image needs, each with its own confirmation"),
    ("l", "replay the pending log (shown when a replay is pending; c in its dialog: into a copy)"),
    ("Enter", "in the findings view (6): the repair of the selected finding"),
    ("r", "reload the image from disk"),
    ("e", "export the virtual disk into a new raw or VHDX file (the image is only read)"),
    ("o", "open another image or a folder (f); O: open the copy a repair or export made"),
    ("b", "backups of this image, newest first; Enter restores one (after a confirmation)"),
    ("Esc / c", "while long work runs: cancel it at the next safe step"),
    (
        "1..8",
        "views: headers, regions, metadata, log, BAT, findings, hex, chain (a child's parent)",
    ),
    ("T", "theme: Textual's colour themes"),
    ("tab", "move the focus (the focused view has a bar on its left; arrows scroll it)"),
    ("ctrl+p", "command palette: every action by name"),
    ("?", "this help"),
    ("q", "quit (nothing is written unless you confirmed an action)"),
)

WRITE_KEYS = frozenset({"u", "R", "l", "Enter"})

HELP_MARKS: tuple[tuple[str, str], ...] = (
    ("heavy border, ★ CURRENT", "the header slot whose fields describe the file"),
    ("≠", "a field (or hex row) that differs between the two slots"),
    ("✗ INVALID", "the slot fails its signature or checksum; the reason follows"),
    ("OK / WARNING / ERROR", "the verdict level at the top"),
)


def help_body(read_only: bool) -> RenderableType:
    keys = Table.grid(padding=(0, 2))
    keys.add_column(style="bold", no_wrap=True)
    keys.add_column()
    for key, what in HELP_KEYS:
        if read_only and key in WRITE_KEYS:
            continue
        keys.add_row(plain(key), plain(what))
    marks = Table.grid(padding=(0, 2))
    marks.add_column(style="bold", no_wrap=True)
    marks.add_column()
    for mark, what in HELP_MARKS:
        marks.add_row(plain(mark), plain(what))
    parts: list[RenderableType] = [
        plain("Keys", "bold underline"),
        keys,
        Text(""),
        plain("Marks", "bold underline"),
        marks,
        Text(""),
        plain(
            "Opening an image never writes to it. Every write first saves the bytes it "
            "replaces in a backup file beside the image; the Backups view (b) puts them "
            "back."
        ),
    ]
    if read_only:
        parts.append(plain("Read-only mode: write actions are hidden.", "bold"))
    return Group(*parts)


class HelpScreen(MessageScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        *closing("escape,enter,q,question_mark", "close", "Close"),
        *SCROLL_BODY,
    ]

    def __init__(self, read_only: bool) -> None:
        super().__init__("vhdxray help", help_body(read_only), kind="info")


def fit_dialog(screen: Screen[Any], body: str = "#dialog-scroll") -> None:
    """Give the dialog's ``body`` the rows left after its other parts (title, question,
    buttons), so a long body scrolls while the question and the answers stay on screen."""
    try:
        dialog = screen.query_one("#dialog")
        scroll = screen.query_one(body)
    except NoMatches:
        return
    others = sum(child.outer_size.height for child in dialog.children if child is not scroll)
    frame = dialog.styles.gutter.height  # border and padding
    available = screen.size.height - frame - others
    if scroll.styles.max_height is None and scroll.outer_size.height <= max(3, available):
        return  # it fits as it is: a limit would change nothing but cost a layout of the dialog
    scroll.styles.max_height = max(3, available)
