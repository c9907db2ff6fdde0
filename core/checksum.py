"""CRC-32C (Castagnoli) as every VHDX structure uses it (MS-VHDX §2)."""

from __future__ import annotations

import crc32c as _crc32c

CHECK_VALUE = 0xE3069283  # crc32c(b"123456789")


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """Plain CRC-32C of ``data``."""
    return _crc32c.crc32c(data)


def checksum_with_field_zeroed(data: bytes | bytearray | memoryview, field_offset: int) -> int:
    """CRC-32C of ``data`` with the 4-byte checksum field at ``field_offset`` read as zero.

    This is how the header (4 KiB), region table (64 KiB) and log entry (EntryLength bytes)
    checksums are defined. The data is not copied: the CRC is chained over three pieces.
    """
    view = memoryview(data)
    value = _crc32c.crc32c(view[:field_offset])
    value = _crc32c.crc32c(b"\0\0\0\0", value=value)
    return _crc32c.crc32c(view[field_offset + 4 :], value=value)
