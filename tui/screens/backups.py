"""The Backups view (``b``): this image's backup files, newest first; Enter restores one.

Restoring goes through the app's write flow: the chosen backup is checked against the image
(:func:`vhdxray.core.write.restore.plan_restore`), a confirmation shows what will be put back
(or why not), and the restore runs in a worker with its own backup (a restore can be undone).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from vhdxray.tui.backuplist import BackupEntry
from vhdxray.tui.safe_text import join, plain, safe
from vhdxray.tui.screens.dialogs import closed_early, closing, fit_dialog
from vhdxray.tui.screens.progress import amount
from vhdxray.tui.widgets.richstatic import RichStatic

# The operation names of core's backups, in plain words.
OPERATION_WORDS = {
    "update-headers": "header update",
    "replay-headers": "log replay: first header update",
    "log-replay": "log replay: the logged pages",
    "replay-clear-log-guid": "log replay: LogGuid cleared",
    "clear-log-guid": "stale LogGuid cleared",
    "region-table-headers": "region table repair: header update",
    "region-table": "region table rewritten",
    "restore": "a restore",
}


def operation_words(operation: str) -> str:
    base = operation.rstrip("0123456789").rstrip("-") if operation[-1:].isdigit() else operation
    return OPERATION_WORDS.get(base, base.replace("-", " "))


def entry_text(e: BackupEntry) -> Text:
    return join(
        (e.when, "bold"),
        "  ",
        safe(operation_words(e.operation)),
        ("  " + amount(e.size, "bytes"), "dim"),
    )


class BackupsScreen(ModalScreen[Path | None]):
    """Lists backups; dismisses with the chosen backup's path (Enter), or None (Escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [*closing("escape,b,q", "close", "Close")]

    def __init__(self, entries: list[BackupEntry], image_name: str, read_only: bool) -> None:
        super().__init__()
        self.entries = entries
        self.image_name = image_name
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-menu"):
            yield RichStatic(plain("Backups of this image"), id="dialog-title")
            if not self.entries:
                yield RichStatic(
                    join(
                        "No backup of ",
                        safe(self.image_name),
                        " is beside it: vhdxray has not written to it (or its backups were moved).",
                    ),
                    id="menu-intro",
                )
            else:
                intro = Table.grid()
                intro.add_column()
                intro.add_row(
                    plain(
                        "Each file holds the bytes one write replaced, newest first. Restoring "
                        "puts them back (after a check that the image still holds what that "
                        "write left, and a confirmation); restore newer ones first."
                    )
                )
                yield RichStatic(intro, id="menu-intro")
                yield OptionList(
                    *(Option(entry_text(e), id=str(n)) for n, e in enumerate(self.entries)),
                    id="menu-list",
                )
            keys = (
                "Esc: close"
                if self.read_only or not self.entries
                else "Enter: restore   Esc: close"
            )
            yield RichStatic(plain(keys), id="dialog-question")

    def on_resize(self) -> None:
        self.call_after_refresh(fit_dialog, self, "#menu-list")

    def on_mount(self) -> None:
        if closed_early(self):
            return
        self.call_after_refresh(fit_dialog, self, "#menu-list")
        if self.entries:
            self.query_one(OptionList).focus()

    def action_close(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.read_only:
            return
        self.dismiss(self.entries[int(event.option.id or 0)].path)


__all__ = ["BackupsScreen", "entry_text", "operation_words"]
