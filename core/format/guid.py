"""GUIDs in the Microsoft mixed-endian layout used on disk (MS-VHDX §2).

A parsed GUID is a :class:`BytesGuid`: the 16 on-disk bytes and nothing else, with the part of
:class:`uuid.UUID`'s interface the code uses (``str()``, ``int``, ``bytes``, ``bytes_le``,
``hex``, equality, hashing and ordering, all equal to ``uuid.UUID``'s, and equal to a
``uuid.UUID`` of the same value). Importing :mod:`uuid` imports :mod:`platform` and costs a
noticeable share of ``vhdxray check``'s start-up (issue 9), so nothing on the check path
imports it. Type checkers see :data:`Guid` as ``uuid.UUID``, so code and tests written with
``uuid.UUID`` values keep working unchanged; the tests compare both types on random values.
"""

from __future__ import annotations

import builtins
import os
import sys


class BytesGuid:
    """A GUID held as its 16 on-disk (``bytes_le``) bytes; immutable."""

    __slots__ = ("_hash", "bytes_le")
    bytes_le: bytes
    _hash: builtins.int  # set the first time the GUID is hashed (dict keys, sets: often)

    def __init__(self, bytes_le: bytes) -> None:
        if len(bytes_le) != 16:
            raise ValueError("a GUID is 16 bytes")
        object.__setattr__(self, "bytes_le", bytes(bytes_le))

    def __setattr__(self, name: str, value: object) -> None:
        raise TypeError("GUID objects are immutable")

    def __delattr__(self, name: str) -> None:
        raise TypeError("GUID objects are immutable")

    @property
    def bytes(self) -> bytes:
        """The RFC 4122 (big-endian) byte order, as ``uuid.UUID.bytes``."""
        b = self.bytes_le
        return b[3::-1] + b[5:3:-1] + b[7:5:-1] + b[8:]

    @property
    def int(self) -> int:
        return int.from_bytes(self.bytes, "big")

    @property
    def hex(self) -> str:
        return self.bytes.hex()

    def __str__(self) -> str:
        h = self.bytes.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def __repr__(self) -> str:
        return f"Guid('{self}')"

    def __hash__(self) -> builtins.int:
        try:
            return self._hash
        except AttributeError:
            value = hash(self.int)  # as uuid.UUID's, so both types mix in sets and dicts
            object.__setattr__(self, "_hash", value)
            return value

    def __reduce__(self) -> tuple[type[BytesGuid], tuple[builtins.bytes]]:
        return BytesGuid, (self.bytes_le,)

    def _other(self, other: object) -> builtins.int | None:
        if isinstance(other, BytesGuid):
            return other.int
        uuid = sys.modules.get("uuid")  # a uuid.UUID can only exist once uuid is imported
        if uuid is not None and isinstance(other, uuid.UUID):
            value: builtins.int = other.int
            return value
        return None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BytesGuid):
            return self.bytes_le == other.bytes_le
        value = self._other(other)
        if value is None:
            return NotImplemented
        return self.int == value

    def __lt__(self, other: object) -> bool:
        value = self._other(other)
        if value is None:
            return NotImplemented
        return self.int < value

    def __le__(self, other: object) -> bool:
        value = self._other(other)
        if value is None:
            return NotImplemented
        return self.int <= value

    def __gt__(self, other: object) -> bool:
        value = self._other(other)
        if value is None:
            return NotImplemented
        return self.int > value

    def __ge__(self, other: object) -> bool:
        value = self._other(other)
        if value is None:
            return NotImplemented
        return self.int >= value


TYPE_CHECKING = False
if TYPE_CHECKING:
    from uuid import UUID as Guid
else:
    Guid = BytesGuid


def _from_big_endian(raw: bytes) -> Guid:
    return BytesGuid(raw[3::-1] + raw[5:3:-1] + raw[7:5:-1] + raw[8:])  # type: ignore[return-value]


def read_guid(raw: bytes | memoryview, offset: int = 0) -> Guid:
    """Decode the 16 on-disk bytes at ``offset`` (Data1/2/3 little-endian)."""
    return BytesGuid(bytes(raw[offset : offset + 16]))  # type: ignore[return-value]


def guid_from_text(text: str) -> Guid:
    """Parse a GUID's text exactly as ``uuid.UUID(text)`` does (braces, ``urn:uuid:`` and
    hyphens ignored; 32 hex digits); raises ValueError otherwise."""
    hex_text = text.replace("urn:", "").replace("uuid:", "")
    hex_text = hex_text.strip("{}").replace("-", "")
    if len(hex_text) != 32:
        raise ValueError("badly formed hexadecimal UUID string")
    value = int(hex_text, 16)
    if not 0 <= value < 1 << 128:
        raise ValueError("int is out of range (need a 128-bit value)")
    return _from_big_endian(value.to_bytes(16, "big"))


def guid_from_int(value: int) -> Guid:
    """The GUID whose 128-bit value is ``value`` (as ``uuid.UUID(int=value)``)."""
    if not 0 <= value < 1 << 128:
        raise ValueError("int is out of range (need a 128-bit value)")
    return _from_big_endian(value.to_bytes(16, "big"))


def guid_bytes(value: Guid) -> bytes:
    """The 16 on-disk bytes of ``value``."""
    return value.bytes_le


def guid_str(value: Guid) -> str:
    """Lowercase canonical form without braces, as the JSON output uses."""
    return str(value)


def new_guid() -> Guid:
    """A fresh random (version 4) GUID, as ``uuid.uuid4()`` makes."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return _from_big_endian(bytes(raw))
