"""File type identifier (MS-VHDX §2.2.1): the ``vhdxfile`` signature and the creator string."""

from __future__ import annotations

from codecs import utf_16_le_decode

from vhdxray.core.format import layout
from vhdxray.core.format.findings import Finding, error, info
from vhdxray.core.format.record import record


@record
class FileIdentifier:
    signature: bytes
    signature_ok: bool
    creator: str
    """Decoded with replacement characters; hostile: display layers must sanitise it."""


def decode_utf16_units(raw: bytes) -> str:
    """UTF-16LE up to the first NUL code unit; undecodable units become U+FFFD."""
    units = len(raw) // 2
    end = units * 2
    for i in range(0, end, 2):
        if raw[i] == 0 and raw[i + 1] == 0:
            end = i
            break
    # codecs.utf_16_le_decode is what bytes.decode("utf-16-le") calls, without the lookup that
    # imports encodings.utf_16_le (start-up; the creator is decoded for every image)
    return utf_16_le_decode(raw[:end], "replace", True)[0]


def parse_identifier(raw: bytes) -> tuple[FileIdentifier, list[Finding]]:
    """Parse the first bytes of the file (at least 8; 520 to see the creator)."""
    signature = bytes(raw[:8])
    ok = signature == layout.FILE_SIGNATURE
    creator_raw = bytes(raw[layout.CREATOR_OFFSET : layout.CREATOR_OFFSET + layout.CREATOR_SIZE])
    creator = decode_utf16_units(creator_raw)
    findings: list[Finding] = []
    where = "file identifier @ 0x0"
    if not ok:
        findings.append(
            error(
                "identifier.signature",
                where,
                f"file does not start with the signature 'vhdxfile' (found {signature!r})",
            )
        )
    elif not creator:
        findings.append(info("identifier.creator_empty", where, "the creator string is empty"))
    return FileIdentifier(signature, ok, creator), findings


def serialise_identifier(creator: str) -> bytes:
    """The 64 KiB file type identifier for a new image."""
    encoded = creator.encode("utf-16-le")[: layout.CREATOR_SIZE]
    buf = bytearray(layout.FILE_IDENTIFIER_SIZE)
    buf[0:8] = layout.FILE_SIGNATURE
    buf[layout.CREATOR_OFFSET : layout.CREATOR_OFFSET + len(encoded)] = encoded
    return bytes(buf)
