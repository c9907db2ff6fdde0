"""Snapshots (80x24 and 120x40) of the screens and dialogs added for the app's gaps: the
Export dialog and its summary, the expanded slot summary, the Hex view of a guest structure.
Update with ``--snapshot-update`` and look at the SVGs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.tui.helpers import make_image, settle
from tests.tui.test_app_gaps import cut_image
from vhdxray.tui.app import VhdxrayApp

SnapCompare = Callable[..., bool]

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]

pytestmark = pytest.mark.usefixtures("fixed_guids", "fixed_backup_name")


def _cut_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> VhdxrayApp:
    """The truncated image, opened by a relative name (the paths shown do not vary)."""
    cut_image(tmp_path)
    monkeypatch.chdir(tmp_path)
    return VhdxrayApp(Path("cut.vhdx"))


@pytest.mark.parametrize("size", SIZES)
class TestExport:
    def test_export_dialog(
        self,
        snap_compare: SnapCompare,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        size: tuple[int, int],
    ) -> None:
        app = _cut_app(tmp_path, monkeypatch)
        assert snap_compare(app, press=["e"], terminal_size=size)

    def test_export_summary_with_gaps(
        self,
        snap_compare: SnapCompare,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        size: tuple[int, int],
    ) -> None:
        async def run_before(pilot: Pilot[int]) -> None:
            await pilot.press("e")
            await pilot.pause()
            await pilot.press("enter")
            await settle(pilot)

        app = _cut_app(tmp_path, monkeypatch)
        assert snap_compare(app, run_before=run_before, terminal_size=size)


def clean_ext4(tmp_path: Path) -> Path:
    """An ext4 disk whose every byte is the same on each run: mkfs.ext4 with a fixed UUID, hash
    seed and time (no debugfs, which stamps the real time), converted by qemu-img."""
    import os
    import subprocess

    from tests.guestimages import require_tool, to_vhdx
    from tests.tui.test_inside import FIXED_UUID

    require_tool("mkfs.ext4", "e2fsprogs")
    raw = tmp_path / "ext4.img"
    with open(raw, "wb") as f:
        f.truncate(32 << 20)
    env = {**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"}
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-L", "wsl-data", "-U", FIXED_UUID,
         "-E", f"hash_seed={FIXED_UUID}", str(raw)],
        check=True,
        env=env,
    )  # fmt: skip
    return to_vhdx(raw, tmp_path / "ext4.vhdx")


@pytest.mark.parametrize("size", SIZES)
class TestGaps:
    def test_slots_expanded_on_enter(
        self, snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]
    ) -> None:
        image = make_image(tmp_path / "slot1-bad.vhdx", damaged_slot=1)
        app = VhdxrayApp(image, display_name="slot1-bad.vhdx")
        assert snap_compare(app, press=["enter"], terminal_size=size)

    def test_virtual_disk_bytes_of_a_structure(
        self, snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]
    ) -> None:
        app = VhdxrayApp(clean_ext4(tmp_path), display_name="ext4.vhdx")
        assert snap_compare(app, press=["i", "enter"], terminal_size=size)
