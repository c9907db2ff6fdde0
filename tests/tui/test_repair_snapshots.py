"""Snapshot tests of each repair's dialogs at 120x40 (pytest-textual-snapshot).

Deterministic: images from vhdxray's writer with GUIDs from a fixed sequence, damaged the same
way each run, or real images copied byte for byte; fixed display names and backup names (see
conftest). Update with ``pytest tests/tui/test_repair_snapshots.py --snapshot-update`` after a
deliberate change, and look at the SVGs before committing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests import damage
from tests import repairimages as ri
from tests.tui.helpers import make_image, settle
from vhdxray.core.format import layout
from vhdxray.core.write.create import CreateOptions, create_image
from vhdxray.tui.app import VhdxrayApp

SIZE = (120, 40)
MiB = layout.MiB
UNKNOWN_REGION = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")

SnapCompare = Callable[..., bool]

pytestmark = pytest.mark.usefixtures("fixed_guids", "fixed_backup_name")


def _pending(real_image: Callable[[str], Path]) -> VhdxrayApp:
    return VhdxrayApp(real_image("discutils-log-replay"), display_name="vhdx-log-replay.vhdx")


def _region_damaged(tmp_path: Path) -> VhdxrayApp:
    image = make_image(tmp_path / "region.vhdx")
    damage.break_region_checksum(image, 1)
    return VhdxrayApp(image, display_name="region.vhdx")


def _regions_differ(tmp_path: Path) -> VhdxrayApp:
    image = make_image(tmp_path / "regions.vhdx")
    damage.set_region_count(image, 2, 3, fix_crc=False)
    damage.set_region_entry(
        image, 2, 2, guid=UNKNOWN_REGION, file_offset=4 * MiB, length=MiB, required=0
    )
    return VhdxrayApp(image, display_name="regions.vhdx")


def _stale_guid(tmp_path: Path) -> VhdxrayApp:
    image = make_image(tmp_path / "stale.vhdx")
    ri.set_log_guid(image, ri.GUID)
    return VhdxrayApp(image, display_name="stale.vhdx")


def _cut(tmp_path: Path) -> VhdxrayApp:
    data = [(b * MiB, bytes([0x10 + b]) * MiB) for b in range(8)]
    image = create_image(
        tmp_path / "cut.vhdx",
        CreateOptions(virtual_size=64 * MiB, block_size=MiB, creator="vhdxray test"),
        data=data,
    )
    damage.truncate(image, image.stat().st_size - 2 * MiB - 512 * 1024)
    return VhdxrayApp(image, display_name="cut.vhdx")


async def _replay(pilot: Pilot[int]) -> None:
    await pilot.press("l", "y")
    await settle(pilot)


class TestRepairDialogs:
    def test_replay_confirmation(
        self, snap_compare: SnapCompare, real_image: Callable[[str], Path]
    ) -> None:
        assert snap_compare(_pending(real_image), press=["l"], terminal_size=SIZE)

    def test_replay_into_a_copy_confirmation(
        self, snap_compare: SnapCompare, real_image: Callable[[str], Path]
    ) -> None:
        assert snap_compare(_pending(real_image), press=["l", "c"], terminal_size=SIZE)

    def test_after_the_replay(
        self, snap_compare: SnapCompare, real_image: Callable[[str], Path]
    ) -> None:
        assert snap_compare(_pending(real_image), run_before=_replay, terminal_size=SIZE)

    def test_repair_menu(
        self, snap_compare: SnapCompare, real_image: Callable[[str], Path]
    ) -> None:
        assert snap_compare(_pending(real_image), press=["R"], terminal_size=SIZE)

    def test_findings_with_their_repairs(
        self, snap_compare: SnapCompare, real_image: Callable[[str], Path]
    ) -> None:
        assert snap_compare(_pending(real_image), press=["6"], terminal_size=SIZE)

    def test_region_table_confirmation(self, snap_compare: SnapCompare, tmp_path: Path) -> None:
        assert snap_compare(_region_damaged(tmp_path), press=["R", "1"], terminal_size=SIZE)

    def test_region_table_choice(self, snap_compare: SnapCompare, tmp_path: Path) -> None:
        assert snap_compare(_regions_differ(tmp_path), press=["R", "1"], terminal_size=SIZE)

    def test_region_table_chosen_confirmation(
        self, snap_compare: SnapCompare, tmp_path: Path
    ) -> None:
        assert snap_compare(_regions_differ(tmp_path), press=["R", "1", "2"], terminal_size=SIZE)

    def test_stale_log_guid_confirmation(self, snap_compare: SnapCompare, tmp_path: Path) -> None:
        assert snap_compare(_stale_guid(tmp_path), press=["R", "1"], terminal_size=SIZE)

    def test_header_slot_choice(
        self, snap_compare: SnapCompare, real_image: Callable[[str], Path]
    ) -> None:
        app = VhdxrayApp(real_image("qemu-disk2vhd"), display_name="test-disk2vhd.vhdx")
        assert snap_compare(app, press=["R", "1"], terminal_size=SIZE)

    def test_header_chosen_slot_confirmation(
        self, snap_compare: SnapCompare, real_image: Callable[[str], Path]
    ) -> None:
        app = VhdxrayApp(real_image("qemu-disk2vhd"), display_name="test-disk2vhd.vhdx")
        assert snap_compare(app, press=["R", "1", "2"], terminal_size=SIZE)

    def test_truncation_map_in_the_bat_view(
        self, snap_compare: SnapCompare, tmp_path: Path
    ) -> None:
        assert snap_compare(_cut(tmp_path), press=["5"], terminal_size=SIZE)

    def test_truncation_refused(self, snap_compare: SnapCompare, tmp_path: Path) -> None:
        assert snap_compare(_cut(tmp_path), press=["R", "1"], terminal_size=SIZE)
