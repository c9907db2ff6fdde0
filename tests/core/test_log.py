"""The VHDX log: parsing, the active-sequence search, replay plans, and the entry writer.

Real images (Hyper-V/Windows and QEMU made) give the facts; qemu-img is the independent check
of replay; synthetic logs built with ``logwrite`` probe the search rules one by one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import reports
from tests.conftest import require
from tests.imagefiles import sparse_digest
from tests.logwrite import build_log_entry, seal_entry, write_log_entries
from vhdxray.core import fileio
from vhdxray.core.analysis.reader import analyse_log_in_file
from vhdxray.core.format import layout
from vhdxray.core.format.checksum import checksum_with_field_zeroed
from vhdxray.core.format.findings import Finding, Severity
from vhdxray.core.format.log import (
    JSON_STALE_CAP,
    LogInfo,
    ReplayWrite,
    analyse_log,
    analyse_log_at,
    descriptor_sectors,
    replay_plan,
)
from vhdxray.core.source import ImageSource

MiB = layout.MiB
SECTOR = 4096
GUID = uuid.UUID("6f1c7d43-2a55-4f0e-9b8e-2c1d3e4f5a6b")
OTHER = uuid.UUID("0b6a9d2e-8c1f-4d3a-a1b2-c3d4e5f60718")
DISCUTILS_RAW_SHA256 = "3ba3b309425b7ff5e8e0199edceed95226250f880c53b24e8eae93865f3fad5e"


# ---------------------------------------------------------------------------------------------
# Minimal independent header / region-table reading (the real parsers live elsewhere)


@dataclass(frozen=True)
class Head:
    slot_offset: int
    sequence_number: int
    log_guid: uuid.UUID
    log_version: int
    log_length: int
    log_offset: int


def current_header(path: Path) -> Head:
    best: Head | None = None
    with open(path, "rb") as f:
        for slot in (64 * 1024, 128 * 1024):
            f.seek(slot)
            raw = f.read(4096)
            if raw[:4] != b"head":
                continue
            if struct.unpack_from("<I", raw, 4)[0] != checksum_with_field_zeroed(raw, 4):
                continue
            seq = struct.unpack_from("<Q", raw, 8)[0]
            log_version, _version, log_length, log_offset = struct.unpack_from("<HHIQ", raw, 64)
            head = Head(
                slot, seq, uuid.UUID(bytes_le=raw[48:64]), log_version, log_length, log_offset
            )
            if best is None or seq > best.sequence_number:
                best = head
    assert best is not None
    return best


def set_log_guid(path: Path, guid: uuid.UUID) -> None:
    """Patch LogGuid in both header slots and fix their CRCs (no sequence change)."""
    with open(path, "r+b") as f:
        for slot in (64 * 1024, 128 * 1024):
            f.seek(slot)
            raw = bytearray(f.read(4096))
            raw[48:64] = guid.bytes_le
            struct.pack_into("<I", raw, 4, checksum_with_field_zeroed(raw, 4))
            f.seek(slot)
            f.write(raw)


def bat_offset(path: Path) -> int:
    with open(path, "rb") as f:
        f.seek(192 * 1024)
        table = f.read(64 * 1024)
    for i in range(struct.unpack_from("<I", table, 8)[0]):
        at = 16 + 32 * i
        if uuid.UUID(bytes_le=table[at : at + 16]) == layout.BAT_GUID:
            return int(struct.unpack_from("<Q", table, at + 16)[0])
    raise AssertionError("no BAT region")


def analyse_file(path: Path) -> tuple[LogInfo, list[Finding], bytes]:
    head = current_header(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(head.log_offset)
        log_bytes = f.read(head.log_length)
    info, findings = analyse_log(
        log_bytes,
        log_guid=head.log_guid,
        log_offset=head.log_offset,
        log_length=head.log_length,
        log_version=head.log_version,
        file_size=size,
    )
    # The reader's path (probe the sectors, read only the entries) finds exactly the same.
    header = reports.effective_header(path)
    assert (header.log_guid, header.log_offset, header.log_length, header.log_version) == (
        head.log_guid,
        head.log_offset,
        head.log_length,
        head.log_version,
    )
    with ImageSource(path) as source:
        assert analyse_log_in_file(header, source) == (info, findings)
    return info, findings, log_bytes


def apply_plan(path: Path, plan: Sequence[ReplayWrite], required_size: int) -> None:
    """Plain file writes: what a replay does (§2.3.3), then the final extension."""
    with open(path, "r+b") as f:
        for w in plan:
            f.seek(w.file_offset)
            if w.is_zero:
                left = w.length
                while left:
                    n = min(left, MiB)
                    f.write(bytes(n))
                    left -= n
            else:
                assert len(w.data) == w.length == SECTOR
                f.write(w.data)
        f.seek(0, os.SEEK_END)
        if f.tell() < required_size:
            f.truncate(required_size)


def replay_ourselves(path: Path) -> LogInfo:
    info, _, log_bytes = analyse_file(path)
    assert info.replay_needed
    apply_plan(path, replay_plan(info, log_bytes), info.required_file_size)
    set_log_guid(path, layout.ZERO_GUID)
    return info


def qemu_replay(path: Path) -> None:
    done = subprocess.run(
        ["qemu-img", "check", "-r", "all", "-f", "vhdx", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def to_raw(path: Path) -> Path:
    out = path.with_suffix(".raw")
    subprocess.run(
        ["qemu-img", "convert", "-f", "vhdx", "-O", "raw", str(path), str(out)],
        check=True,
        capture_output=True,
    )
    return out


def full_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    return h.hexdigest()


def codes(findings: Sequence[Finding]) -> dict[str, Severity]:
    return {f.code: f.severity for f in findings}


# ---------------------------------------------------------------------------------------------
# Synthetic logs


def ring(entries: Sequence[tuple[int, bytes]], size: int = MiB) -> bytes:
    """A log region holding ``entries`` at their positions, wrapping at ``size``."""
    buf = bytearray(size)
    for pos, entry in entries:
        first = min(len(entry), size - pos)
        buf[pos : pos + first] = entry[:first]
        buf[: len(entry) - first] = entry[first:]
    return bytes(buf)


def page(fill: int, tag: int = 0) -> bytes:
    p = bytearray([fill]) * SECTOR
    p[:8] = tag.to_bytes(8, "little")
    p[-4:] = b"TAIL"
    return bytes(p)


def entry(
    seq: int,
    tail: int,
    *,
    guid: uuid.UUID = GUID,
    pages: Sequence[tuple[int, bytes]] = (),
    zeros: Sequence[tuple[int, int]] = (),
    flushed: int = 4 * MiB,
    last: int = 4 * MiB,
) -> bytes:
    return build_log_entry(
        sequence_number=seq,
        log_guid=guid,
        tail=tail,
        flushed_file_offset=flushed,
        last_file_offset=last,
        data_pages=pages,
        zero_ranges=zeros,
    )


def analyse(
    log: bytes,
    *,
    guid: uuid.UUID = GUID,
    length: int | None = None,
    file_size: int = 64 * MiB,
    version: int = 0,
    offset: int = MiB,
) -> tuple[LogInfo, list[Finding]]:
    log_length = len(log) if length is None else length
    result = analyse_log(
        log,
        log_guid=guid,
        log_offset=offset,
        log_length=log_length,
        log_version=version,
        file_size=file_size,
    )
    assert_probed_reads_agree(bytes(log), result, guid, offset, log_length, version, file_size)
    return result


def assert_probed_reads_agree(
    log: bytes,
    expected: tuple[LogInfo, list[Finding]],
    guid: uuid.UUID,
    offset: int,
    log_length: int,
    version: int,
    file_size: int,
) -> None:
    """analyse_log_at over a file holding the log (the sectors probed through a file mapping
    in small windows, and read in small windows, entries read on demand) gives exactly what
    analyse_log gives."""
    fd, name = tempfile.mkstemp(prefix="vhdxray-log-")
    try:
        os.write(fd, log)
        available = min(len(log), log_length)
        old_window, old_read_max = fileio.PROBE_WINDOW, fileio.PROBE_READ_MAX
        fileio.PROBE_WINDOW = 3 * SECTOR  # many windows, boundaries everywhere
        try:
            for read_max in (0, len(log)):  # mapped, then read
                fileio.PROBE_READ_MAX = read_max
                got = analyse_log_at(
                    lambda pos, n: os.pread(fd, min(n, available - pos), pos),
                    available,
                    lambda limit: fileio.probe_sectors(
                        fd, 0, min(limit, available), SECTOR, b"loge"
                    ),
                    log_guid=guid,
                    log_offset=offset,
                    log_length=log_length,
                    log_version=version,
                    file_size=file_size,
                )
                assert got == expected
        finally:
            fileio.PROBE_WINDOW, fileio.PROBE_READ_MAX = old_window, old_read_max
    finally:
        os.close(fd)
        os.unlink(name)


def active_positions(info: LogInfo) -> list[int]:
    assert info.active is not None
    return [e.log_position for e in info.active.entries]


# ---------------------------------------------------------------------------------------------
# Real images


def test_qemu_dirtylog(real_image: Callable[[str], Path]) -> None:
    path = real_image("qemu-dirtylog")
    head = current_header(path)
    info, findings, log_bytes = analyse_file(path)
    assert len(info.entries) == 7
    assert [e.sequence_number for e in info.entries] == [1, 2, 3, 4, 5, 6, 7]
    assert all(e.intact for e in info.entries)
    # Only the last one carries the header's LogGuid.
    assert [e.guid_matches for e in info.entries] == [False] * 6 + [True]
    assert info.replay_needed
    assert active_positions(info) == [49152]
    assert len(info.stale_entries) == 6
    assert info.required_file_size == 31457280 == path.stat().st_size
    assert not info.file_too_short
    plan = replay_plan(info, log_bytes)
    # One BAT page, rewritten whole.
    assert [(w.file_offset, w.length, w.is_zero) for w in plan] == [(bat_offset(path), 4096, False)]
    with open(path, "rb") as f:
        f.seek(plan[0].file_offset)
        assert f.read(4096) != plan[0].data  # pending, not yet applied
    c = codes(findings)
    assert c["log.replay_needed"] is Severity.ERROR
    assert c["log.stale_entries"] is Severity.INFO
    assert "log.no_valid_sequence" not in c
    msg = next(f.message for f in findings if f.code == "log.replay_needed")
    assert "1 entry" in msg and "1 metadata page" in msg
    assert head.log_guid == info.log_guid
    doc = info.to_json()
    assert doc["replay_needed"] is True
    assert doc["active_sequence"] == {
        "tail": 49152,
        "head": 49152,
        "head_sequence_number": 7,
        "entries": [49152],
        "data_pages": 1,
        "zero_ranges": 0,
    }
    entries_json = doc["entries"]
    assert isinstance(entries_json, list)
    assert [item["active"] for item in entries_json] == [False] * 6 + [True]


def test_discutils_log_replay(real_image: Callable[[str], Path]) -> None:
    path = real_image("discutils-log-replay")
    info, findings, log_bytes = analyse_file(path)
    assert [e.log_position for e in info.entries] == [0, 4096, 12288, 20480, 28672]
    assert all(e.valid for e in info.entries)
    # The whole run is consecutive, but the head's Tail names 20480: that is the tail entry.
    assert info.active is not None
    assert info.active.tail_position == 20480
    assert active_positions(info) == [20480, 28672]
    assert info.active.scan_start == 0
    assert [e.log_position for e in info.stale_entries] == [0, 4096, 12288]
    assert info.replay_needed
    assert info.required_file_size == 37748736
    plan = replay_plan(info, log_bytes)
    assert [w.file_offset for w in plan] == [3 * MiB, 3 * MiB]
    assert [w.entry_sequence_number for w in plan] == [80117443871106390, 80117443871106391]
    # After replay payload block 0 is FULLY_PRESENT at 4 MiB (SOURCES.md).
    bat0 = struct.unpack_from("<Q", plan[-1].data, 0)[0]
    assert bat0 & 7 == layout.PAYLOAD_BLOCK_FULLY_PRESENT
    assert bat0 & layout.BAT_OFFSET_MASK == 4 * MiB
    c = codes(findings)
    assert c["log.replay_needed"] is Severity.ERROR
    stale = next(f.message for f in findings if f.code == "log.stale_entries")
    assert "3 entries of this log older than the active tail" in stale


def test_qemu_dynamic_1g_has_stale_entries_only(real_image: Callable[[str], Path]) -> None:
    path = real_image("qemu-dynamic-1g")
    info, findings, log_bytes = analyse_file(path)
    assert info.log_guid == layout.ZERO_GUID
    assert len(info.entries) == 2
    assert all(e.intact and e.checksum_ok for e in info.entries)  # CRC-valid ...
    assert not any(e.valid for e in info.entries)  # ... but not valid for this file
    assert info.active is None and not info.replay_needed
    assert len(info.stale_entries) == 2
    assert replay_plan(info, log_bytes) == []
    assert info.required_file_size == 0
    assert not [f for f in findings if f.severity is not Severity.INFO]
    stale = next(f for f in findings if f.code == "log.stale_entries")
    assert "2 old entries from an earlier session" in stale.message
    assert "must not be replayed" in stale.message


def test_disk2vhd_empty_log(real_image: Callable[[str], Path]) -> None:
    path = real_image("qemu-disk2vhd")
    info, findings, log_bytes = analyse_file(path)
    assert info.entries == () and info.active is None and not info.replay_needed
    assert findings == []
    assert replay_plan(info, log_bytes) == []
    assert info.to_json()["active_sequence"] is None


@pytest.mark.parametrize("name", ["discutils-log-replay", "qemu-dirtylog"])
def test_replay_matches_qemu(real_image: Callable[[str], Path], tmp_path: Path, name: str) -> None:
    require("qemu-img", "qemu-utils")
    ours = real_image(name)
    theirs = tmp_path / "theirs.vhdx"
    shutil.copyfile(ours, theirs)
    # What a reader that ignores the log sees: LogGuid cleared without replay.
    ignored = tmp_path / "ignored.vhdx"
    shutil.copyfile(ours, ignored)
    set_log_guid(ignored, layout.ZERO_GUID)
    ignored_raw = to_raw(ignored)

    info = replay_ourselves(ours)
    qemu_replay(theirs)
    assert ours.stat().st_size >= info.required_file_size
    after, after_findings, _ = analyse_file(ours)
    assert not after.replay_needed and "log.replay_needed" not in codes(after_findings)

    ours_raw, theirs_raw = to_raw(ours), to_raw(theirs)
    assert sparse_digest(ours_raw) == sparse_digest(theirs_raw)
    assert sparse_digest(ours_raw) != sparse_digest(ignored_raw)  # the log matters
    if name == "discutils-log-replay":
        assert full_sha256(ours_raw) == DISCUTILS_RAW_SHA256
        with open(ours_raw, "rb") as f:
            assert f.read(512)[510:512] == b"\x55\xaa"


# ---------------------------------------------------------------------------------------------
# Pending-log images of our own, checked against qemu-img


def test_own_pending_log_replays_like_qemu(qemu_image: Callable[..., Path], tmp_path: Path) -> None:
    require("qemu-io", "qemu-utils")
    base = qemu_image("64M", "block_size=1M")
    subprocess.run(
        ["qemu-io", "-f", "vhdx", "-c", "write -P 0x5a 1M 1M", str(base)],
        check=True,
        capture_output=True,
    )
    bat = bat_offset(base)
    with open(base, "r+b") as f:
        f.seek(bat)
        bat_page = bytearray(f.read(4096))
        block1 = struct.unpack_from("<Q", bat_page, 8)[0] & layout.BAT_OFFSET_MASK
        assert block1 >= 4 * MiB
        # New home of payload block 0: the end of the file, filled with data first.
        new_block0 = f.seek(0, os.SEEK_END)
        assert new_block0 % MiB == 0
        f.write(b"\xc3" * MiB)
    struct.pack_into("<Q", bat_page, 0, new_block0 | layout.PAYLOAD_BLOCK_FULLY_PRESENT)
    size = base.stat().st_size
    position = 3 * SECTOR
    logged = entry(
        1,
        position,
        guid=GUID,
        pages=[(bat, bytes(bat_page))],
        zeros=[(block1 + 64 * 1024, 128 * 1024)],
        flushed=size,
        last=size + MiB,  # replay must grow the file
    )
    write_log_entries(base, [(position, logged)])
    set_log_guid(base, GUID)

    info, findings, log_bytes = analyse_file(base)
    assert info.replay_needed and active_positions(info) == [position]
    assert codes(findings)["log.replay_needed"] is Severity.ERROR
    plan = replay_plan(info, log_bytes)
    assert [(w.file_offset, w.length, w.is_zero) for w in plan] == [
        (block1 + 64 * 1024, 128 * 1024, True),
        (bat, 4096, False),
    ]
    assert plan[1].data == bytes(bat_page)
    assert info.required_file_size == size + MiB

    theirs = tmp_path / "theirs.vhdx"
    shutil.copyfile(base, theirs)
    replay_ourselves(base)
    assert base.stat().st_size == size + MiB
    qemu_replay(theirs)
    ours_raw, theirs_raw = to_raw(base), to_raw(theirs)
    assert sparse_digest(ours_raw) == sparse_digest(theirs_raw)
    with open(ours_raw, "rb") as f:
        disk = f.read(2 * MiB)
    assert disk[:MiB] == b"\xc3" * MiB
    assert disk[MiB : MiB + 64 * 1024] == b"\x5a" * 65536
    assert disk[MiB + 64 * 1024 : MiB + 192 * 1024] == bytes(128 * 1024)
    assert disk[MiB + 192 * 1024 :] == b"\x5a" * (MiB - 192 * 1024)
    check = subprocess.run(["qemu-img", "check", "-f", "vhdx", str(base)], capture_output=True)
    assert check.returncode == 0


def test_sequence_wrapping_the_ring_replays_in_an_image(
    qemu_image: Callable[..., Path], tmp_path: Path
) -> None:
    """Three entries: the first wraps past the end of the ring. Checked against a direct edit."""
    require("qemu-io", "qemu-utils")
    base = qemu_image("1G", "block_size=1M")
    subprocess.run(
        ["qemu-io", "-f", "vhdx", "-c", "write -P 0x11 1M 1M", str(base)],
        check=True,
        capture_output=True,
    )
    bat = bat_offset(base)
    with open(base, "r+b") as f:
        f.seek(bat)
        pages = [bytearray(f.read(4096)), bytearray(f.read(4096))]
        block1 = struct.unpack_from("<Q", pages[0], 8)[0] & layout.BAT_OFFSET_MASK
        x0 = f.seek(0, os.SEEK_END)
        f.write(b"\x22" * MiB)
        x1 = f.tell()
        f.write(b"\x33" * MiB)
    struct.pack_into("<Q", pages[0], 0, x0 | 6)  # block 0
    struct.pack_into("<Q", pages[1], (600 - 512) * 8, x1 | 6)  # block 600 (second BAT page)
    zero = (block1 + 64 * 1024, 64 * 1024)
    size = base.stat().st_size

    expected = tmp_path / "expected.vhdx"
    shutil.copyfile(base, expected)
    with open(expected, "r+b") as f:
        f.seek(bat)
        f.write(pages[0])
        f.seek(zero[0])
        f.write(bytes(zero[1]))
        f.seek(bat + 4096)
        f.write(pages[1])

    t = MiB - SECTOR  # the first entry: descriptor sector at the end, data sector at offset 0
    first = entry(10, t, pages=[(bat, bytes(pages[0]))], flushed=size, last=size)
    assert len(first) == 2 * SECTOR
    second = entry(11, t, zeros=[zero], flushed=size, last=size)
    third = entry(12, t, pages=[(bat + 4096, bytes(pages[1]))], flushed=size, last=size)
    write_log_entries(base, [(t, first), (SECTOR, second), (2 * SECTOR, third)])
    set_log_guid(base, GUID)

    info, _, log_bytes = analyse_file(base)
    assert [e.log_position for e in info.entries] == [SECTOR, 2 * SECTOR, t]
    assert info.entries[-1].wraps and info.entries[-1].valid
    assert active_positions(info) == [t, SECTOR, 2 * SECTOR]
    plan = replay_plan(info, log_bytes)
    assert [w.entry_sequence_number for w in plan] == [10, 11, 12]
    assert plan[0].data == bytes(pages[0])  # rebuilt from the data sector at log offset 0

    replay_ourselves(base)
    assert sparse_digest(to_raw(base)) == sparse_digest(to_raw(expected))


# ---------------------------------------------------------------------------------------------
# The search, rule by rule, on synthetic logs


def test_single_entry_and_plan_bytes() -> None:
    pg = page(0xAB, 0x1122334455667788)
    log = ring([(8192, entry(5, 8192, pages=[(3 * MiB, pg)], zeros=[(8 * MiB, 2 * MiB)]))])
    info, findings = analyse(log)
    assert active_positions(info) == [8192]
    e = info.entries[0]
    assert e.valid and e.descriptor_count == 2 and e.entry_length == 8192
    assert [d.kind for d in e.descriptors] == ["zero", "data"]
    assert e.descriptors[1].leading_bytes == pg[:8]
    assert e.descriptors[1].trailing_bytes == b"TAIL"
    plan = replay_plan(info, log)
    assert plan[0] == ReplayWrite(8 * MiB, b"", 5, 0, 2 * MiB, 8192)
    assert plan[1].data == pg and plan[1].file_offset == 3 * MiB
    assert codes(findings) == {"log.replay_needed": Severity.ERROR}


def test_entry_wraps_past_end_of_ring() -> None:
    size = MiB
    pos = size - SECTOR
    e1 = entry(3, pos, pages=[(2 * MiB, page(1)), (2 * MiB + 4096, page(2))])
    assert len(e1) == 3 * SECTOR
    info, _ = analyse(ring([(pos, e1)], size))
    assert info.entries[0].wraps and info.entries[0].valid
    assert [d.data_log_position for d in info.entries[0].descriptors] == [0, 4096]
    plan = replay_plan(info, ring([(pos, e1)], size))
    assert [w.data for w in plan] == [page(1), page(2)]


def test_sequence_wraps_around_ring() -> None:
    size = MiB
    t = size - 2 * SECTOR
    log = ring(
        [
            (t, entry(20, t, pages=[(2 * MiB, page(1))])),
            (0, entry(21, t, pages=[(2 * MiB, page(2))])),
            (2 * SECTOR, entry(22, t, pages=[(2 * MiB, page(3))])),
        ],
        size,
    )
    info, _ = analyse(log)
    assert active_positions(info) == [t, 0, 2 * SECTOR]
    assert [w.data for w in replay_plan(info, log)] == [page(1), page(2), page(3)]
    assert info.stale_entries == ()


def test_sequences_are_compared_by_head_not_first_entry() -> None:
    """QEMU compares first entries: it would pick the one-entry sequence 103 here."""
    run = [(i * SECTOR, entry(100 + i, 0, pages=[])) for i in range(6)]  # 100..105, Tail 0
    old = (64 * SECTOR, entry(103, 64 * SECTOR))
    info, _ = analyse(ring([*run, old]))
    assert info.active is not None
    assert info.active.head_sequence_number == 105
    assert active_positions(info) == [i * SECTOR for i in range(6)]
    assert [e.log_position for e in info.stale_entries] == [64 * SECTOR]


def test_every_entry_after_the_first_must_be_consecutive() -> None:
    """QEMU does not check the second entry's number; 7 then 9 is not a run."""
    log = ring([(0, entry(7, 0)), (SECTOR, entry(9, 0))])
    info, findings = analyse(log)
    # Entry 7 alone is a valid sequence; entry 9 names Tail 0, outside its own run.
    assert active_positions(info) == [0]
    assert info.active is not None and info.active.head_sequence_number == 7
    assert codes(findings)["log.entry.newer_than_active"] is Severity.WARNING
    assert info.rejected and info.rejected[0].head_sequence_number == 9


