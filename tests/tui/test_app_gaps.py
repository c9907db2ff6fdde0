"""The app's gaps closed: export from the app, ``o`` on a folder, the guest headline after
load, Inside linked to the Hex view, the compact slot summary expanding on Enter, the chain
findings in the Findings tab, and SIGHUP during a write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Input

from tests.tui.helpers import current_screen, flat, make_image, screen_text, settle
from vhdxray.core.write.create import create_child
from vhdxray.tui.app import VhdxrayApp
from vhdxray.tui.screens.fleet import FleetScreen
from vhdxray.tui.screens.main import MainScreen
from vhdxray.tui.screens.openimage import ImageTree, OpenImageScreen
from vhdxray.tui.widgets.info import InfoBar


def child_without_parent(tmp_path: Path) -> Path:
    """A differencing child made by vhdxray's writer whose parent was then deleted."""
    parent = make_image(tmp_path / "parent.vhdx")
    child = create_child(tmp_path / "child.avhdx", parent)
    parent.unlink()
    return child


# --- 6: the Findings tab lists the chain findings -----------------------------------------


async def test_findings_tab_shows_the_missing_parent(tmp_path: Path) -> None:
    app = VhdxrayApp(child_without_parent(tmp_path), display_name="child.avhdx")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert any(f.code == "chain.missing" for f in app.report.errors)
        assert app.screen.query_one(InfoBar).has_class("-error")
        await pilot.press("6")
        await pilot.pause()
        text = flat(screen_text(app))
        assert "6 Findings (1 ✗)" in text
        assert "chain.missing" in text
        assert "no locator path leads to an existing file here" in text


# --- 2: o on a folder opens the fleet list ---------------------------------------------------


async def _fleet_filled(pilot: Any) -> FleetScreen:
    """Wait (bounded) until the fleet screen on top has finished its scan."""
    for _ in range(200):
        await settle(pilot)
        screen = pilot.app.screen
        if isinstance(screen, FleetScreen) and screen.finished:
            return screen
    raise AssertionError(f"no finished fleet scan: {pilot.app.screen!r}")


async def test_o_on_a_folder_typed_opens_the_fleet_list(tmp_path: Path) -> None:
    first = make_image(tmp_path / "first.vhdx")
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    make_image(shelf / "good.vhdx")
    make_image(shelf / "bad.vhdx", damaged_slot=2)
    app = VhdxrayApp(first)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OpenImageScreen)
        field = app.screen.query_one("#open-path", Input)
        field.focus()
        field.value = str(shelf)
        await pilot.press("enter")
        fleet = await _fleet_filled(pilot)
        text = screen_text(app)
        assert "good.vhdx" in text and "bad.vhdx" in text
        assert "first.vhdx" not in text
        assert app.report_screen is None  # the image below is hidden: no Backups etc.
        assert app.check_action("backups", ()) is False
        fleet.table.move_cursor(row=0)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert app.image.parent == shelf
        await pilot.press("escape")
        await pilot.pause()
        assert current_screen(app) is fleet


async def test_f_in_the_picker_lists_the_highlighted_folder(tmp_path: Path) -> None:
    first = make_image(tmp_path / "first.vhdx")
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    make_image(shelf / "only.vhdx")
    app = VhdxrayApp(first)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("o")
        await pilot.pause()
        tree = app.screen.query_one(ImageTree)
        await pilot.pause()
        for row in range(tree.last_line + 1):
            node = tree.get_node_at_line(row)
            if node is not None and node.data is not None and node.data.path == shelf:
                tree.move_cursor(node)
        await pilot.press("f")
        await _fleet_filled(pilot)
        assert app.fleet == [shelf]
        assert "only.vhdx" in screen_text(app)
