"""A differencing child cut short: partially present blocks whose sector bitmap is lost.

The child is made by ``vhdxray create --parent`` (8 GiB, 32 MiB blocks: 128 blocks per chunk,
two chunks), then given fully and partially present blocks and the two sector bitmaps, with
the BAT arithmetic of the spec, and cut at several points: inside the BAT (a block's entry read
but its chunk's sector bitmap entry cut off), inside the data, and inside a sector bitmap (the
bits of some blocks still in the file, the others not). Every allocated block is checked against
what the cut leaves of it, and the map against the virtual-disk reader's gaps.
"""

from __future__ import annotations

import io
import json
import os
import struct
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import repairimages as ri
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.analysis.truncation import (
    LOST,
    SB_ENTRY_PAST_EOF,
    SB_PAST_EOF,
    UNKNOWN,
    UNREAD_PAST_EOF,
    TruncationMap,
    truncation_map,
)
from vhdxray.core.analysis.virtual import (
    BAT_CUT_OFF,
    GAP,
    SECTOR_BITMAP_LOST,
    open_virtual_disk,
)
from vhdxray.core.format import layout
from vhdxray.core.format.bat import payload_index, sector_bitmap_index
from vhdxray.tui.cli import main

MiB = layout.MiB
GiB = 1024 * MiB
BLOCK = 32 * MiB
SECTOR = 512
RATIO = 128  # 2^23 sectors of 512 bytes per chunk / 65536 sectors per block
BITS_BYTES = BLOCK // SECTOR // 8  # bytes of a chunk's sector bitmap for one block: 8192
FULL = {1: 0x11, 200: 0x22}
PARTIAL = {3: [0, 7], 5: [100], 127: [65535], 130: [1, 2, 3], 255: [0]}  # block -> sectors


@dataclass(frozen=True)
class Child:
    path: Path
    parent: Path
    bat: int  # file offset of the BAT
    block_at: dict[int, int]  # block -> file offset of its data
    bitmap_at: dict[int, int]  # chunk -> file offset of its sector bitmap
    size: int


def _vhdxray(*argv: str) -> int:
    with redirect_stdout(io.StringIO()):
        return main(list(argv))


