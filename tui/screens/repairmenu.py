"""The Repair… menu (``R``): every repair the image needs, in the order they should run, and
what will not be repaired and why. Choosing one opens its own confirmation; the menu never
writes.
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList
from textual.widgets.option_list import Option

from vhdxray.tui.repairs import MenuItem
from vhdxray.tui.safe_text import join, plain, safe
from vhdxray.tui.screens.dialogs import closed_early, closing, fit_dialog
from vhdxray.tui.widgets.richstatic import RichStatic

STATE_MARK = {
    "repair": ("⚒", "bold green"),
    "choice": ("?", "bold yellow"),
    "refused": ("✗", "bold red"),
}
STATE_WORD = {
    "repair": "",
    "choice": "a choice is needed first",
    "refused": "not repaired",
}


def item_prompt(n: int, item: MenuItem) -> RenderableType:
    mark, style = STATE_MARK.get(item.state, ("·", ""))
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(width=2, no_wrap=True, justify="right")
    table.add_column(width=1, no_wrap=True)
    table.add_column(ratio=1, overflow="fold")
    word = STATE_WORD.get(item.state, "")
    title = join(safe(item.title, "bold"), (f"  ({word})", "dim") if word else "")
    table.add_row(plain(str(n) if n < 10 else ""), plain(mark, style), title)
    for line in item.lines:
        table.add_row(plain(""), plain(""), safe(line, "dim"))
    return table


class RepairMenuScreen(ModalScreen[str | None]):
    """Dismisses with the chosen item's action id, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *closing("escape,n,q", "close", "Close"),
        *(b for n in range(1, 10) for b in closing(str(n), f"pick({n})", show=False)),
    ]

    def __init__(self, items: list[MenuItem], notes: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.items = items
        self.notes = notes

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-menu"):
            yield RichStatic(plain("Repair…"), id="dialog-title")
            if self.items:
                yield RichStatic(
                    plain(
                        "The repairs this image needs, in the order they should run. Each one "
                        "opens its own confirmation: nothing is written before you press y there.",
                    ),
                    id="menu-intro",
                )
                yield OptionList(
                    *(
                        Option(item_prompt(n, item), id=f"item-{n}")
                        for n, item in enumerate(self.items, 1)
                    ),
                    id="menu-list",
                )
            else:
                yield RichStatic(
                    plain("Nothing to repair: no finding of this image has a repair.", "bold"),
                    id="menu-intro",
                )
            if self.notes:
                yield RichStatic(
                    Group(*(join(("Note: ", "bold"), safe(note)) for note in self.notes)),
                    id="menu-notes",
                )
            yield RichStatic(
                plain(
                    "↑/↓ and Enter, or the number: open it   Esc = close"
                    if self.items
                    else "Esc = close"
                ),
                id="dialog-question",
            )
            with Horizontal(id="dialog-buttons"):
                yield Button("Close (Esc)", id="close", variant="primary")

    def on_resize(self) -> None:
        self.call_after_refresh(fit_dialog, self, "#menu-list")

    def on_mount(self) -> None:
        if closed_early(self):
            return
        self.call_after_refresh(fit_dialog, self, "#menu-list")
        if self.items:
            listing = self.query_one("#menu-list", OptionList)
            listing.highlighted = 0
            listing.focus()
        else:
            self.query_one("#close", Button).focus()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_pick(self, n: int) -> None:
        if 1 <= n <= len(self.items):
            self.dismiss(self.items[n - 1].action)

    @on(OptionList.OptionSelected, "#menu-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_pick(event.option_index + 1)

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)
