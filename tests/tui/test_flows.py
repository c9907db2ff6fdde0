"""The app driven with Pilot: every flow of issue 3's "Done when", on real bytes."""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Static
from textual.worker import WorkerCancelled, WorkerFailed

from tests import damage, reports
from tests.imagefiles import have, qemu_img_check
from tests.tui.helpers import (
    HOSTILE_CREATOR,
    confirmation_shown,
    content_text,
    flat,
    make_image,
    return_code,
    screen_text,
)
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.write import update as update_module
from vhdxray.core.write.update import HeaderUpdatePlan, UpdateOutcome, run_header_update
from vhdxray.core.write.writer import WriteFailed
from vhdxray.tui.app import VhdxrayApp
from vhdxray.tui.screens.confirm import ConfirmScreen
from vhdxray.tui.screens.dialogs import ErrorScreen, HelpScreen
from vhdxray.tui.screens.explain import ExplainScreen
from vhdxray.tui.screens.main import MainScreen
from vhdxray.tui.screens.progress import ProgressScreen

SIZE = (120, 40)


async def settle(pilot: Pilot[int]) -> None:
    """Let a started write finish and its results reach the screen."""
    await pilot.pause()
    with suppress(WorkerFailed, WorkerCancelled):
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


def is_busy(app: VhdxrayApp) -> bool:
    return bool(app.busy)


def key_enabled(app: VhdxrayApp, key: str) -> bool:
    """The Footer's view of a key: shown and enabled."""
    return app.active_bindings[key].enabled


def header_bytes(path: Path) -> bytes:
    return damage.read_at(path, 0, layout.HEADER_SECTION_SIZE)


# --- the header update --------------------------------------------------------------------


async def test_update_on_damaged_slot_succeeds(tmp_path: Path) -> None:
    image = make_image(tmp_path / "bad.vhdx", damaged_slot=2)
    before = read_report(image)
    assert before.current_header == 1 and not reports.headers(before)[1].valid
    seq = reports.headers(before)[0].sequence_number
    data_write_guid = reports.headers(before)[0].data_write_guid

    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        assert "✗ INVALID" in screen_text(app)
        await pilot.press("u")
        await pilot.pause()  # lay out what the key changed before reading it
        assert isinstance(app.screen, ConfirmScreen)
        text = screen_text(app)
        assert f"Write header slot 2 (offset 0x20000) with sequence number {seq + 1}" in text
        assert f"Write header slot 1 (offset 0x10000) with sequence number {seq + 2}" in text
        assert "Backup of the bytes to be overwritten" in text
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert not app.busy
        text = screen_text(app)
        assert "INVALID" not in text
        assert text.count("valid") >= 2
        assert "✓ Headers updated" in text
        assert app.last_write is not None
        backup = app.last_write.backup_path
        assert backup is not None
        status = content_text(app.screen.query_one("#status", Static))
        assert f"Backup: {backup}" in status
        assert "Undo:   press b (Backups), then Enter on it" in status

    after = read_report(image)
    h1, h2 = reports.headers(after)
    assert h1.valid and h2.valid
    assert (h2.sequence_number, h1.sequence_number) == (seq + 1, seq + 2)
    assert after.current_header == 1
    assert h1.file_write_guid == h2.file_write_guid != reports.headers(before)[0].file_write_guid
    assert h1.data_write_guid == h2.data_write_guid == data_write_guid
    assert backup.exists() and backup.parent == image.parent
    if have("qemu-img"):
        check = qemu_img_check(image)
        assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("key", ["n", "escape"])
async def test_cancel_writes_nothing(tmp_path: Path, key: str) -> None:
    image = make_image(tmp_path / "bad.vhdx", damaged_slot=1)
    original = image.read_bytes()
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press(key)
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.last_write is None
    assert image.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.vhdx"]  # no backup either


async def test_version_problem_is_said_in_the_panel(tmp_path: Path) -> None:
    image = make_image(tmp_path / "v2.vhdx")
    damage.set_header_field(image, 2, "version", 2)  # valid (checksum fixed), but Version 2
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        text = screen_text(app)
        assert "Version is 2: only 1 is defined" in text
        assert "must be 1" in text
        await pilot.press("u")
        await pilot.pause()  # lay out what the key changed before reading it
        assert "REFUSED" in screen_text(app)  # core refuses to declare a version 1 file
        await pilot.press("escape")