def test_head_tail_outside_run_is_invalid() -> None:
    # A run 50, 51 whose head names Tail 40960, where nothing of the run lies.
    log = ring([(0, entry(50, 0)), (SECTOR, entry(51, 40 * SECTOR))])
    info, findings = analyse(log)
    assert info.active is None and not info.replay_needed
    c = codes(findings)
    assert c["log.no_valid_sequence"] is Severity.ERROR
    msg = next(f.message for f in findings if f.code == "log.no_valid_sequence")
    assert "crash while the entries were being written" in msg and "Tail 163840" in msg
    assert len(info.rejected) == 1 and info.rejected[0].entry_count == 2
    # With an older, valid sequence elsewhere, that one is active and the newer run is reported.
    log2 = ring(
        [(0, entry(50, 0)), (SECTOR, entry(51, 40 * SECTOR)), (80 * SECTOR, entry(30, 80 * SECTOR))]
    )
    info2, findings2 = analyse(log2)
    assert active_positions(info2) == [80 * SECTOR]
    assert codes(findings2)["log.entry.newer_than_active"] is Severity.WARNING
    stale = next(f.message for f in findings2 if f.code == "log.stale_entries")
    assert "2 entries with this LogGuid outside any valid sequence" in stale


def test_log_guid_set_but_log_empty() -> None:
    info, findings = analyse(bytes(MiB))
    assert info.entries == () and info.active is None and not info.replay_needed
    msg = next(f.message for f in findings if f.code == "log.no_valid_sequence")
    assert "no entry in the log carries it" in msg
    assert "crash between setting LogGuid in the header and writing the first log entry" in msg
    assert [f.code for f in findings] == ["log.no_valid_sequence"]


