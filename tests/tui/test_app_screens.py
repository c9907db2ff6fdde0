"""The app at real terminal sizes and its newer screens: the 80x24 first screen, dialogs that
keep their question and answers, progress and cancel, the Chain view, open, backups and
restore, the palette, screenshots, truncated images, and the headline's words."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App

from tests import imagefiles
from tests.tui.helpers import flat, make_image, screen_text, settle
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.analysis.verdict import verdict
from vhdxray.core.progress import Progress
from vhdxray.tui.app import VhdxrayApp
from vhdxray.tui.headline import headline
from vhdxray.tui.screens.backups import BackupsScreen
from vhdxray.tui.screens.confirm import ConfirmScreen
from vhdxray.tui.screens.dialogs import MessageScreen
from vhdxray.tui.screens.main import MainScreen
from vhdxray.tui.screens.openimage import OpenImageScreen
from vhdxray.tui.screens.progress import Finished, ProgressScreen, progress_line

SMALL = (80, 24)


def sha(path: Path) -> tuple[int, str]:
    """Size and digest of the file's bytes (equal iff the bytes are equal; holes not read)."""
    return imagefiles.sparse_digest(path)


# --- 80x24 --------------------------------------------------------------------------------


async def test_80x24_first_screen_shows_which_slot_is_current(tmp_path: Path) -> None:
    app = VhdxrayApp(make_image(tmp_path / "s1.vhdx", damaged_slot=1), display_name="s1")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "Slot 1 fails its checksum; slot 2 is current. Press u to rewrite both" in flat(text)
        state = [line for line in text.splitlines() if "State" in line]
        assert len(state) == 1
        assert state[0].index("✗ INVALID") < state[0].index("★ CURRENT")
        assert "Sequence" in text and "checksum ✗" in text
        assert "7 Hex" in text  # every tab label fits
        assert app.focused is app.screen.query_one("#headers-view")  # focus in the view


async def test_80x24_update_confirmation_shows_question_and_both_answers(tmp_path: Path) -> None:
    app = VhdxrayApp(make_image(tmp_path / "s1.vhdx", damaged_slot=1), display_name="s1")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        text = screen_text(app)
        assert "Write these two headers?" in text
        assert "Yes, write (y)" in text and "No (n)" in text


async def test_80x24_replay_confirmation_shows_question_and_both_answers(
    real_image: Callable[[str], Path],
) -> None:
    app = VhdxrayApp(real_image("discutils-log-replay"))
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        text = screen_text(app)
        assert "Replay the log now?" in text
        assert "Yes, write (y)" in text and "No (n)" in text
        scroll = app.screen.query_one("#dialog-scroll")
        assert scroll.max_scroll_y > 0  # the plan scrolls; the question stays


# --- progress and cancel ---------------------------------------------------------------


class _ProgressApp(App[None]):
    def __init__(self, work: Callable[[Progress], int], progress: Progress) -> None:
        super().__init__()
        self.work = work
        self.meter = progress
        self.outcome: Finished[int] | None = None

    def on_mount(self) -> None:
        def done(outcome: Finished[int] | None) -> None:
            self.outcome = outcome

        self.push_screen(ProgressScreen("Counting", self.work, progress=self.meter), done)


async def test_progress_screen_shows_bytes_and_cancel_stops_the_work() -> None:
    step = threading.Event()
    clock = iter(float(n) for n in range(10_000))
    progress = Progress(clock=lambda: next(clock))

    def work(p: Progress) -> int:
        p.start(4 << 20, "counting bytes")
        p.advance(1 << 20)
        step.set()
        while True:  # a core loop: checks between safe steps
            p.check()
            threading.Event().wait(0.01)

    app = _ProgressApp(work, progress)
    async with app.run_test(size=SMALL) as pilot:
        assert step.wait(5)
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "Now: counting bytes" in text
        assert "1.0 MiB of 4.0 MiB" in text
        assert "Esc or c: cancel" in text
        await pilot.press("c")
        await settle(pilot)
        assert app.outcome is not None and app.outcome.cancelled
        assert progress.cancelled
    line = progress_line(progress)
    assert "/s · " in line and line.endswith(" left")