async def test_cancel_by_clicking_no(tmp_path: Path) -> None:
    image = make_image(tmp_path / "bad.vhdx", damaged_slot=1)
    original = image.read_bytes()
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        await pilot.pause()  # the dialog is composed before it is clicked
        await pilot.click("#no")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    assert image.read_bytes() == original


async def test_pending_log_refuses(real_image: Callable[[str], Path]) -> None:
    image = real_image("discutils-log-replay")
    original = header_bytes(image)
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        text = screen_text(app)
        assert "a log replay is pending; do not update the headers first" in flat(text)
        assert "Press l to replay it" in flat(text)
        await pilot.press("u")
        await pilot.pause()  # lay out what the key changed before reading it
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.confirmation.refused
        text = screen_text(app)
        assert "REFUSED: nothing will be written." in text
        assert "a log replay is pending" in text
        assert "Yes, write" not in text
        await pilot.press("y")  # not offered: nothing happens
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert app.last_write is None
        await pilot.press("escape")
        await pilot.press("4")
        await pilot.pause()  # lay out what the key changed before reading it
        assert "REPLAY NEEDED" in screen_text(app)
    assert header_bytes(image) == original


FLAG_WORD = re.compile(r"(?<![\w-])--[a-z]")


async def test_no_current_header_refuses(real_image: Callable[[str], Path]) -> None:
    image = real_image("qemu-disk2vhd")
    original = header_bytes(image)
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        text = screen_text(app)
        assert "CURRENT" not in text.replace("heavy border + CURRENT", "")
        assert "No header is current" in text
        await pilot.press("u")
        await settle(pilot)
        text = screen_text(app)
        assert "REFUSED" in text and "R, Repair…" in text
        assert not FLAG_WORD.search(text), text
        await pilot.press("y", "escape")
        await settle(pilot)
    assert header_bytes(image) == original


async def test_the_app_shows_keys_where_core_suggests_an_option(
    real_image: Callable[[str], Path],
) -> None:
    """Core's refusal and finding suggest the source slot (the CLI shows ``--from-slot``);
    the app shows its own key and choice, never a command-line flag."""
    image = real_image("qemu-disk2vhd")
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")  # the findings: the equal-sequence warning suggests a slot
        await settle(pilot)
        text = screen_text(app)
        assert "header.equal_sequence_identical" in text
        assert "header 1 in R," in text
        assert not FLAG_WORD.search(text), text
        await pilot.press("u")  # the update refused: no current header, choose a slot
        await settle(pilot)
        text = screen_text(app)
        assert "REFUSED" in text and "header 1 or 2 in R, Repair…" in " ".join(text.split())
        assert not FLAG_WORD.search(text), text
        await pilot.press("escape")


@pytest.fixture
def qemu_nbd(tmp_path: Path) -> Iterator[Callable[[Path], subprocess.Popen[bytes]]]:
    """Start ``qemu-nbd -k SOCKET -f vhdx IMAGE`` (it holds QEMU's image locks); kill it after."""
    if not have("qemu-nbd"):
        pytest.skip("qemu-nbd is not installed (apt-get install qemu-utils)")
    started: list[subprocess.Popen[bytes]] = []

    def start(image: Path) -> subprocess.Popen[bytes]:
        socket = tmp_path / f"nbd-{len(started)}.sock"
        proc = subprocess.Popen(
            ["qemu-nbd", "-k", str(socket), "-f", "vhdx", str(image)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        started.append(proc)
        deadline = time.monotonic() + 10
        while not socket.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"qemu-nbd did not start: {err}")
            time.sleep(0.02)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)


async def test_image_held_by_qemu_nbd_refuses(
    tmp_path: Path, qemu_nbd: Callable[[Path], subprocess.Popen[bytes]]
) -> None:
    image = make_image(tmp_path / "held.vhdx", damaged_slot=2)
    qemu_nbd(image)
    original = image.read_bytes()
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        await pilot.pause()  # lay out what the key changed before reading it
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.confirmation.refused
        text = screen_text(app)
        assert "REFUSED" in text and "in use by QEMU" in text
        await pilot.press("y", "escape")
        await settle(pilot)
    assert image.read_bytes() == original


