"""The fleet screen by Pilot: it fills from a real scan, sorts, filters, opens an image with
Enter, comes back with Escape and refreshes the row after a repair, and exports."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from tests.scantree import CONTROL_NAME, Tree, build_tree
from tests.tui.helpers import current_screen, make_image, screen_text, settle
from vhdxray.core.analysis.scan import walk_error_line
from vhdxray.core.analysis.walk import Found
from vhdxray.tui.app import VhdxrayApp
from vhdxray.tui.screens.confirm import ConfirmScreen
from vhdxray.tui.screens.explain import ExplainScreen
from vhdxray.tui.screens.fleet import FleetScreen
from vhdxray.tui.screens.main import MainScreen

SIZE = (120, 40)

pytestmark = pytest.mark.usefixtures("fixed_guids", "fixed_backup_name")


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return build_tree(tmp_path, qemu=False)


def fleet_app(tree: Tree) -> VhdxrayApp:
    return VhdxrayApp(tree.root, fleet=[tree.root])


def rows(app: VhdxrayApp) -> list[str]:
    """The paths of the rows in display order."""
    table = app.screen.query_one("#fleet-table", DataTable)
    return [
        str(table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value)
        for i in range(table.row_count)
    ]


def column(app: VhdxrayApp, key: str) -> list[str]:
    table = app.screen.query_one("#fleet-table", DataTable)
    return [str(table.get_cell(path, key)) for path in rows(app)]


async def scanned(pilot: object) -> None:
    await settle(pilot)
    await settle(pilot)


async def test_fills_with_every_file_worst_first(tree: Tree) -> None:
    app = fleet_app(tree)
    async with app.run_test(size=SIZE) as pilot:
        await scanned(pilot)
        assert isinstance(app.screen, FleetScreen)
        assert sorted(rows(app)) == sorted(tree.expected)
        verdicts = column(app, "verdict")
        order = ["error", "unreadable", "not_vhdx", "warning", "ok"]
        assert verdicts == sorted(verdicts, key=order.index)
        text = screen_text(app)
        assert f"Scanned {len(tree.expected)} files" in text
        assert "\x1b" not in text and "ctl\\x1b[31mred\\x07.vhdx" in text
        by_path = dict(zip(rows(app), column(app, "in_use"), strict=True))
        assert by_path[tree.fifo or ""] == "?"
        assert by_path[str(tree.root / CONTROL_NAME)] == "no"


async def test_sort_by_column(tree: Tree) -> None:
    app = fleet_app(tree)
    async with app.run_test(size=SIZE) as pilot:
        await scanned(pilot)
        # Columns cycle from the verdict (the default) to the header column.
        await pilot.press("s")
        header = column(app, "header")
        assert header == sorted(header)
        await pilot.press("S")
        assert column(app, "header") == sorted(header, reverse=True)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        screen.sort_column, screen.sort_reverse = "name", False
        screen._rebuild()
        names = column(app, "name")
        assert names == sorted(names, key=str.lower)
        sizes = []
        await pilot.click("#fleet-table", offset=(33, 0))  # the Size header
        await pilot.pause()
        assert screen.sort_column == "size"
        sizes = [int(screen.lines[p]["file_size"]) for p in rows(app)]
        assert sizes == sorted(sizes)


async def test_filters(tree: Tree) -> None:
    app = fleet_app(tree)
    async with app.run_test(size=SIZE) as pilot:
        await scanned(pilot)
        everything = len(rows(app))
        await pilot.press("e")
        problems = rows(app)
        assert 0 < len(problems) < everything
        tags = {tree.expected[p] for p in problems}
        assert "clean" not in tags and "parent" not in tags
        assert {"damaged-header", "fifo", "not-vhdx", "child-missing", "child-mismatch"} <= tags
        await pilot.press("e")
        assert len(rows(app)) == everything
        await pilot.press("slash", "b", "o", "b", "enter")
        assert [tree.expected[p] for p in rows(app)] == ["damaged-header"]
        assert "filter 'bob'" in screen_text(app)
        await pilot.press("escape")
        assert len(rows(app)) == everything


async def test_enter_opens_image_escape_returns_and_row_refreshes(tree: Tree) -> None:
    app = fleet_app(tree)
    bob = str(tree.root / "users" / "bob" / "Profile_bob.VHDX")
    async with app.run_test(size=SIZE) as pilot:
        await scanned(pilot)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        fleet: FleetScreen = screen
        table = fleet.query_one("#fleet-table", DataTable)
        table.move_cursor(row=table.get_row_index(bob))
        assert fleet.lines[bob]["verdict"] == "error"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(current_screen(app), MainScreen)
        assert app.image == Path(bob)
        assert "INVALID" in screen_text(app)
        await pilot.press("u")
        assert isinstance(current_screen(app), ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(current_screen(app), MainScreen)
        assert "INVALID" not in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is fleet
        assert fleet.lines[bob]["verdict"] == "ok"
        assert table.get_cell(bob, "verdict").plain == "ok"
        # A file that is not a VHDX opens the explanation; Escape comes back too.
        notes = str(tree.root / "broken" / "notes.vhdx")
        table.move_cursor(row=table.get_row_index(notes))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(current_screen(app), ExplainScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is fleet


async def test_export(tree: Tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "exports"
    out.mkdir()
    monkeypatch.chdir(out)
    app = fleet_app(tree)
    async with app.run_test(size=SIZE) as pilot:
        await scanned(pilot)
        await pilot.press("e")
        shown = rows(app)
        await pilot.press("j")
        await pilot.pause()
        (jsonl,) = out.glob("*.jsonl")
        lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
        assert [line["path"] for line in lines] == shown
        await pilot.press("c")
        await pilot.pause()
        (csv_file,) = out.glob("*.csv")
        table = list(csv.DictReader(io.StringIO(csv_file.read_text())))
        assert [r["path"] for r in table] == shown
        fifo = next(r for r in table if r["path"] == tree.fifo)
        assert fifo["verdict"] == "unreadable" and fifo["errors"] == "file.not_regular"


class TestSnapshots:
    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_fleet(self, snap_compare: object, tree: Tree, size: tuple[int, int]) -> None:
        async def done(pilot: object) -> None:
            await scanned(pilot)

        app = fleet_app(tree)
        assert snap_compare(app, terminal_size=size, run_before=done)  # type: ignore[operator]


async def test_a_qemu_img_image_reads_ok_in_the_fleet_as_on_its_own_screen(
    tmp_path: Path, real_image: Callable[[str], Path]
) -> None:
    """A qemu-img made image has only writer-habit warnings: its row says ok (core's verdict),
    as its own screen says Healthy; Disk2VHD's identical headers still read warning."""
    from tests.imagefiles import have, qemu_img_create

    if not have("qemu-img"):
        pytest.skip("qemu-img not installed")
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    qemu = qemu_img_create(shelf / "q.vhdx", "64M")
    disk2vhd = real_image("qemu-disk2vhd").rename(shelf / "d.vhdx")
    app = VhdxrayApp(shelf, fleet=[shelf])
    async with app.run_test(size=SIZE) as pilot:
        await scanned(pilot)
        assert isinstance(app.screen, FleetScreen)
        verdicts = dict(zip(rows(app), column(app, "verdict"), strict=True))
        assert verdicts == {str(qemu): "ok", str(disk2vhd): "warning"}


async def test_export_of_a_name_that_is_not_utf8(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A share holding a file whose name is not valid UTF-8: both exports are written (the
    CSV keeps the name's own bytes, the JSON lines its ``\\udcXX`` escapes, as scan --json);
    the CSV export crashed the app with UnicodeEncodeError."""
    share, out = tmp_path / "share", tmp_path / "exports"
    share.mkdir()
    out.mkdir()
    raw_name = b"bad\xff\xfename.vhdx"
    make_image(share / os.fsdecode(raw_name))
    monkeypatch.chdir(out)
    app = VhdxrayApp(share, fleet=[share])
    async with app.run_test(size=SIZE) as pilot:
        await scanned(pilot)
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("j")
        await pilot.pause()
        assert app.is_running
    (csv_file,) = out.glob("*.csv")
    assert os.path.join(os.fsencode(share), raw_name) in csv_file.read_bytes()
    (jsonl,) = out.glob("*.jsonl")
    (line,) = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert os.fsencode(line["path"]) == os.path.join(os.fsencode(share), raw_name)


async def test_the_scan_never_waits_on_the_ui(tmp_path: Path) -> None:
    """The scan worker hands its lines over without waiting for the UI to add each row (it
    waited on call_from_thread per line: every row redrew the table, and the screen scanned
    ten times slower than ``vhdxray scan``). With the UI busy, the scan still runs to the
    end; the rows come in a batch once the UI is free."""
    share = tmp_path / "share"
    share.mkdir()
    for i in range(12):
        make_image(share / f"d{i:02}.vhdx")
    app = VhdxrayApp(share, fleet=[share])
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        deadline = time.monotonic() + 20
        while screen.progress.done < 12 and time.monotonic() < deadline:
            time.sleep(0.05)  # keeps the UI's event loop busy
        assert screen.progress.done == 12
        await scanned(pilot)
        assert screen.finished and len(rows(app)) == 12


async def test_enter_on_a_folder_the_scan_could_not_read(tmp_path: Path) -> None:
    """A folder the walk could not read is a row of its own ("Cannot read the folder:
    Permission denied"). Enter on it opened the "not a regular file: a directory" screen, and
    coming back re-read it as a file: the row then said "not_regular, a directory", lost the
    real reason and disagreed with scan --json. Now Enter says what the row says, stays."""
    share = tmp_path / "share"
    closed = share / "closed"
    closed.mkdir(parents=True)
    make_image(share / "a.vhdx")
    app = VhdxrayApp(share, fleet=[share])
    async with app.run_test(size=SIZE) as pilot:
        await scanned(pilot)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        fleet: FleetScreen = screen
        # As root the folder reads: the walk's line for an unreadable one, as it makes it.
        line = walk_error_line(Found(str(closed), "cannot read the folder: Permission denied"))
        fleet.add_line(line)
        table = fleet.query_one("#fleet-table", DataTable)
        table.move_cursor(row=table.get_row_index(str(closed)))
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is fleet
        assert fleet.lines[str(closed)] == line
        assert table.get_cell(str(closed), "type").plain == "unreadable"
        assert "Permission denied" in str(fleet.query_one("#fleet-detail", Static).content)


async def test_status_names_the_file_last_read_relative_to_the_folder(tmp_path: Path) -> None:
    """The status line names the file last finished as its row does (relative to the folder
    scanned), also while its row is still waiting for the next batch."""
    share = tmp_path / "share"
    share.mkdir()
    make_image(share / "a.vhdx")
    app = VhdxrayApp(share, fleet=[share])
    async with app.run_test(size=SIZE) as pilot:
        await scanned(pilot)
        fleet = app.screen
        assert isinstance(fleet, FleetScreen)
        fleet.finished = False  # as during a scan, its next file finished, not yet a row
        fleet.progress.label = str(share / "users" / "b.vhdx")
        fleet._show_progress()
        status = str(fleet.query_one("#fleet-status", Static).content)
        assert status.endswith(" · users/b.vhdx") and str(share) not in status
