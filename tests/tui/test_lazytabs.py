"""LazyTabbedContent mounts a pane only when it is first needed, and otherwise shows and does
what Textual's TabbedContent does: the same screen after each step (keys, clicks, ``active``,
``get_pane``, hiding and adding tabs)."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import Static, TabbedContent, TabPane

from vhdxray.tui.widgets.lazytabs import LazyTabbedContent


class Tabbed(App[None]):
    def __init__(self, kind: type[TabbedContent]) -> None:
        super().__init__()
        self.kind = kind

    def compose(self) -> ComposeResult:
        with self.kind(initial="b", id="tabs"):
            with TabPane("Tab A", id="a"):
                yield Static("the pane of a, given at compose")  # mounted at once
            with TabPane("Tab B", id="b"):
                yield Static("the pane of b")
            for name in "cd":  # empty panes, filled when shown (as MainScreen does)
                yield TabPane(f"Tab {name.upper()}", id=name)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane = event.pane
        if pane.id in ("c", "d") and not pane.children:
            pane.mount(Static(f"the pane of {pane.id}"))


def mounted(app: App[Any]) -> list[str]:
    return sorted(pane.id or "" for pane in app.query(TabPane))


async def steps(kind: type[TabbedContent]) -> tuple[list[str], list[list[str]]]:
    """The screen after each step, and the panes mounted then."""
    app = Tabbed(kind)
    screens, panes = [], []
    async with app.run_test(size=(60, 8)) as pilot:
        tabs = app.query_one(TabbedContent)

        async def snap() -> None:
            await pilot.pause()
            screens.append(app.export_screenshot())
            panes.append(mounted(app))

        await snap()
        tabs.active = "d"
        await snap()
        await pilot.click("#--content-tab-a")
        await snap()
        await pilot.press("right")  # the tab strip has the focus after the click
        await snap()
        await tabs.get_pane("c").mount(Static("mounted before shown"))
        await snap()
        tabs.active = "c"
        await snap()
        tabs.hide_tab("c")
        await snap()
        await tabs.add_pane(TabPane("Tab E", Static("the pane of e"), id="e"))
        tabs.active = "e"
        await snap()
    return screens, panes


async def test_lazy_tabs_show_what_textuals_show_mounting_panes_when_needed() -> None:
    lazy_screens, lazy_panes = await steps(LazyTabbedContent)
    screens, panes = await steps(TabbedContent)
    assert lazy_screens == screens
    assert panes[0] == ["a", "b", "c", "d"]  # Textual's: every pane at once
    assert lazy_panes == [
        ["a", "b"],  # the initial pane and the one with content of its own
        ["a", "b", "d"],
        ["a", "b", "d"],
        ["a", "b", "d"],  # right from a: b, mounted already
        ["a", "b", "c", "d"],  # get_pane mounts (hidden)
        ["a", "b", "c", "d"],
        ["a", "b", "c", "d"],
        ["a", "b", "c", "d", "e"],
    ]
