"""The app's gaps closed: export from the app, ``o`` on a folder, the guest headline after
load, Inside linked to the Hex view, the compact slot summary expanding on Enter, the chain
findings in the Findings tab, and SIGHUP during a write."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, RadioButton

from tests import damage, imagefiles
from tests.tui.helpers import current_screen, flat, make_image, return_code, screen_text, settle
from vhdxray.core.format.layout import MiB
from vhdxray.core.write.create import CreateOptions, create_child, create_image
from vhdxray.tui.app import VhdxrayApp
from vhdxray.tui.screens.dialogs import MessageScreen
from vhdxray.tui.screens.export import ExportScreen
from vhdxray.tui.screens.fleet import FleetScreen
from vhdxray.tui.screens.main import MainScreen
from vhdxray.tui.screens.openimage import ImageTree, OpenImageScreen
from vhdxray.tui.screens.progress import ProgressScreen
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


# --- 1: export from the app ------------------------------------------------------------------


def cut_image(folder: Path) -> Path:
    """8 blocks of data, the last 2.5 MiB of the file missing (data past the end)."""
    data = [(b * MiB, bytes([0x10 + b]) * MiB) for b in range(8)]
    opts = CreateOptions(virtual_size=64 * MiB, block_size=MiB, creator="vhdxray test")
    image = create_image(folder / "cut.vhdx", opts, data=data)
    damage.truncate(image, image.stat().st_size - 2 * MiB - 512 * 1024)
    return image


def sha(path: Path) -> tuple[int, str]:
    """Size and digest of the file's bytes (equal iff the bytes are equal; holes not read)."""
    return imagefiles.sparse_digest(path)


async def test_export_raw_complete_shows_the_summary(tmp_path: Path) -> None:
    image = make_image(tmp_path / "disk.vhdx")
    before = sha(image)
    app = VhdxrayApp(image)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)
        field = app.screen.query_one("#export-path", Input)
        assert field.value == str(tmp_path / "disk.raw")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MessageScreen)
        text = flat(screen_text(app))
        assert "Exported: complete and exact" in text
        assert "No gaps: every byte of the virtual disk was read." in text
        assert "e2fsck -f" in text and "disk.raw" in text
    out = tmp_path / "disk.raw"
    assert out.stat().st_size == 64 * MiB
    with open(out, "rb") as f:
        assert f.read(512) == b"vhdxray test disk\n".ljust(512, b"\0")
    assert sha(image) == before  # the image was only read
    if imagefiles.have("qemu-img"):  # an independent reader agrees byte for byte
        reference = imagefiles.virtual_disk_bytes(image, tmp_path / "qemu.raw")
        assert sha(reference) == sha(out)


async def test_export_of_a_truncated_image_lists_the_gaps(tmp_path: Path) -> None:
    image = cut_image(tmp_path)
    app = VhdxrayApp(image, display_name="cut.vhdx")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "press e to export what is readable" in flat(screen_text(app))
        await pilot.press("e")
        await pilot.pause()
        assert "The file is cut short" in flat(screen_text(app))
        await pilot.press("enter")
        await settle(pilot)
        text = flat(screen_text(app))
        assert "Exported with 1 gap (zero-filled, listed)" in text
        assert "0x580000..0x800000 (2.5 MiB): its data lies past the end of the file" in text
    out = tmp_path / "cut.raw"
    with open(out, "rb") as f:
        f.seek(4 * MiB)
        assert f.read(MiB) == bytes([0x14]) * MiB  # the last whole block
        assert f.read(MiB // 2) == bytes([0x15]) * (MiB // 2)  # what is left of the next
        f.seek(0x580000)
        assert f.read(0x280000) == bytes(0x280000)  # the gap reads zeros


async def test_export_refuses_an_existing_name_in_words(tmp_path: Path) -> None:
    image = make_image(tmp_path / "disk.vhdx")
    taken = tmp_path / "taken.raw"
    taken.write_bytes(b"keep me")
    app = VhdxrayApp(image)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("e")
        await pilot.pause()
        field = app.screen.query_one("#export-path", Input)
        field.value = str(taken)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)  # the dialog stays for another name
        text = flat(screen_text(app))
        assert "already exists: export never overwrites a file" in text
    assert taken.read_bytes() == b"keep me"


