"""Images for the repair tests: pending logs written with core.logwrite on real bytes, and
helpers to compare virtual disks and files.

The pending-log image starts from a qemu-img image with data (or, where qemu is not needed,
one from core.create), then logs changes the way a writer that crashed after flushing its log
would have left them: the log entries complete and LogGuid set in both headers, the metadata
not yet updated.
"""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.damage import read_at, write_at
from tests.imagefiles import sparse_digest
from tests.logwrite import build_log_entry, write_log_entries
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.format.checksum import checksum_with_field_zeroed

MiB = layout.MiB
PAGE = 4096
GUID = uuid.UUID("5d2e8f4c-1b3a-4c6d-9e7f-a1b2c3d4e5f6")


def set_log_guid(path: Path, guid: uuid.UUID) -> None:
    """LogGuid in both header slots (checksums fixed, sequence numbers kept)."""
    with open(path, "r+b") as f:
        for slot in layout.HEADER_SLOT_OFFSETS:
            f.seek(slot)
            raw = bytearray(f.read(layout.HEADER_SIZE))
            raw[48:64] = guid.bytes_le
            struct.pack_into("<I", raw, 4, checksum_with_field_zeroed(raw, 4))
            f.seek(slot)
            f.write(raw)


def bat_offset(path: Path) -> int:
    report = read_report(path)
    assert report.region_tables is not None and report.active_region_table is not None
    entry = report.region_tables[report.active_region_table - 1].find(layout.BAT_GUID)
    assert entry is not None
    return entry.file_offset


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    return h.hexdigest()


def raw_of(path: Path) -> Path:
    """The virtual disk as raw bytes, read by qemu-img (an independent reader)."""
    out = path.with_name(path.name + ".raw")
    out.unlink(missing_ok=True)
    subprocess.run(
        ["qemu-img", "convert", "-f", "vhdx", "-O", "raw", str(path), str(out)],
        check=True,
        capture_output=True,
    )
    return out


def virtual_digest(path: Path) -> tuple[int, str]:
    raw = raw_of(path)
    try:
        return sparse_digest(raw)
    finally:
        raw.unlink()


def qemu_repair(path: Path) -> None:
    """What QEMU does: ``qemu-img check -r all`` replays the log."""
    done = subprocess.run(
        ["qemu-img", "check", "-r", "all", "-f", "vhdx", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def qemu_check_rc(path: Path) -> int:
    return subprocess.run(
        ["qemu-img", "check", "-f", "vhdx", str(path)], capture_output=True, text=True
    ).returncode


# qemu-img check: 0 clean, 3 leaks, 2 corruption, 1 could not check (e.g. a pending log).
QEMU_CHECK_RANK = {0: 0, 3: 1, 2: 2, 1: 3}


def qemu_check_rank(path: Path) -> int:
    return QEMU_CHECK_RANK.get(qemu_check_rc(path), 4)


@dataclass(frozen=True)
class PendingImage:
    path: Path
    expected_block0: bytes  # what virtual block 0 reads after the replay
    size_before: int
    last_file_offset: int


def make_pending_image(qemu_image_factory: object, *, name: str = "pending.vhdx") -> PendingImage:
    """A 64 MiB, 1 MiB-block qemu-img image with data in blocks 1 and 4 and a pending log of
    two entries (one sequence):

    - entry 10: the BAT page maps block 0 to a new block at the end of the file (its data,
      0xc3, already written), and a zero range clears 128 KiB inside block 1;
    - entry 11: the BAT page again (superseding entry 10's copy), now also mapping block 2 to
      a block in the space LastFileOffset adds (it reads as zeros), and a zero range there.

    LastFileOffset is 2 MiB beyond the file: the replay must grow it.
    """
    assert callable(qemu_image_factory)
    return add_pending_log(make_data_image(qemu_image_factory, name=name))


def make_data_image(qemu_image_factory: object, *, name: str = "qemu.vhdx") -> Path:
    """64 MiB qemu-img image, 1 MiB blocks, data in blocks 1 (0x5a) and 4 (0x11) written by
    qemu-io (QEMU allocates them at file offsets 8 and 9 MiB)."""
    assert callable(qemu_image_factory)
    path: Path = qemu_image_factory("64M", "block_size=1M", name=name)
    subprocess.run(
        [
            "qemu-io",
            "-f",
            "vhdx",
            "-c",
            "write -P 0x5a 1M 1M",
            "-c",
            "write -P 0x11 4M 1M",
            str(path),
        ],
        check=True,
        capture_output=True,
    )
    return path


def add_pending_log(path: Path, guid: uuid.UUID = GUID) -> PendingImage:
    bat = bat_offset(path)
    page = bytearray(read_at(path, bat, PAGE))
    block1 = struct.unpack_from("<Q", page, 8)[0] & layout.BAT_OFFSET_MASK
    assert block1 >= 2 * MiB
    size = path.stat().st_size
    assert size % MiB == 0
    new_block0 = size
    write_at(path, new_block0, b"\xc3" * MiB)  # the data reached the file before the log
    flushed = size + MiB
    struct.pack_into("<Q", page, 0, new_block0 | layout.PAYLOAD_BLOCK_FULLY_PRESENT)
    first_page = bytes(page)
    struct.pack_into("<Q", page, 16, flushed | layout.PAYLOAD_BLOCK_FULLY_PRESENT)  # block 2
    second_page = bytes(page)
    last = flushed + 2 * MiB
    pos1 = 2 * PAGE
    e1 = build_log_entry(
        sequence_number=10,
        log_guid=guid,
        tail=pos1,
        flushed_file_offset=flushed,
        last_file_offset=last,
        data_pages=[(bat, first_page)],
        zero_ranges=[(block1 + 64 * 1024, 128 * 1024)],
    )
    pos2 = pos1 + len(e1)  # a sequence is contiguous in the log
    e2 = build_log_entry(
        sequence_number=11,
        log_guid=guid,
        tail=pos1,
        flushed_file_offset=flushed,
        last_file_offset=last,
        data_pages=[(bat, second_page)],
        zero_ranges=[(flushed, MiB)],
    )
    write_log_entries(path, [(pos1, e1), (pos2, e2)])
    set_log_guid(path, guid)
    return PendingImage(path, b"\xc3" * MiB, flushed, last)


def expected_virtual_start(size: int = 6 * MiB) -> bytes:
    """The first ``size`` virtual bytes of make_pending_image's disk after the replay."""
    disk = bytearray(size)
    disk[0:MiB] = b"\xc3" * MiB
    disk[MiB : 2 * MiB] = b"\x5a" * MiB
    disk[MiB + 64 * 1024 : MiB + 192 * 1024] = bytes(128 * 1024)
    disk[4 * MiB : 5 * MiB] = b"\x11" * MiB
    return bytes(disk)


def apply_sequentially(
    path: Path, writes: Sequence[tuple[int, bytes | int]], required_size: int
) -> None:
    """A naive replay for comparison: each (offset, 4 KiB page | zero length) in order."""
    with open(path, "r+b") as f:
        for offset, what in writes:
            f.seek(offset)
            if isinstance(what, int):
                f.write(bytes(what))
            else:
                f.write(what)
        f.seek(0, os.SEEK_END)
        if f.tell() < required_size:
            f.truncate(required_size)