async def test_qemu_nbd_started_after_confirmation_shows_error(
    tmp_path: Path, qemu_nbd: Callable[[Path], subprocess.Popen[bytes]]
) -> None:
    image = make_image(tmp_path / "race.vhdx", damaged_slot=2)
    original = image.read_bytes()
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        assert not confirmation_shown(app).refused
        qemu_nbd(image)  # grabs the image while the question is on screen
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        text = screen_text(app)
        assert "Refused: nothing was written" in text
        assert "in use by QEMU" in text
        await pilot.press("escape")
        await pilot.pause()  # lay out what the key changed before reading it
        assert "✗ Refused" in screen_text(app)
    assert image.read_bytes() == original


async def test_busy_disables_actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = make_image(tmp_path / "slow.vhdx", damaged_slot=2)
    release = threading.Event()

    def slow_run(path: Path, plan: HeaderUpdatePlan, **kwargs: Any) -> UpdateOutcome:
        assert release.wait(10)
        return run_header_update(path, plan, **kwargs)

    monkeypatch.setattr(update_module, "run_header_update", slow_run)
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u", "y")
        await pilot.pause()
        assert is_busy(app)
        assert isinstance(app.screen, ProgressScreen)  # the progress dialog covers the keys
        assert not app.check_action("write", ("update-headers",))
        assert not app.check_action("reload", ())
        assert "Update headers" in screen_text(app)
        await pilot.press("u")  # disabled: no second confirmation
        assert isinstance(app.screen, ProgressScreen)
        release.set()
        await settle(pilot)
        assert not is_busy(app)
        assert key_enabled(app, "u")
        assert app.last_write is not None
    after = read_report(image)
    assert after.headers is not None and all(h.valid for h in after.headers)


async def test_failed_write_shows_error_and_restore_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = make_image(tmp_path / "fail.vhdx", damaged_slot=2)
    fake_backup = tmp_path / "fail.vhdx.vhdxray-backup-x.json"

    def failing_run(*_args: object, **_kwargs: object) -> object:
        raise WriteFailed("writing header slot 2 (sequence 3) failed: No space left", fake_backup)

    monkeypatch.setattr(update_module, "run_header_update", failing_run)
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u", "y")
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        text = screen_text(app)
        assert "The write FAILED part-way" in text
        assert "No space left" in text
        body = content_text(app.screen.query_one("#dialog-body", Static))
        assert str(fake_backup) in body and "press b (Backups)" in body
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert not app.busy


# --- read-only, other files ---------------------------------------------------------------


async def test_read_only_hides_write_actions(tmp_path: Path) -> None:
    image = make_image(tmp_path / "ro.vhdx", damaged_slot=2)
    original = image.read_bytes()
    app = VhdxrayApp(image, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        assert "u" not in app.active_bindings
        assert "Update headers" not in screen_text(app)
        assert "read-only: write actions are hidden" in screen_text(app)
        await pilot.press("u")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("ctrl+p")
        await pilot.press(*"update head")
        await pilot.pause(0.3)
        assert "Update headers" not in screen_text(app)
    assert image.read_bytes() == original


async def test_read_only_headline_names_no_hidden_key(
    tmp_path: Path, real_image: Callable[[str], Path]
) -> None:
    """--read-only hides u, l and R, and the headline said "Press u to rewrite both slots."
    (or "Press l to replay it, or R for every repair.") all the same. It now says what the
    write would be, and that it needs the image opened without --read-only."""
    from vhdxray.tui.widgets.info import InfoBar

    images = {
        "slot": make_image(tmp_path / "ro.vhdx", damaged_slot=2),
        "log": real_image("discutils-log-replay"),
    }
    for kind, image in images.items():
        app = VhdxrayApp(image, read_only=True)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            shown = app.screen.query_one(InfoBar).headline
            assert shown is not None
            text = shown.text
            for hidden in ("Press u", "Press l", "Press R", ", R for", "or R "):
                assert hidden not in text, (kind, text)
            assert "without --read-only" in text, (kind, text)
            assert ("rewrite both slots" if kind == "slot" else "replay") in text, text
        writable = VhdxrayApp(image)
        async with writable.run_test(size=SIZE) as pilot:
            await pilot.pause()
            shown = writable.screen.query_one(InfoBar).headline
            assert shown is not None and "--read-only" not in shown.text
            assert ("Press u" if kind == "slot" else "Press l") in shown.text


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mbr(path: Path) -> Path:
    sector = bytearray(4096)
    sector[510:512] = b"\x55\xaa"
    return _write(path, bytes(sector))


def _truncated(path: Path) -> Path:
    make_image(path)
    damage.truncate(path, 100 * 1024)  # ends inside header slot 2
    return path


@pytest.mark.parametrize(
    ("maker", "title", "detail"),
    [
        (lambda p: _write(p, b""), "The file is empty", "0 bytes"),
        (_mbr, "This is not a VHDX image", "MBR"),
        (lambda p: _write(p, b"just some text\n" * 100), "This is not a VHDX image", "vhdxfile"),
        (lambda p: p, "The file cannot be read", "cannot be opened"),
        (_truncated, "The VHDX file is cut short", "Header slot 2 @ 0x20000"),
    ],
    ids=["empty", "raw-mbr", "text", "missing", "truncated"],
)
async def test_not_vhdx_shows_explanation(
    tmp_path: Path, maker: Callable[[Path], Path], title: str, detail: str
) -> None:
    path = maker(tmp_path / "file.img")
    app = VhdxrayApp(path)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, ExplainScreen)
        text = screen_text(app)
        assert title in text
        assert detail in text
        assert "Traceback" not in text
        assert "u" not in app.active_bindings  # no write action offered
        await pilot.press("u")
        assert isinstance(app.screen, ExplainScreen)
        await pilot.press("q")
    assert app.return_code == 0


