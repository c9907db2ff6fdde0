"""The main screen's Footer, fitted to the terminal's width.

Textual's Footer shows every binding in one row and cuts off whatever does not fit: at 80
columns that was "? Help" and "q Quit". This Footer shows Textual's own row when it fits.
When it does not, the row is compact (less padding), says each key in its first word
("u Update", "l Replay") unless two keys would then read the same, and leaves out the keys
marked as extras (Reload, Backups: in the help and the command palette), one by one, until
the rest fits. Help and Quit always stay.

It is also cheaper than Textual's: Textual recomposes its Footer (every key unmounted and
mounted anew, each restyled) on every change of the screen's bindings, that is on every focus
change, dialog and reload, even when no key changed; this one recomposes only when the keys
it would show, or the width, did change. And its keys get their compact state when they are
made (Textual binds each key to the Footer's ``compact``, whose watcher then restyles every
key, twice, each time the Footer is composed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable

from textual import events
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey  # not exported; textual is pinned

# The image's screens (main, Inside, the bytes of a structure, not-a-VHDX): left out of a
# narrow Footer first, in this order, when its keys do not fit (the help and the command
# palette list them). Open goes when l Replay and O Open copy both join the row; Export when
# k Relink joins them too (a child whose parent is missing); then esc Back to the fleet list.
# With all of them left out, the widest row the main screen can have (k, u, l, R, O, Help,
# Quit, the palette) takes 74 columns.
REPORT_EXTRAS = ("backups", "reload", "open", "export", "back_to_fleet")


class KeysFooter(Footer):
    """A Footer whose keys fit the terminal (see the module's docstring)."""

    def __init__(self, extras: Iterable[str] = ()) -> None:
        super().__init__()
        self.extras = tuple(extras)  # actions left out first when the keys do not fit
        self._width = 0
        self._composed: Hashable = None  # what the keys shown were composed from

    def _keys_state(self) -> Hashable:
        """Everything :meth:`compose` depends on: the width and the bindings it shows (each
        with whether it is enabled and its tooltip), the command palette's among them."""
        if not self._bindings_ready:
            return None
        palette = self.app.COMMAND_PALETTE_BINDING
        bindings = tuple(
            (key, binding, enabled, tooltip)
            for key, (_node, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show or key == palette
        )
        return (self.app.size.width, self.show_command_palette, bindings)

    async def recompose(self) -> None:
        """Compose again only if a key or the width changed (see the module's docstring)."""
        if self.is_attached and self._keys_state() == self._composed:
            return
        await super().recompose()

    def compose(self) -> ComposeResult:
        width = self._width = self.app.size.width
        self._composed = self._keys_state()
        widgets = list(super().compose())
        keys = [w for w in widgets if isinstance(w, FooterKey)]
        compact = sum(_cells(k, compact=False) for k in keys) > width
        self.set_reactive(Footer.compact, compact)
        self.set_class(compact, "-compact")
        for key in keys:
            # Composed for one width: no binding to the Footer's compact (it would restyle
            # the key when mounted); the key gets, before it mounts, the state the binding
            # would give it. The palette's key is not bound: it keeps FooterKey's default
            # (compact), which its watcher would set when mounted.
            bound = bool(key._reactive_connect)
            key._reactive_connect = None
            key_compact = compact if bound else True
            key.set_reactive(FooterKey.compact, key_compact)
            key.set_class(key_compact, "-compact", update=False)
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
