"""Make damaged variants of real images, byte by byte, for tests.

Each function edits the file in place and, where it says so, recomputes the checksum so that
only the intended fault is present.
"""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

from vhdxray.core.format import layout
from vhdxray.core.format.checksum import checksum_with_field_zeroed
from vhdxray.core.format.header import FIELD_BY_ATTR, FieldKind, field_struct


def header_field_format(name: str) -> tuple[int, str]:
    """(offset in the slot, struct format) of the header field ``name`` (a Header attribute),
    from the one table (header.HEADER_FIELDS)."""
    f = FIELD_BY_ATTR[name]
    return f.offset, "<" + field_struct(f)


def read_at(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def write_at(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def flip_byte(path: Path, offset: int) -> None:
    """Invert one byte (breaks any checksum covering it)."""
    write_at(path, offset, bytes([read_at(path, offset, 1)[0] ^ 0xFF]))


def fix_header_crc(path: Path, slot: int) -> None:
    base = layout.HEADER_SLOT_OFFSETS[slot - 1]
    raw = read_at(path, base, layout.HEADER_SIZE)
    write_at(path, base + 4, struct.pack("<I", checksum_with_field_zeroed(raw, 4)))


def set_header_field(path: Path, slot: int, name: str, value: object, fix_crc: bool = True) -> None:
    offset, fmt = header_field_format(name)
    if isinstance(value, uuid.UUID):
        value = value.bytes_le
    write_at(path, layout.HEADER_SLOT_OFFSETS[slot - 1] + offset, struct.pack(fmt, value))
    if fix_crc and name != "checksum":
        fix_header_crc(path, slot)


def header_field(path: Path, slot: int, name: str) -> object:
    offset, fmt = header_field_format(name)
    raw = read_at(path, layout.HEADER_SLOT_OFFSETS[slot - 1] + offset, struct.calcsize(fmt))
    value = struct.unpack(fmt, raw)[0]
    if FIELD_BY_ATTR[name].kind is FieldKind.GUID:
        return uuid.UUID(bytes_le=value)
    return value


def break_header_checksum(path: Path, slot: int) -> None:
    """Flip a byte inside the slot's FileWriteGuid: the stored checksum no longer matches."""
    flip_byte(path, layout.HEADER_SLOT_OFFSETS[slot - 1] + 20)


def copy_header(path: Path, source_slot: int, target_slot: int) -> None:
    raw = read_at(path, layout.HEADER_SLOT_OFFSETS[source_slot - 1], layout.HEADER_SIZE)
    write_at(path, layout.HEADER_SLOT_OFFSETS[target_slot - 1], raw)


def fix_region_crc(path: Path, copy: int) -> None:
    base = layout.REGION_TABLE_OFFSETS[copy - 1]
    raw = read_at(path, base, layout.REGION_TABLE_SIZE)
    write_at(path, base + 4, struct.pack("<I", checksum_with_field_zeroed(raw, 4)))


def break_region_checksum(path: Path, copy: int) -> None:
    flip_byte(path, layout.REGION_TABLE_OFFSETS[copy - 1] + 16 + 8)  # first entry's offset


def set_region_entry(
    path: Path,
    copy: int,
    index: int,
    *,
    guid: uuid.UUID | None = None,
    file_offset: int | None = None,
    length: int | None = None,
    required: int | None = None,
    fix_crc: bool = True,
) -> None:
    base = layout.REGION_TABLE_OFFSETS[copy - 1] + 16 + 32 * index
    if guid is not None:
        write_at(path, base, guid.bytes_le)
    if file_offset is not None:
        write_at(path, base + 16, struct.pack("<Q", file_offset))
    if length is not None:
        write_at(path, base + 24, struct.pack("<I", length))
    if required is not None:
        write_at(path, base + 28, struct.pack("<I", required))
    if fix_crc:
        fix_region_crc(path, copy)


def set_region_count(path: Path, copy: int, count: int, fix_crc: bool = True) -> None:
    write_at(path, layout.REGION_TABLE_OFFSETS[copy - 1] + 8, struct.pack("<I", count))
    if fix_crc:
        fix_region_crc(path, copy)


def truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


def set_creator(path: Path, creator: str) -> None:
    raw = creator.encode("utf-16-le")[: layout.CREATOR_SIZE]
    write_at(path, layout.CREATOR_OFFSET, raw.ljust(layout.CREATOR_SIZE, b"\0"))
