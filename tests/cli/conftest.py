"""The command-line tests' files live on tmpfs: the commands that write fsync after every
write (test_cli and test_repair_cli with five core modules: 49.5 s, 33.3 s of CPU, on a disk;
40.8 s, 28.4 s of CPU, on tmpfs).
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def tmp_path(tmpfs_path: Path) -> Path:
    """``tmp_path`` on tmpfs where it has room (tests/conftest.py's ``tmpfs_path``, removed
    after the test): the fixtures that make images (``real_image``, ``qemu_image``) ask for
    ``tmp_path`` too, so they get this one."""
    return tmpfs_path
