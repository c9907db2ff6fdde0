"""RichStatic's one rendering per width gives Textual exactly what its RichVisual gives: the
same height and the same strips (base style and links included), at every width; what it
does not render itself (a renderable that may fill a height) goes through Textual's path."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.style import Style as RichStyle
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.style import Style
from textual.visual import RenderOptions, RichVisual

from tests.tui.helpers import make_image
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format.header import differing_fields
from vhdxray.tui.widgets.headers import panel_body
from vhdxray.tui.widgets.richstatic import MemoVisual, RichStatic

if TYPE_CHECKING:
    from textual.css.styles import RulesMap


class One(App[None]):
    def compose(self) -> ComposeResult:
        yield RichStatic(id="w")


def renderables(image: Path) -> list[RenderableType]:
    report = read_report(image)
    assert report.headers is not None
    h1, h2 = report.headers
    differ = frozenset(differing_fields(h1, h2))
    slots = [panel_body(h, report.header_choice, differ, 55) for h in (h1, h2)]
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=1, no_wrap=True)
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(overflow="fold")
    grid.add_row("≠", "DataWriteGuid", Text("0f2c5e1a-" * 6, style="yellow"))
    grid.add_row(" ", "Log", Text.assemble(("0x100000", "bold red"), "  (1 MiB) ✓ match"))
    linked = Text("open it")
    linked.stylize(RichStyle(meta={"@click": "app.bell()"}), 0, 4)
    return [
        grid,
        Group(Text("★ CURRENT", "bold green"), Text(""), grid),
        Group(linked, grid),
        *slots,  # the header slots' panels, what the shared rendering is for
    ]


async def test_the_shared_rendering_is_textuals(tmp_path: Path) -> None:
    image = make_image(tmp_path / "disk.vhdx", damaged_slot=2)
    app = One()
    async with app.run_test(size=(100, 30)):
        widget = app.query_one("#w", RichStatic)
        base = Style.from_rich_style(RichStyle(color="white", bgcolor="blue", italic=True))
        for renderable in renderables(image):
            for width in (1, 5, 17, 30, 55, 56, 99):
                textual = RichVisual(widget, renderable)
                memo = MemoVisual(widget, RichVisual(widget, renderable))
                assert memo._shared
                rules = cast("RulesMap", widget.styles)
                assert memo.get_height(rules, width) == textual.get_height(rules, width)
                for height in (None, 1, 3):
                    for style in (base, Style()):
                        options = RenderOptions(widget._get_style, rules)
                        ours = memo.render_strips(width, height, style, options)
                        theirs = textual.render_strips(width, height, style, options)
                        assert [s._segments for s in ours] == [s._segments for s in theirs], (
                            width,
                            height,
                            style,
                            renderable,
                        )


async def test_a_renderable_that_can_fill_a_height_takes_textuals_path() -> None:
    app = One()
    async with app.run_test(size=(100, 30)):
        widget = app.query_one("#w", RichStatic)
        memo = MemoVisual(widget, RichVisual(widget, Group(Panel("x"), Text("y"))))
        assert not memo._shared
