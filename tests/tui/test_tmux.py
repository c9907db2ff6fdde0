"""The installed ``vhdxray`` in a real terminal: a private tmux server, read with capture-pane."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import reports
from tests.imagefiles import have, qemu_img_check
from tests.tui.helpers import HOSTILE_CREATOR, make_image
from vhdxray.core.analysis.reader import read_report

pytestmark = pytest.mark.slow

WIDTH, HEIGHT = 120, 40


def vhdxray_command() -> Path:
    """The console script installed next to this interpreter."""
    return Path(sys.executable).parent / "vhdxray"


def terminal_env() -> dict[str, str]:
    """The environment for the tmux server: as a user's shell would have it. Test runs set
    COLUMNS/LINES (Textual's test harness) and TEXTUAL_* variables, which would make the app
    ignore the real terminal size."""
    drop = ("COLUMNS", "LINES", "TMUX", "TMUX_PANE")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("TEXTUAL")}


class Terminal:
    """One tmux session on a private server (``tmux -L``): never touches the user's tmux."""

    def __init__(self, server: str) -> None:
        self.server = server

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.server, *args],
            capture_output=True,
            text=True,
            check=True,
            env=terminal_env(),
        )
        return done.stdout

    def start(self, command: str, width: int = WIDTH, height: int = HEIGHT) -> None:
        # Keep the pane alive after the app exits, so the last screen can still be read.
        self.tmux(
            "new-session", "-d", "-s", "app", "-x", str(width), "-y", str(height),
            f"{command}; echo VHDXRAY-EXIT=$?; sleep 60",
        )  # fmt: skip

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "app")

    def press(self, key: str) -> None:
        self.tmux("send-keys", "-t", "app", key)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        """The screen once ``text`` is on it and two captures 0.1 s apart agree (a frame may
        be caught half drawn)."""
        deadline = time.monotonic() + timeout
        screen = previous = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen and screen == previous:
                return screen
            previous = screen if text in screen else ""
            time.sleep(0.1 if text in screen else 0.05)
        raise AssertionError(f"{text!r} did not appear within {timeout} s; screen:\n{screen}")

    def title(self) -> str:
        return self.tmux("display", "-p", "-t", "app", "#{pane_title}").strip()


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    if not have("tmux"):
        pytest.skip("tmux is not installed (apt-get install tmux)")
    if not vhdxray_command().exists():
        pytest.skip(f"the vhdxray console script is not installed at {vhdxray_command()}")
    term = Terminal(f"vhdxray-test-{uuid.uuid4().hex[:12]}")
    yield term
    subprocess.run(["tmux", "-L", term.server, "kill-server"], capture_output=True)


def _run(image: Path) -> str:
    return f"{shlex.quote(str(vhdxray_command()))} {shlex.quote(str(image))}"


def test_update_headers_in_a_real_terminal(terminal: Terminal, tmp_path: Path) -> None:
    image = make_image(tmp_path / "tmux.vhdx", damaged_slot=2)
    before = read_report(image)
    seq = reports.headers(before)[0].sequence_number
    terminal.start(_run(image))

    screen = terminal.wait_for("Slot 1 (64 KiB) ━ CURRENT")
    assert "┏━ Slot 1 (64 KiB) ━ CURRENT" in screen  # heavy border survives plain text
    assert "✗ INVALID" in screen
    assert "Slot 2 fails its checksum; slot 1 is current. Press u to rewrite" in screen

    terminal.press("u")
    screen = terminal.wait_for("Write these two headers?")
    assert f"with sequence number {seq + 1}" in screen
    assert f"with sequence number {seq + 2}" in screen

    terminal.press("y")
    screen = terminal.wait_for("Headers updated")
    assert "INVALID" not in screen
    assert "Backup:" in screen

    after = read_report(image)
    h1, h2 = reports.headers(after)
    assert h1.valid and h2.valid and after.current_header == 1
    assert (h2.sequence_number, h1.sequence_number) == (seq + 1, seq + 2)
    backups = sorted(tmp_path.glob("tmux.vhdx.vhdxray-backup-update-headers-*.json"))
    assert len(backups) == 1
    if have("qemu-img"):
        assert qemu_img_check(image).returncode == 0

    terminal.press("q")
    screen = terminal.wait_for("VHDXRAY-EXIT=")
    assert "VHDXRAY-EXIT=0" in screen


def test_80x24_slot1_bad_shows_current_and_the_whole_update_question(
    terminal: Terminal, tmp_path: Path
) -> None:
    """Issue 13's acceptance: at 80x24 the first screen says which slot is CURRENT, and the
    update confirmation shows its question and both answers. n then q, typed at once: q
    quits (it was lost when read while n was still on its way up from the dialog's button;
    test_flows.py::test_a_key_right_after_a_dialog_answer_is_not_lost drives that race)."""
    image = make_image(tmp_path / "small.vhdx", damaged_slot=1)
    terminal.start(_run(image), 80, 24)
    screen = terminal.wait_for("★ CURRENT")
    lines = screen.splitlines()
    assert len(lines) <= 24
    state = [line for line in lines if "State" in line]
    assert len(state) == 1 and state[0].index("✗ INVALID") < state[0].index("★ CURRENT")
    assert "Slot 1 fails its checksum; slot 2 is current." in screen

    terminal.press("u")
    screen = terminal.wait_for("Write these two headers?")
    assert "Yes, write (y)" in screen and "No (n)" in screen
    terminal.press("n")
    terminal.press("q")
    screen = terminal.wait_for("VHDXRAY-EXIT=")
    assert "VHDXRAY-EXIT=0" in screen
    assert read_report(image).headers[0].valid is False  # type: ignore[index]


def test_hostile_creator_cannot_reach_the_terminal(terminal: Terminal, tmp_path: Path) -> None:
    image = make_image(tmp_path / "hostile.vhdx", creator=HOSTILE_CREATOR)
    terminal.start(_run(image))
    screen = terminal.wait_for("Slot 2 (128 KiB) ━ CURRENT")
    assert "[bold]LOUD[/bold] [@click=app.quit]click me[/]" in screen
    assert "\\x1b]2;PWNED-TITLE\\x07" in screen
    assert "PWNED-TITLE" not in terminal.title()


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"", "The file is empty"), (b"QFI\xfb" + bytes(4092), "This is not a VHDX image")],
    ids=["empty", "qcow2"],
)
def test_not_vhdx_in_a_real_terminal(
    terminal: Terminal, tmp_path: Path, data: bytes, expected: str
) -> None:
    path = tmp_path / "file.img"
    path.write_bytes(data)
    terminal.start(_run(path))
    screen = terminal.wait_for(expected)
    assert "Traceback" not in screen
    terminal.press("q")
    assert "VHDXRAY-EXIT=0" in terminal.wait_for("VHDXRAY-EXIT=")


def test_demo_removes_its_folder_when_quit(terminal: Terminal, tmp_path: Path) -> None:
    """``vhdxray --demo`` in a real terminal, with its temporary folder under tmp_path."""
    command = f"TMPDIR={shlex.quote(str(tmp_path))} {shlex.quote(str(vhdxray_command()))} --demo"
    terminal.start(command)
    terminal.wait_for("CURRENT")
    folders = list(tmp_path.glob("vhdxray-demo-*"))
    assert len(folders) == 1 and (folders[0] / "demo.vhdx").is_file()
    terminal.press("q")
    screen = terminal.wait_for("VHDXRAY-EXIT=")
    assert "VHDXRAY-EXIT=0" in screen
    assert not folders[0].exists()
