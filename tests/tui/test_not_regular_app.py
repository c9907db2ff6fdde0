"""The app opened on a directory, FIFO, socket or character device: a clear screen, no hang.

The Pilot run happens in a subprocess whose timeout is the hang guard (a FIFO opened for
reading would block the app, and the test with it, forever).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Opens the app on each path with Pilot, presses r (reload, which reads the path again) and q,
# and prints what the screen showed.
_PILOT = """
import asyncio, json, sys
from tests.tui.helpers import screen_text
from vhdxray.tui.app import VhdxrayApp
from vhdxray.tui.screens.explain import ExplainScreen

async def one(path):
    app = VhdxrayApp(path)
    async with app.run_test(size=(100, 30)) as pilot:
        first = type(app.screen).__name__, screen_text(app)
        await pilot.press("r")
        await pilot.pause()
        again = type(app.screen).__name__
        await pilot.press("q")
    return {"screen": first[0], "text": first[1], "after_reload": again, "code": app.return_code}

async def main():
    print(json.dumps([await one(p) for p in sys.argv[1:]]))

asyncio.run(main())
"""


@pytest.mark.skipif(os.name != "posix", reason="FIFOs, sockets and /dev/null are POSIX")
def test_app_explains_special_files() -> None:
    with tempfile.TemporaryDirectory(prefix="vx-") as folder:
        fifo, sock_path, directory = (Path(folder) / n for n in ("fifo", "sock", "dir"))
        os.mkfifo(fifo)
        directory.mkdir()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.bind(str(sock_path))
            paths = [fifo, sock_path, Path("/dev/null"), directory]
            done = subprocess.run(
                [sys.executable, "-c", _PILOT, *map(str, paths)],
                capture_output=True,
                text=True,
                timeout=120,  # the hang guard
                cwd=Path(__file__).resolve().parents[2],
            )
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    kinds = ["a FIFO", "a socket", "a character device", "a directory"]
    for result, kind in zip(shown, kinds, strict=True):
        assert result["screen"] == "ExplainScreen"
        assert result["after_reload"] == "ExplainScreen"
        assert "This is not a regular file" in result["text"]
        assert f"it is {kind}" in result["text"]
        assert "Traceback" not in result["text"]
        assert result["code"] == 0
