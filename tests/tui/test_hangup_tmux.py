"""Closing the terminal mid-write (SIGHUP): the app neither dies between two writes nor
leaves a half-made copy behind silently. A replay into a copy runs in a real terminal (tmux)
with the image copy slowed down (a stand-in for a big image), the tmux session is killed, and
the copy must then be either removed or complete, with the log saying which."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.imagefiles import have
from tests.tui.test_tmux import Terminal
from vhdxray.core.analysis.reader import read_report

pytestmark = pytest.mark.slow


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    if not have("tmux"):
        pytest.skip("tmux is not installed (apt-get install tmux)")
    import uuid

    term = Terminal(f"vhdxray-hup-{uuid.uuid4().hex[:12]}")
    yield term
    subprocess.run(["tmux", "-L", term.server, "kill-server"], capture_output=True)


def _launcher(tmp_path: Path, image: Path) -> Path:
    """The app as ``vhdxray IMAGE`` starts it, with each read of the image copy slowed."""
    script = tmp_path / "slow_vhdxray.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, time
            from vhdxray.core.write import imagecopy
            original = imagecopy.pread_exact
            def slow(*args, **kwargs):
                time.sleep(2.0)
                return original(*args, **kwargs)
            imagecopy.pread_exact = slow
            from vhdxray.tui.cli import main
            sys.exit(main([{str(image)!r}]))
            """
        )
    )
    return script


def _wait(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_sighup_during_a_replay_into_a_copy(
    terminal: Terminal, real_image: Callable[[str], Path], tmp_path: Path
) -> None:
    image = real_image("discutils-log-replay")
    original = hashlib.sha256(image.read_bytes()).hexdigest()
    copy = image.with_name("discutils-log-replay.replayed.vhdx")
    log = tmp_path / "hangup.log"
    command = (
        f"VHDXRAY_LOG={log} PYTHONPATH={Path(__file__).resolve().parents[2]} "
        f"{sys.executable} {_launcher(tmp_path, image)}"
    )
    terminal.start(command)
    terminal.wait_for("Press l to replay it")
    terminal.press("l")
    terminal.wait_for("Replay the log now?")
    terminal.press("c")
    terminal.wait_for("into a copy")
    terminal.wait_for("y = yes")
    terminal.press("y")
    terminal.wait_for("copying the image")
    # the copy is being made, slowly, under a hidden name: the copy's own name appears only
    # when it is complete
    assert not copy.exists()
    assert any(p.name.startswith(f".{copy.name}.vhdxray-partial-") for p in image.parent.iterdir())
    subprocess.run(["tmux", "-L", terminal.server, "kill-session", "-t", "app"], check=True)
    assert _wait(lambda: log.exists() and log.read_text().strip() != ""), "no hang-up log"
    said = log.read_text()
    assert "the terminal was closed (SIGHUP)" in said
    if copy.exists():  # complete: the replay finished before the cancel reached it
        assert "the write completed" in said
        report = read_report(copy)
        assert report.log is not None and not report.log.replay_needed
    else:
        assert "the partial copy" in said and "was removed" in said
    assert hashlib.sha256(image.read_bytes()).hexdigest() == original  # only ever read
    # ...and the app is gone: it does not hang (or spin) on the closed terminal afterwards.
    script = str(tmp_path / "slow_vhdxray.py")

    def app_alive() -> bool:
        found = subprocess.run(["pgrep", "-f", script], capture_output=True, text=True)
        return bool(found.stdout.strip())

    ended = _wait(lambda: not app_alive(), timeout=30.0)
    if not ended:
        subprocess.run(["pkill", "-KILL", "-f", script], capture_output=True)
    assert ended, "the app still runs after the terminal was closed"
    assert not any(p.name.startswith(".") and "replayed" in p.name for p in image.parent.iterdir())
