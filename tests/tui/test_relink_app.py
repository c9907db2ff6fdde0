"""Relink from the app's Chain view (``k``): a missing parent is chosen in a path dialog, the
registry's relink repair is confirmed with its plan's words and run behind the progress dialog;
a modified parent is refused unless the risk is chosen. The repair menu lists relink too."""

from __future__ import annotations

import uuid
from pathlib import Path

from textual.widgets import DirectoryTree, Input

from tests import damage
from tests.tui.helpers import confirmation_shown, current_screen, flat, screen_text, settle
from vhdxray.core.analysis.chain import FOUND, locate_parent
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.write.create import CreateOptions, create_image
from vhdxray.tui import cli
from vhdxray.tui.app import VhdxrayApp
from vhdxray.tui.chainstatus import FOUND as APP_FOUND
from vhdxray.tui.chainstatus import MISSING as APP_MISSING
from vhdxray.tui.screens.main import MainScreen
from vhdxray.tui.screens.openimage import OpenImageScreen
from vhdxray.tui.screens.repairmenu import RepairMenuScreen

MiB = layout.MiB
SIZE = (120, 40)


def moved_child(tmp_path: Path) -> tuple[Path, Path]:
    """A child made by ``vhdxray create --parent``; its parent then moved to store/."""
    parent = create_image(
        tmp_path / "base.vhdx",
        CreateOptions(virtual_size=64 * MiB, block_size=MiB),
        data=[(0, b"\x44" * MiB)],
    )
    child = tmp_path / "child.avhdx"
    assert cli.main(["create", str(child), "--parent", str(parent)]) == 0
    (tmp_path / "store").mkdir()
    new = tmp_path / "store" / "base.vhdx"
    parent.rename(new)
    return child, new


def main_screen(app: VhdxrayApp) -> MainScreen:
    screen = app.main_screen
    assert screen is not None
    return screen


async def test_chain_view_relinks_a_missing_parent(tmp_path: Path) -> None:
    child, parent = moved_child(tmp_path)
    app = VhdxrayApp(child)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("8")
        await pilot.pause()
        status = main_screen(app).parent_status
        assert status is not None and status.kind == APP_MISSING
        assert "Press k to choose the parent" in flat(screen_text(app))
        await pilot.press("k")
        await pilot.pause()
        assert isinstance(current_screen(app), OpenImageScreen)
        field = app.screen.query_one("#open-path", Input)
        field.value = str(parent)
        field.focus()
        await pilot.press("enter")
        await pilot.pause()
        c = confirmation_shown(app)
        assert c.refusal is None and c.question == "Rewrite the child's parent locator now?"
        assert "relative_path: .\\base.vhdx -> .\\store\\base.vhdx" in c.lines
        assert len(c.backups) == 2  # relink-headers, relink-locator
        await pilot.press("y")
        await settle(pilot)
        status = main_screen(app).parent_status
        assert status is not None and status.kind == APP_FOUND
        assert "Relink the child to its parent: done" in screen_text(app)
    lookup = locate_parent(child, read_report(child))
    assert lookup.status == FOUND and lookup.path is not None and lookup.path.samefile(parent)


async def test_chain_view_refuses_a_modified_parent_unless_the_risk_is_chosen(
    tmp_path: Path,
) -> None:
    child, parent = moved_child(tmp_path)
    for slot in (1, 2):
        damage.set_header_field(parent, slot, "data_write_guid", uuid.UUID(int=slot))
    before = child.read_bytes()
    app = VhdxrayApp(child)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("8", "k")
        await pilot.pause()
        field = app.screen.query_one("#open-path", Input)
        field.value = str(parent)
        field.focus()
        await pilot.press("enter")
        await pilot.pause()
        c = confirmation_shown(app)
        assert c.refusal is not None and "DataWriteGuid" in c.refusal
        assert [o.key for o in c.offers] == ["p", "i"]
        assert "at a risk" in c.offers[1].label
        assert child.read_bytes() == before
        await pilot.press("i")
        await pilot.pause()
        c = confirmation_shown(app)
        assert c.refusal is None
        assert any(line.startswith("RISK: ") for line in c.lines)
        await pilot.press("escape")  # declined: nothing written
        await pilot.pause()
    assert child.read_bytes() == before


