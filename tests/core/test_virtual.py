"""The virtual-disk reader against QEMU's reading of the same bytes."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import imagefiles
from tests.conftest import require
from vhdxray.core.analysis.virtual import (
    FILE,
    GAP,
    ZERO,
    OpenRefused,
    VirtualDisk,
    open_virtual_disk,
)

PIECE = 16 << 20


def disk_digest(disk: VirtualDisk) -> str:
    h = hashlib.sha256()
    pos = 0
    while pos < disk.size:
        n = min(PIECE, disk.size - pos)
        h.update(disk.read(pos, n))
        pos += n
    return h.hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(PIECE):
            h.update(chunk)
    return h.hexdigest()


def qemu_content(image: Path, tmp: Path, *, replay: bool = False) -> str:
    """SHA-256 of the virtual disk as QEMU reads it; with ``replay``, after QEMU replays the
    log on a copy (``qemu-img check -r all``)."""
    source = image
    if replay:
        source = tmp / (image.name + ".qemu-replayed")
        shutil.copyfile(image, source)
        subprocess.run(
            ["qemu-img", "check", "-q", "-r", "all", "-f", "vhdx", str(source)],
            capture_output=True,
        )
    raw = tmp / (image.name + ".qemu.raw")
    imagefiles.virtual_disk_bytes(source, raw)
    digest = file_digest(raw)
    raw.unlink()
    return digest


def test_qemu_written_blocks_read_like_qemu(
    qemu_image: Callable[..., Path], tmp_path: Path
) -> None:
    require("qemu-io", "qemu-utils")
    image = qemu_image("64M", "block_size=1M")
    imagefiles.qemu_io(
        image,
        "write -P 0xab 0 1M",
        "write -P 0x11 3M 4k",
        "write -P 0x22 63M 1M",
        "write -z 10M 1M",
    )
    with open_virtual_disk(image) as disk:
        assert disk.size == 64 << 20
        assert disk_digest(disk) == qemu_content(image, tmp_path)
        runs = list(disk.runs())
        assert {r.kind for r in runs} <= {FILE, ZERO}
        assert runs[0].kind == FILE and runs[0].end == 1 << 20
        assert runs[1].kind == ZERO
        assert disk.read(3 << 20, 4096) == b"\x11" * 4096
        assert disk.read((3 << 20) + 4096, 16) == bytes(16)


@pytest.mark.parametrize(
    "name",
    [
        "dissect-fixed",
        "dissect-dynamic",
        "velociraptor",
        "qemu-disk2vhd",
        "qemu-dynamic-1g",
    ],
)
def test_real_images_read_like_qemu(
    name: str, real_image: Callable[[str], Path], tmp_path: Path
) -> None:
    require("qemu-img", "qemu-utils")
    image = real_image(name)
    with open_virtual_disk(image) as disk:
        assert not disk.log.applied
        assert disk_digest(disk) == qemu_content(image, tmp_path)


@pytest.mark.parametrize("name", ["discutils-log-replay", "qemu-dirtylog"])
def test_dirty_logs_read_like_qemus_replay(
    name: str, real_image: Callable[[str], Path], tmp_path: Path
) -> None:
    require("qemu-img", "qemu-utils")
    image = real_image(name)
    before = file_digest(image)
    with open_virtual_disk(image) as disk:
        assert disk.log.applied and disk.log.data_pages >= 1
        mine = disk_digest(disk)
    assert file_digest(image) == before  # applied in memory only
    assert mine == qemu_content(image, tmp_path, replay=True)
    if name == "discutils-log-replay":  # without the log every BAT entry is 0: all zeros
        with open_virtual_disk(image) as disk:
            assert disk.read(510, 2) == b"\x55\xaa"


def test_truncated_image_reports_the_lost_blocks(
    qemu_image: Callable[..., Path], tmp_path: Path
) -> None:
    require("qemu-io", "qemu-utils")
    image = qemu_image("64M", "block_size=1M")
    imagefiles.qemu_io(image, "write -P 0x5a 0 8M")
    with open_virtual_disk(image) as disk:
        file_runs = [r for r in disk.runs() if r.kind == FILE]
        last = max(file_runs, key=lambda r: r.file_offset)
    cut = last.file_offset + (last.length // 2)
    with open(image, "r+b") as f:
        f.truncate(cut)
    with open_virtual_disk(image) as disk:
        gaps = [r for r in disk.runs() if r.kind == GAP]
        assert [(g.start, g.end, g.reason) for g in gaps] == [
            (last.start + last.length // 2, last.end, "past_end_of_file")
        ]
        assert disk.read(gaps[0].start, 16) == bytes(16)


def test_not_a_vhdx_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "x.img"
    other.write_bytes(bytes(2 << 20))
    with pytest.raises(OpenRefused) as info:
        open_virtual_disk(other)
    assert info.value.code == "not_vhdx"