def test_tail_must_be_an_entry_start_not_just_inside_the_run() -> None:
    big = entry(60, 0, pages=[(2 * MiB, page(1))])  # 8 KiB: sector 4096 is its data sector
    head = entry(61, SECTOR)  # Tail inside the first entry but not at an entry
    info, findings = analyse(ring([(0, big), (2 * SECTOR, head)]))
    assert info.active is None
    assert "log.no_valid_sequence" in codes(findings)


def test_torn_data_sector_ends_the_run() -> None:
    good = entry(8, 0, pages=[(2 * MiB, page(1))])
    torn = bytearray(entry(9, 0, pages=[(2 * MiB, page(2))]))
    struct.pack_into("<I", torn, 2 * SECTOR - 4, 0xDEAD)  # SequenceLow of its data sector
    torn_bytes = seal_entry(torn)  # CRC correct: only the sequence check can catch it
    log = ring([(0, good), (2 * SECTOR, torn_bytes)])
    info, findings = analyse(log)
    bad = info.entries[1]
    assert not bad.valid and not bad.intact and bad.guid_matches
    assert any("SequenceHigh/SequenceLow" in p and "torn" in p for p in bad.problems)
    assert active_positions(info) == [0]
    damaged = [f for f in findings if f.code == "log.entry.damaged"]
    assert len(damaged) == 1 and damaged[0].severity is Severity.WARNING
    assert "follows the head entry" in damaged[0].message
    assert [w.data for w in replay_plan(info, log)] == [page(1)]


