"""Start-up stays lean: opening the app loads no write machinery until a write is asked for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.tui.helpers import make_image, screen_text
from vhdxray.tui.app import VhdxrayApp
from vhdxray.tui.screens.main import MainScreen


def test_app_module_does_not_load_the_writer() -> None:
    code = (
        "import sys, vhdxray.tui.app; "
        "print([m for m in ('vhdxray.core.write.writer', 'vhdxray.core.write.update', "
        "'vhdxray.core.write.backup', 'vhdxray.core.write.locking') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


DEFERRED = (
    "vhdxray.tui.repairs",
    "vhdxray.tui.writeflow",
    "vhdxray.tui.screens.backups",
    "vhdxray.tui.screens.confirm",
    "vhdxray.tui.screens.dialogs",
    "vhdxray.tui.screens.explain",
    "vhdxray.tui.screens.openimage",
    "vhdxray.tui.screens.progress",
    "vhdxray.tui.screens.repairmenu",
    "vhdxray.tui.widgets.repairviews",
    "vhdxray.tui.widgets.sections",  # the hidden views are made when their tab is first shown
    "vhdxray.tui.widgets.findings",
    "vhdxray.tui.widgets.hexview",
    "humanize",  # the facts' sizes are tui/sizes.py's (humanize pulls in gettext)
)


def test_first_paint_imports_no_dialog(tmp_path: Path) -> None:
    """Issue 9 (first paint): the first frame imports the first screen only; every dialog,
    the repairs' words and the write flow are imported by the action that shows them."""
    image = make_image(tmp_path / "bad.vhdx", damaged_slot=1)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from vhdxray.tui.app import VhdxrayApp\n"
        "class Probe(VhdxrayApp):\n"
        "    def on_ready(self) -> None:\n"
        f"        self.loaded = [m for m in {DEFERRED!r} if m in sys.modules]\n"
        "        self.exit()\n"
        "app = Probe(Path(sys.argv[1]))\n"
        "app.run(headless=True, size=(80, 24))\n"
        "print(app.loaded)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}
    done = subprocess.run(
        [sys.executable, "-c", code, str(image)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


async def test_a_view_is_made_when_its_tab_is_first_shown(tmp_path: Path) -> None:
    """Only the first tab's view is composed for the first frame; another view is made (with
    the report already in it) when its tab is first shown, and kept."""
    image = make_image(tmp_path / "bad.vhdx", damaged_slot=1)
    app = VhdxrayApp(image)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert screen.query("#headers-view")
        assert not screen.query(".section")  # the section views and the findings
        await pilot.press("6")
        await pilot.pause()
        findings = screen.query_one("#view-findings")
        assert "header.slot1.checksum" in screen_text(app)
        await pilot.press("1", "6")
        await pilot.pause()
        assert screen.query_one("#view-findings") is findings
        assert not screen.query("#view-log")
        await pilot.press("4")
        await pilot.pause()
        assert "Log" in screen_text(app) and screen.query_one("#view-log").has_focus
