"""The virtual-disk reader against QEMU's reading of the same bytes."""

from __future__ import annotations

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


def disk_digest(disk: VirtualDisk) -> tuple[int, str]:
    """The virtual disk's :func:`imagefiles.piece_digest`: its non-zero runs are read whole, and
    each zero run is read at both ends (it must read as zeros, as its kind says)."""
    ranges = []
    for run in disk.runs():
        if run.kind == ZERO:
            for at in {run.start, max(run.start, run.end - 4096)}:
                n = min(4096, run.end - at)
                assert disk.read(at, n) == bytes(n), (run, at)
        else:
            ranges.append((run.start, run.end))
    return imagefiles.piece_digest(disk.size, disk.read, ranges)


def qemu_content(image: Path, tmp: Path, *, replay: bool = False) -> tuple[int, str]:
    """The virtual disk as QEMU reads it (:func:`imagefiles.sparse_digest` of qemu-img
    convert's sparse raw output); with ``replay``, after QEMU replays the log on a copy
    (``qemu-img check -r all``)."""
    source = image
    if replay:
        source = imagefiles.copy_sparse(image, tmp / (image.name + ".qemu-replayed"))
        subprocess.run(
            ["qemu-img", "check", "-q", "-r", "all", "-f", "vhdx", str(source)],
            capture_output=True,
        )
    raw = tmp / (image.name + ".qemu.raw")
    imagefiles.virtual_disk_bytes(source, raw)
    digest = imagefiles.sparse_digest(raw)
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
    before = imagefiles.sparse_digest(image)
    with open_virtual_disk(image) as disk:
        assert disk.log.applied and disk.log.data_pages >= 1
        mine = disk_digest(disk)
    assert imagefiles.sparse_digest(image) == before  # applied in memory only
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