def test_crc_damage() -> None:
    damaged = bytearray(entry(4, 0, pages=[(2 * MiB, page(7))]))
    damaged[SECTOR + 100] ^= 0xFF  # inside the data sector's Data: only the CRC sees it
    info, findings = analyse(ring([(0, bytes(damaged))]))
    e = info.entries[0]
    assert not e.checksum_ok and e.stored_checksum != e.computed_checksum
    assert any("checksum mismatch" in p for p in e.problems)
    assert info.active is None
    assert {"log.no_valid_sequence", "log.entry.damaged"} <= set(codes(findings))


def test_wrong_guid_entries_are_never_part_of_the_sequence() -> None:
    log = ring(
        [
            (0, entry(1, 0, guid=OTHER)),
            (SECTOR, entry(2, 0)),  # right guid, its Tail names the other-guid entry
            (2 * SECTOR, entry(3, 2 * SECTOR)),
        ]
    )
    info, findings = analyse(log)
    assert [e.guid_matches for e in info.entries] == [False, True, True]
    assert info.entries[0].intact and not info.entries[0].valid
    assert active_positions(info) == [2 * SECTOR]
    stale = next(f.message for f in findings if f.code == "log.stale_entries")
    assert "1 old entry from an earlier session (another LogGuid)" in stale
    # Entry 2 runs into entry 3, whose Tail names itself: 2 is older than the active tail.
    assert "1 entry of this log older than the active tail" in stale


