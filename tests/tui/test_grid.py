"""FastGrid gives exactly Rich's segments for the table it holds, at every width: the header
slots' tables (which it renders itself where they fit) and tables it must leave to Rich
(cells that wrap, fold, hold several lines or control codes, a table wider than the space)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from rich.style import Style
from rich.table import Table
from rich.text import Text

from tests.tui.helpers import make_image
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format.header import differing_fields
from vhdxray.tui.widgets.grid import FastGrid, _grid_lines
from vhdxray.tui.widgets.headers import _reason_rows, header_table, slot_problems

WIDTHS = (1, 2, 5, 9, 17, 30, 40, 53, 54, 55, 56, 60, 99, 140)


def console() -> Console:
    return Console(width=200, color_system="truecolor", force_terminal=True, legacy_windows=False)


def assert_same(table: Table) -> None:
    con = console()
    for width in WIDTHS:
        options = con.options.update_width(width).update(highlight=False)
        ours = list(con.render(FastGrid(table), options))
        rich = list(con.render(table, options))
        assert ours == rich, (width, table)


def slot_tables(tmp_path: Path) -> list[tuple[Table, Table]]:
    """Every header table (both slots, GUIDs beside and below) of a healthy image and of
    images with either slot's checksum broken, with the slots' reason rows."""
    tables = []
    for damaged in (None, 1, 2):
        image = make_image(tmp_path / f"d{damaged}.vhdx", damaged_slot=damaged)
        report = read_report(image)
        assert report.headers is not None
        h1, h2 = report.headers
        differ = frozenset(differing_fields(h1, h2))
        assert differ or damaged is None
        for h in (h1, h2):
            reasons = _reason_rows(h.invalid_reasons() or ["none"], "-", "bold red")
            problems = _reason_rows(slot_problems(h) or ["x"], "!", "bold yellow")
            for width in (None, 40, 54, 55):
                tables.append((header_table(h, differ, width), reasons))
                tables.append((header_table(h, differ, width), problems))
    return tables


def test_header_slots_render_as_rich_renders_them(tmp_path: Path) -> None:
    for table, reasons in slot_tables(tmp_path):
        assert_same(table)
        assert_same(reasons)


def test_a_header_slot_side_by_side_is_rendered_by_the_grid_itself(tmp_path: Path) -> None:
    """The point of the grid: at a side-by-side panel's width it does not hand the slot's
    table to Rich (the test above shows the lines are Rich's)."""
    con = console()
    for table, _reasons in slot_tables(tmp_path):
        for width in (55, 56):
            assert _grid_lines(table, con, width) is not None
    short = _reason_rows(["Version is 2"], "!", "bold yellow")
    assert _grid_lines(short, con, 55) is not None


def grid(*columns: dict[str, object], padding: tuple[int, int] = (0, 1)) -> Table:
    table = Table.grid(padding=padding)
    for column in columns:
        table.add_column(**column)  # type: ignore[arg-type]
    return table


@pytest.mark.parametrize(
    "cells",
    [
        [Text(" "), Text("Label", "bold"), Text("value")],
        [Text("≠", "bold yellow"), Text("Log"), Text.assemble(("0x1", "bold red"), "  ok")],
        [Text("x"), Text("trailing  "), Text("styled tail  ", "underline")],
        [Text("x"), Text("tail"), Text.assemble("abc", ("   ", "reverse"))],
        [Text("x"), Text("two\nlines"), Text("v")],
        [Text("x"), Text("tab\there"), Text("bell\x07")],
        [Text("x"), Text("漢字かな"), Text("wide ★ chars")],
        [Text("x"), Text(""), Text("empty label")],
        [Text("x"), Text("nbsp\u00a0"), Text("v")],
        [Text("x"), Text("L"), Text("a very long value that has to wrap " * 3, "green")],
        [Text("x"), Text("L"), Text("0f2c5e1a-" * 8, "yellow")],
        [Text("x", justify="right"), Text("L"), Text("v", overflow="ellipsis")],
        ["str", Text("L"), Text("v")],
    ],
)
def test_any_row_renders_as_rich_renders_it(cells: list[Text | str]) -> None:
    linked = Text("link")
    linked.stylize(Style(meta={"@click": "app.bell()"}), 0, 2)
    for padding in ((0, 1), (0, 0), (0, 2)):
        table = grid(
            {"width": 1, "no_wrap": True},
            {"no_wrap": True, "style": "bold"},
            {"overflow": "fold"},
            padding=padding,
        )
        table.add_row(*cells)
        table.add_row(Text("-"), Text("Second"), linked)
        assert_same(table)


def test_tables_it_leaves_to_rich_render_as_rich_renders_them() -> None:
    boxed = Table()
    boxed.add_column("a")
    boxed.add_row(Text("b"))
    wide = Table.grid(padding=(0, 1), expand=True)
    wide.add_column(ratio=1)
    wide.add_row(Text("c"))
    styled_rows = grid({}, {})
    styled_rows.add_row(Text("d"), Text("e"), style="on blue")
    empty = grid({}, {})
    for table in (boxed, wide, styled_rows, empty, Table.grid()):
        assert_same(table)
