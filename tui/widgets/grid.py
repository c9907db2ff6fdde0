"""A Rich ``Table.grid`` of one-line texts, rendered without Rich's table machinery.

Rich renders a table by measuring every cell (a ``Padding`` around it), then rendering every
cell through ``Padding`` and ``render_lines`` and shaping the lines: for a header slot (about
fifteen rows of three cells) that is most of the panel's cost, and the first frame renders the
two slots three times (a layout asks a slot's height at one width and draws it at another).

:class:`FastGrid` holds the same ``Table`` and gives exactly Rich's segments for it when every
cell is a ``Text`` of one line that fits its column unwrapped (what a header slot is at any
width where the panels stand side by side): the column widths are then each column's widest
cell plus its padding, and each cell's line is its text padded to the column's width (under
its own style, as Rich's left justification pads it), then the padding, all under the column's
style, as Rich renders it. Any other table (a cell that wraps, folds or
holds several lines, control codes, a border, a header, an expanding table, a table wider than
the space given) is rendered by Rich itself. ``tests/tui/test_grid.py`` compares the two
segment by segment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult

Line = list[Segment]

_NL = Text("\n")


def _fits_one_line(text: Text) -> bool:
    """``text`` renders as itself in a column as wide as it: one line, no control codes (Rich
    strips them when it rewrites the line), and trailing spaces only where no span ends (Rich
    strips them and pads the line again, without the spans)."""
    plain = text.plain
    if not plain or text.justify is not None or text.overflow is not None:
        return False
    if any(c < " " or c == "\x7f" for c in plain):
        return False
    stripped = plain.rstrip()
    if len(stripped) == len(plain):
        return True
    if plain[len(stripped) :].strip(" "):
        return False  # other whitespace: Rich pads with spaces where it was
    return all(span.end <= len(stripped) for span in text.spans)


def _plain_grid(table: Table) -> bool:
    """``table`` is a grid that :func:`_grid_lines` renders as Rich does (when its cells fit).
    (The table's own style is its borders' only: a grid has none.)"""
    top, right, bottom, left = table.padding
    return not (
        table.box is not None
        or table.show_header
        or table.show_footer
        or table.title
        or table.caption
        or table.expand
        or table.width is not None
        or table.min_width is not None
        or table.row_styles
        or table.show_lines
        or table.leading
        or top
        or bottom
        or left > right
        or not table.collapse_padding
        or table.pad_edge
        or not table.columns
        or not table.rows
        or any(row.style is not None or row.end_section for row in table.rows)
        or any(
            column.justify != "left"
            or column.vertical != "top"
            or column.min_width is not None
            or column.max_width is not None
            or column.ratio is not None
            for column in table.columns
        )
    )


def _grid_lines(table: Table, console: Console, max_width: int) -> list[Line] | None:
    """Rich's lines of ``table`` at ``max_width``, or None when a cell would not render as
    its own one line (then Rich renders the table)."""
    if max_width < 1 or not _plain_grid(table):
        return None
    right = table.padding[1]
    columns = table.columns
    last = len(columns) - 1
    widths: list[int] = []
    cells: list[list[Text]] = []
    for index, column in enumerate(columns):
        pad = right if index < last else 0  # the padding Rich measures and draws
        column_cells = []
        for cell in column._cells:
            if not isinstance(cell, Text) or not _fits_one_line(cell):
                return None
            column_cells.append(cell)
        widest = max(cell_len(cell.plain) for cell in column_cells)
        if column.width is not None:
            if widest > column.width:
                return None
            widest = column.width
        if max_width - pad < 1:
            return None
        widths.append(widest + pad)
        cells.append(column_cells)
    if sum(widths) > max_width:
        return None  # Rich shrinks the columns: its own rendering
    get_style = console.get_style
    null = Style.null()
    pad_styles = []
    for column in columns:
        style = get_style(column.style or "")
        pad_styles.append((style, style if style else null))
    lines: list[Line] = []
    for row in zip(*cells, strict=True):
        line: Line = []
        for index, cell in enumerate(row):
            style, right_style = pad_styles[index]
            pad = right if index < last else 0
            # Rich's Padding gives the text the column's width less the padding, and the
            # text's left justification pads it with spaces under its own style.
            extra = widths[index] - pad - cell_len(cell.plain)
            if extra:
                cell = cell.copy()
                cell.pad_right(extra)
            segments = list(_NL.join([cell]).render(console))
            if style:
                apply = style.__add__
                segments = [Segment(text, apply(s)) for text, s, _ in segments]
            line.extend(segments)
            if pad:
                line.append(Segment(" " * pad, right_style))
        lines.append(line)
    return lines


class FastGrid:
    """``table`` (a ``Table.grid``), rendered as Rich renders it, faster when its cells fit
    (see the module)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = _grid_lines(self.table, console, options.max_width)
        if lines is None:
            yield self.table
            return
        new_line = Segment.line()
        for line in lines:
            yield from line
            yield new_line

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.table)


class WidthChoice:
    """``wide`` where it fits unwrapped in the width given, else ``narrow``: a table whose
    full-width cells (a GUID's 36 columns) would be cut with "…" in a narrow terminal gives
    way to a layout that keeps them whole. Both are Rich renderables of fixed lines (a
    ``Table``, a ``Group`` of tables and texts): :class:`RichStatic` renders it once per width.
    ``probe``, when given, is what must fit instead of the whole of ``wide`` (the one line of
    it that grows).
    """

    def __init__(
        self, wide: RenderableType, narrow: RenderableType, probe: RenderableType | None = None
    ) -> None:
        self.wide = wide
        self.narrow = narrow
        self.probe = wide if probe is None else probe

    def chosen(self, console: Console, options: ConsoleOptions) -> RenderableType:
        # Measured with room to spare: Measurement.get cuts a maximum to the width it is given.
        unbounded = options.update_width(max(options.max_width, 1) * 4)
        fits = Measurement.get(console, unbounded, self.probe).maximum <= options.max_width
        return self.wide if fits else self.narrow

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.chosen(console, options)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.chosen(console, options))