def test_zero_header_guid_means_no_replay() -> None:
    log = ring([(0, entry(1, 0, guid=layout.ZERO_GUID))])
    info, findings = analyse(log, guid=layout.ZERO_GUID)
    assert not info.entries[0].guid_matches and info.entries[0].intact
    assert info.active is None and not info.replay_needed
    assert set(codes(findings)) == {"log.stale_entries"}


def _corrupt(fn: Callable[[bytearray], None]) -> bytes:
    raw = bytearray(entry(6, 0, pages=[(2 * MiB, page(3))], zeros=[(5 * MiB, MiB)]))
    fn(raw)
    return seal_entry(raw)


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda b: b.__setitem__(slice(64, 68), b"junk"), "neither 'desc' nor 'zero'"),
        (lambda b: struct.pack_into("<Q", b, 64 + 24, 5), "SequenceNumber 5 differs"),
        (lambda b: struct.pack_into("<Q", b, 64 + 16, 5 * MiB + 512), "FileOffset"),
        (lambda b: struct.pack_into("<Q", b, 64 + 8, 1000), "ZeroLength 1000"),
        (lambda b: struct.pack_into("<Q", b, 96 + 16, 2 * MiB + 8), "FileOffset"),
        (lambda b: b.__setitem__(slice(SECTOR, SECTOR + 4), b"dat_"), "is not 'data'"),
        (lambda b: struct.pack_into("<I", b, SECTOR + 4, 1), "SequenceHigh/SequenceLow"),
        (lambda b: struct.pack_into("<Q", b, 16, 0), "SequenceNumber is 0"),
        (lambda b: struct.pack_into("<I", b, 12, 100), "Tail 100"),
        (lambda b: struct.pack_into("<I", b, 12, 2 * MiB), "lies outside the log"),
        (lambda b: struct.pack_into("<I", b, 24, 1), "data descriptors, but EntryLength"),
        (lambda b: struct.pack_into("<I", b, 24, 3), "descriptor 2: signature"),
        (lambda b: struct.pack_into("<I", b, 24, 1000), "needs 8 descriptor sectors"),
    ],
)
def test_descriptor_and_header_faults(mutate: Callable[[bytearray], None], problem: str) -> None:
    log = ring([(0, _corrupt(mutate))])
    info, findings = analyse(log)
    e = info.entries[0]
    assert not e.valid and not e.intact
    assert any(problem in p for p in e.problems), e.problems
    assert info.active is None
    assert "log.no_valid_sequence" in codes(findings)


