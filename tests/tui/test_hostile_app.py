"""The app on hostile parent locators: the Metadata view (which resolves the locator's paths)
shows a finding instead of a traceback, and the 65,535-entry blow-up opens in bounded memory.

Each app runs in a subprocess (the timeout is the hang guard; peak memory is read there).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.hostile import child_with_locator, repeated_value_locator
from tests.isolated import ROOT
from vhdxray.core.format import layout
from vhdxray.core.format.metadata import serialise_locator

# Opens the app, shows the Metadata view (3) and the Findings view (6), and prints the text of
# the Metadata view's widgets, the screen types and the process's peak memory.
_PILOT = """
import asyncio, json, resource, sys
from contextlib import suppress
from textual.widgets import Static
from textual.worker import WorkerCancelled, WorkerFailed
from tests.tui.helpers import content_text, screen_text
from vhdxray.tui.app import VhdxrayApp

async def main(path):
    app = VhdxrayApp(path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        with suppress(WorkerFailed, WorkerCancelled):
            await app.workers.wait_for_complete()
        await pilot.pause()
        view = app.screen.query_one("#view-metadata")
        meta = "\\n".join(content_text(s) for s in view.query(Static))
        await pilot.press("6")
        await pilot.pause()
        findings = screen_text(app)
        screen = type(app.screen).__name__
        await pilot.press("q")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:  # this process's own high-water mark (ru_maxrss also holds the vfork parent's)
        with open("/proc/self/status") as status:
            peak = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) * 1024
    except (OSError, StopIteration):
        pass
    print(json.dumps({"meta": meta, "findings": findings, "screen": screen, "peak": peak,
                      "code": app.return_code}))

asyncio.run(main(sys.argv[1]))
"""


def run_app(path: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PILOT, str(path)],
        capture_output=True,
        text=True,
        timeout=120,  # the hang guard
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_metadata_view_with_a_300_character_relative_path(tmp_path: Path) -> None:
    long_name = "p" * 300 + ".vhdx"
    child = child_with_locator(
        tmp_path,
        lambda linkage: serialise_locator(
            [("parent_linkage", linkage), ("relative_path", long_name)]
        ),
    )
    shown = run_app(child)
    assert shown["screen"] == "MainScreen" and shown["code"] == 0
    meta = str(shown["meta"])
    assert "relative_path: parent path cannot be used here: one of its names is too long" in meta
    assert "Traceback" not in meta


def test_blow_up_locator_opens_in_bounded_memory(tmp_path: Path) -> None:
    child = child_with_locator(tmp_path, repeated_value_locator)
    shown = run_app(child)
    assert shown["screen"] == "MainScreen" and shown["code"] == 0
    meta = str(shown["meta"])
    assert "(32000 characters)" in meta  # the 64,000-byte value, clipped
    assert "parent path cannot be used here: it is too long" in meta
    assert "metadata.locator.oversized" in str(shown["findings"])
    assert int(str(shown["peak"])) < 100 * layout.MiB  # the app with Textual: about 46 MiB


def test_nul_and_control_values_are_shown_escaped(tmp_path: Path) -> None:
    from tests.hostile import locator_with_values

    def item(linkage: str) -> bytes:
        return locator_with_values(
            [
                (u16("parent_linkage"), u16(linkage)),
                (u16("relative_path"), b"\x00\x00" * 3),
                (u16("volume_path"), u16("a\x1b]2;PWNED\x07b")),
            ]
        )

    child = child_with_locator(tmp_path, item)
    shown = run_app(child)
    meta = str(shown["meta"])
    assert "\\x00\\x00\\x00" in meta
    assert "a\\x1b]2;PWNED\\x07b" in meta
    assert "\x1b" not in meta and "\x00" not in meta
    assert "metadata.locator.text" in str(shown["findings"])


def u16(text: str) -> bytes:
    return text.encode("utf-16-le")
