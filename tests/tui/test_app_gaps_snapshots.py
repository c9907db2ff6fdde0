"""Snapshots (80x24 and 120x40) of the screens and dialogs added for the app's gaps: the
Export dialog and its summary, the expanded slot summary, the Hex view of a guest structure.
Update with ``--snapshot-update`` and look at the SVGs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.tui.helpers import settle
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
