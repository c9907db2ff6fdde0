"""The repairs of issue 4, driven through the app with Pilot on real bytes: each repair is
reached from a key, the Repair… menu, the findings view or the palette, confirmed (or
cancelled), run in the worker, and the image is checked afterwards by vhdxray and by QEMU."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import OptionList, Static

from tests import damage, reports
from tests import repairimages as ri
from tests.conftest import require
from tests.imagefiles import qemu_img_check, sparse_digest
from tests.tui.helpers import (
    confirmation_shown,
    content_text,
    fixed_backup_name,
    flat,
    is_busy,
    screen_text,
    settle,
)
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.outcome import Option, Suggestion
from vhdxray.core.write import repair as core_repair
from vhdxray.core.write import replay as replay_module
from vhdxray.core.write.create import CreateOptions, create_image
from vhdxray.core.write.repair import RepairOptions, plan_repairs
from vhdxray.tui import repairs
from vhdxray.tui.app import VhdxrayApp
from vhdxray.tui.outcome import cli_text
from vhdxray.tui.screens.confirm import ConfirmScreen
from vhdxray.tui.screens.dialogs import ErrorScreen
from vhdxray.tui.screens.main import MainScreen
from vhdxray.tui.screens.progress import ProgressScreen
from vhdxray.tui.screens.repairmenu import RepairMenuScreen

SIZE = (120, 40)
MiB = layout.MiB
UNKNOWN_REGION = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")

pytestmark = pytest.mark.usefixtures("fixed_backup_name")


# --- images ---------------------------------------------------------------------------------


@pytest.fixture
def data_image(qemu_image: Callable[..., Path]) -> Path:
    """64 MiB qemu-img image, 1 MiB blocks, data in blocks 1 (0x5a) and 4 (0x11)."""
    require("qemu-io", "qemu-utils")
    return ri.make_data_image(qemu_image)


def add_unknown_region(path: Path, copy: int) -> None:
    """Copy ``copy`` lists a third (not required) region: both copies valid, but different."""
    damage.set_region_count(path, copy, 3, fix_crc=False)
    damage.set_region_entry(
        path, copy, 2, guid=UNKNOWN_REGION, file_offset=4 * MiB, length=MiB, required=0
    )


def cut_image(path: Path) -> Path:
    """8 blocks of data, then the last 2.5 MiB cut off (blocks 5..7 lost)."""
    data = [(b * MiB, bytes([0x10 + b]) * MiB) for b in range(8)]
    create_image(path, CreateOptions(virtual_size=64 * MiB, block_size=MiB), data=data)
    damage.truncate(path, path.stat().st_size - 2 * MiB - 512 * 1024)
    return path


def sha(path: Path) -> tuple[int, str]:
    """The file's size and a digest of its bytes (equal iff the bytes are equal): holes are
    skipped, so the 260 MiB disk2vhd image (4 MiB of data) is not read and hashed whole."""
    return sparse_digest(path)


def folder_listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def region_copies(path: Path) -> tuple[bytes, bytes]:
    a, b = (
        damage.read_at(path, off, layout.REGION_TABLE_SIZE) for off in layout.REGION_TABLE_OFFSETS
    )
    return a, b


def errors(path: Path) -> list[str]:
    return [f.code for f in read_report(path).findings if f.severity == "error"]


def confirm_text(app: VhdxrayApp) -> str:
    assert isinstance(app.screen, ConfirmScreen), type(app.screen).__name__
    return content_text(app.screen.query_one("#dialog-body", Static), width=300)


def status_text(app: VhdxrayApp) -> str:
    assert isinstance(app.screen, MainScreen), type(app.screen).__name__
    return content_text(app.screen.query_one("#status", Static), width=300)


async def open_from_menu(pilot: Pilot[int], title: str) -> None:
    """R, then the numbered menu entry whose title is ``title``."""
    app = pilot.app
    await pilot.press("R")
    await pilot.pause()
    assert isinstance(app.screen, RepairMenuScreen)
    titles = [item.title for item in app.screen.items]
    assert title in titles, titles
    await pilot.press(str(titles.index(title) + 1))
    await pilot.pause()
    assert isinstance(app.screen, ConfirmScreen)


def expected_backups(image: Path, *operations: str) -> list[Path]:
    return [image.parent / fixed_backup_name(image, op) for op in operations]


def qemu_reads_mbr(path: Path) -> bool:
    out = subprocess.run(
        ["qemu-io", "-f", "vhdx", "-c", "read -v 510 2", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return "000001fe:  55 aa" in out


def test_every_repair_declares_its_backups() -> None:
    from vhdxray.core.analysis import repairids

    assert set(repairids.BACKUP_OPERATIONS) == set(repairids.ORDER)


# --- log replay -----------------------------------------------------------------------------


async def test_log_replay_on_the_discutils_image(real_image: Callable[[str], Path]) -> None:
    require("qemu-img", "qemu-utils")
    image = real_image("discutils-log-replay")
    assert reports.log(image).replay_needed
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        assert app.active_bindings["l"].enabled  # offered in the Footer while pending
        await pilot.press("4")
        await pilot.pause()
        text = flat(screen_text(app))
        assert "Log replay preview: what a replay would write now" in text
        assert "1 pending, 0 already applied, 1 superseded" in text
        assert "l = replay the log" in text
        await pilot.press("l")
        await pilot.pause()
        body = confirm_text(app)
        assert "vhdxray will write exactly this:" in body
        assert "Page by page" in body
        assert "0x300000" in body and "pending" in body and "superseded" in body
        predicted = expected_backups(image, "replay-headers", "log-replay", "replay-clear-log-guid")
        for backup in predicted:
            assert backup.name in body
        assert "replay into a new copy" in body  # c, the copy, is offered
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.last_write is not None
        assert list(app.last_write.backups) == predicted
        status = status_text(app)
        assert "✓ Replay the pending log: done. No error finding remains." in status
        for backup in predicted:
            assert backup.exists()
            assert str(backup) in status
        assert "press b and restore them in this order" in status
        assert "vhdxray restore" not in status  # the app says keys, not commands
        assert "REPLAY NEEDED" not in screen_text(app)
        assert "clean: nothing to replay" in screen_text(app)
        assert "l" not in app.active_bindings  # no replay pending any more
    after = read_report(image)
    assert after.log is not None and not after.log.replay_needed
    assert after.effective_header is not None
    assert after.effective_header.log_guid == layout.ZERO_GUID
    assert plan_repairs(after).nothing_to_do
    check = qemu_img_check(image)
    assert check.returncode == 0, check.stdout + check.stderr
    assert qemu_reads_mbr(image)


async def test_replay_from_the_findings_view(real_image: Callable[[str], Path]) -> None:
    image = real_image("discutils-log-replay")
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await pilot.pause()
        text = screen_text(app)
        assert "⚒ repair: Replay the pending log  (Enter)" in text
        listing = app.screen.query_one("#findings-list", OptionList)
        assert listing.has_focus and listing.highlighted == 0
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.confirmation.title == "Replay the pending log"
        assert not app.screen.confirmation.refused
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("down", "enter")  # log.stale_entries: no repair
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_update_headers_on_a_pending_log_points_to_the_replay(
    real_image: Callable[[str], Path],
) -> None:
    image = real_image("discutils-log-replay")
    original = sha(image)
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        await pilot.pause()
        assert confirmation_shown(app).refused
        text = flat(screen_text(app))
        assert "a log replay is pending" in text
        assert "press l here" in text
        await pilot.press("y")  # not offered
        await pilot.pause()
        assert confirmation_shown(app).refused
        await pilot.press("l")  # the offer: the replay's own confirmation
        await pilot.pause()
        assert confirmation_shown(app).title == "Replay the pending log"
        assert not confirmation_shown(app).refused
        await pilot.press("escape")
        await settle(pilot)
    assert sha(image) == original


async def test_replay_into_a_copy_leaves_the_original_alone(
    real_image: Callable[[str], Path],
) -> None:
    require("qemu-img", "qemu-utils")
    image = real_image("discutils-log-replay")
    original = sha(image)
    copy = image.with_name("discutils-log-replay.replayed.vhdx")
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.confirmation.title == "Replay the pending log (into a copy)"
        body = confirm_text(app)
        assert f"First copy the image to the new file {copy}" in body
        predicted = expected_backups(copy, "replay-headers", "log-replay", "replay-clear-log-guid")
        for backup in predicted:
            assert backup.name in body
        assert not copy.exists()
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        status = status_text(app)
        assert f"done on the copy {copy}; the original is unchanged" in status
        assert "a log replay is pending" in flat(screen_text(app))  # still the original
    assert sha(image) == original
    assert copy.exists() and all(b.exists() for b in predicted)
    after = read_report(copy)
    assert after.log is not None and not after.log.replay_needed
    assert qemu_img_check(copy).returncode == 0
    assert qemu_reads_mbr(copy)


# --- region tables --------------------------------------------------------------------------


async def test_region_table_repair_rewrites_the_bad_copy(data_image: Path) -> None:
    before = ri.virtual_digest(data_image)
    good = region_copies(data_image)[1]
    damage.break_region_checksum(data_image, 1)
    assert ri.qemu_check_rc(data_image) != 0  # QEMU reads copy 1 only
    app = VhdxrayApp(data_image)
    async with app.run_test(size=SIZE) as pilot:
        await open_from_menu(pilot, "Rewrite region table copy 1 from copy 2")
        body = confirm_text(app)
        assert "First the headers are updated" in body
        assert "Write copy 2's 64 KiB over copy 1 at offset 0x30000" in body
        predicted = expected_backups(data_image, "region-table-headers", "region-table")
        assert all(b.name in body for b in predicted)
        await pilot.press("y")
        await settle(pilot)
        assert app.last_write is not None and list(app.last_write.backups) == predicted
        assert "No error finding remains." in status_text(app)
    copy1, copy2 = region_copies(data_image)
    assert copy1 == copy2 == good
    report = read_report(data_image)
    assert report.region_tables is not None and all(t.valid for t in report.region_tables)
    assert errors(data_image) == []
    assert ri.qemu_check_rc(data_image) == 0
    assert ri.virtual_digest(data_image) == before


@pytest.mark.parametrize("winner", [1, 2])
async def test_region_tables_that_differ_need_a_choice(data_image: Path, winner: int) -> None:
    add_unknown_region(data_image, 2)
    winner_bytes = region_copies(data_image)[winner - 1]
    app = VhdxrayApp(data_image)
    async with app.run_test(size=SIZE) as pilot:
        await open_from_menu(pilot, "Repair the region tables")
        assert isinstance(app.screen, ConfirmScreen)
        c = app.screen.confirmation
        assert c.choice_needed and c.refused
        assert [(o.key, o.options) for o in c.offers] == [
            ("1", (("region_table_from", 1),)),
            ("2", (("region_table_from", 2),)),
        ]
        body = confirm_text(app)
        assert "A CHOICE IS NEEDED" in body
        assert "Copy 1:" in body and "Copy 2:" in body and "unknown region" in body
        assert "copy 1 wins: copy 2 is overwritten with it" in body
        assert "they will now use the regions of copy 2" in body  # choice 2's consequence
        await pilot.press("y")  # no y before the choice
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.screen.confirmation.choice_needed
        await pilot.press(str(winner))
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert not app.screen.confirmation.refused
        assert f"You chose copy {winner}" in confirm_text(app)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    copy1, copy2 = region_copies(data_image)
    assert copy1 == copy2 == winner_bytes
    assert "region.copies_differ" not in {f.code for f in read_report(data_image).findings}
    assert ri.qemu_check_rc(data_image) == 0


# --- stale LogGuid ----------------------------------------------------------------------------


async def test_stale_log_guid_is_cleared(data_image: Path) -> None:
    before = ri.virtual_digest(data_image)
    ri.set_log_guid(data_image, ri.GUID)
    assert "log.no_valid_sequence" in errors(data_image)
    log_before = damage.read_at(data_image, MiB, MiB)
    dwg = reports.effective_header(data_image).data_write_guid
    app = VhdxrayApp(data_image)
    async with app.run_test(size=SIZE) as pilot:
        await open_from_menu(pilot, "Clear the stale LogGuid")
        body = confirm_text(app)
        assert "No data is lost by clearing it" in body
        assert f"LogGuid: 00000000-0000-0000-0000-000000000000 (was {ri.GUID})" in body
        assert expected_backups(data_image, "clear-log-guid")[0].name in body
        await pilot.press("y")
        await settle(pilot)
        assert "No error finding remains." in status_text(app)
        assert app.last_write is not None
        assert list(app.last_write.backups) == expected_backups(data_image, "clear-log-guid")
    eff = read_report(data_image).effective_header
    assert eff is not None and eff.log_guid == layout.ZERO_GUID and eff.data_write_guid == dwg
    assert damage.read_at(data_image, MiB, MiB) == log_before
    assert errors(data_image) == []
    assert ri.qemu_check_rc(data_image) == 0
    assert ri.virtual_digest(data_image) == before


# --- headers from a chosen slot -----------------------------------------------------------------


@pytest.mark.parametrize("slot", [1, 2])
async def test_disk2vhd_headers_from_a_chosen_slot(
    real_image: Callable[[str], Path], slot: int
) -> None:
    require("qemu-img", "qemu-utils")
    image = real_image("qemu-disk2vhd")
    before = read_report(image)
    dwg = reports.effective_header(before).data_write_guid
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await open_from_menu(pilot, "Rewrite both headers")
        c = confirmation_shown(app)
        assert c.choice_needed and [o.key for o in c.offers] == ["1", "2"]
        body = confirm_text(app)
        assert "the same sequence number 1 and identical bytes" in body
        assert f"Afterwards header {slot} is current." in body
        await pilot.press(str(slot))
        await pilot.pause()
        body = confirm_text(app)
        assert f"Build the new header from header {slot}." in body
        assert f"Write header slot {3 - slot} (offset" in body
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.report.current_header == slot
    after = read_report(image)
    assert after.current_header == slot
    assert after.headers is not None and all(h.valid for h in after.headers)
    assert after.effective_header is not None and after.effective_header.data_write_guid == dwg
    assert plan_repairs(after).nothing_to_do
    check = qemu_img_check(image)
    assert check.returncode == 0, check.stdout + check.stderr


async def test_headers_that_differ_need_a_chosen_slot(data_image: Path) -> None:
    damage.copy_header(data_image, 2, 1)
    chosen = uuid.UUID("11111111-2222-4333-8444-555555555555")
    damage.set_header_field(data_image, 1, "data_write_guid", chosen)
    app = VhdxrayApp(data_image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u")  # the plain update refuses and points to the slot choice
        await pilot.pause()
        assert confirmation_shown(app).refused
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.confirmation.choice_needed
        body = confirm_text(app)
        assert "They differ in: data_write_guid." in body
        assert "Header 2's differing fields will be lost." in body
        await pilot.press("1")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    eff = read_report(data_image).effective_header
    assert eff is not None and eff.data_write_guid == chosen
    assert ri.qemu_check_rc(data_image) == 0


# --- cancel, read-only, busy, failures, refusals ---------------------------------------------


def _pending(real_image: Callable[[str], Path], _qemu: Any) -> tuple[Path, list[str]]:
    return real_image("discutils-log-replay"), ["l"]


def _pending_copy(real_image: Callable[[str], Path], _qemu: Any) -> tuple[Path, list[str]]:
    return real_image("discutils-log-replay"), ["l", "c"]


def _disk2vhd(real_image: Callable[[str], Path], _qemu: Any) -> tuple[Path, list[str]]:
    return real_image("qemu-disk2vhd"), ["R", "1", "2"]


def _region(_real: Any, qemu_image: Callable[..., Path]) -> tuple[Path, list[str]]:
    path = qemu_image("64M", "block_size=1M")
    damage.break_region_checksum(path, 2)
    return path, ["R", "1"]


def _region_choice(_real: Any, qemu_image: Callable[..., Path]) -> tuple[Path, list[str]]:
    path = qemu_image("64M", "block_size=1M")
    add_unknown_region(path, 1)
    return path, ["R", "1", "2"]


def _stale(_real: Any, qemu_image: Callable[..., Path]) -> tuple[Path, list[str]]:
    path = qemu_image("64M", "block_size=1M")
    ri.set_log_guid(path, ri.GUID)
    return path, ["R", "1"]


@pytest.mark.parametrize(
    "scenario",
    [_pending, _pending_copy, _disk2vhd, _region, _region_choice, _stale],
    ids=["replay", "replay-copy", "headers-slot", "region", "region-choice", "stale-guid"],
)
async def test_cancel_writes_nothing(
    real_image: Callable[[str], Path],
    qemu_image: Callable[..., Path],
    scenario: Callable[..., tuple[Path, list[str]]],
) -> None:
    """Each repair's confirmation, cancelled with n and then (reached again in the same
    session) with Escape: nothing written, no backup, no copy after either."""
    image, keys = scenario(real_image, qemu_image)
    original = sha(image)
    listing = folder_listing(image)
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        for key in ("n", "escape"):
            for k in keys:
                await pilot.press(k)
                await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen), key
            assert not app.screen.confirmation.refused, key  # the confirmation proper, y offered
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, MainScreen), key
            assert app.last_write is None, key
            assert sha(image) == original, key
            assert folder_listing(image) == listing, key  # no backup, no copy


async def test_read_only_hides_every_repair(real_image: Callable[[str], Path]) -> None:
    image = real_image("discutils-log-replay")
    original = sha(image)
    app = VhdxrayApp(image, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        for key in ("u", "l", "R"):
            assert key not in app.active_bindings
        assert "Repair…" not in screen_text(app) and "Replay log" not in screen_text(app)
        await pilot.press("R", "l")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("4")
        await pilot.pause()
        text = screen_text(app)
        assert "Log replay preview" in text  # information stays
        assert "l = replay the log" not in text
        await pilot.press("6")
        await pilot.pause()
        assert "⚒ repair" not in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert not [t for t in titles if "Repair" in t or "Replay" in t or "Update" in t]
    assert sha(image) == original
    assert folder_listing(image) == [image.name]


async def test_palette_lists_the_repairs_the_image_needs(
    real_image: Callable[[str], Path],
) -> None:
    image = real_image("discutils-log-replay")
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"into a copy")
        await pilot.pause(0.3)
        assert "Repair: Replay log into a copy" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.confirmation.title == "Replay the pending log (into a copy)"
        await pilot.press("n")


async def test_busy_disables_the_repairs(
    real_image: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    image = real_image("discutils-log-replay")
    release = threading.Event()
    original_run = core_repair.run_repairs

    def slow(*args: Any, **kwargs: Any) -> core_repair.RepairRun:
        assert release.wait(10)
        return original_run(*args, **kwargs)

    monkeypatch.setattr(core_repair, "run_repairs", slow)
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l", "y")
        await pilot.pause()
        assert app.busy
        assert isinstance(app.screen, ProgressScreen)
        assert "Replay the pending log" in screen_text(app)
        assert "Esc or c: cancel" in screen_text(app)
        for action, params in (("write", ("update-headers",)), ("repair_menu", ()), ("reload", ())):
            assert not app.check_action(action, params), action
        await pilot.press("R")
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, ProgressScreen)
        release.set()
        await settle(pilot)
        assert not is_busy(app)
        assert app.last_write is not None
        assert app.active_bindings["R"].enabled
    assert not reports.log(image).replay_needed


async def test_a_failed_replay_shows_the_restore_commands(
    real_image: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up at the replay's page write: the header update before it is done;
    both backups (the header update's and the failed step's) are listed with the restore
    commands, newest first."""
    from vhdxray.core.fileio import pwrite_all as original_write

    image = real_image("discutils-log-replay")
    calls = {"n": 0}

    def pwrite_all(fd: int, offset: int, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # slot writes 1 and 2 went through; the page write fails
            raise OSError(28, "No space left on device")
        original_write(fd, offset, data)

    monkeypatch.setattr("vhdxray.core.write.session.pwrite_all", pwrite_all)
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l", "y")
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert "The repair FAILED part-way" in screen_text(app)
        body = content_text(app.screen.query_one("#dialog-body", Static), width=300)
        assert "No space left on device" in body
        written = expected_backups(image, "replay-headers", "log-replay")
        assert all(b.exists() for b in written)
        first, second = (body.index(str(b)) for b in reversed(written))
        assert first < second  # newest first
        assert "Running the repair again finishes the job" in body
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert not app.busy
        assert "✗ The repair FAILED part-way" in status_text(app)
    assert reports.log(image).replay_needed


async def test_truncation_is_mapped_never_repaired(tmp_path: Path) -> None:
    image = cut_image(tmp_path / "cut.vhdx")
    original = sha(image)
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        text = flat(screen_text(app))
        assert "Truncation map: the file was cut short" in text
        assert "it should be at least 12582912 bytes (2621440 bytes missing)" in text
        assert "virtual bytes 5767168-8388607 (LBA 11264-16383" in text
        await open_from_menu(pilot, "The file is truncated")
        c = confirmation_shown(app)
        assert c.refused and not c.offers
        assert "vhdxray never invents the missing data" in confirm_text(app)
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await pilot.press("6")
        await pilot.pause()
        assert "✗ not repaired:" in screen_text(app)
    assert sha(image) == original
    assert folder_listing(image) == [image.name]


async def test_nothing_to_repair(tmp_path: Path) -> None:
    image = create_image(tmp_path / "ok.vhdx", CreateOptions(virtual_size=64 * MiB, block_size=MiB))
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, RepairMenuScreen)
        assert "Nothing to repair" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_image_in_use_refuses_the_repair(data_image: Path) -> None:
    require("qemu-nbd", "qemu-utils")
    damage.break_region_checksum(data_image, 2)
    socket = data_image.with_name("nbd.sock")
    proc = subprocess.Popen(
        ["qemu-nbd", "-k", str(socket), "-f", "vhdx", str(data_image)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(500):
            if socket.exists():
                break
            threading.Event().wait(0.02)
        original = sha(data_image)
        app = VhdxrayApp(data_image)
        async with app.run_test(size=SIZE) as pilot:
            await open_from_menu(pilot, "Rewrite region table copy 2 from copy 1")
            c = confirmation_shown(app)
            assert c.refused and "in use by QEMU" in (c.refusal or "")
            await pilot.press("y", "escape")
            await settle(pilot)
        assert sha(data_image) == original
    finally:
        proc.kill()
        proc.wait(timeout=10)


async def test_hostile_parent_path_is_shown_literally(tmp_path: Path) -> None:
    from vhdxray.core.write.create import create_child

    name = "[red]p\x1b]2;PWNED\x07[@click=app.quit]x\u202e.vhdx"
    parent = create_image(tmp_path / name, CreateOptions(virtual_size=64 * MiB, block_size=MiB))
    child = tmp_path / "child.vhdx"
    create_child(child, parent)
    app = VhdxrayApp(child)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        text = screen_text(app)
        assert "Parent link" in text
        assert "[red]p\\x1b]2;PWNED\\x07[@click=app.quit]x\\u202e.vhdx" in text
        assert "\x1b" not in text and "\u202e" not in text
        assert app.is_running


def test_copy_path_never_overwrites(tmp_path: Path) -> None:
    image = tmp_path / "disk.vhdx"
    assert repairs.copy_path(image) == tmp_path / "disk.replayed.vhdx"
    (tmp_path / "disk.replayed.vhdx").write_bytes(b"x")
    assert repairs.copy_path(image) == tmp_path / "disk.replayed-2.vhdx"


def test_menu_offers_the_copy_when_in_place_is_too_big(
    real_image: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay refused in place (more zeroed data than a backup holds) is offered into a copy."""
    image = real_image("discutils-log-replay")
    monkeypatch.setattr(replay_module, "MAX_ZEROED_DATA", -1)
    report = read_report(image)
    plan = plan_repairs(report)
    assert [r.id for r in plan.refusals] == [repairs.REPLAY]
    items = repairs.menu_items(plan, plan_repairs(report, RepairOptions(into_copy=True)))
    assert [i.action for i in items] == ["replay-log", "replay-log-copy"]
    assert items[0].state == "refused"
    # The refusal suggests the copy as data: the app says its key, the CLI its flag.
    (refused,) = plan.refusals
    assert refused.suggest == (Suggestion(Option.OUTPUT),)
    assert (
        items[0].lines[0].endswith("(into a copy: c in the repair dialog)")
        and "--" not in items[0].lines[0]
    )
    assert cli_text(refused.reason, refused.suggest).endswith("(--output COPY)")


def test_first_paint_plans_nothing(tmp_path: Path) -> None:
    """Up to the first frame the app neither plans repairs nor loads any writing code; the
    planner runs when a view that shows its results is opened."""
    image = create_image(tmp_path / "p.vhdx", CreateOptions(virtual_size=64 * MiB, block_size=MiB))
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from vhdxray.tui.app import VhdxrayApp\n"
        "WATCH = ('vhdxray.core.write.repair', 'vhdxray.core.write.writer',\n"
        "         'vhdxray.core.analysis.truncation')\n"
        "class Probe(VhdxrayApp):\n"
        "    def on_ready(self):\n"
        "        print([m for m in WATCH if m in sys.modules])\n"
        "        self.screen.action_view('log')\n"
        "        self.call_after_refresh(self.done)\n"
        "    def done(self):\n"
        "        print([m for m in WATCH if m in sys.modules])\n"
        "        self.exit()\n"
        "Probe(Path(sys.argv[1])).run(headless=True, size=(120, 40))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(image)], capture_output=True, text=True, check=True
    )
    before, after = done.stdout.strip().splitlines()[-2:]
    assert before == "[]"
    assert "vhdxray.core.write.repair" in after
