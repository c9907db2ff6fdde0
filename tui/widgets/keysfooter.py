"""The main screen's Footer, fitted to the terminal's width.

Textual's Footer shows every binding in one row and cuts off whatever does not fit: at 80
columns that was "? Help" and "q Quit". This Footer shows Textual's own row when it fits.
When it does not, the row is compact (less padding), says each key in its first word
("u Update", "l Replay") unless two keys would then read the same, and leaves out the keys
marked as extras (Reload, Backups: in the help and the command palette), one by one, until
the rest fits. Help and Quit always stay.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from textual import events
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey  # not exported; textual is pinned


class KeysFooter(Footer):
    """A Footer whose keys fit the terminal (see the module's docstring)."""

    def __init__(self, extras: Iterable[str] = ()) -> None:
        super().__init__()
        self.extras = tuple(extras)  # actions left out first when the keys do not fit
        self._width = 0

    def compose(self) -> ComposeResult:
        width = self._width = self.app.size.width
        widgets = list(super().compose())
        keys = [w for w in widgets if isinstance(w, FooterKey)]
        compact = sum(_cells(k, compact=False) for k in keys) > width
        self.set_reactive(Footer.compact, compact)
        self.set_class(compact, "-compact")
        if not compact:
            yield from widgets
            return
        words = Counter(_first_word(k.description) for k in keys)
        for key in keys:
            if words[_first_word(key.description)] == 1:
                key.description = _first_word(key.description)
        dropped: set[Widget] = set()
        for action in self.extras:
            if sum(_cells(k) for k in keys if k not in dropped) <= width:
                break
            dropped |= {k for k in keys if k.action == action}
        yield from (w for w in widgets if w not in dropped)

    def on_resize(self, event: events.Resize) -> None:
        if self._width and event.size.width != self._width:  # composed, for another width
            self._width = event.size.width
            self.call_after_refresh(self.recompose)


def _first_word(description: str) -> str:
    return description.split(" ", 1)[0]


def _cells(key: FooterKey, *, compact: bool = True) -> int:
    """The columns Textual's Footer gives ``key``. Compact: the key, a space, the words and a
    margin (the command palette's key: a one-column rule instead of the margin). In full: a
    space either side of the key and after the words; the palette's key adds its rule and a
    space."""
    cells = len(key.key_display) + len(key.description)
    if compact:
        return cells + 2
    return cells + (5 if key.has_class("-command-palette") else 3)