async def test_the_repair_menu_lists_relink(tmp_path: Path) -> None:
    child, _ = moved_child(tmp_path)
    app = VhdxrayApp(child)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("R")
        await pilot.pause()
        screen = current_screen(app)
        assert isinstance(screen, RepairMenuScreen)
        assert [(i.action, i.state) for i in screen.items] == [("relink", "choice")]


async def test_chain_tab_follows_the_image_shown(tmp_path: Path) -> None:
    """A non-child is composed without the Chain tab; opening a child adds it (8 shows the
    chain), and opening a non-child again hides it (8 then says there is no parent)."""
    child, parent = moved_child(tmp_path)
    app = VhdxrayApp(parent)
    async with app.run_test(size=SIZE) as pilot:
        assert "8 Chain" not in screen_text(app)
        app.switch_image(child)
        await pilot.pause()
        assert "8 Chain" in screen_text(app)
        await pilot.press("8")
        await pilot.pause()
        assert "Press k to choose the parent" in flat(screen_text(app))
        await pilot.press("1")
        app.switch_image(parent)
        await pilot.pause()
        assert "8 Chain" not in screen_text(app)
        await pilot.press("8")  # not a child: the view stays
        await pilot.pause()
        assert main_screen(app).active_view == "headers"
        app.switch_image(child)
        await pilot.pause()
        assert "8 Chain" in screen_text(app)


async def test_the_parent_picker_goes_into_a_folder_instead_of_giving_up(tmp_path: Path) -> None:
    """Choosing the parent of a missing-parent child: a folder typed in the path field, or
    ``f``, used to close the picker with "... is a folder: choose a file." and drop the relink.
    The picker stays open and lists that folder; the file is then chosen in it."""
    child, parent = moved_child(tmp_path)
    app = VhdxrayApp(child)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("8", "k")
        await pilot.pause()
        picker = current_screen(app)
        assert isinstance(picker, OpenImageScreen)
        assert "f: list every image" not in flat(screen_text(app))  # not offered here
        await pilot.press("f")
        await pilot.pause()
        assert current_screen(app) is picker
        field = picker.query_one("#open-path", Input)
        field.value = str(parent.parent)
        field.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert current_screen(app) is picker
        assert Path(picker.query_one("#open-tree", DirectoryTree).path) == parent.parent
        assert field.value == str(parent.parent)
        field.value = str(parent)
        field.focus()
        await pilot.press("enter")
        await pilot.pause()
        c = confirmation_shown(app)
        assert c.refusal is None and c.question == "Rewrite the child's parent locator now?"


async def test_a_childs_eight_tabs_fit_80_columns(tmp_path: Path) -> None:
    """A child with an error has eight tabs, two columns too many for 80: on the Chain tab
    the row scrolled and the first tab read " Headers" (its key cut off). Tight, the row
    fits, every key shows, on any tab; at 120 columns the tabs keep their padding."""
    from textual.widgets import Tabs

    child, _parent = moved_child(tmp_path)
    app = VhdxrayApp(child)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("8")
        await pilot.pause()
        await pilot.pause()
        row = next(line for line in screen_text(app).splitlines() if "Regions" in line)
        for label in ("1 Headers", "2 Regions", "6 Findings (1 ✗)", "7 Hex", "8 Chain"):
            assert label in row, row
        assert app.screen.query_one(Tabs).has_class("-tight")
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        await pilot.pause()
        assert not app.screen.query_one(Tabs).has_class("-tight")


async def test_read_only_chain_view_names_no_hidden_k(tmp_path: Path) -> None:
    """--read-only hides k (relink), and the Chain view of a child whose parent is missing
    said "Press k to choose the parent at its new place and relink" all the same."""
    child, _parent = moved_child(tmp_path)
    app = VhdxrayApp(child, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("8")
        await pilot.pause()
        status = main_screen(app).parent_status
        assert status is not None and status.kind == APP_MISSING
        text = flat(screen_text(app))
        assert "Press k" not in text and "press k" not in text, text
        assert "relink, open the image without --read-only" in text, text
        assert "put the parent back where the locator points" in text.lower(), text
        await pilot.press("k")
        await pilot.pause()
        assert isinstance(current_screen(app), MainScreen)
