"""The core tests' files live on tmpfs: the writers fsync after every write and QEMU's log
replays (``qemu-img check -r all``) flush after every entry. On a disk, test_log, test_replay
and test_virtual_biglog took 64 s (30.8 s of CPU); on tmpfs 34 s (24.3 s).
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
