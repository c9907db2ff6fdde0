"""Screens under a dialog are not laid out again when nothing about them changed.

When a dialog (a ``ModalScreen``) opens, it gets a ``Resize`` event as it is first laid out,
and Textual passes it on to every screen below, each of which then lays itself out again
from scratch, even when its size is the same and nothing in it waits for a layout: the main
screen, with every view, was laid out again for each dialog, about as costly as drawing it.
Such a layout can only give the screen the arrangement it already has, so it is skipped;
a screen whose size changed, or with a layout, a scroll or a widget's update pending, is
laid out as before (the dialog shows it up to date behind its tint). (A repaint request of
the whole screen, made when a dialog covers it, is not served by this layout either way.)

Likewise a screen is not restyled as a whole when it is first shown: Textual restyles every
node of a screen each time it resumes without a dialog's leaving (``ScreenResume``'s
``refresh_styles``), for what changed while another screen was shown. On its first resume a
screen has just been composed: each of its widgets got its styles when it was mounted, and
every change since (a class, the focus, a sibling's order) restyled what it changed, so the
whole restyle would give every node the styles it has (about 36 MIr, 2.5% of the first
paint of the main screen). Later resumes restyle as Textual does.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.geometry import Size
from textual.screen import Screen


def layout_is_current(screen: Screen[Any], size: Size) -> bool:
    """``screen`` was laid out at ``size`` and nothing in it changed since."""
    return (
        screen.is_attached
        and screen._compositor.size == size
        and not screen._layout_required
        and not screen._scroll_required
        and not screen._dirty_widgets
        and not screen._layout_widgets
    )


class SteadyScreen(Screen[None]):
    """A screen that dialogs open over (see the module)."""

    _resumed = False

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Runs before Screen's own handler (the dispatch walks the MRO), which then skips
        # the whole restyle on the first resume (see the module).
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False

    def _screen_resized(self, size: Size) -> None:
        if self is not self.app.screen and layout_is_current(self, size):
            return
        super()._screen_resized(size)
