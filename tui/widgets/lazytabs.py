"""Textual's ``TabbedContent``, whose panes other than the initial one join the DOM when first
shown.

``TabbedContent`` mounts every pane at once, hidden but each a widget to compose, style, mount
and lay out before the first frame (the main screen's six other views' panes: about 4 MIr
each). :class:`LazyTabbedContent` composes the same tab strip (one ``ContentTab`` per pane, as
Textual makes them) and the initial pane (and any pane given content of its own) only; another
pane (an empty one, filled when shown, as the main screen's are) is mounted, hidden, the first time
anything needs it: its tab activated (by key, click or ``active``), or the pane asked for
(``get_pane``, which the tab's events use too). Textual's own methods do the rest, unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import ContentSwitcher, TabbedContent, TabPane, Tabs
from textual.widgets._tabbed_content import ContentTab, ContentTabs

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.await_complete import AwaitComplete


def _empty(pane: TabPane) -> bool:
    """``pane`` was given no content (its content is mounted into it later): mounted later
    itself, it is the same pane. (One with content of its own is mounted at once, so that what
    is mounted into it later comes after its content, as in Textual's.)"""
    return not pane._pending_children


class LazyTabbedContent(TabbedContent):
    """A ``TabbedContent`` that mounts a pane when it is first needed (see the module)."""

    def __init__(self, *titles: str, initial: str = "", id: str | None = None) -> None:  # noqa: A002
        super().__init__(*titles, initial=initial, id=id)
        self._pending: dict[str, TabPane] = {}  # pane id -> pane not yet mounted

    def compose(self) -> ComposeResult:
        panes = [p for p in self._tab_content if isinstance(p, TabPane) and p.id]
        self._pending = {}
        initial = self._initial
        if not initial or len(panes) != len(self._tab_content):
            yield from super().compose()  # Textual's own, every pane at once
            return
        tabs = [ContentTab(p._title, p.id or "", disabled=p.disabled) for p in panes]
        yield ContentTabs(*tabs, active=initial, tabbed_content=self)
        self._pending = {p.id: p for p in panes if p.id and p.id != initial and _empty(p)}
        with ContentSwitcher(initial=initial):
            yield from (p for p in panes if p.id not in self._pending)

    def _mount_pending(self, pane_id: str | None) -> None:
        """Mount ``pane_id``'s pane (hidden: the switcher shows it) if it is not yet."""
        pane = self._pending.pop(pane_id, None) if pane_id else None
        if pane is not None:
            pane.display = False
            self.get_child_by_type(ContentSwitcher).mount(pane)

    def _on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if self._is_associated_tabs(event.tabs) and event.tab.id is not None:
            self._mount_pending(ContentTab.sans_prefix(event.tab.id))
        super()._on_tabs_tab_activated(event)

    def _watch_active(self, active: str) -> None:
        self._mount_pending(active)
        super()._watch_active(active)

    def get_pane(self, pane_id: str | ContentTab) -> TabPane:
        if isinstance(pane_id, ContentTab):
            self._mount_pending(ContentTab.sans_prefix(pane_id.id or ""))
        else:
            self._mount_pending(pane_id)
        return super().get_pane(pane_id)

    def remove_pane(self, pane_id: str) -> AwaitComplete:
        self._pending.pop(pane_id, None)
        return super().remove_pane(pane_id)

    def clear_panes(self) -> AwaitComplete:
        self._pending.clear()
        return super().clear_panes()