async def test_truncated_vhdx_can_be_opened_anyway(tmp_path: Path) -> None:
    path = _truncated(tmp_path / "cut.vhdx")
    app = VhdxrayApp(path)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, ExplainScreen)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        text = screen_text(app)
        assert "Slot 2 (128 KiB)" in text and "the file ends before this slot" in text


# --- hostile strings ------------------------------------------------------------------------


async def test_hostile_creator_is_shown_literally(tmp_path: Path) -> None:
    image = make_image(tmp_path / "hostile.vhdx")
    damage.set_creator(image, HOSTILE_CREATOR)
    app = VhdxrayApp(image)
    async with app.run_test(size=(200, 40)) as pilot:
        text = screen_text(app)
        assert "[bold]LOUD[/bold] [@click=app.quit]click me[/] [/oops]" in text
        assert "\\x1b]2;PWNED-TITLE\\x07" in text
        assert "\\x1b[31mred\\x1b[0m" in text
        assert "\\u202eevil\\u202c $v [$v] end" in text
        assert "\x1b" not in text and "\u202e" not in text
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "\u202e" not in svg
        # the [@click=app.quit] text is not a link: clicking it leaves the app running
        line = next(i for i, row in enumerate(text.splitlines()) if "click me" in row)
        column = text.splitlines()[line].index("click me")
        await pilot.click(offset=(column + 2, line))
        await pilot.pause()
        assert app.is_running
        assert app.return_code is None


async def test_hostile_file_name_is_shown_literally(tmp_path: Path) -> None:
    name = "[red]x\x1b[2J[@click=app.quit]y[.vhdx"
    image = make_image(tmp_path / name, damaged_slot=2)
    app = VhdxrayApp(image, display_name=name)
    async with app.run_test(size=(200, 40)) as pilot:
        text = screen_text(app)
        assert "[red]x\\x1b[2J[@click=app.quit]y[.vhdx" in text
        await pilot.press("u")
        await pilot.pause()  # lay out what the key changed before reading it
        text = screen_text(app)
        assert "[red]x\\x1b[2J[@click=app.quit]y[.vhdx.vhdxray-backup-update-headers" in text
        assert "\x1b" not in text


# --- navigation, palette, reload, help ------------------------------------------------------


async def test_views_by_key(tmp_path: Path) -> None:
    image = make_image(tmp_path / "views.vhdx", damaged_slot=2)
    app = VhdxrayApp(image)
    expected = {
        "2": "Region table copy 1 @ 0x30000",
        "3": "Metadata region @ 0x200000",
        "4": "clean: nothing to replay",
        "5": "Block allocation table",
        "6": "header.slot2.checksum",
        "7": "0x0000 │68 65 61 64│",
        "1": "Slot 1 (64 KiB) ━ CURRENT",
    }
    async with app.run_test(size=SIZE) as pilot:
        for key, marker in expected.items():
            await pilot.press(key)
            await pilot.pause()
            assert marker in screen_text(app), key


async def test_hex_view_marks_fields_and_differences(tmp_path: Path) -> None:
    image = make_image(tmp_path / "hex.vhdx", damaged_slot=2)
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await pilot.pause()  # lay out what the key changed before reading it
        text = screen_text(app)
        rows = [r for r in text.splitlines() if "0x0010 │" in r]
        assert len(rows) == 2 and all(r.lstrip(" ▌").startswith("≠") for r in rows)  # GUID
        assert "Signature Checksum SequenceNumber" in text
        assert "LogVersion Version LogLength LogOffset" in text
        assert "4016 reserved bytes, all zero" in text


