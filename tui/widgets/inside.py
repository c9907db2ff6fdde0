"""The Inside view: what the virtual disk holds (partition table, partitions, filesystems with
their health flags), each guest problem with its next step, and the first bytes of every
structure read. Opened with ``i`` from the main screen; Escape goes back.

Looking inside opens the virtual disk (BAT and log applied in memory) and reads a few hundred
KiB, so it runs only when the view is opened, never before the first paint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from vhdxray.core.analysis.guest.image import GuestOutcome, inspect_image
from vhdxray.core.analysis.guest.triage import GuestReport
from vhdxray.core.analysis.reader import Report
from vhdxray.core.analysis.verdict import verdict
from vhdxray.tui.guestwords import (
    flags_text,
    fs_summary,
    layered_headline,
    layout_summary,
    not_looked_at,
    not_looked_at_suggest,
    size_short,
    words,
)
from vhdxray.tui.outcome import app_text
from vhdxray.tui.safe_text import join, plain, safe
from vhdxray.tui.screens.dialogs import closed_early, closing
from vhdxray.tui.widgets.keysfooter import REPORT_EXTRAS, KeysFooter
from vhdxray.tui.widgets.richstatic import RichStatic

SEVERITY_STYLE = {"error": "bold red", "warning": "bold yellow", "info": "cyan"}
HEX_BYTES = 32
MAX_STRUCTURES = 24


def headline(report: Report, outcome: GuestOutcome) -> str:
    replay = report.log is not None and report.log.replay_needed
    return layered_headline(verdict(report).level, outcome.guest, replay_pending=replay)


FLAGS_COLUMN_WIDTH = 100  # narrower: each partition's flags on a line under the table


class _Partitions:
    """The partition table. From :data:`FLAGS_COLUMN_WIDTH` columns the flags are its last
    column; narrower, that column was too thin for one flag (``ext_backup_superblock=no``
    was folded mid-word), so each partition's flags follow the table on a line of their own."""

    def __init__(self, guest: GuestReport) -> None:
        self.guest = guest

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        wide = options.max_width >= FLAGS_COLUMN_WIDTH
        yield _partitions(self.guest, flags_column=wide)
        if wide:
            return
        for p in self.guest.partitions:
            if p.filesystem is not None and p.filesystem.flags:
                line = plain(f"{p.index}: ", "bold")
                line.append_text(_flags(p.filesystem.flags))
                yield line


def _partitions(guest: GuestReport, *, flags_column: bool = True) -> Table:
    table = Table(expand=True, box=None, padding=(0, 1), header_style="bold")
    for name, kwargs in (
        ("#", {"no_wrap": True}),
        ("start", {"justify": "right", "no_wrap": True}),
        ("size", {"justify": "right", "no_wrap": True}),
        ("type", {"ratio": 2}),
        ("filesystem", {"ratio": 3}),
        ("flags", {"ratio": 3}),
    ):
        if name != "flags" or flags_column:
            table.add_column(name, overflow="fold", **kwargs)
    for p in guest.partitions:
        name = f" '{p.name}'" if p.name else ""
        fs = p.filesystem
        cells = [
            plain(str(p.index)),
            plain(str(p.start)),
            plain(size_short(p.length)),
            safe(f"{p.type_name}{name}"),
            safe(fs_summary(fs)) if fs else plain("—", "dim"),
        ]
        if flags_column:
            cells.append(_flags(fs.flags if fs else {}))
        table.add_row(*cells)
    return table


def _flags(flags: dict[str, bool]) -> Text:
    out = Text()
    for i, (name, value) in enumerate(flags.items()):
        if i:
            out.append(", ")
        out.append(f"{name}={'yes' if value else 'no'}", style="bold red" if value else "dim")
    return out


def _findings(guest: GuestReport, path: str) -> RenderableType:
    rows: list[RenderableType] = []
    for f in guest.sorted_findings():
        w = words(f, path)
        style = SEVERITY_STYLE.get(f.severity.value, "")
        rows.append(
            join(
                (f"{f.severity.value.upper():<8}", style),
                safe(w.message),
                "  ",
                safe(f"[{f.where}]", "dim"),
            )
        )
        if w.next_step:
            rows.append(join(("  next: ", "bold"), safe(w.next_step)))
    return Group(*rows) if rows else plain("No problem found inside.", "green")


def _structures(guest: GuestReport, first_bytes: dict[int, bytes]) -> Table:
    table = Table(expand=True, box=None, padding=(0, 1), header_style="bold")
    table.add_column("structure", ratio=2, overflow="fold")
    table.add_column("offset", justify="right", no_wrap=True)
    table.add_column("length", justify="right", no_wrap=True)
    table.add_column(f"first {HEX_BYTES} bytes", ratio=5, overflow="fold")
    for s in guest.structures[:MAX_STRUCTURES]:
        raw = first_bytes.get(s.offset, b"")
        table.add_row(
            safe(s.name), plain(f"0x{s.offset:x}"), plain(str(s.length)), plain(raw.hex(" "))
        )
    return table


