"""Run mypy (strict) on vhdxray.core and vhdxray.tui from the source tree.

The source folders are mapped to the namespaced packages at install time (core/ ->
vhdxray.core), which mypy cannot follow through an editable install. This script builds a
throw-away tree of symbolic links with the installed layout and points mypy at it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="vhdxray-typing-") as tmp:
        pkg = Path(tmp) / "vhdxray"
        pkg.mkdir()
        for name in ("__init__.py", "__main__.py", "py.typed"):
            (pkg / name).symlink_to(ROOT / "tui" / "_pkg" / name)
        (pkg / "core").symlink_to(ROOT / "core")
        (pkg / "tui").symlink_to(ROOT / "tui")
        cmd = [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--exclude",
            "_pkg",
            "-p",
            "vhdxray.core",
            "-p",
            "vhdxray.tui",
        ]
        env = {**os.environ, "MYPYPATH": tmp}
        return subprocess.run(cmd, env=env, cwd=tmp).returncode


if __name__ == "__main__":
    raise SystemExit(main())