def test_entry_length_faults() -> None:
    for length, text in [
        (5000, "not a multiple of 4096"),
        (0, "smaller than one"),
        (2 * MiB, "larger than the log"),
    ]:
        raw = bytearray(entry(6, 0))
        struct.pack_into("<I", raw, 8, length)
        info, _ = analyse(ring([(0, seal_entry(raw))]))
        assert any(text in p for p in info.entries[0].problems)


def test_many_descriptors_use_more_descriptor_sectors() -> None:
    zeros = [(i * SECTOR, SECTOR) for i in range(130)]
    pages = [(MiB * 8 + i * SECTOR, page(i % 251)) for i in range(3)]
    e = entry(2, 0, zeros=zeros, pages=pages)
    assert (
        descriptor_sectors(133) == 2
        and descriptor_sectors(126) == 1
        and descriptor_sectors(127) == 2
    )
    assert len(e) == (2 + 3) * SECTOR
    log = ring([(0, e)])
    info, _ = analyse(log)
    assert info.entries[0].valid and info.entries[0].descriptor_count == 133
    plan = replay_plan(info, log)
    assert len(plan) == 133 and [w.data for w in plan[130:]] == [p for _, p in pages]


def test_full_ring_of_entries_terminates() -> None:
    size = 64 * SECTOR
    entries = [(i * SECTOR, entry(1 + i, 0)) for i in range(64)]
    info, _ = analyse(ring(entries, size))
    assert info.active is not None and len(info.active.entries) == 64


