"""Shared fixtures: images made by qemu-img in this run and the real images in ../shared."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import imagefiles


@pytest.fixture(scope="session")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of decompressed real images for the whole run: with pytest-xdist, every
    worker's base temp folder sits in the run's own, where they share it (see unpack_real)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    cache = base / "real-images"
    cache.mkdir(exist_ok=True)
    return cache


@pytest.fixture
def real_image(real_cache: Path, tmp_path: Path) -> Callable[[str], Path]:
    """Factory: ``real_image("qemu-disk2vhd")`` gives a private, writable, sparse copy."""
    if not imagefiles.real_image_available():
        pytest.skip(f"real images not found at {imagefiles.REAL_DIR} (../shared is absent)")

    def make(name: str) -> Path:
        cached = imagefiles.unpack_real(name, real_cache)
        return imagefiles.copy_sparse(cached, tmp_path / cached.name)

    return make


@pytest.fixture
def qemu_image(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``qemu_image("64M", "block_size=1M", name="x.vhdx")`` runs qemu-img create."""
    if not imagefiles.have("qemu-img"):
        pytest.skip("qemu-img is not installed (apt-get install qemu-utils)")

    def make(size: str, *options: str, name: str = "qemu.vhdx") -> Path:
        return imagefiles.qemu_img_create(tmp_path / name, size, *options)

    return make


# Parallel runs (pytest-xdist, ``-n auto``) -------------------------------------------------

IDLE_SHARE_WORKERS = 2
"""Workers per core for ``-n auto``. An app test spends about a third of its time asleep
(Textual's Pilot waits in 20 ms slices until the app is idle) and the tmux, qemu and real-image
tests wait on other processes and the disk: with one worker per core, a core idles as long.
Two per core fill those waits with another test's work."""


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: two workers per usable core (``PYTEST_XDIST_AUTO_NUM_WORKERS`` wins)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) * IDLE_SHARE_WORKERS)


RUN_FIRST = (
    # The longest tests (seconds of CPU each, measured with --durations): started first, a
    # parallel run does not end with one worker still busy on one of them while the others idle.
    "tests/crash/test_replay_crash.py",
    "tests/core/test_bat.py::test_bulk_analysis_matches_the_reference",
    "tests/core/test_update.py::test_update_on_real_images",
    "tests/cli/test_scan_cli.py::test_one_line_per_file_agreeing_with_check",
    "tests/core/test_virtual_biglog.py",
    "tests/core/test_bat.py::test_real_images_read_like_qemu",
    "tests/core/test_log.py::test_garbage_logs_are_analysed",
    "tests/core/test_replay.py::test_real_dirty_logs_replay_like_qemu",
    "tests/core/test_log.py::test_replay_matches_qemu",
    "tests/core/test_log.py::test_mutated_logs_never_raise",
    "tests/fuzz/test_mutations.py",
)


def _run_order(item: pytest.Item) -> int:
    for rank, prefix in enumerate(RUN_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(RUN_FIRST) + (0 if item.get_closest_marker("slow") else 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first, then the other ``slow`` ones, then the rest, each group in
    collection order (a stable sort: every worker gets the same order, as xdist requires).
    With ``--dist load --maxschedchunk=1`` (pyproject.toml) the workers take the tests one at a
    time in this order, so the long tests are spread over them from the start."""
    items.sort(key=_run_order)


def require(tool: str, package: str) -> None:
    """Skip the calling test when an independent reader is missing."""
    if not imagefiles.have(tool):
        pytest.skip(f"{tool} is not installed (apt-get install {package})")
