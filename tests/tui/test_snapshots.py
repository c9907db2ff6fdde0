"""Snapshot tests (pytest-textual-snapshot) of the app's main states at 120x40.

Images are deterministic: made by vhdxray's writer with GUIDs from a fixed sequence, or real
images copied byte for byte; the app shows a fixed display name instead of the tmp path, and
backup files get a fixed name. Update the SVGs with ``pytest tests/tui --snapshot-update``
after a deliberate change, and look at them (``snapshot_report.html``) before committing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerFailed

from tests.tui.helpers import HOSTILE_CREATOR, make_image
from vhdxray.tui.app import VhdxrayApp

SIZE = (120, 40)

SnapCompare = Callable[..., bool]

pytestmark = pytest.mark.usefixtures("fixed_guids", "fixed_backup_name")


async def _update(pilot: Pilot[int]) -> None:
    await pilot.press("u", "y")
    await pilot.pause()
    with suppress(WorkerFailed, WorkerCancelled):
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _mbr_file(path: Path) -> Path:
    sector = bytearray(1 << 20)
    sector[446 + 4] = 0x83
    sector[510:512] = b"\x55\xaa"
    path.write_bytes(bytes(sector))
    return path


class TestHeaderView:
    def test_clean_image(self, snap_compare: SnapCompare, tmp_path: Path) -> None:
        image = make_image(tmp_path / "clean.vhdx")
        app = VhdxrayApp(image, display_name="clean.vhdx")
        assert snap_compare(app, terminal_size=SIZE)

    def test_one_bad_slot(self, snap_compare: SnapCompare, tmp_path: Path) -> None:
        image = make_image(tmp_path / "bad-slot.vhdx", damaged_slot=2)
        app = VhdxrayApp(image, display_name="bad-slot.vhdx")
        assert snap_compare(app, terminal_size=SIZE)

    def test_no_current_header(
        self, snap_compare: SnapCompare, real_image: Callable[[str], Path]
    ) -> None:
        app = VhdxrayApp(real_image("qemu-disk2vhd"), display_name="test-disk2vhd.vhdx")
        assert snap_compare(app, terminal_size=SIZE)

    def test_pending_log(
        self, snap_compare: SnapCompare, real_image: Callable[[str], Path]
    ) -> None:
        app = VhdxrayApp(real_image("discutils-log-replay"), display_name="vhdx-log-replay.vhdx")
        assert snap_compare(app, terminal_size=SIZE)

    def test_hostile_creator(self, snap_compare: SnapCompare, tmp_path: Path) -> None:
        image = make_image(tmp_path / "hostile.vhdx", creator=HOSTILE_CREATOR)
        app = VhdxrayApp(image, display_name="hostile.vhdx")
        assert snap_compare(app, terminal_size=SIZE)


class TestUpdate:
    def test_confirmation(self, snap_compare: SnapCompare, tmp_path: Path) -> None:
        image = make_image(tmp_path / "bad-slot.vhdx", damaged_slot=2)
        app = VhdxrayApp(image, display_name="bad-slot.vhdx")
        assert snap_compare(app, press=["u"], terminal_size=SIZE)

    def test_after_update(self, snap_compare: SnapCompare, tmp_path: Path) -> None:
        image = make_image(tmp_path / "bad-slot.vhdx", damaged_slot=2)
        app = VhdxrayApp(image, display_name="bad-slot.vhdx")
        assert snap_compare(app, run_before=_update, terminal_size=SIZE)

    def test_pending_log_refusal(
        self, snap_compare: SnapCompare, real_image: Callable[[str], Path]
    ) -> None:
        app = VhdxrayApp(real_image("discutils-log-replay"), display_name="vhdx-log-replay.vhdx")
        assert snap_compare(app, press=["u"], terminal_size=SIZE)


class TestOtherViews:
    def test_log_view_pending(
        self, snap_compare: SnapCompare, real_image: Callable[[str], Path]
    ) -> None:
        app = VhdxrayApp(real_image("discutils-log-replay"), display_name="vhdx-log-replay.vhdx")
        assert snap_compare(app, press=["4"], terminal_size=SIZE)

    def test_hex_view(self, snap_compare: SnapCompare, tmp_path: Path) -> None:
        image = make_image(tmp_path / "bad-slot.vhdx", damaged_slot=2)
        app = VhdxrayApp(image, display_name="bad-slot.vhdx")
        assert snap_compare(app, press=["7"], terminal_size=SIZE)

    def test_explanation_screen(self, snap_compare: SnapCompare, tmp_path: Path) -> None:
        path = _mbr_file(tmp_path / "disk.img")
        app = VhdxrayApp(path, display_name="disk.img")
        assert snap_compare(app, terminal_size=SIZE)

    def test_read_only_footer(self, snap_compare: SnapCompare, tmp_path: Path) -> None:
        image = make_image(tmp_path / "bad-slot.vhdx", damaged_slot=2)
        app = VhdxrayApp(image, display_name="bad-slot.vhdx", read_only=True)
        assert snap_compare(app, terminal_size=SIZE)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_not_a_regular_file_screen(
    snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]
) -> None:
    """A directory named as the image (a FIFO shows the same screen, never opened)."""
    folder = tmp_path / "images"
    folder.mkdir()
    app = VhdxrayApp(folder, display_name="images")
    assert snap_compare(app, terminal_size=size)