def test_truncated_log_region() -> None:
    log = ring([(0, entry(1, 0)), (SECTOR, entry(2, 0, pages=[(2 * MiB, page(1))]))])
    cut = log[: SECTOR + SECTOR // 2]  # the file ends inside the second entry
    info, findings = analyse(cut, length=MiB, offset=MiB, file_size=MiB + len(cut))
    assert info.bytes_examined == len(cut)
    assert any("cut short" in p for p in info.entries[1].problems)
    assert active_positions(info) == [0]
    c = codes(findings)
    assert c["log.past_eof"] is Severity.ERROR
    # Bytes short but the file is long enough: only partly read (e.g. a capped read).
    _, findings2 = analyse(cut, length=MiB, file_size=64 * MiB)
    assert codes(findings2)["log.partially_read"] is Severity.WARNING


def test_file_shorter_than_flushed_file_offset() -> None:
    log = ring([(0, entry(1, 0, flushed=40 * MiB, last=48 * MiB))])
    info, findings = analyse(log, file_size=32 * MiB)
    assert info.file_too_short and info.replay_blockers
    assert info.required_file_size == 48 * MiB
    assert codes(findings)["log.file_too_short"] is Severity.ERROR
    info2, findings2 = analyse(log, file_size=40 * MiB)
    assert not info2.file_too_short and "log.file_too_short" not in codes(findings2)
    assert "extend the file" in next(f.message for f in findings2 if f.code == "log.replay_needed")


def test_header_field_findings() -> None:
    log = ring([(0, entry(1, 0))])
    _, f1 = analyse(log, version=1)
    assert codes(f1)["log.version_unsupported"] is Severity.ERROR
    _, f2 = analyse(log, version=1, guid=layout.ZERO_GUID)
    assert codes(f2)["log.version_nonzero"] is Severity.WARNING
    info3, f3 = analyse(b"", length=0)
    assert codes(f3)["log.length_zero"] is Severity.ERROR and info3.active is None
    _, f4 = analyse(b"", length=0, guid=layout.ZERO_GUID)
    assert f4 == []
    _, f5 = analyse(log, offset=MiB + 4096)
    assert codes(f5)["log.offset_unaligned"] is Severity.ERROR
    _, f6 = analyse(log, offset=512 * 1024)
    assert "log.offset_in_header_section" in codes(f6)
    _, f7 = analyse(log[: MiB // 2], length=MiB // 2)
    assert codes(f7)["log.length_unaligned"] is Severity.ERROR


def test_to_json_shape() -> None:
    log = ring(
        [(0, entry(1, 0, guid=OTHER)), (SECTOR, entry(2, SECTOR, pages=[(2 * MiB, page(1))]))]
    )
    info, _ = analyse(log)
    doc = info.to_json()
    assert doc["guid"] == str(GUID) and doc["replay_needed"] is True
    items = doc["entries"]
    assert isinstance(items, list) and len(items) == 2
    first, second = items
    assert first["active"] is False and first["guid_matches"] is False and first["valid"] is False
    assert second["active"] is True and second["data_descriptors"] == 1
    assert second["zero_descriptors"] == 0 and second["problems"] == []
    assert {"position", "sequence_number", "flushed_file_offset", "last_file_offset"} <= set(second)


# ---------------------------------------------------------------------------------------------
# The writer


def test_build_log_entry_rejects_bad_arguments() -> None:
    good: dict[str, object] = dict(
        sequence_number=1, log_guid=GUID, tail=0, flushed_file_offset=MiB, last_file_offset=MiB
    )
    build_log_entry(**good)  # type: ignore[arg-type]
    bad_cases: list[dict[str, object]] = [
        {"sequence_number": 0},
        {"tail": 100},
        {"flushed_file_offset": 4096},
        {"data_pages": [(4096, b"x")]},
        {"data_pages": [(100, bytes(4096))]},
        {"zero_ranges": [(0, 100)]},
        {"zero_ranges": [(0, 0)]},
    ]
    for change in bad_cases:
        with pytest.raises(ValueError):
            build_log_entry(**{**good, **change})  # type: ignore[arg-type]


def test_write_log_entries_wraps_into_the_log(qemu_image: Callable[..., Path]) -> None:
    path = qemu_image("8M")
    head = current_header(path)
    e = entry(1, head.log_length - SECTOR, pages=[(2 * MiB, page(9))])
    write_log_entries(path, [(head.log_length - SECTOR, e)])
    with open(path, "rb") as f:
        f.seek(head.log_offset + head.log_length - SECTOR)
        assert f.read(SECTOR) == e[:SECTOR]
        f.seek(head.log_offset)
        assert f.read(SECTOR) == e[SECTOR:]
    with pytest.raises(ValueError):
        write_log_entries(path, [(100, e)])


# ---------------------------------------------------------------------------------------------
# Robustness


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(min_size=0, max_size=64 * 1024),
    length=st.sampled_from([0, 4096, 64 * 1024, MiB, 3 * 4096 + 100]),
    guid=st.sampled_from([GUID, layout.ZERO_GUID]),
)
def test_random_bytes_never_raise(data: bytes, length: int, guid: uuid.UUID) -> None:
    # Sprinkle signatures so that parsing goes deep, not only the fast path.
    buf = bytearray(data)
    for at in range(0, len(buf) - 4, SECTOR):
        buf[at : at + 4] = b"loge"
    info, findings = analyse(bytes(buf), length=length, guid=guid)
    info.to_json()
    replay_plan(info, bytes(buf))
    assert all(f.code.startswith("log.") for f in findings)


_VALID_LOG = ring(
    [
        (MiB - SECTOR, entry(40, MiB - SECTOR, pages=[(2 * MiB, page(1))], zeros=[(9 * MiB, MiB)])),
        (SECTOR, entry(41, MiB - SECTOR, pages=[(3 * MiB, page(2)), (4 * MiB, page(3))])),
        (4 * SECTOR, entry(42, MiB - SECTOR)),
        (8 * SECTOR, entry(7, 8 * SECTOR, guid=OTHER)),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 12 * SECTOR), st.binary(min_size=1, max_size=16)), max_size=8
    ),
    shift=st.integers(0, MiB - 1),
)
def test_mutated_logs_never_raise(edits: list[tuple[int, bytes]], shift: int) -> None:
    buf = bytearray(_VALID_LOG)
    for at, patch in edits:
        at = (at + shift) % (MiB - 16)
        buf[at : at + len(patch)] = patch
    info, _ = analyse(bytes(buf))
    plan = replay_plan(info, bytes(buf))
    if info.active is not None:
        assert info.replay_needed
        assert all(w.length == SECTOR or w.is_zero for w in plan)