def _blocking(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> threading.Event:
    """Make ``module.name`` wait for the returned event the second time it is called."""
    release = threading.Event()
    original = getattr(module, name)
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            assert release.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return release


async def test_cancel_the_replay_into_a_copy_removes_the_copy(
    real_image: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from vhdxray.core.write import imagecopy

    image = real_image("discutils-log-replay")
    original = sha(image)
    copy = image.with_name("discutils-log-replay.replayed.vhdx")
    release = _blocking(monkeypatch, imagecopy, "pread_exact")
    app = VhdxrayApp(image)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("l")
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ProgressScreen)
        text = screen_text(app)
        assert "copying the image" in text and " of " in text
        # the copy is being made under a hidden name; it gets its own when complete
        assert not copy.exists()
        assert any(
            p.name.startswith(f".{copy.name}.vhdxray-partial-") for p in copy.parent.iterdir()
        )
        await pilot.press("escape")
        release.set()
        await settle(pilot)
        assert isinstance(app.screen, MessageScreen)
        assert "Cancelled: the copy was removed" in screen_text(app)
        assert "original image is unchanged" in flat(screen_text(app))
    assert not copy.exists()
    assert not any(p.name.startswith(f".{copy.name}") for p in copy.parent.iterdir())
    assert sha(image) == original


async def test_cancel_the_replay_in_place_before_writing_leaves_the_image(
    real_image: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from vhdxray.core.write import preflight, repair

    image = real_image("discutils-log-replay")
    original = sha(image)
    release = threading.Event()
    check_backup_dir = preflight.check_backup_dir

    def slow_check(*args: Any, **kwargs: Any) -> Any:  # the run's first step: nothing written
        assert release.wait(10)
        return check_backup_dir(*args, **kwargs)

    monkeypatch.setattr(repair, "check_backup_dir", slow_check)
    app = VhdxrayApp(image)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("l")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, ProgressScreen)
        await pilot.press("c")
        await pilot.pause()
        assert "Cancelling" in screen_text(app)
        release.set()
        await settle(pilot)
        assert isinstance(app.screen, MessageScreen)
        assert "Cancelled: nothing was written" in screen_text(app)
        assert not app.busy
    assert sha(image) == original


# --- chain --------------------------------------------------------------------------------


async def test_a_child_without_its_parent_says_so_and_shows_the_chain(
    real_image: Callable[[str], Path],
) -> None:
    app = VhdxrayApp(real_image("dissect-differencing"), display_name="child.avhdx")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        text = flat(screen_text(app))
        assert "ERROR" in text and "Its parent is MISSING" in text
        assert "No repair needed" not in text
        await pilot.press("8")
        await pilot.pause()
        text = flat(screen_text(app))
        assert "PARENT MISSING" in text
        assert "relative_path leads to" in text and "which does not exist" in text
        assert "What to do:" in text


async def test_a_child_next_to_a_parent_that_changed_is_modified(
    real_image: Callable[[str], Path], tmp_path: Path
) -> None:
    """A file where the locator points, but not the parent the child expects."""
    child = real_image("dissect-differencing")
    meta = read_report(child).metadata
    assert meta is not None and meta.parent_locator is not None
    relative = meta.parent_locator.get("relative_path")
    assert relative is not None
    name = relative.replace("\\", "/").split("/")[-1]
    make_image(child.parent / name)
    app = VhdxrayApp(child)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "was MODIFIED after this child was made" in flat(screen_text(app))
        await pilot.press("8")
        await pilot.pause()
        text = flat(screen_text(app))
        assert "PARENT MODIFIED" in text and "Checked against the parent:" in text


async def test_no_chain_view_for_a_disk_without_parent(tmp_path: Path) -> None:
    app = VhdxrayApp(make_image(tmp_path / "plain.vhdx"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "8 Chain" not in screen_text(app)
        await pilot.press("8")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen) and app.screen.active_view == "headers"


# --- open, open the copy ------------------------------------------------------------------


async def test_open_another_image_from_the_picker(tmp_path: Path) -> None:
    first = make_image(tmp_path / "first.vhdx")
    second = make_image(tmp_path / "second.vhdx", damaged_slot=2)
    app = VhdxrayApp(first)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OpenImageScreen)
        text = screen_text(app)
        assert "first.vhdx" in text and "second.vhdx" in text
        field = app.screen.query_one("#open-path")
        field.focus()
        field.value = str(second)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert app.image == second
        assert "Slot 2 fails its checksum" in flat(screen_text(app))


async def test_open_the_copy_a_replay_made(real_image: Callable[[str], Path]) -> None:
    image = real_image("discutils-log-replay")
    copy = image.with_name("discutils-log-replay.replayed.vhdx")
    app = VhdxrayApp(image)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.check_action("open_copy", ()) is False
        await pilot.press("l")
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert "Press O to open the copy" in flat(screen_text(app))
        await pilot.press("O")
        await pilot.pause()
        assert app.image == copy
        assert "Healthy" in flat(screen_text(app))


# --- backups and restore --------------------------------------------------------------------


async def test_backups_list_and_restore(tmp_path: Path) -> None:
    image = make_image(tmp_path / "undo.vhdx", damaged_slot=2)
    original = sha(image)
    app = VhdxrayApp(image)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, BackupsScreen)
        assert "No backup of" in flat(screen_text(app))
        await pilot.press("escape")
        await pilot.press("u", "y")
        await settle(pilot)
        assert sha(image) != original
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, BackupsScreen)
        assert "header update" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        text = flat(screen_text(app))
        assert "Put the saved bytes back into the image?" in text
        assert "range(s) to put back" in text
        await pilot.press("y")
        await settle(pilot)
        assert "Restored from" in flat(screen_text(app))
        assert "Slot 2 fails its checksum" in flat(screen_text(app))
    assert sha(image) == original


# --- palette, screenshot, theme -------------------------------------------------------------


