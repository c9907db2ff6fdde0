"""The Export dialog (``e``): the output file's name and its format, checked before anything
is written (an existing name is refused in words, and the dialog stays open to change it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, RadioButton, RadioSet, Static

from vhdxray.core.write.export import RAW, VHDX
from vhdxray.tui.exportflow import default_output
from vhdxray.tui.safe_text import join, plain, safe
from vhdxray.tui.screens.dialogs import closed_early, closing, fit_dialog
from vhdxray.tui.widgets.richstatic import RichStatic

INTRO = (
    "Copies the virtual disk (what the guest sees) into a new file. The image is only read: a "
    "pending log is applied in memory, a differencing chain is merged, and bytes that cannot "
    "be read are zero-filled and listed."
)


@dataclass(frozen=True, slots=True)
class ExportRequest:
    output: Path
    fmt: str


class ExportScreen(ModalScreen[ExportRequest | None]):
    """Asks for the output file and the format; dismisses with an :class:`ExportRequest`
    (the name checked free) or None (Escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [*closing("escape", "close", "Cancel")]

    def __init__(self, image: Path, notes: Sequence[str] = ()) -> None:
        super().__init__()
        self.image = image
        self.notes = tuple(notes)
        self._default = default_output(image, RAW)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-ask"):
            yield RichStatic(plain("Export the virtual disk"), id="dialog-title")
            with VerticalScroll(id="dialog-scroll"):
                body: list[Text] = [plain(INTRO)]
                body += [join(("! ", "bold yellow"), safe(n)) for n in self.notes]
                yield RichStatic(Group(*body), id="dialog-body")
            yield RichStatic(plain("Output file (a new name; nothing is overwritten):", "bold"))
            yield Input(str(self._default), id="export-path")
            with RadioSet(id="export-format"):
                yield RadioButton("raw: byte for byte, sparse", value=True, id="format-raw")
                yield RadioButton("VHDX: a new, clean, compact dynamic image", id="format-vhdx")
            yield RichStatic(id="export-problem", classes="-empty")
            yield RichStatic(
                plain("Enter: export   Tab: the format   Esc: cancel (nothing is written)"),
                id="dialog-question",
            )
            with Horizontal(id="dialog-buttons"):
                yield Button("Export (Enter)", id="yes", variant="warning")
                yield Button("Cancel (Esc)", id="no", variant="primary")

    def on_mount(self) -> None:
        if closed_early(self):
            return
        field = self.query_one("#export-path", Input)
        field.focus()
        field.cursor_position = len(field.value)
        self.call_after_refresh(fit_dialog, self)

    def on_resize(self) -> None:
        self.call_after_refresh(fit_dialog, self)

    @property
    def fmt(self) -> str:
        return VHDX if self.query_one("#format-vhdx", RadioButton).value else RAW

    @on(RadioSet.Changed)
    def _format_changed(self) -> None:
        """The default name follows the format (a name the user typed stays)."""
        field = self.query_one("#export-path", Input)
        if field.value == str(self._default):
            self._default = default_output(self.image, self.fmt)
            field.value = str(self._default)
        self._problem(None)
        field.focus()  # Enter exports from here

    def _problem(self, text: str | None) -> None:
        problem = self.query_one("#export-problem", Static)
        problem.set_class(text is None, "-empty")
        problem.update(join(("✗ ", "bold red"), safe(text, "bold red")) if text else "")
        self.call_after_refresh(fit_dialog, self)

    def _submit(self) -> None:
        from vhdxray.core.write.export import ExportRefused, check_output

        value = self.query_one("#export-path", Input).value.strip()
        if not value:
            self._problem("Give the new file a name.")
            return
        output = Path(value).expanduser()
        try:
            check_output(output)
        except ExportRefused as exc:
            words = {
                "output_exists": f"{output} already exists: export never overwrites a file. "
                "Choose another name.",
            }
            self._problem(words.get(exc.code, exc.reason))
            return
        self.dismiss(ExportRequest(output, self.fmt))

    @on(Input.Submitted, "#export-path")
    def _entered(self) -> None:
        self._submit()

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self._submit()

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


__all__ = ["ExportRequest", "ExportScreen"]
