"""A file that ends inside its BAT: every block whose entry is cut off is listed as unknown.

Checked block by block against the BAT of the whole file (read before the cut): every block
allocated there lies in a listed range, as "lost" when its entry was read and its data lies past
the end, or as "unknown" (reason "BAT entry past end of file") when its entry was cut off.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.imagefiles import qemu_io
from vhdxray.core.analysis.reader import Report, read_report
from vhdxray.core.analysis.truncation import LOST, UNKNOWN, UNREAD_PAST_EOF, truncation_map
from vhdxray.core.format import layout
from vhdxray.core.format.bat import payload_index

MiB = layout.MiB


def allocated_blocks(path: Path, report: Report) -> list[int]:
    """Blocks FULLY/PARTIALLY_PRESENT in the whole file's BAT."""
    assert report.bat is not None and report.region_tables is not None
    assert report.active_region_table is not None
    entry = report.region_tables[report.active_region_table - 1].find(layout.BAT_GUID)
    assert entry is not None
    g = report.bat.geometry
    with open(path, "rb") as f:
        f.seek(entry.file_offset)
        raw = f.read(g.total_entries * layout.BAT_ENTRY_SIZE)
    present = (layout.PAYLOAD_BLOCK_FULLY_PRESENT, layout.PAYLOAD_BLOCK_PARTIALLY_PRESENT)
    out = []
    for b in range(g.data_blocks_count):
        at = payload_index(b, g.chunk_ratio) * layout.BAT_ENTRY_SIZE
        if int.from_bytes(raw[at : at + 8], "little") & layout.BAT_STATE_MASK in present:
            out.append(b)
    return out


def cut_into_bat(path: Path, into: int) -> tuple[list[int], int]:
    """Cut ``path`` ``into`` bytes after its BAT starts; (blocks allocated before, entries read)."""
    whole = read_report(path)
    blocks = allocated_blocks(path, whole)
    assert whole.region_tables is not None and whole.active_region_table is not None
    bat = whole.region_tables[whole.active_region_table - 1].find(layout.BAT_GUID)
    assert bat is not None
    os.truncate(path, bat.file_offset + into)
    return blocks, into // layout.BAT_ENTRY_SIZE


def check_every_block_listed(path: Path, blocks: list[int], entries_read: int) -> None:
    report = read_report(path)
    assert report.bat is not None
    g = report.bat.geometry
    tmap = truncation_map(report, path)
    assert tmap is not None
    assert tmap.unread_entries == g.total_entries - entries_read
    unknown = [s for s in tmap.spans if s.kind == UNKNOWN]
    assert len(unknown) == 1 and unknown[0].reason == UNREAD_PAST_EOF
    assert unknown[0].virtual_end == g.virtual_size
    first_unread = entries_read - entries_read // (g.chunk_ratio + 1)
    assert unknown[0].virtual_start == first_unread * g.block_size
    for block in blocks:
        start = block * g.block_size
        end = start + g.block_length(block)
        covering = [s for s in tmap.spans if s.virtual_start <= start and end <= s.virtual_end]
        assert len(covering) == 1, block
        assert covering[0].kind == (LOST if block < first_unread else UNKNOWN), block
    assert tmap.lost_bytes == sum(s.length for s in tmap.spans)
    text = "\n".join(tmap.describe())
    assert f"{tmap.unread_entries} BAT entries could not be read" in text
    assert "unknown (BAT entry past end of file)" in text
    assert "NOT_PRESENT" not in text
    truncated = [f for f in report.findings if f.code == "bat.region.truncated"]
    assert len(truncated) == 1 and "cannot be known" in truncated[0].message


def test_windows_image_cut_2k_into_its_bat(real_image: Callable[[str], Path]) -> None:
    path = real_image("discutils-lvm2")
    blocks, read = cut_into_bat(path, 2048)
    assert len(blocks) == 18 and read == 256
    report = read_report(path)
    assert report.bat is not None and report.bat.unread_entries == 66
    check_every_block_listed(path, blocks, read)
    tmap = truncation_map(report, path)
    assert tmap is not None
    listed_lost = sum(s.blocks for s in tmap.spans if s.kind == LOST)
    unknown_allocated = [b for b in blocks if b * report.bat.geometry.block_size >= 8556380160]
    assert listed_lost == 17 and len(unknown_allocated) == 1  # 17 lost + 1 unknown = all 18


def test_windows_image_cut_in_its_first_bat_sector(real_image: Callable[[str], Path]) -> None:
    path = real_image("discutils-lvm2")
    blocks, read = cut_into_bat(path, 8)  # only entry 0 survives: block 0
    assert read == 1
    check_every_block_listed(path, blocks, read)


def test_qemu_image_cut_into_its_bat(qemu_image: Callable[..., Path]) -> None:
    """qemu-img puts the metadata after the BAT: cut inside the BAT, the block layout itself
    is gone, and the map says the whole disk is unknown instead of "nothing lost"."""
    path = qemu_image("8G", "block_size=1M")
    qemu_io(path, *(f"write -P 0x5a {off} 64k" for off in ("0", "1M", "3G", "6G", "8191M")))
    blocks, _ = cut_into_bat(path, 2048)
    assert len(blocks) == 5
    report = read_report(path)
    tmap = truncation_map(report, path)
    assert tmap is not None and tmap.blocks_unknown and tmap.spans == ()
    text = "\n".join(tmap.describe())
    assert "treat all of its data as unknown" in text
    assert "No payload block" not in text
    assert tmap.to_json()["blocks_unknown"] is True


def test_own_image_with_metadata_first_cut_into_its_bat(tmp_path: Path) -> None:
    """vhdxray's writer puts the metadata before the BAT, like Windows: cut into a BAT of
    several sectors, the entries past the end are unknown and the rest is mapped."""
    from vhdxray.core.write.create import CreateOptions, create_image

    size = 4 * 1024 * MiB
    data = [(b * MiB, bytes([b % 251 + 1]) * 4096) for b in (0, 7, 600, 1500, 3000, 4095)]
    path = create_image(
        tmp_path / "own.vhdx", CreateOptions(virtual_size=size, block_size=MiB), data=data
    )
    blocks, read = cut_into_bat(path, 8192 + 24)
    assert blocks == [0, 7, 600, 1500, 3000, 4095]
    check_every_block_listed(path, blocks, read)
