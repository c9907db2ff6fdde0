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
as Textual's: the memo calls Textual's own rendering, once. A ``Text`` or a string becomes
Textual's ``Content`` as before (Textual's own, untouched).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

from textual.strip import Strip
from textual.visual import RenderOptions, RichVisual, Visual
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.app import RenderResult
    from textual.css.styles import RulesMap
    from textual.style import Style
    from textual.widget import Widget

T = TypeVar("T")

KEEP = 4  # results kept per kind (the sizes a widget is laid out at between two updates)


def _memo(cache: dict[Any, T], key: Hashable, compute: Callable[[], T]) -> T:
    """``cache[key]``, computed and kept (at most KEEP entries) the first time it is asked."""
    if key in cache:
        return cache[key]
    if len(cache) >= KEEP:
        cache.clear()
    value = cache[key] = compute()
    return value


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

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return _memo(
            self._widths,
            container_width,
            lambda: self.visual.get_optimal_width(rules, container_width),
        )

    def get_minimal_width(self, rules: RulesMap) -> int:
        return self.visual.get_minimal_width(rules)

    def get_height(self, rules: RulesMap, width: int) -> int:
        return _memo(self._heights, width, lambda: self.visual.get_height(rules, width))

    def render_strips(
        self, width: int, height: int | None, style: Style, options: RenderOptions
    ) -> list[Strip]:
        if options.selection is not None or options.post_style is not None:
            return self.visual.render_strips(width, height, style, options)
        styles = self.widget.styles
        align = styles.text_align if styles.has_rule("text_align") else None
        key = (width, height, style, align)
        strips = _memo(
            self._strips, key, lambda: self.visual.render_strips(width, height, style, options)
        )
        return list(strips)


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