async def test_export_cancel_removes_the_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vhdxray.core.write import export as core_export

    image = make_image(tmp_path / "disk.vhdx")
    started, release = threading.Event(), threading.Event()
    write_raw = core_export._write_raw

    def slow_write(*args: Any, **kwargs: Any) -> Any:  # the partial file exists by now
        started.set()
        assert release.wait(10)
        return write_raw(*args, **kwargs)

    monkeypatch.setattr(core_export, "_write_raw", slow_write)
    app = VhdxrayApp(image)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("enter")
        assert started.wait(10)
        await pilot.pause()
        assert isinstance(app.screen, ProgressScreen)
        assert list(tmp_path.glob(".disk.raw.vhdxray-partial-*"))  # being written
        await pilot.press("q")  # refused while the export runs
        await pilot.pause()
        assert return_code(app) is None
        await pilot.press("escape")
        await pilot.pause()
        assert "Cancelling" in screen_text(app)
        release.set()
        await settle(pilot)
        assert isinstance(app.screen, MessageScreen)
        text = flat(screen_text(app))
        assert "Export cancelled: the partial file was removed" in text
        assert "The image was only read and is unchanged" in text
    assert not (tmp_path / "disk.raw").exists()
    assert not list(tmp_path.glob(".disk.raw.vhdxray-partial-*"))


async def test_export_to_vhdx_then_O_opens_it(tmp_path: Path) -> None:
    image = make_image(tmp_path / "disk.vhdx")
    app = VhdxrayApp(image)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#format-vhdx", RadioButton).value = True
        await pilot.pause()
        assert app.screen.query_one("#export-path", Input).value == str(
            tmp_path / "disk.export.vhdx"
        )
        await pilot.press("enter")
        await settle(pilot)
        assert "press O to open the exported VHDX" in flat(screen_text(app))
        await pilot.press("escape", "O")
        await pilot.pause()
        assert app.image == tmp_path / "disk.export.vhdx"
        assert "Healthy" in flat(screen_text(app))
    if imagefiles.have("qemu-img"):
        assert imagefiles.qemu_img_check(tmp_path / "disk.export.vhdx").returncode == 0


