"""Run mypy (strict) on vhdxray.core and vhdxray.tui, and on tests/, bench/ and scripts/.

The source folders are mapped to the namespaced packages at install time (core/ ->
vhdxray.core), which mypy cannot follow through an editable install. This script builds a
throw-away tree of symbolic links with the installed layout (plus the test, benchmark and
script folders beside it, as in the repository) and points mypy at it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("vhdxray", "tests", "bench", "scripts")
"""What mypy reads, as paths inside the link tree: the package, then the folders around it."""


def link_tree(tmp: Path) -> None:
    pkg = tmp / "vhdxray"
    pkg.mkdir()
    for name in ("__init__.py", "__main__.py", "py.typed"):
        (pkg / name).symlink_to(ROOT / "tui" / "_pkg" / name)
    (pkg / "core").symlink_to(ROOT / "core")
    (pkg / "tui").symlink_to(ROOT / "tui")
    for folder in CHECKED[1:]:
        (tmp / folder).symlink_to(ROOT / folder)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="vhdxray-typing-") as tmp:
        link_tree(Path(tmp))
        cmd = [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--exclude",
            "_pkg|__snapshots__",
            *CHECKED,
        ]
        env = {**os.environ, "MYPYPATH": tmp}
        return subprocess.run(cmd, env=env, cwd=tmp).returncode


if __name__ == "__main__":
    raise SystemExit(main())
