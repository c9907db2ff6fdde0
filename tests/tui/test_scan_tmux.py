"""``vhdxray scan`` in a real terminal (tmux): the progress line while it runs, then the
summary; and ``vhdxray DIR`` opening the fleet screen."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from tests.tui.helpers import make_image
from tests.tui.test_tmux import Terminal, terminal, vhdxray_command

pytestmark = pytest.mark.slow

__all__ = ["terminal"]  # the fixture, used by name

COUNT = 40  # enough for the progress line to be drawn while files remain (the first is drawn)


def share(tmp_path: Path) -> Path:
    """``COUNT`` hard links of one clean image, one damaged image, one control-char name."""
    root = tmp_path / "share"
    (root / "many").mkdir(parents=True)
    clean = make_image(tmp_path / "clean.vhdx")
    for i in range(COUNT):
        os.link(clean, root / "many" / f"Profile_u{i:04d}.vhdx")
    make_image(root / "damaged.vhdx", damaged_slot=2)
    make_image(root / "evil\x1b]2;PWNED\x07.vhdx", damaged_slot=1)
    return root


def test_progress_then_summary(terminal: Terminal, tmp_path: Path) -> None:
    root = share(tmp_path)
    stream = tmp_path / "pane.log"
    go = tmp_path / "go"
    # Everything the terminal receives is logged (the progress line is redrawn in place and
    # cleared at the end, so a fast run could finish between two screen captures). The scan
    # starts once the log is attached: the shell waits for the file ``go`` (a hang here ends
    # with wait_for's timeout and the tmux server's teardown).
    terminal.start(
        f"until [ -e {shlex.quote(str(go))} ]; do sleep 0.05; done; "
        f"{shlex.quote(str(vhdxray_command()))} scan {shlex.quote(str(root))}"
    )
    terminal.tmux("pipe-pane", "-t", "app", "-o", f"cat >> {shlex.quote(str(stream))}")
    go.touch()
    screen = terminal.wait_for("VHDXRAY-EXIT=", timeout=300)
    # The bar, files done / found, the rate, the time left and the file just read.
    bar = r"\[[#-]{20}\] \d+/\d+ files  [\d.]+ images/s  ETA [\d:-]+  \S"
    received = stream.read_text(errors="replace")
    assert re.search(bar, received), received[-2000:]
    assert f"Scanned {COUNT + 2:,} files" in screen
    assert "  error" in screen and "  ok" in screen
    assert "Needs attention (worst first):" in screen
    assert "damaged.vhdx" in screen and "Safe to update headers." in screen
    assert "evil\\x1b]2;PWNED\\x07.vhdx" in screen  # escaped, never sent raw
    assert "PWNED" not in terminal.title()
    assert "images/s  ETA" not in screen  # the progress line is cleared
    assert "VHDXRAY-EXIT=2" in screen


def test_folder_opens_the_fleet_screen(terminal: Terminal, tmp_path: Path) -> None:
    root = tmp_path / "small"
    root.mkdir()
    make_image(root / "a.vhdx")
    make_image(root / "b.vhdx", damaged_slot=2)
    terminal.start(f"{shlex.quote(str(vhdxray_command()))} {shlex.quote(str(root))}")
    screen = terminal.wait_for("Scanned 2 files", timeout=60)
    assert "b.vhdx" in screen and "error" in screen
    terminal.press("Enter")  # the worst first: b.vhdx
    screen = terminal.wait_for("CURRENT", timeout=30)
    assert "INVALID" in screen
    terminal.press("Escape")
    terminal.wait_for("Scanned 2 files", timeout=30)
    terminal.press("q")
    assert "VHDXRAY-EXIT=0" in terminal.wait_for("VHDXRAY-EXIT=", timeout=30)