def test_unmutated_reference_log() -> None:
    info, _ = analyse(_VALID_LOG)
    assert active_positions(info) == [MiB - SECTOR, SECTOR, 4 * SECTOR]
    assert len(replay_plan(info, _VALID_LOG)) == 4


def test_garbage_logs_are_analysed() -> None:
    size = 16 * MiB
    # Every sector claims to be an entry as long as the whole log, with many descriptors.
    hdr = bytearray(SECTOR)
    struct.pack_into(
        "<4sIIIQII16sQQ", hdr, 0, b"loge", 0, size, 0, 1, size // 32 - 2, 0, GUID.bytes_le, 0, 0
    )
    for i in range(126):
        struct.pack_into("<4sIQQQ", hdr, 64 + 32 * i, b"zero", 0, 4096, 0, 1)
    # Bounded work, not a timing: no timed assertions in tests (bench/ measures speed).
    info, findings = analyse(bytes(hdr) * (size // SECTOR))
    assert len(info.entries) == size // SECTOR and info.active is None
    assert sum(1 for f in findings if f.code == "log.entry.damaged") == 6  # 5 + a summary

    # A long valid run whose head names a Tail outside it: every start position is examined.
    n = 2048
    run = b"".join(entry(1 + i, 0 if i < n - 1 else (n + 5) * SECTOR) for i in range(n))
    log = run + bytes(16 * MiB - len(run))
    info2, _ = analyse(log)
    assert info2.active is None and len(info2.rejected) == 1


def test_input_forms_and_plan_consistency() -> None:
    log = ring([(0, entry(3, 0, pages=[(2 * MiB, page(4))]))])
    a, fa = analyse(log)
    b, fb = analyse_log(
        memoryview(bytearray(log + b"extra bytes past LogLength are ignored")),
        log_guid=GUID,
        log_offset=MiB,
        log_length=len(log),
        log_version=0,
        file_size=64 * MiB,
    )
    assert a == b and fa == fb
    other = bytearray(log)
    other[SECTOR : SECTOR + 4] = b"xxxx"  # not the bytes that were analysed
    with pytest.raises(ValueError):
        replay_plan(a, bytes(other))


def test_json_caps_stale_entries_unless_full() -> None:
    """Counts always; the stale entries themselves up to JSON_STALE_CAP, with a flag; all of
    them with full=True. Active entries are always listed."""
    stale_count = JSON_STALE_CAP + 37
    junk = bytearray(SECTOR)
    junk[:4] = b"loge"  # a signature and nothing valid after it: a damaged, stale entry
    active = entry(9, 0)
    log = active + bytes(junk) * stale_count
    info, _ = analyse(log)
    assert info.active is not None and len(info.stale_entries) == stale_count
    capped = info.to_json()
    assert capped["entry_count"] == stale_count + 1
    assert capped["stale_entry_count"] == stale_count
    assert capped["entries_truncated"] is True
    entries = capped["entries"]
    assert isinstance(entries, list) and len(entries) == JSON_STALE_CAP + 1
    assert [e["active"] for e in entries].count(True) == 1
    assert capped["stale_entries"] == [e.log_position for e in info.stale_entries][:JSON_STALE_CAP]
    whole = info.to_json(full=True)
    assert whole["entries_truncated"] is False
    assert isinstance(whole["entries"], list) and len(whole["entries"]) == stale_count + 1
    assert whole["stale_entries"] == [e.log_position for e in info.stale_entries]
    small = analyse(active + bytes(junk) * 3)[0].to_json()
    assert small["entries_truncated"] is False and small["stale_entry_count"] == 3