async def test_palette_lists_each_command_once(tmp_path: Path) -> None:
    app = VhdxrayApp(make_image(tmp_path / "p.vhdx", damaged_slot=2))
    async with app.run_test(size=(120, 40)):
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert len(titles) == len(set(titles)), titles
        for title in ("Help", "Open…", "Backups", "Theme", "Screenshot", "Update headers"):
            assert title in titles
        assert "Keys" not in titles
        assert "Show Chain" not in titles  # not a child


async def test_screenshot_goes_to_the_folder_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    monkeypatch.setenv("VHDXRAY_SCREENSHOT_DIR", str(shots))
    messages: list[Any] = []
    app = VhdxrayApp(make_image(tmp_path / "s.vhdx"))
    async with app.run_test(size=SMALL, message_hook=messages.append) as pilot:
        app.action_screenshot()
        await pilot.pause()
    saved = list(shots.glob("*.svg"))
    assert len(saved) == 1
    notes = [m for m in messages if type(m).__name__ == "Notify"]
    assert any(str(saved[0]) in m.notification.message for m in notes)


async def test_theme_key_opens_the_theme_picker(tmp_path: Path) -> None:
    app = VhdxrayApp(make_image(tmp_path / "t.vhdx"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("T")
        await pilot.pause()
        assert type(app.screen).__name__ == "CommandPalette"


# --- truncated images and words --------------------------------------------------------------


async def test_truncated_image_views_say_not_read(tmp_path: Path) -> None:
    image = make_image(tmp_path / "cut.vhdx")
    with open(image, "r+b") as f:
        f.truncate(0x180000)  # inside the log: metadata and BAT are gone
    app = VhdxrayApp(image)
    async with app.run_test(size=(120, 40)) as pilot:
        if not isinstance(app.screen, MainScreen):
            await pilot.press("enter")
            await pilot.pause()
        assert "The file is cut short" in flat(screen_text(app))
        for key, expected, absent in (
            ("3", "not read: the file ends before this structure", "Signature 'metadata'"),
            ("4", "partly read: the file ends", "clean: nothing to replay"),
            ("5", "not read: the file ends before this structure", "No payload block"),
        ):
            await pilot.press(key)
            await pilot.pause()
            text = flat(screen_text(app))
            assert expected.lower() in text.lower(), key
            assert absent not in text, key


def test_headline_words(tmp_path: Path) -> None:
    from tests.imagefiles import have, qemu_img_create

    if not have("qemu-img"):
        pytest.skip("qemu-img not installed")
    image = qemu_img_create(tmp_path / "q.vhdx", "64M")
    report = read_report(image)
    h = headline(report, verdict(report))
    assert h.level == "ok" == verdict(report).level  # one verdict: the app's and core's agree
    assert "harmless" in h.text and "not marked required" in h.text
    for path in (image, make_image(tmp_path / "b.vhdx", damaged_slot=1)):
        r = read_report(path)
        text = headline(r, verdict(r)).text
        assert "--" not in text and "_guid" not in text


def test_the_app_has_words_only_for_cores_writer_habits() -> None:
    """Which finding codes are a harmless writer habit is core's (WRITER_HABITS); the app keeps
    only its words for them, and has words for each."""
    from vhdxray.core.format.findings import WRITER_HABITS
    from vhdxray.tui.headline import HARMLESS

    assert set(HARMLESS) == set(WRITER_HABITS)


async def test_progress_dialog_names_the_writing_to_disk_step() -> None:
    """While an export flushes its file the dialog says so, in place of the rate and time
    left (the bar alone sat still with "0 s left")."""
    from vhdxray.core.progress import WRITING_TO_DISK

    flushing = threading.Event()
    release = threading.Event()
    progress = Progress()

    def work(p: Progress) -> int:
        p.start(4 << 20, "exporting to out.raw")
        p.advance(4 << 20)
        p.set_phase(WRITING_TO_DISK)
        flushing.set()
        assert release.wait(10)
        return 0

    app = _ProgressApp(work, progress)
    async with app.run_test(size=SMALL) as pilot:
        assert flushing.wait(5)
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "Now: exporting to out.raw: writing to disk" in text
        assert "4.0 MiB of 4.0 MiB · writing to disk…" in text
        assert " left" not in text
        release.set()
        await settle(pilot)
        assert app.outcome is not None and not app.outcome.cancelled


def test_findings_view_marks_cores_writer_habits(tmp_path: Path) -> None:
    """The findings view names a writer habit (core's is_writer_habit) as a harmless quirk,
    and no other finding."""
    from rich.console import Console

    from vhdxray.tui.widgets.findings import finding_prompt

    if not imagefiles.have("qemu-img"):
        pytest.skip("qemu-img not installed")
    report = read_report(imagefiles.qemu_img_create(tmp_path / "q.vhdx", "64M"))
    console = Console(width=160, record=True)
    for f in report.findings:
        console.print(finding_prompt(f, 24, None))
        text = console.export_text()
        assert ("harmless writer quirk" in text) == (f.code == "region.not_required"), f.code