def inside_renderable(
    report: Report,
    outcome: GuestOutcome,
    first_bytes: dict[int, bytes] | None = None,
    *,
    name: str | None = None,
    jumps: bool = False,
) -> RenderableType:
    """The Inside view; ``jumps``: the structures are listed apart (a list to select from)."""
    title = join(("Inside  ", "bold"), safe(headline(report, outcome), "bold"))
    guest = outcome.guest
    if guest is None:
        return Group(
            title,
            Text(""),
            plain(
                "Not looked at: "
                + app_text(
                    not_looked_at(outcome.error_code, outcome.error),
                    not_looked_at_suggest(outcome.error_code),
                )
            ),
        )
    parts: list[RenderableType] = [title, Text(""), safe(layout_summary(guest))]
    if guest.partition_table == "gpt":
        parts.append(_flags({k: v for k, v in guest.flags.items() if k.startswith("gpt_")}))
    if guest.filesystem is not None:
        parts.append(plain(flags_text(guest.filesystem.flags) or "no health flags recorded"))
    if guest.partitions:
        parts += [Text(""), _Partitions(guest)]
    parts += [
        Text(""),
        plain("Findings and next steps", "bold"),
        _findings(guest, name or report.path),
    ]
    if guest.structures and not jumps:
        parts += [Text(""), plain("Structures read", "bold"), _structures(guest, first_bytes or {})]
    return Group(*parts)


@dataclass(frozen=True, slots=True)
class Jump:
    """A row of the Inside screen's list: Enter shows the virtual disk's bytes there."""

    label: str
    offset: int
    length: int


def jumps_of(guest: GuestReport) -> list[Jump]:
    """Each partition's start and each structure read, in disk order."""
    out = [
        Jump(
            f"partition {p.index}: {p.type_name}"
            + (f" ({fs_summary(p.filesystem)})" if p.filesystem else ""),
            p.start,
            min(p.length, 4096),
        )
        for p in guest.partitions
    ]
    out += [Jump(s.name, s.offset, s.length) for s in guest.structures[:MAX_STRUCTURES]]
    return sorted(out, key=lambda j: j.offset)


def jump_text(j: Jump, first: bytes) -> Text:
    text = join((f"{f'0x{j.offset:x}':>12}  ", "bold"), safe(j.label))
    if first:
        text.append("  " + first[:16].hex(" "), "dim")
    return text


def read_first_bytes(path: str, guest: GuestReport) -> dict[int, bytes]:
    """The first bytes of each structure, read again through the virtual disk (bounded)."""
    from vhdxray.core.analysis.virtual import OpenRefused, open_virtual_disk

    out: dict[int, bytes] = {}
    try:
        with open_virtual_disk(path) as disk:
            for s in guest.structures[:MAX_STRUCTURES]:
                if 0 <= s.offset < disk.size:
                    out[s.offset] = disk.read(
                        s.offset, min(HEX_BYTES, s.length, disk.size - s.offset)
                    )
    except (OpenRefused, OSError):
        pass
    return out


class InsideScreen(Screen[None]):
    """The guest: partitions, filesystems, flags, next steps and structure bytes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *closing("escape", "app.pop_screen", "Back", binding_id="inside-back"),
        *closing("i", "app.pop_screen", "Back", show=False),
    ]

    def __init__(
        self, report: Report, name: str | None = None, outcome: GuestOutcome | None = None
    ) -> None:
        super().__init__()
        self.jumps: list[Jump] = []
        self.report = report
        self.display_name = name if name is not None else report.path
        self.outcome = outcome if outcome is not None else inspect_image(report.path, report)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="inside-scroll"):
            yield RichStatic(id="inside-view")
            yield RichStatic(id="inside-jumps-title")
            yield OptionList(id="inside-jumps")
        yield KeysFooter(REPORT_EXTRAS)

    def on_mount(self) -> None:
        if closed_early(self):
            return
        guest = self.outcome.guest
        first = read_first_bytes(self.report.path, guest) if guest is not None else {}
        self.query_one("#inside-view", Static).update(
            inside_renderable(self.report, self.outcome, first, name=self.display_name, jumps=True)
        )
        listing = self.query_one("#inside-jumps", OptionList)
        self.jumps = jumps_of(guest) if guest is not None else []
        if not self.jumps:
            listing.display = False
            return
        self.query_one("#inside-jumps-title", Static).update(
            join(
                ("Structures read", "bold"),
                "  ↑/↓ select, Enter: the virtual disk's bytes there (and where the file "
                "holds them)",
            )
        )
        listing.add_options([Option(jump_text(j, first.get(j.offset, b""))) for j in self.jumps])
        listing.highlighted = 0
        listing.focus()

    @on(OptionList.OptionSelected, "#inside-jumps")
    def _jump(self, event: OptionList.OptionSelected) -> None:
        from vhdxray.tui.screens.virtualhex import VirtualHexScreen

        j = self.jumps[event.option_index]
        self.app.push_screen(
            VirtualHexScreen(self.report.path, self.display_name, j.label, j.offset, j.length)
        )
