"""The confirmation before any write: exactly what will be written, or why it will not be.

Generic over write actions: the app passes a :class:`Confirmation` built from the action's
plan. ``y`` confirms, ``n`` or Escape cancels. When the plan is refused (pending log, no
current header, image in use...) the screen says so and offers no way to confirm.

Some dialogs offer other keys (:class:`Offer`): a choice the plan needs first (``1``/``2``:
which header slot, which region-table copy, each with its consequences), or another action
("replay into a copy instead", "replay the log first"). Pressing one closes the dialog with
that offer; the app then shows the next confirmation. An offer never writes by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button

from vhdxray.tui.safe_text import join, plain, safe
from vhdxray.tui.screens.dialogs import SCROLL_BODY, closed_early, closing, fit_dialog, scroll_body
from vhdxray.tui.widgets.richstatic import RichStatic


@dataclass(frozen=True, slots=True)
class Offer:
    """Another key in a dialog: it leads to the next dialog, never straight to a write."""

    key: str  # "1", "2", "c", "l"...
    button: str  # short button text, our own words (never image data)
    label: str  # what it leads to; may hold image data (shown literally)
    action: str  # the write action the app asks about next
    options: tuple[tuple[str, int | str], ...] = ()  # e.g. (("region_table_from", 2),)
    lines: tuple[str, ...] = ()  # its consequences, shown under the label
    ask_path: str | None = None  # the option whose value (a path) the user types first


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What a confirmation dialog shows. All strings are shown literally."""

    title: str  # e.g. "Update headers"
    question: str  # e.g. "Write these two headers?"
    lines: tuple[str, ...] = ()  # the plan, one step per line
    backup: str | None = None  # where the backup of the overwritten bytes goes
    refusal: str | None = None  # set: the action will not run, and this says why
    notes: tuple[str, ...] = field(default=())  # extra hints (e.g. the CLI alternative)
    backups: tuple[str, ...] = ()  # several backup files, one per step, in order
    details: tuple[RenderableType, ...] = ()  # e.g. the log replay's page-by-page preview
    offers: tuple[Offer, ...] = ()  # other keys (see Offer)
    choice_needed: bool = False  # with ``refusal``: nothing is written until a choice is made
    details_at: int | None = None  # show ``details`` after this many lines (None: after all)

    @property
    def refused(self) -> bool:
        return self.refusal is not None


def hanging(lines: tuple[str, ...] | list[str], style: str = "", indent: int = 2) -> Table:
    """Lines (image data allowed) indented, so wrapped text stays right of the margin."""
    table = Table.grid(padding=(0, 0))
    table.add_column(width=indent, no_wrap=True)
    table.add_column(overflow="fold")
    for line in lines:
        table.add_row(plain(""), safe(line, style))
    return table


def _offers_table(offers: tuple[Offer, ...]) -> Table:
    """Each offer: its key, what it leads to, and its consequences below."""
    table = Table.grid(padding=(0, 1))
    table.add_column(width=3, no_wrap=True, justify="right")
    table.add_column(overflow="fold")
    for offer in offers:
        table.add_row(plain(offer.key, "bold reverse"), safe(offer.label, "bold"))
        if offer.lines:
            table.add_row(plain(""), hanging(offer.lines))
    return table


def confirmation_body(c: Confirmation) -> Group:
    parts: list[RenderableType] = []
    if c.choice_needed:
        parts.append(
            plain("A CHOICE IS NEEDED: nothing is written until you choose and confirm.", "bold")
        )
        parts.append(plain("Why:", "bold"))
        parts.append(hanging([c.refusal or ""]))
        if c.lines:
            parts.append(plain(""))
            parts.append(plain("As the file is now:", "bold"))
            parts.append(hanging(c.lines))
        for detail in c.details:
            parts += [plain(""), detail]
        if c.offers:
            parts.append(plain(""))
            parts.append(plain("Choose (the full plan and a confirmation follow):", "bold"))
            parts.append(_offers_table(c.offers))
    elif c.refused:
        parts.append(plain("REFUSED: nothing will be written.", "bold red"))
        parts.append(plain("Why:", "bold"))
        parts.append(hanging([c.refusal or ""]))
        if c.lines:
            parts.append(plain(""))
            parts.append(plain("What would have been written:", "bold"))
            parts.append(hanging(c.lines, "dim"))
        for detail in c.details:
            parts += [plain(""), detail]
    else:
        parts.append(plain("vhdxray will write exactly this:", "bold"))
        at = len(c.lines) if c.details_at is None else c.details_at
        if c.lines[:at]:
            parts.append(hanging(c.lines[:at]))
        for detail in c.details:
            parts += [plain(""), detail, plain("")] if at < len(c.lines) else [plain(""), detail]
        if c.lines[at:]:
            parts.append(hanging(c.lines[at:]))
        if c.backup is not None:
            parts.append(plain(""))
            parts.append(plain("Backup of the bytes to be overwritten, written first:", "bold"))
            parts.append(hanging([c.backup]))
            parts.append(hanging(["(the name carries the UTC time of the write)"], "dim"))
        if c.backups:
            parts.append(plain(""))
            parts.append(
                plain(
                    "Backups of the bytes to be overwritten, one file per step, each written "
                    "before its step:",
                    "bold",
                )
            )
            parts.append(hanging(list(c.backups)))
            parts.append(hanging(["(the names carry the UTC time of each step's write)"], "dim"))
    for note in c.notes:
        parts.append(plain(""))
        parts.append(safe(note, "italic"))
    if c.offers and not c.choice_needed:
        parts.append(plain(""))
        parts.append(plain("Or instead:", "bold"))
        parts.append(_offers_table(c.offers))
    return Group(*parts)


