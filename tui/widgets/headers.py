"""The two header slots side by side, the current one marked, differing fields flagged.

The marks survive a plain-text capture and colour blindness: the current slot has a heavy
border and the word CURRENT (in its title and its first line); a field that differs between
the slots carries ``≠`` in the left margin as well as a highlight.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from vhdxray.core.analysis.reader import Report
from vhdxray.core.format import layout
from vhdxray.core.format.header import (
    HEADER_FIELDS,
    FieldKind,
    Header,
    HeaderChoice,
    HeaderField,
    differing_fields,
    field_text,
)
from vhdxray.tui.safe_text import join, plain, safe, safe_bytes
from vhdxray.tui.widgets.grid import FastGrid
from vhdxray.tui.widgets.richstatic import RichStatic

DIFFER_MARK = "≠"
DIFFER_STYLE = "bold yellow"
BAD_STYLE = "bold red"
GOOD_STYLE = "green"

SLOT_TITLES = ("Slot 1 (64 KiB)", "Slot 2 (128 KiB)")


def _size_hint(value: int) -> str:
    if value and value % layout.MiB == 0:
        return f" ({value // layout.MiB} MiB)"
    if value and value % layout.KiB == 0:
        return f" ({value // layout.KiB} KiB)"
    return ""


def _signature(h: Header) -> Text:
    if h.signature_ok:
        return join(safe_bytes(h.signature), ("  ok", GOOD_STYLE))
    return join(safe_bytes(h.signature), ("  BAD: must be 'head'", BAD_STYLE))


def _computed(h: Header) -> Text:
    if not h.present:
        return plain("not computed (slot missing)", BAD_STYLE)
    value = f"0x{h.computed_checksum:08x}"
    if h.checksum_ok:
        return join(value, ("  ✓ match", GOOD_STYLE))
    return join((value, BAD_STYLE), ("  ✗ MISMATCH", BAD_STYLE))


def _version(h: Header) -> Text:
    text = plain(str(h.version))
    if h.version != layout.HEADER_VERSION:
        text.append("  must be 1", style=BAD_STYLE)
    return text


def _log_version(h: Header) -> Text:
    text = plain(str(h.log_version))
    if h.log_version != layout.LOG_VERSION:
        text.append("  should be 0", style=BAD_STYLE)
    return text


def _reserved(h: Header) -> Text:
    if h.reserved_zero:
        return plain("bytes 80..4095 all zero")
    return plain("bytes 80..4095 NOT zero", "bold yellow")


# What a panel adds to a field's value (header.field_text) besides the value itself.
_DECORATED: dict[FieldKind | str, Callable[[Header], Text]] = {
    FieldKind.SIGNATURE: _signature,
    FieldKind.CHECKSUM: lambda h: plain(f"0x{h.checksum:08x} stored"),
    "version": _version,
    "log_version": _log_version,
    "log_offset": lambda h: plain(f"0x{h.log_offset:x}{_size_hint(h.log_offset)}"),
    "log_length": lambda h: plain(f"{h.log_length}{_size_hint(h.log_length)}"),
}


def _renderer(f: HeaderField) -> Callable[[Header], Text]:
    special = _DECORATED.get(f.attr) or _DECORATED.get(f.kind)
    return special if special is not None else (lambda h: plain(field_text(h, f)))


def _rows() -> tuple[tuple[str, str | None, Callable[[Header], Text]], ...]:
    rows: list[tuple[str, str | None, Callable[[Header], Text]]] = []
    for f in HEADER_FIELDS:
        rows.append((f.short, f.attr, _renderer(f)))
        if f.kind is FieldKind.CHECKSUM:
            rows.append(("  computed", None, _computed))
    rows.append(("Reserved", None, _reserved))
    return tuple(rows)


# (label, Header attribute compared by differing_fields or None, value renderer): every field
# of the one table (header.HEADER_FIELDS), the computed checksum and the reserved bytes.
FIELDS: tuple[tuple[str, str | None, Callable[[Header], Text]], ...] = _rows()


def slot_problems(h: Header) -> list[str]:
    """What is wrong with a slot besides validity (which is only signature and checksum)."""
    if not h.present:
        return []
    problems = []
    if h.version != layout.HEADER_VERSION:
        problems.append(f"Version is {h.version}: only 1 is defined (the file must not be used)")
    if h.log_version != layout.LOG_VERSION:
        problems.append(f"LogVersion is {h.log_version}, not 0")
    if not h.reserved_zero:
        problems.append("reserved bytes 80..4095 are not zero")
    return problems


def _reason_rows(reasons: list[str] | tuple[str, ...], mark: str, style: str) -> Table:
    rows = Table.grid()
    rows.add_column(width=2)
    rows.add_column(overflow="fold")
    for reason in reasons:
        rows.add_row(plain(mark, style), safe(reason))
    return rows


def slot_status(h: Header, choice: HeaderChoice | None) -> RenderableType:
    """The first line(s) of a panel: CURRENT / valid / INVALID and exactly why, and any other
    problem of the slot (version, log version, reserved bytes)."""
    current = choice is not None and choice.current == h.slot
    if current:
        head = join(("★ CURRENT", "bold green"), "  valid, its fields describe the file")
    elif h.valid:
        head = join(("valid", GOOD_STYLE), ", not current")
    else:
        head = plain("✗ INVALID", BAD_STYLE)
    parts: list[RenderableType] = [head]
    if not h.valid:
        parts.append(FastGrid(_reason_rows(h.invalid_reasons(), "-", BAD_STYLE)))
    problems = slot_problems(h)
    if problems:
        parts.append(FastGrid(_reason_rows(problems, "!", "bold yellow")))
    return Group(*parts)


LABEL_WIDTH = max(len(label) for label, _a, _r in FIELDS)
GUID_WIDTH = 36


def header_table(h: Header, differ: frozenset[str], width: int | None = None) -> Table:
    """Every field of one slot; differing fields marked with ``≠`` and highlighted.

    ``width`` (the panel's inner width): when a GUID does not fit beside its label, it goes on
    the line below, indented, so a GUID never wraps in the middle."""
    guid_below = width is not None and width < 1 + 1 + LABEL_WIDTH + 1 + GUID_WIDTH
    table = Table.grid(padding=(0, 1))
    table.add_column(width=1, no_wrap=True)
    if not guid_below:
        table.add_column(no_wrap=True, style="bold")
    table.add_column(overflow="fold")
    for label, attr, render in FIELDS:
        value = render(h)
        mark = plain(" ")
        if attr is not None and attr in differ:
            mark = plain(DIFFER_MARK, "bold yellow")
            value.stylize(DIFFER_STYLE, 0, len(value.plain.split("  ")[0]))
        if not guid_below:
            table.add_row(mark, plain(label), value)
        elif label.endswith("Guid"):
            table.add_row(mark, plain(label, "bold"))
            table.add_row(plain(" "), join("  ", value))
        else:
            table.add_row(mark, join((label.ljust(LABEL_WIDTH), "bold"), " ", value))
    return table


def panel_body(
    h: Header, choice: HeaderChoice | None, differ: frozenset[str], width: int | None = None
) -> RenderableType:
    return Group(slot_status(h, choice), Text(""), FastGrid(header_table(h, differ, width)))


def _summary_state(h: Header, choice: HeaderChoice | None) -> Text:
    if choice is not None and choice.current == h.slot:
        return plain("★ CURRENT", "bold green")
    if h.valid:
        return plain("valid, not current", GOOD_STYLE)
    if not h.present:
        return plain("✗ MISSING", BAD_STYLE)
    return plain("✗ INVALID", BAD_STYLE)


def _summary_check(h: Header) -> Text:
    if not h.present:
        return plain("—", "dim")
    parts = []
    parts.append(
        plain("signature ok", GOOD_STYLE) if h.signature_ok else plain("BAD signature", BAD_STYLE)
    )
    parts.append(
        plain("checksum ok", GOOD_STYLE) if h.checksum_ok else plain("checksum ✗", BAD_STYLE)
    )
    return join(parts[0], ", ", parts[1])


def summary_table(report: Report) -> Table:
    """Both slots' essentials in two columns (state, sequence, checks): fits 80x24."""
    table = Table.grid(padding=(0, 2), expand=True)
    table.add_column(no_wrap=True, style="bold")
    table.add_column(ratio=1, overflow="fold")
    table.add_column(ratio=1, overflow="fold")
    if report.headers is None:
        return table
    h1, h2 = report.headers
    choice = report.header_choice
    table.add_row(
        plain(""),
        plain("Slot 1 (64 KiB)", "bold underline"),
        plain("Slot 2 (128 KiB)", "bold underline"),
    )
    table.add_row(plain("State"), _summary_state(h1, choice), _summary_state(h2, choice))
    table.add_row(plain("Sequence"), plain(str(h1.sequence_number)), plain(str(h2.sequence_number)))
    table.add_row(plain("Checks"), _summary_check(h1), _summary_check(h2))
    return table


def slot_title(h: Header, choice: HeaderChoice | None) -> Text:
    title = plain(SLOT_TITLES[h.slot - 1])
    if choice is not None and choice.current == h.slot:
        title.append(" ━ CURRENT", "bold")
    elif not h.valid:
        title.append(" ━ INVALID", "bold")
    return title


def why_line(report: Report) -> Text:
    if report.headers is None or report.header_choice is None:
        return plain("")
    text = plain("Why: ", "bold")
    text.append_text(safe(report.header_choice.explain(report.headers)))
    return text


class HeaderPanel(RichStatic):
    """One header slot."""

    def show(
        self,
        h: Header,
        choice: HeaderChoice | None,
        differ: frozenset[str],
        width: int | None = None,
    ) -> None:
        current = choice is not None and choice.current == h.slot
        self.set_class(current, "-current")
        self.set_class(not h.valid, "-invalid")
        self.border_title = slot_title(h, choice)
        self.border_subtitle = plain(f"offset 0x{h.offset:x}")
        self.update(panel_body(h, choice, differ, width))


NARROW = 100  # below this width the two slots are stacked instead of side by side


def _slot_hint(expanded: bool) -> Text:
    if expanded:
        return plain("Enter: back to the summary (the full panels are below)", "dim")
    return plain("Enter: both slots in full (every field)", "dim")


class HeadersView(VerticalScroll):
    """Both slots side by side, the reason for the choice, and a legend (scrolls when the
    terminal is small). Below ``NARROW`` columns a two-column summary of the slots takes their
    place (state, sequence, checks: visible at 80x24 without scrolling); Enter expands it to
    the full panels, stacked (and Enter again folds them)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "toggle_slots", "Both slots in full", show=False),
    ]

    _report: Report | None = None
    _shown_width: int | None = None  # the panel width the report was shown for
    expanded = False  # narrow terminals: the full panels shown below the summary
    _summary: tuple[RichStatic, RichStatic] | None = None  # made when first narrow

    def on_mount(self) -> None:
        # Decide before the first frame (the widget has no size yet: use the terminal's).
        self._set_narrow(self.app.size.width)

    def on_resize(self, event: events.Resize) -> None:
        # The view's own size changes when it is first laid out and when its tab is shown
        # again: the panels are made again only when the terminal's width changed theirs.
        self._set_narrow(self.app.size.width)
        if self._report is not None and self.panel_width() != self._shown_width:
            self.show(self._report)

    def _set_narrow(self, width: int) -> None:
        narrow = width < NARROW
        self.set_class(narrow, "-narrow")
        self.query_one("#slots").set_class(narrow, "-narrow")
        if narrow and self._summary is None:  # narrow for the first time: the summary now
            self._summary = self._summary_widgets()
            if self._report is not None:
                self._summary[0].update(summary_table(self._report))
            self.mount(*self._summary, before="#slots")

    def _summary_widgets(self) -> tuple[RichStatic, RichStatic]:
        """The two-column summary of the slots and its hint (shown on narrow terminals only:
        made the first time the terminal is narrow, so a wide first frame has two widgets
        less to compose and style, about 10 MIr)."""
        return (
            RichStatic(id="slot-summary"),
            RichStatic(_slot_hint(self.expanded), id="slot-hint"),
        )

    def action_toggle_slots(self) -> None:
        """Enter (narrow terminals): the summary expands to both full panels, or folds back."""
        self.expanded = not self.expanded
        self.set_class(self.expanded, "-expanded")
        if self._summary is not None:
            self._summary[1].update(_slot_hint(self.expanded))

    def panel_width(self) -> int:
        """The inner width of one slot panel now (border 2, padding 2, focus edge and
        scrollbar 3)."""
        width = self.app.size.width - 3
        if width + 3 >= NARROW:
            width //= 2
        return width - 4

    def compose(self) -> ComposeResult:
        if self.app.size.width < NARROW:
            self._summary = self._summary_widgets()
            yield from self._summary
        with Horizontal(id="slots"):
            yield HeaderPanel(id="slot1", classes="slot")
            yield HeaderPanel(id="slot2", classes="slot")
        yield RichStatic(id="why")
        yield RichStatic(
            plain(
                f"{DIFFER_MARK} = differs between the two slots   "
                "heavy border + CURRENT = the header in use"
            ),
            id="legend",
        )

    def show(self, report: Report) -> None:
        self._report = report
        if report.headers is None:
            return
        h1, h2 = report.headers
        differ = frozenset(differing_fields(h1, h2))
        width = self._shown_width = self.panel_width()
        if self._summary is not None:
            self._summary[0].update(summary_table(report))
        self.query_one("#slot1", HeaderPanel).show(h1, report.header_choice, differ, width)
        self.query_one("#slot2", HeaderPanel).show(h2, report.header_choice, differ, width)
        self.query_one("#why", Static).update(why_line(report))
