"""One damaged BAT entry pointing far past the end of a whole file is a damaged entry, not a
cut file (it read "The file is cut short" and "the file was probably truncated"); a real
truncation is still a truncation. Every image is made by qemu-img and qemu-io, then edited or
cut here; the loss map stays exact either way."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import imagefiles
from vhdxray.core.analysis.reader import Report, read_report
from vhdxray.core.analysis.truncation import LOST, LostSpan, truncation_map
from vhdxray.core.analysis.verdict import verdict
from vhdxray.core.format import layout
from vhdxray.tui.headline import headline

MiB = layout.MiB
STRAY = "bat.entry.stray_offset"
CUT = "bat.block.past_eof"


@pytest.fixture
def written(qemu_image: Callable[..., Path]) -> Path:
    """64 MiB, 1 MiB blocks; blocks 0-2 and 10-11 written (the file ends after block 11)."""
    if not imagefiles.have("qemu-io"):
        pytest.skip("qemu-io is not installed (apt-get install qemu-utils)")
    path = qemu_image("64M", "block_size=1M")
    imagefiles.qemu_io(path, "write -P 0x11 0 3M", "write -P 0x22 10M 2M")
    return path


def set_entry(path: Path, block: int, file_offset: int) -> None:
    """Block ``block``'s BAT entry: FULLY_PRESENT at ``file_offset`` (a 64 MiB disk of 1 MiB
    blocks has one chunk, so the entry index is the block)."""
    report = read_report(path)
    assert report.region_tables is not None and report.active_region_table is not None
    bat = report.region_tables[report.active_region_table - 1].find(layout.BAT_GUID)
    assert bat is not None
    entry = (file_offset // MiB) << 20 | layout.PAYLOAD_BLOCK_FULLY_PRESENT
    with open(path, "r+b") as f:
        f.seek(bat.file_offset + block * 8)
        f.write(struct.pack("<Q", entry))


def errors(report: Report) -> set[str]:
    return {f.code for f in report.errors}


def test_a_lone_entry_far_past_the_end_is_a_damaged_entry(written: Path) -> None:
    size = written.stat().st_size
    set_entry(written, 20, 1 << 40)  # an unwritten block, now "at" 1 TiB
    report = read_report(written)
    assert errors(report) == {STRAY}
    finding = next(f for f in report.findings if f.code == STRAY)
    assert "a damaged BAT entry, not a cut file" in finding.message
    assert "truncated" not in finding.message
    assert report.bat is not None and report.bat.past_eof_damaged
    assert report.bat.past_eof_blocks == 1 and report.bat.lost_virtual_bytes == MiB
    tmap = truncation_map(report, written)
    assert tmap is not None and tmap.damaged_entries
    assert tmap.spans == (LostSpan(20 * MiB, 21 * MiB, 1, LOST),)  # exact: that block only
    assert tmap.lost_bytes == MiB and tmap.missing_bytes == 0 and tmap.expected_size == size
    text = " ".join(tmap.describe())
    assert "is not cut short" in text and "missing from its end" not in text
    h = headline(report, verdict(report))
    assert h.level == "error" == verdict(report).level
    assert "damaged BAT entry points past the end" in h.text and "cut short" in h.text
    assert "The file is cut short" not in h.text


def test_several_stray_entries_are_damaged_entries_too(written: Path) -> None:
    set_entry(written, 20, 1 << 40)
    set_entry(written, 30, 1 << 35)
    report = read_report(written)
    assert errors(report) == {STRAY}
    tmap = truncation_map(report, written)
    assert tmap is not None and tmap.damaged_entries
    assert [(s.virtual_start, s.virtual_end) for s in tmap.spans] == [
        (20 * MiB, 21 * MiB),
        (30 * MiB, 31 * MiB),
    ]


@pytest.mark.parametrize("cut", [MiB + MiB // 2, 2 * MiB, 4096])
def test_a_cut_file_is_still_cut(written: Path, cut: int) -> None:
    """Cut mid-block, at a block boundary (the next block starts at the new end) and a page
    short: a truncation, with the words of one."""
    size = written.stat().st_size
    os.truncate(written, size - cut)
    report = read_report(written)
    assert CUT in errors(report) and STRAY not in errors(report)
    assert report.bat is not None and not report.bat.past_eof_damaged
    tmap = truncation_map(report, written)
    assert tmap is not None and not tmap.damaged_entries
    assert tmap.missing_bytes == cut
    h = headline(report, verdict(report))
    assert h.text.startswith("The file is cut short")


def test_a_cut_file_with_a_stray_entry_too_is_cut(written: Path) -> None:
    """A cut leaves a block across the end: a stray entry beside it does not make the file
    whole."""
    set_entry(written, 20, 1 << 40)
    os.truncate(written, written.stat().st_size - MiB // 2)
    report = read_report(written)
    assert CUT in errors(report) and STRAY not in errors(report)


def test_an_entry_just_past_the_end_is_a_cut(written: Path) -> None:
    """A block that starts right at the end of the file is what a cut at a block boundary
    leaves: no room between, so it is not called a damaged entry."""
    set_entry(written, 20, written.stat().st_size)
    report = read_report(written)
    assert CUT in errors(report) and STRAY not in errors(report)
