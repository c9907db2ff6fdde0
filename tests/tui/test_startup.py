"""Start-up stays lean: opening the app loads no write machinery until a write is asked for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.tui.helpers import make_image


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
