"""The crash tests' scratch files live on tmpfs (/dev/shm) where it exists and has room.

Each interruption copies an image, writes it with an fsync after every write, then converts the
virtual disk with qemu-img and digests it: on a disk, the fsyncs and the multi-GiB sparse raw
copies make these tests wait on the disk (two of test_replay_crash's cases took 12.5 s, 11.2 s
of CPU, on a disk; 9.2 s, 9.5 s of CPU, on tmpfs). What they check does not depend on where the
files are: fsync is called either way, and tmpfs keeps holes as the disk does.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

TMPFS = Path("/dev/shm")
ROOM = 2 << 30  # free bytes wanted on tmpfs (a test's files take well under 200 MiB)


def _tmpfs_has_room() -> bool:
    try:
        return os.access(TMPFS, os.W_OK) and shutil.disk_usage(TMPFS).free >= ROOM
    except OSError:
        return False


@pytest.fixture
def tmp_path(tmp_path: Path) -> Iterator[Path]:
    """pytest's ``tmp_path``, moved to a fresh folder on tmpfs (removed after the test) when
    there is room there; otherwise the usual one. The fixtures the crash tests use for their
    images (``real_image``, ``qemu_image``) ask for ``tmp_path`` too, so they get this one."""
    if not _tmpfs_has_room():
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="vhdxray-crash-", dir=TMPFS))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