async def test_command_palette_update_headers(tmp_path: Path) -> None:
    image = make_image(tmp_path / "palette.vhdx", damaged_slot=2)
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"update head")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")


async def test_reload_shows_changes_made_elsewhere(tmp_path: Path) -> None:
    image = make_image(tmp_path / "reload.vhdx")
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        assert "INVALID" not in screen_text(app)
        damage.break_header_checksum(image, 1)
        await pilot.press("r")
        await pilot.pause()
        assert "✗ INVALID" in screen_text(app)
        assert app.report.current_header == 2


async def test_reload_switches_to_explanation_when_file_is_wiped(tmp_path: Path) -> None:
    image = make_image(tmp_path / "wiped.vhdx")
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        image.write_bytes(b"")
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ExplainScreen)
        assert "The file is empty" in screen_text(app)


async def test_help_screen(tmp_path: Path) -> None:
    app = VhdxrayApp(make_image(tmp_path / "help.vhdx"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "update headers" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_dialog_bodies_scroll_with_the_arrow_keys_at_80x24(
    tmp_path: Path, real_image: Callable[[str], Path]
) -> None:
    """At 80x24 the help hides 21 lines and a replay's plan scrolls too; the focus is on a
    button, so Down, PageDown and End did nothing (only Tab, never named, reached the text).
    They scroll the dialog's text now, and the focus stays on the button."""
    from textual.containers import VerticalScroll

    app = VhdxrayApp(make_image(tmp_path / "help.vhdx"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        body = app.screen.query_one("#dialog-scroll", VerticalScroll)
        assert body.max_scroll_y > 0
        assert "quit (nothing is written" not in screen_text(app)
        focused = app.focused
        await pilot.press("down")
        await pilot.pause()
        assert body.scroll_y == 1
        await pilot.press("end")
        await pilot.pause()
        assert body.scroll_y == body.max_scroll_y
        assert "quit (nothing is written" in flat(screen_text(app))
        await pilot.press("home")
        await pilot.pause()
        assert body.scroll_y == 0 and app.focused is focused
    app = VhdxrayApp(real_image("discutils-log-replay"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        body = app.screen.query_one("#dialog-scroll", VerticalScroll)
        assert body.max_scroll_y > 0
        await pilot.press("pagedown")
        await pilot.pause()
        assert body.scroll_y > 0
        await pilot.press("end")
        await pilot.pause()
        assert body.scroll_y == body.max_scroll_y
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_quit_returns_zero(tmp_path: Path) -> None:
    app = VhdxrayApp(make_image(tmp_path / "quit.vhdx"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
    assert app.return_code == 0


async def _read_in_a_row(app: VhdxrayApp, first: str, then: str, turns: int) -> None:
    """Two keys read by the app one after the other, ``then`` after ``turns`` turns of the
    event loop: while ``first`` is still on its way up from the focused widget, or after."""
    app.post_message(events.Key(first, None))
    for _ in range(turns):
        await asyncio.sleep(0)
    app.post_message(events.Key(then, None))


async def _until(pilot: Pilot[int], done: Callable[[], bool]) -> bool:
    for _ in range(100):
        if done():
            return True
        await pilot.pause(0.01)
    return done()


@pytest.mark.slow
async def test_a_key_right_after_a_dialog_answer_is_not_lost(tmp_path: Path) -> None:
    """n then q typed fast in tmux at 80x24 (the update dialog, then quit): q was lost when it
    was read while n was still bubbling up from the dialog's focused button. The dialog then
    closed and q, routed into it, never arrived (the app stayed open). Whenever the second
    key is read, it acts on the screen below the closed dialog; and a dialog closed by a key
    typed ahead, before it is even mounted, just goes."""
    app = VhdxrayApp(make_image(tmp_path / "fast.vhdx", damaged_slot=1))
    async with app.run_test(size=(80, 24)) as pilot:
        for turns in range(8):  # 4 lost q with Textual 8.2 (n then q, at 80x24)
            await pilot.press("u")
            assert await _until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await _read_in_a_row(app, "n", "question_mark", turns)
            assert await _until(pilot, lambda: isinstance(app.screen, HelpScreen)), turns
            first_help = app.screen
            await _read_in_a_row(app, "escape", "question_mark", turns)  # help closed, reopened

            def reopened(first: object = first_help) -> bool:
                return isinstance(app.screen, HelpScreen) and app.screen is not first

            assert await _until(pilot, reopened), turns
            await pilot.press("escape")
            assert await _until(pilot, lambda: isinstance(app.screen, MainScreen))
            await _read_in_a_row(app, "question_mark", "escape", turns)  # closed while mounting
            assert await _until(pilot, lambda: isinstance(app.screen, MainScreen)), turns
        await pilot.press("u")
        assert await _until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await _read_in_a_row(app, "n", "q", 4)
        assert await _until(pilot, lambda: return_code(app) is not None)
    assert app.return_code == 0
    assert read_report(app.image).headers[0].valid is False  # type: ignore[index]


async def test_opening_never_writes(tmp_path: Path) -> None:
    """Opening (and reading every view, reloading) leaves the file's bytes and mtime alone."""
    image = make_image(tmp_path / "ro.vhdx", damaged_slot=2)
    stat = image.stat()
    data = image.read_bytes()
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"1234567", "r")
    assert image.read_bytes() == data
    assert image.stat().st_mtime_ns == stat.st_mtime_ns


async def test_small_terminal_stacks_the_slots_and_scrolls(tmp_path: Path) -> None:
    app = VhdxrayApp(make_image(tmp_path / "small.vhdx", damaged_slot=2), display_name="small")
    async with app.run_test(size=(80, 24)) as pilot:
        slots = app.screen.query_one("#slots")
        assert slots.has_class("-narrow")
        text = screen_text(app)
        assert "Slot 2 (128 KiB) ━" not in text  # the full panel is below the fold...
        summary = [line for line in text.splitlines() if "State" in line]
        assert len(summary) == 1  # ...but the summary shows both slots' essentials
        assert summary[0].index("★ CURRENT") < summary[0].index("✗ INVALID")
        await pilot.press("enter")  # the summary expands to the full panels, stacked
        await pilot.pause()
        view = app.screen.query_one("#headers-view")
        view.scroll_to_widget(app.screen.query_one("#slot2"), animate=False, top=True)
        for _ in range(50):  # the scroll lands on a later refresh when the machine is busy
            await pilot.pause()
            if "Slot 2 (128 KiB) ━ INVALID" in screen_text(app):
                break
        assert "Slot 2 (128 KiB) ━ INVALID" in screen_text(app)
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert not slots.has_class("-narrow")


async def test_q_in_the_progress_dialog_says_why_it_does_not_quit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The progress dialog is modal: the app's q was not active there, so q during an export
    or a write did nothing at all (only ctrl+q, a priority key, gave the refusal). It gives
    the refusal, names the way out (Esc or c), and the work runs on."""
    from vhdxray.tui import exportflow

    image = make_image(tmp_path / "slow.vhdx")
    release = threading.Event()
    original = exportflow.run_export

    def slow_export(*args: Any, **kwargs: Any) -> Any:
        assert release.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(exportflow, "run_export", slow_export)
    app = VhdxrayApp(image)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ProgressScreen)
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and return_code(app) is None
        said = [str(n.message) for n in app._notifications]
        assert any("in progress" in m and "Esc or c" in m for m in said), said
        assert isinstance(app.screen, ProgressScreen)
        release.set()
        await settle(pilot)
        assert (tmp_path / "slow.raw").exists()


async def test_quit_is_refused_while_a_write_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """q (and ctrl+q) during a write: the app stays, says why, and the write completes; after
    it, q quits with 0."""
    image = make_image(tmp_path / "slow.vhdx", damaged_slot=2)
    release = threading.Event()

    def slow_run(path: Path, plan: HeaderUpdatePlan, **kwargs: Any) -> UpdateOutcome:
        assert release.wait(10)
        return run_header_update(path, plan, **kwargs)

    monkeypatch.setattr(update_module, "run_header_update", slow_run)
    app = VhdxrayApp(image)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u", "y")
        await pilot.pause()
        assert is_busy(app)
        await pilot.press("q")
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.is_running and return_code(app) is None
        assert any("write is in progress" in str(n.message) for n in app._notifications)
        release.set()
        await settle(pilot)
        assert not is_busy(app) and app.last_write is not None
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    after = read_report(image)
    assert after.headers is not None and all(h.valid for h in after.headers)
