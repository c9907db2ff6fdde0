"""Metadata region: the six system items, their rules and the parent locator (§2.6)."""

from __future__ import annotations

import json
import struct
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import damage
from tests.core.test_region import tables
from vhdxray.core.format import layout
from vhdxray.core.format.metadata import (
    Metadata,
    parse_metadata,
    serialise_locator,
    serialise_metadata,
)
from vhdxray.core.format.region import choose_active


def meta_of(path: Path) -> tuple[Metadata, dict[str, str], int]:
    t = tables(path)
    entry = t[choose_active(t) - 1].find(layout.METADATA_REGION_GUID)
    assert entry is not None
    meta, findings = parse_metadata(
        entry.file_offset, entry.length, lambda o, n: damage.read_at(path, o, n)
    )
    return meta, {f.code: f.severity for f in findings}, entry.file_offset


@pytest.mark.parametrize(
    ("size", "options", "disk_type", "logical"),
    [
        ("64M", (), "dynamic", 512),
        ("64M", ("block_size=1M",), "dynamic", 512),
        ("1G", ("block_size=256M",), "dynamic", 512),  # qemu-img cannot make 4096-byte sectors
        ("100M", ("log_size=4M", "block_state_zero=off"), "dynamic", 512),
        ("32M", ("subformat=fixed", "block_size=8M"), "fixed", 512),
        ("64T", (), "dynamic", 512),
    ],
)
def test_matches_qemu_img_info(
    qemu_image: Callable[..., Path],
    size: str,
    options: tuple[str, ...],
    disk_type: str,
    logical: int,
) -> None:
    path = qemu_image(size, *options)
    meta, found, _ = meta_of(path)
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(path)],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    )
    assert meta.virtual_size == info["virtual-size"]
    assert meta.block_size == info["cluster-size"]
    assert meta.disk_type == disk_type
    assert meta.logical_sector_size == logical
    assert meta.physical_sector_size in (512, 4096)
    assert meta.virtual_disk_id is not None
    assert not [c for c, sev in found.items() if sev == "error"], found


def test_differencing_locator(real_image: Callable[[str], Path]) -> None:
    meta, found, _ = meta_of(real_image("dissect-differencing"))
    assert meta.disk_type == "differencing" and meta.has_parent
    loc = meta.parent_locator
    assert loc is not None and loc.locator_type == layout.VHDX_PARENT_LOCATOR_TYPE
    keys = [k for k, _ in loc.entries]
    assert "parent_linkage" in keys and loc.parent_linkage is not None
    assert any(k in keys for k in ("relative_path", "absolute_win32_path", "volume_path"))
    assert not [c for c, sev in found.items() if sev == "error"], found


def _entry_offset(path: Path, item: uuid.UUID) -> int:
    meta, _, region = meta_of(path)
    index = next(i for i, e in enumerate(meta.entries) if e.item_id == item)
    return region + 32 + 32 * index


def test_physical_sector_not_required_is_only_a_warning(qemu_image: Callable[..., Path]) -> None:
    path = qemu_image("64M")
    at = _entry_offset(path, layout.PHYSICAL_SECTOR_SIZE_GUID)
    flags = struct.unpack("<I", damage.read_at(path, at + 24, 4))[0]
    damage.write_at(path, at + 24, struct.pack("<I", flags & ~layout.META_FLAG_IS_REQUIRED))
    _, found, _ = meta_of(path)
    assert found == {"metadata.physical_sector_not_required": "warning"}


@pytest.mark.parametrize(
    ("item", "value", "code"),
    [
        (layout.FILE_PARAMETERS_GUID, struct.pack("<II", 3 * layout.MiB, 0), "metadata.block_size"),
        (layout.LOGICAL_SECTOR_SIZE_GUID, struct.pack("<I", 1024), "metadata.logical_sector_size"),
        (layout.PHYSICAL_SECTOR_SIZE_GUID, struct.pack("<I", 0), "metadata.physical_sector_size"),
        (layout.VIRTUAL_DISK_SIZE_GUID, struct.pack("<Q", 1000), "metadata.virtual_size"),
        (layout.VIRTUAL_DISK_SIZE_GUID, struct.pack("<Q", 65 << 40), "metadata.virtual_size"),
        (
            layout.FILE_PARAMETERS_GUID,
            struct.pack("<II", layout.MiB, 2),
            "metadata.locator.missing",
        ),
    ],
)
def test_bad_item_values(
    qemu_image: Callable[..., Path], item: uuid.UUID, value: bytes, code: str
) -> None:
    path = qemu_image("64M")
    meta, _, region = meta_of(path)
    entry = next(e for e in meta.entries if e.item_id == item)
    damage.write_at(path, region + entry.offset, value)
    _, found, _ = meta_of(path)
    assert found.get(code) == "error", found


def test_unknown_required_item_and_missing_item(qemu_image: Callable[..., Path]) -> None:
    path = qemu_image("64M")
    at = _entry_offset(path, layout.VIRTUAL_DISK_ID_GUID)
    damage.write_at(path, at, uuid.UUID(int=12345).bytes_le)
    meta, found, _ = meta_of(path)
    assert found["metadata.unknown_required"] == "error"
    assert found["metadata.missing_item"] == "error"
    assert meta.virtual_disk_id is None


def test_signature_and_item_range(qemu_image: Callable[..., Path]) -> None:
    path = qemu_image("64M")
    at = _entry_offset(path, layout.VIRTUAL_DISK_SIZE_GUID)
    damage.write_at(path, at + 16, struct.pack("<I", 100))  # offset inside the table area
    _, found, region = meta_of(path)
    assert found["metadata.item_range"] == "error"
    damage.write_at(path, region, b"metaXXXX")
    meta, found, _ = meta_of(path)
    assert found == {"metadata.signature": "error"} and meta.disk_type is None


def test_locator_round_trip_and_hostile_strings() -> None:
    hostile = "[bold]x[/]\x1b]2;PWNED\x07\u202eevil"
    raw = serialise_locator(
        [("parent_linkage", "{00000000-0000-0000-0000-000000000001}"), ("relative_path", hostile)]
    )
    flags = layout.META_FLAG_IS_REQUIRED
    items = [
        (layout.FILE_PARAMETERS_GUID, flags, struct.pack("<II", layout.MiB, 2)),
        (layout.VIRTUAL_DISK_SIZE_GUID, flags | 2, struct.pack("<Q", layout.MiB)),
        (layout.VIRTUAL_DISK_ID_GUID, flags | 2, bytes(16)),
        (layout.LOGICAL_SECTOR_SIZE_GUID, flags | 2, struct.pack("<I", 512)),
        (layout.PHYSICAL_SECTOR_SIZE_GUID, flags | 2, struct.pack("<I", 512)),
        (layout.PARENT_LOCATOR_GUID, flags, raw),
    ]
    region = serialise_metadata(items)
    meta, findings = parse_metadata(0, len(region), lambda o, n: region[o : o + n])
    # ESC and BEL are control characters: kept (shown escaped) and reported once.
    assert [(f.code, f.severity.value) for f in findings] == [("metadata.locator.text", "warning")]
    assert "'relative_path': control characters" in findings[0].message
    assert meta.parent_locator is not None
    assert meta.parent_locator.get("relative_path") == hostile
    assert meta.parent_locator.parent_linkage == uuid.UUID(int=1)
