"""Start-up stays lean: opening the app loads no write machinery until a write is asked for."""

from __future__ import annotations

import subprocess
import sys


def test_app_module_does_not_load_the_writer() -> None:
    code = (
        "import sys, vhdxray.tui.app; "
        "print([m for m in ('vhdxray.core.write.writer', 'vhdxray.core.write.update', "
        "'vhdxray.core.write.backup', 'vhdxray.core.write.locking') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
