"""Snapshots at 80x24 and 120x40: the main screen, every view, every dialog of issue 13's
screens (progress, cancel result, backups, open, chain), and the confirmations that must keep
their question and answers on a small terminal. Update with ``--snapshot-update`` and look."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.tui.helpers import make_image, settle
from vhdxray.core.progress import Progress
from vhdxray.tui.app import VhdxrayApp
from vhdxray.tui.screens.progress import ProgressScreen

SnapCompare = Callable[..., bool]

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]

pytestmark = pytest.mark.usefixtures("fixed_guids", "fixed_backup_name")


def _bad_slot1(tmp_path: Path) -> VhdxrayApp:
    image = make_image(tmp_path / "slot1-bad.vhdx", damaged_slot=1)
    return VhdxrayApp(image, display_name="slot1-bad.vhdx")


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _progress() -> Progress:
    clock = _Clock()
    p = Progress(clock=clock)
    p.start(1536 << 20, "copying the image")
    p.advance(512 << 20)
    clock.now = 4.0
    return p


@pytest.mark.parametrize("size", SIZES)
class TestMain:
    def test_first_screen(
        self, snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]
    ) -> None:
        assert snap_compare(_bad_slot1(tmp_path), terminal_size=size)

    @pytest.mark.parametrize("key", ["2", "3", "4", "5", "6", "7"])
    def test_view(
        self, snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int], key: str
    ) -> None:
        assert snap_compare(_bad_slot1(tmp_path), press=[key], terminal_size=size)

    def test_chain_view_parent_missing(
        self,
        snap_compare: SnapCompare,
        real_image: Callable[[str], Path],
        size: tuple[int, int],
    ) -> None:
        app = VhdxrayApp(real_image("dissect-differencing"), display_name="child.avhdx")
        assert snap_compare(app, press=["8"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
class TestDialogs:
    def test_update_confirmation(
        self, snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]
    ) -> None:
        assert snap_compare(_bad_slot1(tmp_path), press=["u"], terminal_size=size)

    def test_replay_confirmation(
        self,
        snap_compare: SnapCompare,
        real_image: Callable[[str], Path],
        size: tuple[int, int],
    ) -> None:
        app = VhdxrayApp(real_image("discutils-log-replay"), display_name="dirty-log.vhdx")
        assert snap_compare(app, press=["l"], terminal_size=size)

    def test_help(self, snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]) -> None:
        assert snap_compare(_bad_slot1(tmp_path), press=["question_mark"], terminal_size=size)

    def test_progress(
        self, snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]
    ) -> None:
        async def run_before(pilot: Pilot[int]) -> None:
            screen: ProgressScreen[int] = ProgressScreen(
                "Replay the pending log (into a copy)",
                lambda p: 0,
                progress=_progress(),
                start=False,
                note="Cancel removes the new copy; the original is never written.",
            )
            await pilot.app.push_screen(screen)

        assert snap_compare(_bad_slot1(tmp_path), run_before=run_before, terminal_size=size)

    def test_cancelled_before_writing(
        self, snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]
    ) -> None:
        async def run_before(pilot: Pilot[int]) -> None:
            await pilot.pause()
            app = pilot.app
            assert isinstance(app, VhdxrayApp)
            app._write_cancelled(Progress(), set(), None)
            await pilot.pause()

        assert snap_compare(_bad_slot1(tmp_path), run_before=run_before, terminal_size=size)

    def test_backups_after_an_update(
        self, snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]
    ) -> None:
        async def run_before(pilot: Pilot[int]) -> None:
            await pilot.press("u", "y")
            await settle(pilot)
            await pilot.press("b")
            await pilot.pause()

        # The backup records the image's path, so its size (shown) depends on the path's
        # length: use a folder whose path has the same length in every run and worker.
        folder = Path(tempfile.mkdtemp(prefix="vhdxray-snap-", dir="/tmp"))
        try:
            app = _bad_slot1(folder)
            assert snap_compare(app, run_before=run_before, terminal_size=size)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def test_open_image(
        self,
        snap_compare: SnapCompare,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        size: tuple[int, int],
    ) -> None:
        monkeypatch.chdir(tmp_path)
        make_image(tmp_path / "another.vhdx")
        (tmp_path / "notes.txt").write_text("not an image")
        (tmp_path / "old").mkdir()
        assert snap_compare(_bad_slot1(tmp_path), press=["o"], terminal_size=size)