async def test_export_is_in_the_palette(tmp_path: Path) -> None:
    app = VhdxrayApp(make_image(tmp_path / "disk.vhdx"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Export…" in titles


# --- 3: the headline names the guest layer on load --------------------------------------------


async def test_guest_headline_after_load_from_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first paint shows the container's headline; guest triage runs in a worker after
    it, and the headline then names the guest layer and the command to run."""
    from tests.tui.test_inside import ext4_needing_recovery
    from vhdxray.tui.screens import main as main_module

    image = ext4_needing_recovery(tmp_path)
    monkeypatch.setattr(MainScreen, "guest_inline", False)
    release = threading.Event()
    look_inside = main_module.look_inside

    def held(report: Any) -> Any:
        assert release.wait(10)
        return look_inside(report)

    monkeypatch.setattr(main_module, "look_inside", held)
    app = VhdxrayApp(image, display_name="ext4.vhdx")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        first = flat(screen_text(app))
        assert "OK  Healthy" in first  # painted before the guest was looked at
        assert "journal recovery" not in first
        release.set()
        await settle(pilot)
        text = flat(screen_text(app))
        assert "WARNING  Healthy: slot 2 is current and both slots are valid." in text
        assert "Nothing to repair in the container. Inside, ext4 needs journal recovery" in text
        assert "Next: run e2fsck -f (on Windows: wsl --mount --vhd ext4.vhdx --bare" in text
        info = app.screen.query_one(InfoBar)
        assert info.has_class("-warning")
        assert "container OK; ext4 needs recovery" in str(info.border_subtitle)
        main = app.screen
        assert isinstance(main, MainScreen) and main.guest_outcome is not None
        await pilot.press("i")  # the Inside screen reuses what the worker found
        await pilot.pause()
        assert "needs_recovery=yes" in screen_text(app)


async def test_no_guest_look_starts_once_the_app_is_quitting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A look scheduled for after the first frame is not started when the app was asked to
    quit meanwhile (the app would wait for the thread before exiting); it is started when it
    was not."""
    monkeypatch.setattr(MainScreen, "guest_inline", False)
    app = VhdxrayApp(make_image(tmp_path / "q.vhdx"), display_name="q")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        started = len(list(app.workers))
        main._start_guest(main.report)
        assert len(list(app.workers)) == started + 1
        await settle(pilot)
        finished = len(list(app.workers))  # the finished look is no longer listed
        app.exit()
        main._start_guest(main.report)
        assert len(list(app.workers)) == finished


async def test_guest_layer_named_for_an_unrecognised_disk(tmp_path: Path) -> None:
    app = VhdxrayApp(make_image(tmp_path / "disk.vhdx"), display_name="disk.vhdx")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        text = flat(screen_text(app))
        assert "Nothing to repair in the container. Inside, the disk holds data" in text
        assert "Press i for the inside." in text


# --- 5: the compact slot summary expands on Enter -----------------------------------------------


def displayed(widget: Any) -> bool:
    """``widget.display`` read afresh (see helpers.confirmation_shown for why a call)."""
    return bool(widget.display)


async def test_enter_expands_the_slot_summary_at_80x24(tmp_path: Path) -> None:
    app = VhdxrayApp(make_image(tmp_path / "s1.vhdx", damaged_slot=1), display_name="s1")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        slots = app.screen.query_one("#slots")
        text = screen_text(app)
        assert "Enter: both slots in full" in text
        assert "Slot 2 (128 KiB) ━ CURRENT" not in text and not displayed(slots)
        await pilot.press("enter")
        await pilot.pause()
        text = screen_text(app)
        assert displayed(slots)
        assert "Slot 1 (64 KiB) ━ INVALID" in text  # the first full panel, on screen
        assert "Enter: back to the summary" in text
        await pilot.press("enter")
        await pilot.pause()
        assert not displayed(slots)
        await pilot.resize_terminal(120, 40)  # wide: both panels side by side, always
        await pilot.pause()
        assert displayed(slots) and "Slot 2 (128 KiB) ━ CURRENT" in screen_text(app)


async def test_the_slot_summary_comes_when_a_wide_terminal_narrows(tmp_path: Path) -> None:
    """A wide first frame has no summary (it is made when the terminal first narrows): after
    the resize it shows this image's slots, Enter still expands and folds, and it goes with
    the terminal's widening."""
    app = VhdxrayApp(make_image(tmp_path / "s1.vhdx", damaged_slot=1), display_name="s1")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert not app.screen.query("#slot-summary")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        slots = app.screen.query_one("#slots")
        text = screen_text(app)
        assert not displayed(slots)
        assert "Enter: both slots in full" in text
        assert re.search(r"State +✗ INVALID +★ CURRENT", text), text
        await pilot.press("enter")
        await pilot.pause()
        assert displayed(slots) and "Enter: back to the summary" in screen_text(app)
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        summary = app.screen.query_one("#slot-summary")
        assert not displayed(summary) and "Slot 2 (128 KiB) ━ CURRENT" in screen_text(app)


# --- 4: Inside linked to the bytes of the virtual disk -----------------------------------------


async def test_inside_enter_shows_the_structure_bytes_and_where_the_file_holds_them(
    tmp_path: Path,
) -> None:
    from tests.tui.test_inside import ext4_needing_recovery
    from vhdxray.tui.screens.virtualhex import VirtualHexScreen
    from vhdxray.tui.widgets.inside import InsideScreen

    image = ext4_needing_recovery(tmp_path)
    app = VhdxrayApp(image, display_name="ext4.vhdx")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, InsideScreen)
        assert "Enter: the virtual disk's bytes there" in screen_text(app)
        await pilot.press("enter")  # the first structure: the ext superblock at 0x400
        await pilot.pause()
        assert isinstance(app.screen, VirtualHexScreen)
        text = screen_text(app)
        assert "Virtual disk bytes  ext superblock" in text
        assert "Virtual offset 0x400, 1024 bytes" in text
        mapped = re.search(r"0x400\.\.0x800  file offset 0x([0-9a-f]+) of this image", text)
        assert mapped is not None, text
        assert "53 ef" in text  # the ext magic at 0x438
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(current_screen(app), InsideScreen)
    # The mapping is true: the file holds the superblock where the screen says.
    with open(image, "rb") as f:
        f.seek(int(mapped.group(1), 16) + 0x38)
        assert f.read(2) == b"\x53\xef"


# --- 7: the terminal closed mid-write (SIGHUP) --------------------------------------------------


async def test_hang_up_during_an_export_cancels_it_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vhdxray.core.write import export as core_export

    image = make_image(tmp_path / "disk.vhdx")
    log = tmp_path / "hangup.log"
    monkeypatch.setenv("VHDXRAY_LOG", str(log))
    started, release = threading.Event(), threading.Event()
    write_raw = core_export._write_raw

    def slow_write(*args: Any, **kwargs: Any) -> Any:
        started.set()
        assert release.wait(10)
        return write_raw(*args, **kwargs)

    monkeypatch.setattr(core_export, "_write_raw", slow_write)
    app = VhdxrayApp(image)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("enter")
        assert started.wait(10)
        await pilot.pause()
        app.hang_up()  # what SIGHUP calls
        await pilot.pause()
        assert return_code(app) is None  # not between two writes: it waits
        assert app.terminal_lost
        release.set()
        await settle(pilot)
    assert app.return_code == 129
    said = log.read_text()
    assert "the terminal was closed (SIGHUP): export cancelled; the partial file was removed" in (
        said
    )
    assert not (tmp_path / "disk.raw").exists()
    assert not list(tmp_path.glob(".disk.raw.vhdxray-partial-*"))


async def test_hang_up_when_idle_exits_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "hangup.log"
    monkeypatch.setenv("VHDXRAY_LOG", str(log))
    app = VhdxrayApp(make_image(tmp_path / "disk.vhdx"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.hang_up()
        await pilot.pause()
    assert app.return_code == 129
    assert "no write was running; nothing was changed" in log.read_text()


# --- 8: the Backups row keeps its gap ------------------------------------------------------------


async def test_backups_row_has_a_gap_after_the_time(tmp_path: Path) -> None:
    """The row is "…UTC  header update" on the terminal. (A PNG made from the SVG by plain
    rsvg-convert loses leading no-break spaces of a text run and shows "UTCheader";
    scripts/screenshots.py's png_ready is the conversion to use.)"""
    app = VhdxrayApp(make_image(tmp_path / "disk.vhdx", damaged_slot=1))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("u")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        await pilot.press("b")
        await pilot.pause()
        assert re.search(r"UTC  header update  \d+ bytes", screen_text(app))


def test_a_gap_names_the_partition_it_falls_in() -> None:
    """The app words a gap as the CLI does: where it falls comes from core's guest triage."""
    from vhdxray.core.analysis.guest.base import Filesystem
    from vhdxray.core.analysis.guest.locate import places
    from vhdxray.core.analysis.guest.triage import GuestReport, Partition
    from vhdxray.core.write.export import Gap
    from vhdxray.tui.exportflow import gap_line

    guest = GuestReport(
        disk_size=64 * MiB,
        partition_table="mbr",
        partitions=[
            Partition(1, MiB, 8 * MiB, "0x83", "Linux", None, Filesystem("ext4")),
            Partition(2, 9 * MiB, 8 * MiB, "0x07", "NTFS", None, None),
        ],
    )

    def gap(start: int, end: int) -> Gap:
        return Gap(start, end, "past_end_of_file", places(guest, start, end))

    line = gap_line(gap(8 * MiB, 10 * MiB))
    assert line.endswith("; in partition 1 (Linux; ext4), partition 2 (NTFS; no filesystem found)")
    assert gap(8 * MiB, 10 * MiB).describe().endswith(line.split(": ", 1)[1].split("; in ")[-1])
    assert "; in " not in gap_line(gap(20 * MiB, 21 * MiB))


@pytest.mark.parametrize("offset", [0x400, 600 * 2**30 - 0x1000])  # low, and past 512 GiB
async def test_structure_bytes_rows_fit_80_columns(tmp_path: Path, offset: int) -> None:
    """Each 16-byte row (offset, bytes, ASCII) is one line at 80x24: the rows were 81
    columns wide, so every ASCII column wrapped onto a line of its own."""
    from vhdxray.core.write.create import CreateOptions, create_image
    from vhdxray.tui.screens.virtualhex import VirtualHexScreen

    data = bytes(range(0x41, 0x41 + 26)) * 4  # "ABC…Z" four times: every row has text
    image = create_image(
        tmp_path / "big.vhdx",
        CreateOptions(virtual_size=600 * 2**30, block_size=2**20),
        data=[(offset, data)],
    )
    app = VhdxrayApp(image)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(VirtualHexScreen(str(image), "big.vhdx", "test", offset, len(data)))
        await pilot.pause()
        await pilot.pause()
        rows = [line for line in screen_text(app).splitlines() if "│" in line]
        assert len(rows) == -(-len(data) // 16), screen_text(app)
        for n, row in enumerate(rows):
            chunk = data[n * 16 : n * 16 + 16]
            at = re.match(r"\s*0x([0-9a-f]+) ", row)
            assert at is not None and int(at.group(1), 16) == offset + n * 16, row
            assert chunk.hex(" ") in row and row.rstrip(" ▁▂▃▄▅▆▇█▌").endswith(chunk.decode()), row


def test_the_cut_short_headline_names_what_lies_past_the_end(tmp_path: Path) -> None:
    """A file cut in its data blocks (or one BAT entry pointing far past the end) still holds
    its whole BAT: the headline said "before the end of the BAT". It names the blocks the BAT
    points to; a file cut inside the BAT region itself still says "the BAT"."""
    import struct

    from vhdxray.core.analysis.reader import read_report
    from vhdxray.core.analysis.verdict import verdict
    from vhdxray.core.format import layout
    from vhdxray.tui.headline import headline

    def said(image: Path) -> str:
        report = read_report(image)
        return headline(report, verdict(report)).text

    blocks = "before the end of the data blocks its BAT points to."
    cut = said(cut_image(tmp_path))
    assert blocks in cut, cut
    wild = make_image(tmp_path / "wild.vhdx")
    tables = read_report(wild).region_tables
    assert tables is not None
    bat = next(e for e in tables[0].entries if e.guid == layout.BAT_GUID)
    damage.write_at(wild, bat.file_offset, struct.pack("<Q", (100_000 << 20) | 6))
    assert blocks in said(wild), said(wild)
    cut_bat = make_image(tmp_path / "cut-bat.vhdx")
    damage.truncate(cut_bat, bat.file_offset + 8)
    text = said(cut_bat)
    assert "before the end of the BAT." in text and "data blocks" not in text, text
