"""A pending log far larger than the data it carries: the virtual-disk reader reads only the
active sequence's entries (found by sector probe), keeps references to the logged pages rather
than their bytes, and still exports exactly what QEMU's replay gives, in bounded memory."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests import imagefiles
from tests.conftest import require
from tests.isolated import run_main
from tests.logwrite import build_log_entry, write_log_entries
from tests.repairimages import GUID, set_log_guid
from vhdxray.core.analysis.virtual import FILE, open_virtual_disk
from vhdxray.core.format import layout

MiB = layout.MiB
PAGE = 4096
PAGES_PER_ENTRY = 120  # QEMU 7.2 refuses to open an entry of more than 126 descriptors
ROUNDS = 4  # the written 8 MiB is logged over this many times; the last round wins
MEMORY_BOUND = 160 * MiB  # the log region alone is 256 MiB; before, it was read whole


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    for chunk in imagefiles.iter_chunks(path):
        h.update(chunk)
    return h.hexdigest()


def make_big_log_image(qemu_image: Callable[..., Path]) -> Path:
    """64 MiB disk, 256 MiB log; 8 MiB written, then ROUNDS x 8 MiB of data pages over it
    logged as one active sequence (69 entries of up to 120 pages, about 32 MiB of the log)."""
    image = qemu_image("64M", "block_size=1M", "log_size=256M", name="biglog.vhdx")
    subprocess.run(
        ["qemu-io", "-f", "vhdx", "-c", "write -P 0x11 0 8M", str(image)],
        check=True,
        capture_output=True,
    )
    with open_virtual_disk(image) as disk:
        pages = [
            (ext.file_offset + d, ext.start + d)
            for ext in disk.extents(0, 8 * MiB)
            if ext.kind == FILE
            for d in range(0, ext.length, PAGE)
        ]
    assert len(pages) == 8 * MiB // PAGE
    size = image.stat().st_size
    flushed = size // MiB * MiB
    writes = [
        (file_offset, bytes([r + 0x20, (virtual // PAGE) & 0xFF]) * (PAGE // 2))
        for r in range(ROUNDS)
        for file_offset, virtual in pages
    ]
    entries: list[tuple[int, bytes]] = []
    position = 0
    for n, first in enumerate(range(0, len(writes), PAGES_PER_ENTRY)):
        entry = build_log_entry(
            sequence_number=100 + n,
            log_guid=GUID,
            tail=0,
            flushed_file_offset=flushed,
            last_file_offset=flushed,
            data_pages=writes[first : first + PAGES_PER_ENTRY],
        )
        entries.append((position, entry))
        position += len(entry)
    write_log_entries(image, entries)
    set_log_guid(image, GUID)
    return image


def test_a_big_log_exports_like_qemus_replay_in_bounded_memory(
    qemu_image: Callable[..., Path], tmp_path: Path
) -> None:
    require("qemu-io", "qemu-utils")
    image = make_big_log_image(qemu_image)
    before = _digest(image)
    with open_virtual_disk(image) as disk:
        assert disk.log.applied
        assert disk.log.entries == -(-8 * MiB * ROUNDS // PAGE // PAGES_PER_ENTRY)
        assert disk.log.data_pages == 8 * MiB // PAGE  # distinct pages, the last round's
        assert disk.read(PAGE, 2) == bytes([ROUNDS - 1 + 0x20, 1])
    out = tmp_path / "out.raw"
    outcome = run_main([["export", "--quiet", str(image), str(out)]], timeout=600)
    assert outcome.results[0][0] == 0, outcome.results[0][1]
    assert outcome.peak_bytes < MEMORY_BOUND, outcome.peak_bytes
    assert _digest(image) == before  # the log was applied in memory only
    replayed = tmp_path / "qemu-replayed.vhdx"
    shutil.copyfile(image, replayed)
    subprocess.run(
        ["qemu-img", "check", "-q", "-r", "all", "-f", "vhdx", str(replayed)],
        capture_output=True,
    )
    qemu_raw = imagefiles.virtual_disk_bytes(replayed, tmp_path / "qemu.raw")
    assert _digest(out) == _digest(qemu_raw)
    with open(qemu_raw, "rb") as f:
        f.seek(PAGE)
        assert f.read(2) == bytes([ROUNDS - 1 + 0x20, 1])  # QEMU did replay the log
