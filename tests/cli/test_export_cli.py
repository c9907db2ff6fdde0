"""``vhdxray export``: real bytes out, compared with what QEMU reads (or an independent
reference), on clean, dirty, damaged, truncated and differencing images."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import damage, imagefiles
from tests import repairimages as ri
from tests.conftest import require
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.analysis.virtual import open_virtual_disk
from vhdxray.core.fileio import data_segments, pwrite_all
from vhdxray.core.format import layout
from vhdxray.core.format.bat import bat_geometry, payload_index, sector_bitmap_index
from vhdxray.core.progress import Cancelled, Progress
from vhdxray.core.write.create import BAT_OFFSET, CreateOptions, create_image
from vhdxray.core.write.export import export
from vhdxray.tui import cli

MiB = layout.MiB


def vhdxray(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def qemu_raw(image: Path, out: Path) -> bytes:
    imagefiles.virtual_disk_bytes(image, out)
    data = out.read_bytes()
    out.unlink()
    return data


def data_ranges(path: Path) -> list[tuple[int, int]]:
    with open(path, "rb") as f:
        return list(data_segments(f.fileno(), 0, os.fstat(f.fileno()).st_size))


def same_content(a: Path, b: Path) -> bool:
    """Byte equality of two (sparse) files, reading only where either holds data."""
    if a.stat().st_size != b.stat().st_size:
        return False
    ranges = sorted(data_ranges(a) + data_ranges(b))
    with open(a, "rb") as fa, open(b, "rb") as fb:
        for start, end in ranges:
            pos = start
            while pos < end:
                n = min(4 * MiB, end - pos)
                if os.pread(fa.fileno(), n, pos) != os.pread(fb.fileno(), n, pos):
                    return False
                pos += n
    return True


def qemu_raw_file(image: Path, out: Path) -> Path:
    return imagefiles.virtual_disk_bytes(image, out)


def allocated_bytes(path: Path) -> int:
    return os.stat(path).st_blocks * 512


# --------------------------------------------------------------------------------------------
# Clean images made by qemu-img, data written by qemu-io

CLEAN = {
    "dynamic-1M": ("64M", ("block_size=1M",), ("write -P 0xab 0 1M", "write -P 0x11 3M 4k")),
    "dynamic-32M-short-last-block": (
        "100M",
        ("block_size=32M",),
        ("write -P 0x61 1000k 3M", "write -P 0x62 97M 3M", "write -P 0x63 40M 512"),
    ),
    "dynamic-8M-zeroed": ("48M", ("block_size=8M",), ("write -P 0x7e 9M 2M", "write -z 24M 8M")),
    "fixed-8M": ("32M", ("subformat=fixed", "block_size=8M"), ("write -P 0x42 5M 6M",)),
}


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_clean_images_export_like_qemu_in_both_formats(
    name: str, qemu_image: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require("qemu-io", "qemu-utils")
    size, options, writes = CLEAN[name]
    image = qemu_image(size, *options)
    imagefiles.qemu_io(image, *writes)
    before = ri.file_sha256(image)
    expected = qemu_raw(image, tmp_path / "qemu.raw")

    out = tmp_path / "out.raw"
    code, text, err = vhdxray(capsys, "export", str(image), str(out))
    assert code == 0, text
    assert "No gaps" in text
    assert err == ""  # not a terminal: no progress line
    assert out.read_bytes() == expected
    assert allocated_bytes(out) < len(expected)  # sparse: holes where the disk reads zeros

    vhdx = tmp_path / "out.vhdx"
    code, text, _ = vhdxray(capsys, "export", str(image), str(vhdx), "--format", "vhdx", "--json")
    assert code == 0, text
    doc = json.loads(text)
    assert doc["complete"] and doc["format"] == "vhdx" and doc["gaps"] == []
    assert imagefiles.qemu_img_check(vhdx).returncode == 0
    assert qemu_raw(vhdx, tmp_path / "back.raw") == expected
    report = read_report(vhdx)
    assert report.metadata is not None and report.metadata.disk_type == "dynamic"
    assert report.metadata.block_size == read_report(image).metadata.block_size  # type: ignore[union-attr]
    assert not report.errors
    if imagefiles.have("vhdiinfo"):
        done = subprocess.run(["vhdiinfo", str(vhdx)], capture_output=True, text=True)
        assert done.returncode == 0 and "Dynamic" in done.stdout
    assert ri.file_sha256(image) == before


@pytest.mark.parametrize("fmt", ["raw", "vhdx"])
def test_no_flush_names_the_same_bytes_without_any_fsync(
    fmt: str,
    qemu_image: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--no-flush`` (qemu-img convert's durability) writes the same file and flushes nothing;
    the default flushes the file and its folder before the name appears, and says so."""
    require("qemu-io", "qemu-utils")
    image = qemu_image("64M", "block_size=1M")
    imagefiles.qemu_io(image, "write -P 0x5a 1M 3M", "write -P 0x11 40M 4k")
    expected = qemu_raw(image, tmp_path / "qemu.raw")
    syncs: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        syncs.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    outputs = {}
    for flag in ((), ("--no-flush",)):
        out = tmp_path / f"out-{len(flag)}.{fmt}"
        syncs.clear()
        code, text, _ = vhdxray(
            capsys, "export", str(image), str(out), "--format", fmt, "--json", *flag
        )
        assert code == 0, text
        doc = json.loads(text)
        assert doc["complete"] and doc["flushed"] is (not flag)
        assert (len(syncs) == 0) if flag else (len(syncs) >= 2)  # the file, then its folder
        outputs[flag] = out
    for out in outputs.values():  # a new VHDX has new GUIDs: compare what it holds
        if fmt == "vhdx":
            assert imagefiles.qemu_img_check(out).returncode == 0
            out = imagefiles.virtual_disk_bytes(out, tmp_path / f"{out.name}.raw")
        assert out.read_bytes() == expected

    code, text, _ = vhdxray(
        capsys, "export", str(image), str(tmp_path / f"said.{fmt}"), "--format", fmt, "--no-flush"
    )
    assert code == 0 and "Not flushed (--no-flush)" in text and "run `sync`" in text
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_vhdx_output_allocates_only_blocks_with_data(
    qemu_image: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require("qemu-io", "qemu-utils")
    image = qemu_image("64M", "block_size=1M")
    # block 2 holds data; block 5 is allocated by QEMU but holds only zeros
    imagefiles.qemu_io(image, "write -P 0x31 2M 1M", "write -P 0 5M 1M")
    out = tmp_path / "out.vhdx"
    code, text, _ = vhdxray(capsys, "export", str(image), str(out), "--format", "vhdx", "--json")
    assert code == 0
    assert json.loads(text)["blocks_allocated"] == 1
    summary = read_report(out).bat
    assert summary is not None
    assert "1 PAYLOAD_BLOCK_FULLY_PRESENT" in " ".join(f.message for f in read_report(out).findings)


# --------------------------------------------------------------------------------------------
# Real images and dirty logs


@pytest.mark.parametrize(
    "name", ["dissect-fixed", "dissect-dynamic", "velociraptor", "qemu-disk2vhd"]
)
def test_real_images_export_like_qemu(
    name: str,
    real_image: Callable[[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    require("qemu-img", "qemu-utils")
    image = real_image(name)
    before = ri.file_sha256(image)
    out = tmp_path / "out.raw"
    code, _, _ = vhdxray(capsys, "export", str(image), str(out), "--quiet")
    assert code == 0
    assert same_content(out, qemu_raw_file(image, tmp_path / "qemu.raw"))
    assert ri.file_sha256(image) == before


@pytest.mark.parametrize("name", ["discutils-log-replay", "qemu-dirtylog"])
def test_dirty_logs_export_like_qemus_replay(
    name: str,
    real_image: Callable[[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    require("qemu-img", "qemu-utils")
    image = real_image(name)
    before = ri.file_sha256(image)
    out = tmp_path / "out.raw"
    code, text, _ = vhdxray(capsys, "export", str(image), str(out), "--json")
    assert code == 0
    doc = json.loads(text)
    assert doc["log_replayed_in_memory"] is True
    assert ri.file_sha256(image) == before  # the log was applied in memory only
    replayed = tmp_path / "qemu-copy.vhdx"
    shutil.copyfile(image, replayed)
    ri.qemu_repair(replayed)
    assert same_content(out, qemu_raw_file(replayed, tmp_path / "qemu.raw"))


def test_logged_zero_ranges_and_growth_export_like_qemus_replay(
    qemu_image: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require("qemu-io", "qemu-utils")
    pending = ri.make_pending_image(qemu_image)
    before = ri.file_sha256(pending.path)
    out = tmp_path / "out.raw"
    code, text, _ = vhdxray(capsys, "export", str(pending.path), str(out), "--json")
    doc = json.loads(text)
    # block 2 now points into the space the log's LastFileOffset adds; a logged zero range
    # covers it, so nothing is lost
    assert code == 0 and doc["gaps"] == []
    assert out.read_bytes()[: 6 * MiB] == ri.expected_virtual_start()
    assert ri.file_sha256(pending.path) == before
    replayed = tmp_path / "qemu-copy.vhdx"
    shutil.copyfile(pending.path, replayed)
    ri.qemu_repair(replayed)
    assert same_content(out, qemu_raw_file(replayed, tmp_path / "qemu.raw"))


# --------------------------------------------------------------------------------------------
# Damage QEMU refuses


@pytest.fixture
def data_image(qemu_image: Callable[..., Path]) -> Path:
    require("qemu-io", "qemu-utils")
    image = qemu_image("64M", "block_size=1M")
    imagefiles.qemu_io(image, "write -P 0x5a 1M 1M", "write -P 0x11 4M 3M")
    return image


def test_region_table_copy_1_bad(
    data_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = qemu_raw(data_image, tmp_path / "qemu.raw")
    damage.break_region_checksum(data_image, 1)
    assert (
        subprocess.run(
            ["qemu-img", "convert", "-O", "raw", str(data_image), str(tmp_path / "q.raw")],
            capture_output=True,
        ).returncode
        != 0
    )
    out = tmp_path / "out.raw"
    code, text, _ = vhdxray(capsys, "export", str(data_image), str(out))
    assert code == 0
    assert "copy 2 was used" in text
    assert out.read_bytes() == expected


def test_equal_sequences_need_and_honour_from_slot(
    data_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = qemu_raw(data_image, tmp_path / "qemu.raw")
    seq = damage.header_field(data_image, 2, "sequence_number")
    damage.set_header_field(data_image, 1, "sequence_number", seq)
    damage.set_header_field(data_image, 1, "log_offset", 64 * MiB)  # slot 1 now differs
    out = tmp_path / "out.raw"
    code, text, _ = vhdxray(capsys, "export", str(data_image), str(out), "--json")
    assert code == 4
    doc = json.loads(text)
    assert doc["refused"] == "no_header" and "--" not in doc["reason"]
    assert doc["suggest"] == [
        {"option": "from_slot", "value": 1},
        {"option": "from_slot", "value": 2},
    ]
    code, _, err = vhdxray(capsys, "export", str(data_image), str(out))
    assert code == 4 and "(--from-slot 1 or --from-slot 2); nothing was written" in err
    assert not out.exists()
    code, text, _ = vhdxray(capsys, "export", str(data_image), str(out), "--from-slot", "2")
    assert code == 0
    assert out.read_bytes() == expected


def test_no_valid_header_is_refused_without_asking_for_a_slot(
    data_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Naming a slot cannot help when neither is valid: the refusal does not ask for one."""
    damage.break_header_checksum(data_image, 1)
    damage.break_header_checksum(data_image, 2)
    out = tmp_path / "out.raw"
    code, text, _ = vhdxray(capsys, "export", str(data_image), str(out), "--json")
    doc = json.loads(text)
    # unreadable (3, as with no region table), not "refused" (4): no choice gets past it
    assert code == 3 and doc["exit_code"] == 3
    assert doc["refused"] == "no_header" and doc["suggest"] == []
    assert "name the slot" not in doc["reason"] and "neither slot is valid" in doc["reason"]
    assert "restore a backup" in doc["reason"] and ".)" not in doc["reason"]
    assert not out.exists()


def test_current_header_broken_reads_the_other_slot(
    data_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = qemu_raw(data_image, tmp_path / "qemu.raw")
    current = read_report(data_image).current_header
    assert current is not None
    damage.break_header_checksum(data_image, current)
    out = tmp_path / "out.raw"
    code, _, _ = vhdxray(capsys, "export", str(data_image), str(out))
    assert code == 0
    assert out.read_bytes() == expected


# --------------------------------------------------------------------------------------------
# Truncation


def test_truncated_payload_gives_exit_2_and_exact_gaps(
    qemu_image: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require("qemu-io", "qemu-utils")
    image = qemu_image("64M", "block_size=1M")
    # QEMU appends blocks in write order: blocks 0, 5, 9 are the file's last three MiB
    imagefiles.qemu_io(image, "write -P 0x11 0 1M", "write -P 0x22 5M 1M", "write -P 0x33 9M 1M")
    size = image.stat().st_size
    damage.truncate(image, size - MiB - MiB // 2)
    out, gaps = tmp_path / "out.raw", tmp_path / "gaps.json"
    code, text, _ = vhdxray(capsys, "export", str(image), str(out), "--gaps", str(gaps), "--json")
    assert code == 2
    doc = json.loads(text)
    expected_gaps = [
        {
            "virtual_start": 5 * MiB + MiB // 2,
            "virtual_end": 6 * MiB,
            "reason": "past_end_of_file",
            "where": [],  # qemu-io's patterns: no partition table, no filesystem
        },
        {
            "virtual_start": 9 * MiB,
            "virtual_end": 10 * MiB,
            "reason": "past_end_of_file",
            "where": [],
        },
    ]
    assert doc["gaps"] == expected_gaps and doc["complete"] is False
    assert json.loads(gaps.read_text())["gaps"] == expected_gaps
    data = out.read_bytes()
    assert len(data) == 64 * MiB
    assert data[:MiB] == b"\x11" * MiB
    assert data[5 * MiB : 5 * MiB + MiB // 2] == b"\x22" * (MiB // 2)
    assert data[5 * MiB + MiB // 2 :] == bytes(len(data) - 5 * MiB - MiB // 2)


def test_truncated_inside_the_bat(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # vhdxray's layout puts the metadata (2 MiB) before the BAT (3 MiB), so the geometry
    # survives a cut inside the BAT
    image = create_image(
        tmp_path / "cut.vhdx",
        CreateOptions(virtual_size=64 * MiB, block_size=MiB),
        data=[(0, b"\x11" * MiB)],
    )
    damage.truncate(image, BAT_OFFSET + 3 * 8)  # entries 0..2 remain
    out = tmp_path / "out.raw"
    code, text, _ = vhdxray(capsys, "export", str(image), str(out), "--json")
    assert code == 2
    assert json.loads(text)["gaps"] == [
        {"virtual_start": 0, "virtual_end": MiB, "reason": "past_end_of_file", "where": []},
        {
            "virtual_start": 3 * MiB,
            "virtual_end": 64 * MiB,
            "reason": "bat_entry_cut_off",
            "where": [],
        },
    ]
    assert out.read_bytes() == bytes(64 * MiB)


def test_truncated_before_the_metadata_is_unreadable(
    qemu_image: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = qemu_image("64M", "block_size=1M")  # QEMU: BAT at 2 MiB, metadata at 3 MiB
    damage.truncate(image, 2 * MiB + 64)
    out = tmp_path / "out.raw"
    code, text, _ = vhdxray(capsys, "export", str(image), str(out), "--json")
    assert code == 3 and json.loads(text)["refused"] == "metadata_unusable"
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# Differencing chains


def _write_child_blocks(
    child: Path, full: dict[int, int], partial: dict[int, tuple[list[int], int]], zero: list[int]
) -> None:
    """Give ``child`` FULLY_PRESENT blocks (block -> fill byte), PARTIALLY_PRESENT blocks
    (block -> (sectors set in the bitmap, fill byte); the other sectors of the block hold 0xEE,
    which must never be read) and ZERO blocks, with the project's BAT arithmetic."""
    report = read_report(child)
    meta = report.metadata
    assert meta is not None and meta.block_size and meta.logical_sector_size and meta.virtual_size
    geometry = bat_geometry(meta.virtual_size, meta.block_size, meta.logical_sector_size, True)
    bat = ri.bat_offset(child)
    bs, lss = meta.block_size, meta.logical_sector_size
    end = child.stat().st_size
    fd = os.open(child, os.O_RDWR)
    try:

        def entry(index: int, value: int) -> None:
            pwrite_all(fd, bat + index * 8, struct.pack("<Q", value))

        bitmaps: dict[int, bytearray] = {}
        for block, fill in full.items():
            pwrite_all(fd, end, bytes([fill]) * bs)
            entry(payload_index(block, geometry.chunk_ratio), end | 6)
            end += bs
        for block, (sectors, fill) in partial.items():
            data = bytearray(b"\xee" * bs)
            chunk, within = divmod(block, geometry.chunk_ratio)
            bitmap = bitmaps.setdefault(chunk, bytearray(MiB))
            for s in sectors:
                data[s * lss : (s + 1) * lss] = bytes([fill]) * lss
                bit = within * (bs // lss) + s
                bitmap[bit // 8] |= 1 << (bit % 8)
            pwrite_all(fd, end, bytes(data))
            entry(payload_index(block, geometry.chunk_ratio), end | 7)
            end += bs
        for chunk, bitmap in bitmaps.items():
            pwrite_all(fd, end, bytes(bitmap))
            entry(sector_bitmap_index(chunk, geometry.chunk_ratio), end | 6)
            end += MiB
        for block in zero:
            entry(payload_index(block, geometry.chunk_ratio), 2)
    finally:
        os.close(fd)


def _reference(
    base: bytearray,
    lss: int,
    bs: int,
    full: dict[int, int],
    partial: dict[int, tuple[list[int], int]],
    zero: list[int],
) -> None:
    """Lay a child's blocks over its parent's bytes, sector by sector (the reference)."""
    for block, fill in full.items():
        base[block * bs : (block + 1) * bs] = bytes([fill]) * bs
    for block, (sectors, fill) in partial.items():
        for s in sectors:
            at = block * bs + s * lss
            base[at : at + lss] = bytes([fill]) * lss
    for block in zero:
        base[block * bs : (block + 1) * bs] = bytes(bs)


MIDDLE_FULL = {1: 0x41}
MIDDLE_PARTIAL = {2: ([0, 1, 2, 3, 100, 2047], 0x42), 6: (list(range(8, 24)), 0x43)}
MIDDLE_ZERO = [4]
TOP_FULL = {7: 0x51}
TOP_PARTIAL = {2: ([5, 6, 7, 8, 9, 1000], 0x52), 3: ([0, 9, 17], 0x53)}
TOP_ZERO: list[int] = []


@pytest.fixture
def chain(
    qemu_image: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, Path, Path]:
    """base (qemu-img, data by qemu-io) <- middle <- top, both children made by
    ``vhdxray create --parent`` and given full, partial (sector bitmap) and zero blocks."""
    require("qemu-io", "qemu-utils")
    base = qemu_image("16M", "block_size=1M", name="base.vhdx")
    imagefiles.qemu_io(base, "write -P 0x31 0 3M", "write -P 0x32 4M 4M", "write -P 0x33 15M 1M")
    middle, top = tmp_path / "middle.vhdx", tmp_path / "top.vhdx"
    assert vhdxray(capsys, "create", str(middle), "--parent", str(base))[0] == 0
    _write_child_blocks(middle, MIDDLE_FULL, MIDDLE_PARTIAL, MIDDLE_ZERO)
    assert vhdxray(capsys, "create", str(top), "--parent", str(middle))[0] == 0
    _write_child_blocks(top, TOP_FULL, TOP_PARTIAL, TOP_ZERO)
    return base, middle, top


def test_differencing_chain_merges_equal_to_an_independent_reference(
    chain: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, middle, top = chain
    hashes = [ri.file_sha256(p) for p in chain]
    reference = bytearray(qemu_raw(base, tmp_path / "base.raw"))
    _reference(reference, 512, MiB, MIDDLE_FULL, MIDDLE_PARTIAL, MIDDLE_ZERO)
    _reference(reference, 512, MiB, TOP_FULL, TOP_PARTIAL, TOP_ZERO)

    out = tmp_path / "merged.raw"
    code, text, _ = vhdxray(
        capsys,
        "export",
        str(top),
        str(out),
        "--parent",
        str(middle),
        "--parent",
        str(base),
        "--json",
    )
    assert code == 0, text
    assert json.loads(text)["parents"] == [str(middle), str(base)]
    assert out.read_bytes() == bytes(reference)

    # found through the locators' relative paths, and as a new VHDX
    vhdx = tmp_path / "merged.vhdx"
    code, _, _ = vhdxray(capsys, "export", str(top), str(vhdx), "--format", "vhdx", "--quiet")
    assert code == 0
    assert imagefiles.qemu_img_check(vhdx).returncode == 0
    assert qemu_raw(vhdx, tmp_path / "back.raw") == bytes(reference)
    assert [ri.file_sha256(p) for p in chain] == hashes


def test_missing_parent_is_refused_or_zero_filled(
    chain: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _, top = chain
    base.rename(tmp_path / "elsewhere.vhdx")
    out = tmp_path / "out.raw"
    code, text, _ = vhdxray(capsys, "export", str(top), str(out), "--json")
    assert code == 4 and json.loads(text)["refused"] == "parent_missing"
    assert json.loads(text)["suggest"] == [
        {"option": "parent", "value": None},
        {"option": "allow_missing_parent", "value": None},
    ]
    code, _, err = vhdxray(capsys, "export", str(top), str(out))
    assert code == 4 and "(--parent PATH or --allow-missing-parent)" in err
    assert not out.exists()
    code, text, _ = vhdxray(
        capsys, "export", str(top), str(out), "--allow-missing-parent", "--json"
    )
    assert code == 2
    gaps = json.loads(text)["gaps"]
    assert gaps and all(g["reason"] == "parent_missing" for g in gaps)
    reference = bytearray(16 * MiB)
    _reference(reference, 512, MiB, MIDDLE_FULL, MIDDLE_PARTIAL, MIDDLE_ZERO)
    _reference(reference, 512, MiB, TOP_FULL, TOP_PARTIAL, TOP_ZERO)
    assert out.read_bytes() == bytes(reference)
    # the gaps are exactly the sectors neither child holds (block 4 is ZERO in the middle)
    covered = bytearray(16 * MiB)
    _reference(
        covered, 512, MiB, {1: 1, 7: 1}, {b: (s, 1) for b, (s, _) in MIDDLE_PARTIAL.items()}, []
    )
    _reference(covered, 512, MiB, {}, {b: (s, 1) for b, (s, _) in TOP_PARTIAL.items()}, [])
    covered[4 * MiB : 5 * MiB] = b"\x01" * MiB
    lost = sum(g["virtual_end"] - g["virtual_start"] for g in gaps)
    assert lost == covered.count(0)


def test_wrong_parent_is_refused(
    chain: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _, top = chain
    out = tmp_path / "out.raw"
    code, text, _ = vhdxray(capsys, "export", str(top), str(out), "--parent", str(base), "--json")
    assert code == 4
    assert json.loads(text)["refused"] == "parent_mismatch"
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# Safety


def test_refusals_write_nothing(
    data_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = tmp_path / "existing.raw"
    existing.write_bytes(b"keep me")
    code, text, _ = vhdxray(capsys, "export", str(data_image), str(existing), "--json")
    assert code == 4 and json.loads(text)["refused"] == "output_exists"
    assert existing.read_bytes() == b"keep me"

    link = tmp_path / "link.raw"
    link.symlink_to(tmp_path / "target-does-not-exist")
    code, _, _ = vhdxray(capsys, "export", str(data_image), str(link))
    assert code == 4
    assert not (tmp_path / "target-does-not-exist").exists()

    other = tmp_path / "notes.txt"
    other.write_text("not a disk image\n" * 100)
    code, text, _ = vhdxray(capsys, "export", str(other), str(tmp_path / "x.raw"), "--json")
    assert code == 3 and json.loads(text)["refused"] == "not_vhdx"
    assert not (tmp_path / "x.raw").exists()
    leftovers = [p.name for p in tmp_path.iterdir() if "partial" in p.name]
    assert leftovers == []


def test_a_gaps_file_that_cannot_be_written_is_refused_before_exporting(
    data_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not found after the whole export (exit 1, "failed", yet the output left in place)."""
    out = tmp_path / "out.raw"
    no_folder = tmp_path / "missing" / "gaps.json"
    code, text, _ = vhdxray(
        capsys, "export", str(data_image), str(out), "--gaps", str(no_folder), "--json"
    )
    assert code == 4 and json.loads(text)["refused"] == "output_dir_missing"
    assert not out.exists()

    code, _, err = vhdxray(capsys, "export", str(data_image), str(out), "--gaps", str(out))
    assert code == 4 and "gaps_file_exists" in err and "output file itself" in err
    assert not out.exists()

    gaps = tmp_path / "gaps.json"
    code, _, err = vhdxray(capsys, "export", str(data_image), str(out), "--gaps", str(gaps))
    assert code == 0, err
    assert out.exists() and json.loads(gaps.read_text())["gaps"] == []


def test_cancel_removes_the_partial_file(data_image: Path, tmp_path: Path) -> None:
    before = ri.file_sha256(data_image)
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def cancel_at_first_step(p: Progress) -> None:
        if p.done:
            p.cancel()

    progress = Progress(on_update=cancel_at_first_step)
    with open_virtual_disk(data_image) as disk, pytest.raises(Cancelled):
        export(disk, out_dir / "out.raw", progress=progress)
    assert list(out_dir.iterdir()) == []
    assert ri.file_sha256(data_image) == before


def test_json_is_printed_when_the_export_fails_or_is_cancelled(
    data_image: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--json`` printed nothing on stdout after a failure (1) or a cancel (130): a script
    got no document, where a refusal gives one."""
    import errno

    from vhdxray.core.write import export as export_module

    out = tmp_path / "out.raw"
    real_advance = Progress.advance

    def cancel_once_started(self: Progress, n: int = 1) -> None:
        real_advance(self, n)
        if self.done:
            self.cancel()

    with monkeypatch.context() as m:
        m.setattr(Progress, "advance", cancel_once_started)
        code, text, _ = vhdxray(capsys, "export", str(data_image), str(out), "--json")
    doc = json.loads(text)
    assert code == 130 and doc["exit_code"] == 130 and doc["stopped"] == "cancelled"
    assert doc["complete"] is False and doc["partial_removed"] is True and not out.exists()

    def broken(*args: object, **kwargs: object) -> int:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(export_module, "pwrite_all", broken)
    monkeypatch.setattr(os, "copy_file_range", broken, raising=False)
    code, text, _ = vhdxray(capsys, "export", str(data_image), str(out), "--json")
    doc = json.loads(text)
    assert code == 1 and doc["exit_code"] == 1 and doc["stopped"] == "failed"
    assert "Input/output error" in doc["reason"] and not out.exists()
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_modified_parent_found_through_the_locator_is_refused(
    chain: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, middle, top = chain
    for slot in (1, 2):
        damage.set_header_field(middle, slot, "data_write_guid", uuid.uuid4())
    out = tmp_path / "out.raw"
    code, text, _ = vhdxray(capsys, "export", str(top), str(out), "--json")
    assert code == 4
    doc = json.loads(text)
    assert doc["refused"] == "parent_mismatch" and "DataWriteGuid" in doc["reason"]
    assert not out.exists()


def test_not_enough_free_space_is_refused_before_writing(
    data_image: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vhdxray.core.write import export as export_module

    def tiny(path: str | os.PathLike[str]) -> int:
        return 1 << 20  # 1 MiB free

    monkeypatch.setattr(export_module, "free_bytes", tiny)
    out = tmp_path / "out.raw"
    code, text, _ = vhdxray(capsys, "export", str(data_image), str(out), "--json")
    assert code == 4 and json.loads(text)["refused"] == "no_space"
    assert sorted(p.name for p in tmp_path.iterdir()) == [data_image.name]


def test_4096_byte_sectors_and_own_images_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # QEMU cannot open 4096-byte logical sectors: the reference is the data placed by create
    data = [(0, b"\x01" * 4096), (3 * MiB + 8192, b"\x02" * (3 * MiB)), (30 * MiB, b"\x03" * MiB)]
    image = create_image(
        tmp_path / "4k.vhdx",
        CreateOptions(virtual_size=32 * MiB, block_size=2 * MiB, logical_sector_size=4096),
        data=data,
    )
    expected = bytearray(32 * MiB)
    for offset, chunk in data:
        expected[offset : offset + len(chunk)] = chunk
    out = tmp_path / "out.raw"
    assert vhdxray(capsys, "export", str(image), str(out), "--quiet")[0] == 0
    assert out.read_bytes() == bytes(expected)
    vhdx = tmp_path / "out.vhdx"
    assert vhdxray(capsys, "export", str(image), str(vhdx), "--format", "vhdx", "--quiet")[0] == 0
    meta = read_report(vhdx).metadata
    assert meta is not None and meta.logical_sector_size == 4096 and meta.block_size == 2 * MiB
    assert not read_report(vhdx).errors
    back = tmp_path / "back.raw"
    assert vhdxray(capsys, "export", str(vhdx), str(back), "--quiet")[0] == 0
    assert back.read_bytes() == bytes(expected)
    if imagefiles.have("vhdiinfo"):
        done = subprocess.run(["vhdiinfo", str(vhdx)], capture_output=True, text=True)
        assert done.returncode == 0 and "4096 bytes" in done.stdout


def test_progress_line_shows_bytes_rate_and_time_left(capsys: pytest.CaptureFixture[str]) -> None:
    from vhdxray.tui.console import ProgressLine

    now = [0.0]
    bar = ProgressLine()
    progress = Progress(on_update=bar, clock=lambda: now[0])
    progress.start(100 * MiB)
    now[0] = 2.0
    progress.advance(100 * MiB)
    bar.end()
    err = capsys.readouterr().err
    last = err.rstrip("\n").split("\r")[-1]
    assert "100.0%" in last and "100.0 MiB of 100.0 MiB" in last
    assert "52 MB/s" in last and "0:00 left" in last


@pytest.mark.parametrize("flush", [True, False])
def test_export_names_its_last_phase_writing_to_disk(
    qemu_image: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flush: bool,
) -> None:
    """The bar sat still (all bytes counted, "0 s left") while the new file was flushed, with
    nothing saying so. Core names that step (``phase``, set before the final fsync and kept
    until the file has its name), and the CLI progress line shows it; no-flush has no such
    step. No timing is asserted: the phase is seen when the flush starts."""
    from vhdxray.core.progress import WRITING_TO_DISK
    from vhdxray.core.write import writeback
    from vhdxray.tui.console import ProgressLine

    source = qemu_image("64M")
    imagefiles.qemu_io(source, "write -P 0x5a 0 3M", "write -P 0xa5 40M 1M")
    seen: list[tuple[int, int, str]] = []
    bar = ProgressLine()

    def update(p: Progress) -> None:
        seen.append((p.done, p.total, p.phase))
        bar(p)

    progress = Progress(on_update=update)
    at_fsync: list[str] = []
    finish = writeback.Writeback.finish

    def finishing(self: writeback.Writeback) -> None:
        at_fsync.append(progress.phase)  # what the front ends read while the disk works
        finish(self)

    monkeypatch.setattr(writeback.Writeback, "finish", finishing)
    with open_virtual_disk(source) as disk:
        result = export(disk, tmp_path / "out.raw", progress=progress, flush=flush)
    bar.end()
    assert result.complete
    counted = [s for s in seen if not s[2]]
    assert counted[-1][0] == counted[-1][1] == 4 * MiB  # every byte counted before it
    last = capsys.readouterr().err.rstrip("\n").split("\r")[-1]
    if flush:
        assert at_fsync == [WRITING_TO_DISK]
        assert seen[-1] == (4 * MiB, 4 * MiB, WRITING_TO_DISK)
        assert "100.0%" in last and "writing to disk…" in last and "left" not in last
    else:
        assert at_fsync == [] and all(not s[2] for s in seen)
        assert "writing to disk" not in last


def test_progress_line_names_a_phase_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    """A named step is drawn at once (not held back by the redraw throttle), in place of the
    rate and time left."""
    from vhdxray.tui.console import ProgressLine

    now = [0.0]
    bar = ProgressLine()
    progress = Progress(on_update=bar, clock=lambda: now[0])
    progress.start(100 * MiB)
    progress.advance(50 * MiB)
    progress.set_phase("writing to disk")  # within the throttle's 0.2 s, with done < total
    bar.end()
    last = capsys.readouterr().err.rstrip("\n").split("\r")[-1]
    assert "50.0%" in last and "writing to disk…" in last and "MB/s" not in last
