"""A ``Static`` that renders its Rich renderable once per size, not once per layout.

Textual wraps a Rich renderable (a ``Table``, a ``Group``) in a ``RichVisual`` that renders
it anew every time it is asked: for its height at each layout pass, and for its lines at each
repaint. A layout pass of the screen (a dialog opening or closing, a notification, a focus
change, the scrollbar of a scrolling dialog appearing) clears the widget's own caches, so a
view holding a large table (a header slot, a confirmation's plan, the log's entries) was
rendered by Rich again and again with the same content and the same width, and the app spent
most of its time there.

:class:`RichStatic` gives Textual the same visual wrapped in :class:`MemoVisual`, which keeps
the last few results (height per width, lines per width, height and base style) until the
content changes (``update()`` makes a new visual, and so a new memo). The lines are the same
as Textual's. Textual renders the renderable once to count its lines and once more to draw
them; for a ``Table`` or a ``Group`` of tables and texts (whose lines do not depend on the
height they are given) the memo renders once per width and serves both, applying the base
and link styles as ``Widget.post_render`` does (tested against Textual's own rendering); any
other renderable goes through Textual's rendering, once. A ``Text`` or a string becomes
Textual's ``Content`` as before (Textual's own, untouched).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Group
from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.table import Table
from rich.text import Text
from textual._context import active_app
from textual.strip import Strip
from textual.visual import RenderOptions, RichVisual, Visual
from textual.widgets import Static

from vhdxray.tui.widgets.grid import FastGrid, WidthChoice

if TYPE_CHECKING:
    from textual.app import RenderResult
    from textual.css.styles import RulesMap
    from textual.style import Style
    from textual.widget import Widget

T = TypeVar("T")

KEEP = 4  # results kept per kind (the sizes a widget is laid out at between two updates)

Lines = list[list[Segment]]


def _height_free(renderable: object) -> bool:
    """``renderable`` renders the same lines whatever height its options give: a ``Text``, a
    ``Table`` (which renders its cells with no height), a ``FastGrid`` (a table), a ``Group``
    of those or a ``WidthChoice`` between two of them."""
    if isinstance(renderable, Group):
        return all(_height_free(r) for r in renderable.renderables)
    if isinstance(renderable, WidthChoice):
        return _height_free(renderable.wide) and _height_free(renderable.narrow)
    return isinstance(renderable, (Text, Table, FastGrid))


def _memo(cache: dict[Any, T], key: Hashable, compute: Callable[[], T]) -> T:
    """``cache[key]``, computed and kept (at most KEEP entries) the first time it is asked."""
    if key in cache:
        return cache[key]
    if len(cache) >= KEEP:
        cache.clear()
    value = cache[key] = compute()
    return value


def _linked(style: RichStyle | None, link_style: RichStyle) -> RichStyle | None:
    """A segment's style with the widget's link style, as Textual's ``_Styled`` gives it."""
    if style is None or style._meta is None:
        return style
    return style + link_style if "@click" in style.meta else style


class MemoVisual(Visual):
    """``visual`` (a ``RichVisual`` of ``widget``), its results remembered. The content of a
    ``RichVisual`` never changes (a new one is made for new content); what else its lines
    depend on is in the keys: the width and height, the base style (colours, theme) and the
    widget's text alignment. A text selection is rendered afresh, never remembered."""

    def __init__(self, widget: Widget, visual: RichVisual) -> None:
        self.widget = widget
        self.visual = visual
        self._widths: dict[int, int] = {}
        self._heights: dict[int, int] = {}
        self._strips: dict[Hashable, list[Strip]] = {}
        self._lines: dict[int, tuple[Lines, int] | None] = {}
        renderable = visual._renderable  # a Text alone: Textual measures it its own way
        self._shared = isinstance(renderable, (Group, Table, FastGrid)) and _height_free(renderable)

    def _rendered(self, width: int) -> tuple[Lines, int] | None:
        """The renderable's lines at ``width`` without the widget's base style, and its
        height, from one Rich rendering that serves both the layout's height and the strips
        (Textual renders it once for each). None when that one rendering could differ from
        Textual's two: the renderable may fill a height, or it renders control codes."""
        if not self._shared:
            return None
        return _memo(self._lines, width, lambda: self._render_lines(width))

    def _render_lines(self, width: int) -> tuple[Lines, int] | None:
        app = active_app.get()
        options = app.console_options.update_width(width).update(highlight=False)
        segments = list(app.console.render(self.visual._renderable, options))
        if any(segment.control for segment in segments):
            return None
        height = sum([text.count("\n") for text, _, _ in segments])
        lines = list(
            Segment.split_and_crop_lines(segments, width, include_new_lines=False, pad=False)
        )
        return lines, height

    def _styled_strips(self, lines: Lines, height: int | None, style: Style) -> list[Strip]:
        """``lines`` as Textual's ``RichVisual.render_strips`` gives them: the base style
        under every segment (``Widget.post_render``), links styled, cut to ``height``."""
        apply = style.rich_style.__add__  # a base style (see _render): every segment gets one
        link_style = self.widget.link_style if self.widget.auto_links else None
        strips = []
        for line in lines[:height]:
            styled = [Segment(text, apply(seg_style), None) for text, seg_style, _ in line]
            if link_style:
                styled = [Segment(t, _linked(s, link_style), c) for t, s, c in styled]
            strips.append(Strip(styled))
        return strips

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return _memo(
            self._widths,
            container_width,
            lambda: self.visual.get_optimal_width(rules, container_width),
        )

    def get_minimal_width(self, rules: RulesMap) -> int:
        return self.visual.get_minimal_width(rules)

    def get_height(self, rules: RulesMap, width: int) -> int:
        return _memo(self._heights, width, lambda: self._height(rules, width))

    def _height(self, rules: RulesMap, width: int) -> int:
        rendered = self._rendered(width)
        if rendered is None:
            return self.visual.get_height(rules, width)
        return rendered[1]

    def render_strips(
        self, width: int, height: int | None, style: Style, options: RenderOptions
    ) -> list[Strip]:
        if options.selection is not None or options.post_style is not None:
            return self.visual.render_strips(width, height, style, options)
        styles = self.widget.styles
        align = styles.text_align if styles.has_rule("text_align") else None
        key = (width, height, style, align)
        strips = _memo(self._strips, key, lambda: self._render(width, height, style, options))
        return list(strips)

    def _render(
        self, width: int, height: int | None, style: Style, options: RenderOptions
    ) -> list[Strip]:
        rendered = self._rendered(width)
        if rendered is None or not style.rich_style:
            # Without a base style Textual's _Styled leaves unstyled segments out, new lines
            # included, before the lines are split: only its own path gives those lines.
            return self.visual.render_strips(width, height, style, options)
        return self._styled_strips(rendered[0], height, style)


class RichStatic(Static):
    """A ``Static`` whose Rich renderable is rendered once per size (see the module)."""

    _memo: MemoVisual | None = None

    def render(self) -> RenderResult:
        visual = self.visual
        if not isinstance(visual, RichVisual):
            return visual
        memo = self._memo
        if memo is None or memo.visual is not visual:
            memo = self._memo = MemoVisual(self, visual)
        return memo
