"""The crash tests' files live on tmpfs: each interruption copies an image, writes it with
an fsync after every write, then converts the virtual disk with qemu-img and digests it. On a
disk, two of test_replay_crash's cases took 12.5 s (11.2 s of CPU); on tmpfs 9.2 s (9.5 s).
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
