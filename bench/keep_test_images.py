"""A pytest plugin that keeps the images the tests make, for ``bench/compare_installs.py``.

    PYTHONPATH=bench KEEP_IMAGES=/tmp/test-images python -m pytest -n 0 -p keep_test_images \\
        tests/core/test_reader.py tests/cli/test_cli.py ...

Before a test's fixtures are torn down (its ``tmp_path`` is removed then), every ``*.vhdx``,
``*.avhdx`` and ``*.vhds`` in it is copied (sparse) into a folder named after the test, under
``$KEEP_IMAGES``: the damaged, truncated and hostile images the tests build.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SUFFIXES = (".vhdx", ".avhdx", ".vhds")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    out = os.environ.get("KEEP_IMAGES")
    tmp = getattr(item, "funcargs", {}).get("tmp_path")
    if out and isinstance(tmp, Path) and tmp.is_dir():
        folder = Path(out) / re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)[-120:]
        for image in tmp.rglob("*"):
            if image.is_file() and image.suffix in SUFFIXES:
                folder.mkdir(parents=True, exist_ok=True)
                subprocess.run(["cp", "--sparse=always", str(image), str(folder / image.name)])
    yield