def _offer_keys(offers: tuple[Offer, ...]) -> str:
    return "   ".join(f"{o.key} = {o.button.lower()}" for o in offers)


class ConfirmScreen(ModalScreen[bool | Offer]):
    """Ask before writing. Dismisses with True only when the user confirms an allowed plan,
    with an :class:`Offer` when one of the offered keys is pressed, else False."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *closing("y", "answer(True)", "Yes, write"),
        *closing("n,escape", "answer(False)", "No"),
        *SCROLL_BODY,
    ]

    def __init__(self, confirmation: Confirmation) -> None:
        super().__init__()
        self.confirmation = confirmation
        for n, offer in enumerate(confirmation.offers):  # bound as closing() binds
            self._bindings.bind(offer.key, f"offer({n})", show=False, priority=True)
            self._bindings.bind(offer.key, f"offer({n})", show=False)

    def compose(self) -> ComposeResult:
        c = self.confirmation
        kind = "-choose" if c.choice_needed else "-refused" if c.refused else "-ask"
        with Vertical(id="dialog", classes=kind):
            yield RichStatic(plain(c.title), id="dialog-title")
            with VerticalScroll(id="dialog-scroll"):
                yield RichStatic(confirmation_body(c), id="dialog-body")
            if c.choice_needed:
                keys = " or ".join(o.key for o in c.offers)
                yield RichStatic(
                    plain(f"Press {keys} to choose (nothing is written yet); n / Esc = cancel."),
                    id="dialog-question",
                )
            elif c.refused:
                more = f"   {_offer_keys(c.offers)}" if c.offers else ""
                yield RichStatic(plain(f"Press n or Escape to close.{more}"), id="dialog-question")
            else:
                more = f"   {_offer_keys(c.offers)}" if c.offers else ""
                yield RichStatic(
                    join(
                        safe(c.question, "bold"),
                        f"  y = yes, write   n / Esc = cancel{more}",
                    ),
                    id="dialog-question",
                )
            with Horizontal(id="dialog-buttons"):
                for n, offer in enumerate(c.offers):
                    yield Button(plain(f"{offer.button} ({offer.key})"), id=f"offer-{n}")
                if c.refused:
                    yield Button("Close (Esc)", id="no")
                else:
                    yield Button("Yes, write (y)", id="yes", variant="error")
                    yield Button("No (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        if closed_early(self):
            return
        self.query_one("#no", Button).focus()
        self.call_after_refresh(fit_dialog, self)

    def on_resize(self) -> None:
        self.call_after_refresh(fit_dialog, self)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        refused = self.confirmation.refused
        return not (action == "answer" and parameters == (True,) and refused)

    def action_answer(self, answer: bool) -> None:
        self.dismiss(bool(answer) and not self.confirmation.refused)

    def action_scroll_body(self, how: str) -> None:
        scroll_body(self, how)

    def action_offer(self, n: int) -> None:
        self.dismiss(self.confirmation.offers[n])

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self.action_answer(True)

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.action_answer(False)

    @on(Button.Pressed)
    def _offer(self, event: Button.Pressed) -> None:
        button_id = event.button.id or ""
        if button_id.startswith("offer-"):
            self.dismiss(self.confirmation.offers[int(button_id.removeprefix("offer-"))])