@pytest.fixture
def child(tmp_path: Path) -> Child:
    parent, path = tmp_path / "parent.vhdx", tmp_path / "child.avhdx"
    assert _vhdxray("create", str(parent), "--size", "8G", "--block-size", "32M") == 0
    assert _vhdxray("create", str(path), "--parent", str(parent)) == 0
    bat = ri.bat_offset(path)
    end = path.stat().st_size
    block_at: dict[int, int] = {}
    bitmaps: dict[int, bytearray] = {}
    fd = os.open(path, os.O_RDWR)
    try:
        for block in sorted({*FULL, *PARTIAL}):
            block_at[block] = end
            chunk, within = divmod(block, RATIO)
            if block in FULL:  # first and last sector written, the rest a hole of zeros
                os.pwrite(fd, bytes([FULL[block]]) * SECTOR, end)
                os.pwrite(fd, bytes([FULL[block]]) * SECTOR, end + BLOCK - SECTOR)
                state = layout.PAYLOAD_BLOCK_FULLY_PRESENT
            else:
                bitmap = bitmaps.setdefault(chunk, bytearray(MiB))
                for s in PARTIAL[block]:
                    os.pwrite(fd, bytes([block % 251 + 1]) * SECTOR, end + s * SECTOR)
                    bit = within * (BLOCK // SECTOR) + s
                    bitmap[bit // 8] |= 1 << (bit % 8)
                os.ftruncate(fd, end + BLOCK)
                state = layout.PAYLOAD_BLOCK_PARTIALLY_PRESENT
            index = payload_index(block, RATIO)
            os.pwrite(fd, struct.pack("<Q", end | state), bat + index * 8)
            end += BLOCK
        bitmap_at: dict[int, int] = {}
        for chunk in sorted(bitmaps):
            bitmap_at[chunk] = end
            os.pwrite(fd, bytes(bitmaps[chunk]), end)
            index = sector_bitmap_index(chunk, RATIO)
            os.pwrite(fd, struct.pack("<Q", end | layout.SB_BLOCK_PRESENT), bat + index * 8)
            end += MiB
    finally:
        os.close(fd)
    report = read_report(path)
    assert report.bat is not None and report.bat.geometry.chunk_ratio == RATIO
    assert not [f for f in report.findings if f.severity == "error"], report.findings
    return Child(path, parent, bat, block_at, bitmap_at, end)


def expected(c: Child, cut: int) -> dict[int, tuple[str, str]]:
    """What the cut leaves of each allocated block, from the layout written above: (kind,
    reason), or absent when the block reads as before."""
    out: dict[int, tuple[str, str]] = {}
    entries_read = max(0, cut - c.bat) // 8
    for block in sorted({*FULL, *PARTIAL}):
        chunk = block // RATIO
        if payload_index(block, RATIO) >= entries_read:
            out[block] = (UNKNOWN, UNREAD_PAST_EOF)
        elif block in FULL:
            if c.block_at[block] + BLOCK > cut:
                out[block] = (LOST, "")
        elif sector_bitmap_index(chunk, RATIO) >= entries_read:
            out[block] = (UNKNOWN, SB_ENTRY_PAST_EOF)
        elif c.bitmap_at[chunk] + (block % RATIO + 1) * BITS_BYTES > cut:
            out[block] = (UNKNOWN, SB_PAST_EOF)
        elif c.block_at[block] + BLOCK > cut:
            out[block] = ("partial", "")
    return out


def cut_and_map(c: Child, cut: int) -> TruncationMap:
    os.truncate(c.path, cut)
    tmap = truncation_map(read_report(c.path), c.path)
    assert tmap is not None
    return tmap


def check_map(c: Child, tmap: TruncationMap, cut: int) -> None:
    want = expected(c, cut)
    for block in sorted({*FULL, *PARTIAL}):
        start, end = block * BLOCK, (block + 1) * BLOCK
        covering = [s for s in tmap.spans if s.virtual_start < end and start < s.virtual_end]
        if block not in want:
            assert covering == [], (block, covering)
            continue
        assert len(covering) == 1, (block, covering)
        span = covering[0]
        assert (span.kind, span.reason) == want[block], block
        if span.kind == UNKNOWN:  # the whole block, whatever part of its data is in the file
            assert span.virtual_start <= start and end <= span.virtual_end, block
    # Spans hold allocated blocks only, except the BAT-cut span (the rest of the disk).
    allocated = {*FULL, *PARTIAL}
    for span in tmap.spans:
        if span.reason != UNREAD_PAST_EOF:
            blocks = range(span.virtual_start // BLOCK, -(-span.virtual_end // BLOCK))
            assert set(blocks) <= allocated, span
    assert tmap.lost_bytes == sum(s.length for s in tmap.spans)
    lost_bitmaps = [s for s in tmap.spans if s.reason in (SB_ENTRY_PAST_EOF, SB_PAST_EOF)]
    assert list(tmap.uncertain) == [(s.virtual_start, s.virtual_end) for s in lost_bitmaps]
    text = "\n".join(tmap.describe())
    for span in lost_bitmaps:
        assert f"unknown ({span.reason}): which sectors are in this file and which" in text
    doc = json.loads(json.dumps(tmap.to_json()))
    assert [(s["kind"], s["reason"]) for s in doc["spans"]] == [
        (s.kind, s.reason) for s in tmap.spans
    ]


def check_against_the_virtual_disk(c: Child, tmap: TruncationMap) -> None:
    """The virtual-disk reader (which reads the bitmap bits of each block it serves) leaves a
    gap exactly where the map says a bitmap or a BAT entry is lost."""
    with open_virtual_disk(c.path, parents=[c.parent]) as disk:
        gaps = [(g.start, g.end, g.reason) for g in disk.runs() if g.kind == GAP]
    as_gap = {SB_ENTRY_PAST_EOF: SECTOR_BITMAP_LOST, SB_PAST_EOF: SECTOR_BITMAP_LOST}
    as_gap[UNREAD_PAST_EOF] = BAT_CUT_OFF
    mine = [
        (s.virtual_start, s.virtual_end, as_gap[s.reason]) for s in tmap.spans if s.kind == UNKNOWN
    ]
    merged: list[tuple[int, int, str]] = []
    for start, end, reason in mine:
        if merged and merged[-1][1] == start and merged[-1][2] == reason:
            merged[-1] = (merged[-1][0], end, reason)
        else:
            merged.append((start, end, reason))
    theirs = [g for g in gaps if g[2] in (SECTOR_BITMAP_LOST, BAT_CUT_OFF)]
    assert theirs == merged


@pytest.mark.parametrize(
    "where",
    [
        "bat:after-block-3-entry",  # block 3's entry read, chunk 0's bitmap entry cut off
        "bat:in-chunk-1",  # chunk 0 fully read (its bitmap past the end), chunk 1 cut at 130
        "data:inside-block-5",  # both bitmaps past the end; block 5's own data cut too
        "bitmap0:inside-block-5-bits",  # block 3's bits in the file, 5's and 127's not
        "bitmap1:after-block-130-bits",  # exactly at the end of block 130's bits
    ],
)
def test_partial_blocks_whose_bitmap_is_cut_are_unknown(child: Child, where: str) -> None:
    c = child
    cut = {
        "bat:after-block-3-entry": c.bat + 4 * 8,
        "bat:in-chunk-1": c.bat + (RATIO + 1 + 3) * 8,
        "data:inside-block-5": c.block_at[5] + BLOCK // 2 + 4096,
        "bitmap0:inside-block-5-bits": c.bitmap_at[0] + 5 * BITS_BYTES + 100,
        "bitmap1:after-block-130-bits": c.bitmap_at[1] + 3 * BITS_BYTES,
    }[where]
    tmap = cut_and_map(c, cut)
    check_map(c, tmap, cut)
    check_against_the_virtual_disk(c, tmap)
    want = expected(c, cut)
    assert any(r in (SB_ENTRY_PAST_EOF, SB_PAST_EOF) for _, r in want.values()), want
    if where == "bat:after-block-3-entry":
        assert want == {
            1: (LOST, ""),
            3: (UNKNOWN, SB_ENTRY_PAST_EOF),
            **{b: (UNKNOWN, UNREAD_PAST_EOF) for b in (5, 127, 130, 200, 255)},
        }
        assert tmap.unread_entries == 2 * (RATIO + 1) - 4
    if where == "bitmap0:inside-block-5-bits":
        assert want == {
            5: (UNKNOWN, SB_PAST_EOF),
            127: (UNKNOWN, SB_PAST_EOF),
            130: (UNKNOWN, SB_PAST_EOF),
            255: (UNKNOWN, SB_PAST_EOF),
        }
        assert tmap.lost_bytes == 4 * BLOCK
    if where == "bitmap1:after-block-130-bits":
        assert want == {255: (UNKNOWN, SB_PAST_EOF)}
        assert [(s.virtual_start, s.virtual_end) for s in tmap.spans] == [(255 * BLOCK, 8 * GiB)]


def test_the_cli_lists_them(child: Child, capsys: pytest.CaptureFixture[str]) -> None:
    c = child
    os.truncate(c.path, c.bitmap_at[1] + 3 * BITS_BYTES)  # block 255's bits are cut off
    assert main(["info", str(c.path)]) == 0
    out = capsys.readouterr().out
    assert f"Lost or unknown: {BLOCK} bytes of the virtual disk in 1 range(s):" in out
    assert "unknown (sector bitmap past end of file): which sectors are in this file" in out
