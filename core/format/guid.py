"""GUIDs in the Microsoft mixed-endian layout used on disk (MS-VHDX §2)."""

from __future__ import annotations

import uuid


def read_guid(raw: bytes | memoryview, offset: int = 0) -> uuid.UUID:
    """Decode the 16 on-disk bytes at ``offset`` (Data1/2/3 little-endian)."""
    return uuid.UUID(bytes_le=bytes(raw[offset : offset + 16]))


def guid_bytes(value: uuid.UUID) -> bytes:
    """The 16 on-disk bytes of ``value``."""
    return value.bytes_le


def guid_str(value: uuid.UUID) -> str:
    """Lowercase canonical form without braces, as the JSON output uses."""
    return str(value)


def new_guid() -> uuid.UUID:
    """A fresh random (version 4) GUID."""
    return uuid.uuid4()
