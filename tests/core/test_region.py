"""Region tables: both copies, validity rules, which copy is used (§2.2.3)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

from tests import damage
from vhdxray.core.format import layout
from vhdxray.core.format.region import (
    RegionEntry,
    RegionTable,
    check_region_tables,
    choose_active,
    parse_region_table,
    serialise_region_table,
)

UNKNOWN = uuid.UUID("01234567-89ab-cdef-0123-456789abcdef")


def tables(path: Path) -> tuple[RegionTable, RegionTable]:
    raw = damage.read_at(path, 0, layout.REGION_TABLE_OFFSETS[1] + layout.REGION_TABLE_SIZE)
    r1, r2 = layout.REGION_TABLE_OFFSETS
    return (
        parse_region_table(raw[r1 : r1 + layout.REGION_TABLE_SIZE], 1),
        parse_region_table(raw[r2 : r2 + layout.REGION_TABLE_SIZE], 2),
    )


def codes(path: Path) -> dict[str, str]:
    t = tables(path)
    return {
        f.code: f.severity for f in check_region_tables(t, choose_active(t), path.stat().st_size)
    }


def test_qemu_image_has_two_identical_valid_copies(qemu_image: Callable[..., Path]) -> None:
    path = qemu_image("64M")
    t1, t2 = tables(path)
    assert t1.valid and t2.valid
    assert t1.raw == t2.raw
    assert {e.name for e in t1.entries} == {"BAT", "Metadata"}
    # QEMU marks neither region required: a quirk Windows accepts, so a warning only.
    assert not any(e.is_required for e in t1.entries)
    assert choose_active((t1, t2)) == 1
    assert codes(path) == {"region.not_required": "warning"}


def test_damaged_copy1_falls_back_to_copy2(qemu_image: Callable[..., Path]) -> None:
    path = qemu_image("64M")
    damage.break_region_checksum(path, 1)
    t1, t2 = tables(path)
    assert not t1.valid and not t1.checksum_ok and t2.valid
    assert choose_active((t1, t2)) == 2
    found = codes(path)
    assert found["region.copy1.checksum"] == "error"
    assert found["region.using_copy2"] == "info"


def test_both_damaged_means_no_active_copy(qemu_image: Callable[..., Path]) -> None:
    path = qemu_image("64M")
    damage.break_region_checksum(path, 1)
    damage.write_at(path, layout.REGION_TABLE_OFFSETS[1], b"xxxx")
    t = tables(path)
    assert choose_active(t) is None
    found = codes(path)
    assert found["region.none_valid"] == "error"
    assert found["region.copy2.signature"] == "error"


def test_copies_valid_but_different(qemu_image: Callable[..., Path]) -> None:
    path = qemu_image("64M")
    damage.set_region_entry(path, 2, 0, required=1)
    t1, t2 = tables(path)
    assert t1.valid and t2.valid
    assert codes(path)["region.copies_differ"] == "warning"


class EntryChange(TypedDict, total=False):
    guid: uuid.UUID
    file_offset: int
    length: int
    required: int


def test_entry_rules(qemu_image: Callable[..., Path]) -> None:
    base = qemu_image("64M")
    changes: list[tuple[EntryChange, str]] = [
        ({"file_offset": 3 * layout.MiB + 4096}, "not a multiple of 1 MiB"),
        ({"file_offset": 512 * layout.KiB}, "inside the first 1 MiB"),
        ({"length": 12345}, "not a non-zero multiple of 1 MiB"),
        ({"guid": UNKNOWN, "required": 1}, "required but is not known"),
    ]
    for kwargs, expected in changes:
        path = base.with_name(f"rt-{len(expected)}.vhdx")
        path.write_bytes(base.read_bytes())
        damage.set_region_entry(path, 1, 0, **kwargs)
        t1, _ = tables(path)
        assert not t1.valid
        assert any(expected in p for p in t1.problems), (kwargs, t1.problems)


def test_overlap_and_duplicate_and_missing() -> None:
    bat = RegionEntry(layout.BAT_GUID, 2 * layout.MiB, 2 * layout.MiB, 1)
    meta = RegionEntry(layout.METADATA_REGION_GUID, 3 * layout.MiB, layout.MiB, 1)
    t = parse_region_table(serialise_region_table([bat, meta]), 1)
    assert any("overlaps" in p for p in t.problems)
    t = parse_region_table(serialise_region_table([bat, bat]), 1)
    assert any("appears twice" in p for p in t.problems)
    assert any("Metadata region is missing" in p for p in t.problems)


def test_entry_count_limit() -> None:
    raw = bytearray(serialise_region_table([]))
    raw[8:12] = (2048).to_bytes(4, "little")
    t = parse_region_table(bytes(raw), 1)
    assert any("exceeds 2047" in p for p in t.problems)


def test_not_required_and_unknown_optional_are_not_errors(qemu_image: Callable[..., Path]) -> None:
    path = qemu_image("64M")
    for copy in (1, 2):
        damage.set_region_entry(path, copy, 0, required=0)
        damage.set_region_count(path, copy, 3, fix_crc=False)
        damage.set_region_entry(
            path,
            copy,
            2,
            guid=UNKNOWN,
            file_offset=200 * layout.MiB,
            length=layout.MiB,
            required=0,
        )
    found = codes(path)
    assert found["region.not_required"] == "warning"
    assert found["region.unknown_optional"] == "info"
    assert found["region.past_eof"] == "error"  # the unknown region lies past the file's end
    assert "region.copy1.entries" not in found


def test_truncated_copy() -> None:
    t = parse_region_table(serialise_region_table([])[:100], 2)
    assert not t.present and not t.valid
