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


def require(tool: str, package: str) -> None:
    """Skip the calling test when an independent reader is missing."""
    if not imagefiles.have(tool):
        pytest.skip(f"{tool} is not installed (apt-get install {package})")
