"""The fleet screen: every image under a folder in one table, filling live as the scan runs.

The scan (:func:`vhdxray.core.analysis.scan.scan`, read-only) runs in a thread worker that
never waits on the UI; the images it finished become rows a batch at a time (every
:data:`ROWS_EVERY` seconds) and the progress bar follows files done / found. Sort
with ``s`` (next column) / ``S`` (reverse) or by clicking a column header; ``e`` shows only
images that need fixing; ``/`` filters by text; ``Enter`` opens the image's own screen (the
app's :meth:`open_image`; on a folder the scan could not read it says why instead), and coming
back re-reads that image's row; ``j``/``c`` export the
rows shown as JSON lines / CSV into the current folder.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Protocol

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, ProgressBar, Static
from textual.worker import get_current_worker

from vhdxray.core.analysis.scan import VERDICTS, ScanLine, ScanOptions, scan, scan_one
from vhdxray.core.fileio import NewFile, write_all
from vhdxray.core.format.text import printable
from vhdxray.core.progress import Cancelled, Progress
from vhdxray.tui.fleet import COLUMN_KEYS, COLUMNS, display_name, export_text, is_problem, matches
from vhdxray.tui.outcome import app_text, from_json
from vhdxray.tui.safe_text import join, plain, safe
from vhdxray.tui.screens.steady import SteadyScreen
from vhdxray.tui.widgets.keysfooter import KeysFooter
from vhdxray.tui.widgets.richstatic import RichStatic

ROWS_EVERY = 0.5
"""Seconds between batches of new rows. Every row added redraws the whole visible table
(about 150 ms of CPU at 120x40, taken from the readers by the GIL): a row per line made the
screen scan ten times slower than ``vhdxray scan`` (1500 images: 57 s against 5 s; now 10 s)."""

# Left out of a narrow Footer first (the help and the command palette list them).
FOOTER_EXTRAS = ("rescan", "export('csv')", "export('jsonl')")


def _update(widget: Static, text: Text) -> None:
    """Show ``text`` in ``widget`` unless it shows it already: the progress timer calls
    :meth:`FleetScreen._show_progress` four times a second, also once the scan is done, and an
    update lays the whole screen out again."""
    if widget.content != text:
        widget.update(text)


class ImageOpener(Protocol):
    def open_image(self, path: Path) -> None: ...


class FleetScreen(SteadyScreen):
    """A table of every image under ``roots``."""

    DEFAULT_CSS = """
    FleetScreen #fleet-top { height: 1; }
    FleetScreen #fleet-status { width: 1fr; }
    FleetScreen #fleet-bar { width: 40; }
    FleetScreen #fleet-filters { height: 1; display: none; color: $warning; }
    FleetScreen #fleet-filters.-shown { display: block; }
    FleetScreen #fleet-filter { display: none; }
    FleetScreen #fleet-filter.-shown { display: block; }
    FleetScreen #fleet-bar.-done { display: none; }
    FleetScreen DataTable { height: 1fr; }
    FleetScreen #fleet-detail { height: auto; max-height: 3; padding: 0 1; background: $panel; }
    """

    AUTO_FOCUS = "#fleet-table"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "sort", "Sort", tooltip="Sort by the next column"),
        Binding("S", "sort_reverse", "Reverse", show=False),
        Binding("e", "toggle_errors", "Errors only", tooltip="Show only images that need fixing"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("j", "export('jsonl')", "Export JSON", tooltip="The rows shown, as JSON lines"),
        Binding("c", "export('csv')", "Export CSV", tooltip="The rows shown, as CSV"),
        Binding("r", "rescan", "Rescan", tooltip="Scan the folders again"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]
    lists_images: ClassVar[bool] = True  # the app's image screens below it are hidden

    def __init__(self, roots: Sequence[Path], options: ScanOptions | None = None) -> None:
        super().__init__()
        self.roots = [Path(r) for r in roots]
        self.options = ScanOptions() if options is None else options
        self.lines: dict[str, ScanLine] = {}  # path -> line, in the order found
        self.names: dict[str, str] = {}
        self.errors_only = False
        self.text_filter = ""
        self.sort_column: str | None = "verdict"  # worst first, then by name
        self.sort_reverse = False
        self.progress = Progress(unit="files")
        self.finished = False
        self.opened: str | None = None  # the path whose screen is open (refreshed on return)
        self.scan_seconds = 0.0
        # Lines the scan finished, not yet in the table: the worker never waits on the UI,
        # and a timer adds them a batch at a time (one table redraw per batch, not per line).
        self._pending: queue.SimpleQueue[ScanLine] = queue.SimpleQueue()

    def compose(self) -> ComposeResult:
        with Horizontal(id="fleet-top"):
            yield RichStatic(id="fleet-status")
            yield ProgressBar(id="fleet-bar", show_eta=False)
        yield RichStatic(id="fleet-filters")
        yield Input(placeholder="filter: name, type, verdict or text", id="fleet-filter")
        table: DataTable[Text] = DataTable(id="fleet-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield RichStatic(id="fleet-detail")
        yield KeysFooter(FOOTER_EXTRAS)

    def on_mount(self) -> None:
        table = self.table
        for column in COLUMNS:
            table.add_column(column.title, key=column.key)
        self.title = "vhdxray scan"
        self.sub_title = ", ".join(str(r) for r in self.roots)
        self.set_interval(0.25, self._show_progress)
        self.set_interval(ROWS_EVERY, self._take_pending)
        self.start_scan()

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#fleet-table", DataTable)

    # --- the scan -------------------------------------------------------------------------------

    def start_scan(self) -> None:
        self.lines.clear()
        self.names.clear()
        self.table.clear()
        self.finished = False
        self.progress = Progress(unit="files")
        self.query_one("#fleet-bar", ProgressBar).remove_class("-done")
        self._pending = queue.SimpleQueue()  # a cancelled scan's late lines go to its own
        self._scan_worker(self.progress, self._pending)
        self._show_progress()

    @work(thread=True, exclusive=True, group="fleet-scan", exit_on_error=False)
    def _scan_worker(self, progress: Progress, pending: queue.SimpleQueue[ScanLine]) -> None:
        worker = get_current_worker()
        started = time.monotonic()
        try:
            for line in scan(self.roots, self.options, progress):
                if worker.is_cancelled:
                    progress.cancel()
                    break
                pending.put(line)
        except Cancelled:
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._scan_finished, time.monotonic() - started)

    def _take_pending(self) -> None:
        """Add every line finished since the last call (the scan worker's queue)."""
        while True:
            try:
                line = self._pending.get_nowait()
            except queue.Empty:
                return
            self.add_line(line)

    def _scan_finished(self, seconds: float) -> None:
        self._take_pending()
        self.finished = True
        self.scan_seconds = seconds
        self._rebuild()
        self.table.move_cursor(row=0, column=0)
        self.query_one("#fleet-bar", ProgressBar).add_class("-done")
        self._show_detail()

    @on(DataTable.RowHighlighted, "#fleet-table")
    def _show_detail(self) -> None:
        """The highlighted image's one-line verdict (and its parent, for a child)."""
        path = self._cursor_path()
        detail = self.query_one("#fleet-detail", Static)
        if path is None or path not in self.lines:
            detail.update("")
            return
        line = self.lines[path]
        parts = [safe(app_text(str(line["headline"] or ""), from_json(line.get("suggest"))))]
        parent = line["parent"]
        if isinstance(parent, dict):
            where = parent.get("path") or "-"
            parts.append(join(plain(f" Parent {parent.get('status')}: "), safe(where)))
        detail.update(join(*parts))

    def on_unmount(self) -> None:
        self.progress.cancel()

    def add_line(self, line: ScanLine) -> None:
        path = str(line["path"])
        self.lines[path] = line
        self.names[path] = display_name(line, self.roots)
        if self._shown(path):
            self.table.add_row(*self._cells(path), key=path)

    def _cells(self, path: str) -> list[Text]:
        line, name = self.lines[path], self.names[path]
        return [column.cell(line, name) for column in COLUMNS]

    def _shown(self, path: str) -> bool:
        line = self.lines[path]
        if self.errors_only and not is_problem(line):
            return False
        return matches(line, self.names[path], self.text_filter)

    def _show_progress(self) -> None:
        p = self.progress
        bar = self.query_one("#fleet-bar", ProgressBar)
        bar.update(total=max(p.total, 1), progress=p.done)
        counts: dict[str, int] = {}
        for line in self.lines.values():
            counts[str(line["verdict"])] = counts.get(str(line["verdict"]), 0) + 1
        parts = [f"{counts[level]} {level}" for level in VERDICTS if level in counts]
        shown = self.table.row_count
        if self.finished:
            state = f"Scanned {p.done} file{'s' if p.done != 1 else ''}"
        else:
            state = f"scanning {p.done}/{p.total} files, {p.rate:.0f}/s"
        filters = []
        if self.errors_only:
            filters.append("errors only")
        if self.text_filter:
            filters.append(f"filter {self.text_filter!r}")
        status = join(plain(state), plain(f" · {', '.join(parts)}" if parts else ""))
        filter_line = self.query_one("#fleet-filters", Static)
        filter_line.set_class(bool(filters), "-shown")
        _update(
            filter_line,
            join(plain(f"Showing {shown} of {len(self.lines)}: "), safe(", ".join(filters))),
        )
        if not self.finished and p.label:
            name = self.names.get(p.label) or display_name({"path": p.label}, self.roots)
            status = join(status, plain(" · "), safe(name))  # its row may be yet to come
        _update(self.query_one("#fleet-status", Static), status)

    # --- sort and filter --------------------------------------------------------------------------

    def _rebuild(self) -> None:
        """Fill the table again: the rows that pass the filters, in the chosen order."""
        table = self.table
        cursor_key = self._cursor_path()
        paths = [p for p in self.lines if self._shown(p)]
        if self.sort_column is not None:
            column = COLUMNS[COLUMN_KEYS.index(self.sort_column)]
            paths.sort(
                key=lambda p: (column.sort(self.lines[p], self.names[p]), self.names[p]),
                reverse=self.sort_reverse,
            )
        table.clear()
        for path in paths:
            table.add_row(*self._cells(path), key=path)
        if cursor_key is not None and cursor_key in table.rows:
            table.move_cursor(row=table.get_row_index(cursor_key))
        self._show_progress()

    def action_sort(self) -> None:
        if self.sort_column is None:
            self.sort_column = COLUMN_KEYS[0]
        else:
            index = (COLUMN_KEYS.index(self.sort_column) + 1) % len(COLUMNS)
            self.sort_column = COLUMN_KEYS[index]
        self.sort_reverse = False
        self._rebuild()
        self.notify(f"Sorted by {self._sort_title()}", timeout=2)

    def action_sort_reverse(self) -> None:
        self.sort_column = self.sort_column or COLUMN_KEYS[0]
        self.sort_reverse = not self.sort_reverse
        self._rebuild()
        self.notify(f"Sorted by {self._sort_title()}", timeout=2)

    def _sort_title(self) -> str:
        title = COLUMNS[COLUMN_KEYS.index(self.sort_column or COLUMN_KEYS[0])].title
        return f"{title.lower()}{' (reversed)' if self.sort_reverse else ''}"

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if self.sort_column == key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = key, False
        self._rebuild()

    def action_toggle_errors(self) -> None:
        self.errors_only = not self.errors_only
        self._rebuild()

    def action_filter(self) -> None:
        box = self.query_one("#fleet-filter", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#fleet-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.text_filter = event.value.strip()
        self._rebuild()

    @on(Input.Submitted, "#fleet-filter")
    def _filter_done(self, _event: Input.Submitted) -> None:
        self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#fleet-filter", Input)
        if box.has_class("-shown") or self.text_filter:
            box.value = ""
            box.remove_class("-shown")
            self.text_filter = ""
            self._rebuild()
            self.table.focus()

    # --- open an image, come back -------------------------------------------------------------

    def _cursor_path(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:  # no row under the cursor
            return None
        return None if key.value is None else str(key.value)

    @on(DataTable.RowSelected, "#fleet-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        path = None if event.row_key.value is None else str(event.row_key.value)
        if path is None:
            return
        if os.path.isdir(path):  # a folder the walk could not read: its row says why
            headline = self.lines[path]["headline"] if path in self.lines else ""
            self.notify(
                printable(f"{headline} Press r to scan again."), severity="warning", markup=False
            )
            return
        opener: ImageOpener = self.app  # type: ignore[assignment]
        self.opened = path
        opener.open_image(Path(path))

    def on_screen_resume(self) -> None:
        path, self.opened = self.opened, None
        if path is not None and path in self.lines:
            self._refresh_row(path)

    @work(thread=True, group="fleet-row", exit_on_error=False)
    def _refresh_row(self, path: str) -> None:
        line = scan_one(path, self.options.guest)
        self.app.call_from_thread(self._row_refreshed, path, line)

    def _row_refreshed(self, path: str, line: ScanLine) -> None:
        self.lines[path] = line
        table = self.table
        if path in table.rows:
            for column, cell in zip(COLUMN_KEYS, self._cells(path), strict=True):
                table.update_cell(path, column, cell)
        self._show_progress()
        self._show_detail()

    # --- export ---------------------------------------------------------------------------------

    def shown_lines(self) -> list[ScanLine]:
        return [self.lines[str(k.value)] for k in self.table.rows]

    def action_export(self, fmt: str) -> None:
        text = export_text(self.shown_lines(), fmt)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = Path.cwd() / f"vhdxray-scan-{stamp}.{fmt}"
        try:
            with NewFile(target) as fd:
                # A name that is not valid UTF-8 keeps its own bytes in the CSV (the JSON
                # lines hold only ASCII, its \udcXX escapes as scan --json prints them).
                write_all(fd, text.encode("utf-8", "surrogateescape"))
        except OSError as exc:
            self.notify(f"Export failed: {exc.strerror or exc}", severity="error", markup=False)
            return
        self.notify(f"Exported {len(self.shown_lines())} rows to {target}", markup=False)

    def action_rescan(self) -> None:
        self.start_scan()
