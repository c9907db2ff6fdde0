"""The findings view: every finding with its severity, selectable; a finding that has a
repair says so, and Enter on it opens that repair's confirmation (through the app).

The repair of each finding comes from the repair planner, which reads the image: the app
plans only when the user opens this view (never before the first paint) and passes a plain
``{finding code: FindingRepair}`` mapping here.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from vhdxray.core.analysis.reader import Report
from vhdxray.core.format.findings import Finding, Severity, is_writer_habit
from vhdxray.tui.outcome import app_text
from vhdxray.tui.safe_text import join, plain, safe
from vhdxray.tui.widgets.richstatic import RichStatic

SEVERITY_STYLE = {
    Severity.ERROR: "bold red",
    Severity.WARNING: "bold yellow",
    Severity.INFO: "cyan",
}
SEVERITY_WIDTH = 8
MAX_CODE_WIDTH = 36


@dataclass(frozen=True, slots=True)
class FindingRepair:
    """What the planner offers for one finding code."""

    title: str  # the repair's title (our or core's words)
    state: str  # "repair", "choice" (a choice is needed first) or "refused"
    reason: str = ""  # for "refused": why not


def _grid(code_width: int) -> Table:
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(width=SEVERITY_WIDTH, no_wrap=True)
    table.add_column(width=code_width, overflow="fold")
    table.add_column(ratio=1, overflow="fold")
    table.add_column(ratio=3, overflow="fold")
    return table


def _repair_text(repair: FindingRepair) -> Text:
    if repair.state == "repair":
        return join(("⚒ repair: ", "bold green"), safe(repair.title, "bold"), "  (Enter)")
    if repair.state == "choice":
        return join(("⚒ repair, after a choice: ", "bold green"), safe(repair.title), "  (Enter)")
    return join(("✗ not repaired: ", "bold"), safe(repair.reason or repair.title), "  (Enter)")


def finding_prompt(f: Finding, code_width: int, repair: FindingRepair | None) -> Table:
    table = _grid(code_width)
    table.add_row(
        plain(f.severity.value.upper(), SEVERITY_STYLE[f.severity]),
        safe(f.code),
        safe(f.where),
        safe(app_text(f.message, f.suggest)),
    )
    if is_writer_habit(f.code):
        table.add_row(plain(""), plain(""), plain(""), plain("harmless writer quirk", "dim italic"))
    if repair is not None:
        table.add_row(plain(""), plain(""), plain(""), _repair_text(repair))
    return table


class FindingsView(Vertical):
    """Summary line, column titles and the list of findings (↑/↓, Enter). It may be shown a
    report before it is mounted: its first frame then already shows it."""

    class RepairRequested(Message):
        """Enter on a finding: the app offers its repair (or says why there is none)."""

        def __init__(self, finding: Finding) -> None:
            super().__init__()
            self.finding = finding

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes="section")
        self.findings: tuple[Finding, ...] = ()
        self._shown: tuple[Report, dict[str, FindingRepair] | None, str | None] | None = None
        self._composed = False

    def compose(self) -> ComposeResult:
        yield RichStatic(id="findings-summary")
        yield RichStatic(id="findings-head")
        yield OptionList(id="findings-list", compact=True)

    def on_mount(self) -> None:
        self._composed = True
        shown, self._shown = self._shown, None
        if shown is not None:
            self.show(shown[0], shown[1], hint=shown[2])

    def show(
        self,
        report: Report,
        repairs: dict[str, FindingRepair] | None = None,
        *,
        hint: str | None = None,
    ) -> None:
        """Fill the view; ``repairs`` (finding code -> repair) adds a line under each."""
        if not self._composed:  # shown once mounted
            self._shown = (report, repairs, hint)
            return
        self.findings = report.findings
        summary = self.query_one("#findings-summary", Static)
        head = self.query_one("#findings-head", Static)
        listing = self.query_one("#findings-list", OptionList)
        highlighted = listing.highlighted
        listing.clear_options()
        if not report.findings:
            summary.update(plain("No findings: nothing unusual was seen.", "green"))
            head.display = False
            listing.display = False
            return
        counts = {s: 0 for s in Severity}
        for f in report.findings:
            counts[f.severity] += 1
        text = plain(
            f"{counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} warning(s), "
            f"{counts[Severity.INFO]} info",
            "bold underline",
        )
        if hint:
            text.append("   ")
            text.append(hint, "dim")
        summary.update(text)
        width = min(MAX_CODE_WIDTH, max(len(f.code) for f in report.findings))
        titles = _grid(width)
        titles.add_row(*(plain(t, "bold") for t in ("Severity", "Code", "Where", "What")))
        head.update(titles)
        head.display = True
        listing.display = True
        listing.add_options(
            Option(
                finding_prompt(f, width, None if repairs is None else repairs.get(f.code)),
                id=f"finding-{n}",
            )
            for n, f in enumerate(report.findings)
        )
        if highlighted is not None and highlighted < len(report.findings):
            listing.highlighted = highlighted

    def focus_list(self) -> None:
        listing = self.query_one("#findings-list", OptionList)
        if listing.display:
            listing.focus()
            if listing.highlighted is None and listing.option_count:
                listing.highlighted = 0

    @on(OptionList.OptionSelected, "#findings-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self.findings):
            self.post_message(self.RepairRequested(self.findings[event.option_index]))


__all__ = ["FindingRepair", "FindingsView", "finding_prompt"]
