"""LUKS1 and LUKS2 headers: the version, UUID, label (LUKS2) and, for LUKS2, the header
checksum over the binary header and its JSON area. Nothing inside can be read without the key."""

from __future__ import annotations

from vhdxray.core.analysis.guest.base import (
    Filesystem,
    Structure,
    Volume,
    cstring,
    finding,
    u16be,
    u64be,
)
from vhdxray.core.format.findings import Severity

MAGICS = (b"LUKS\xba\xbe", b"SKUL\xba\xbe")
CSUM_OFFSET = 448
CSUM_SIZE = 64
MAX_HEADER = 4 * 1024 * 1024


def probe(vol: Volume, where: str) -> Filesystem | None:
    head = vol.head
    if head[:6] not in MAGICS:
        return None
    version = u16be(head, 6)
    fs = Filesystem(
        type="luks",
        uuid=cstring(head[168:208], "ascii"),
        structures=[Structure("LUKS header", vol.start, 4096 if version == 2 else 592)],
    )
    fs.details = {"version": version}
    if version == 2:
        import hashlib  # only for a LUKS2 header

        fs.label = cstring(head[24:72])
        size = u64be(head, 8)
        algorithm = cstring(head[72:104], "ascii") or ""
        fs.details["checksum_algorithm"] = algorithm
        if algorithm in hashlib.algorithms_available and 4096 <= size <= MAX_HEADER:
            raw = bytearray(vol.at(0, size))
            stored = bytes(raw[CSUM_OFFSET : CSUM_OFFSET + CSUM_SIZE])
            raw[CSUM_OFFSET : CSUM_OFFSET + CSUM_SIZE] = bytes(CSUM_SIZE)
            digest = hashlib.new(algorithm, bytes(raw)).digest()
            fs.flags["checksum_bad"] = stored[: len(digest)] != digest
            if fs.flags["checksum_bad"]:
                fs.findings.append(finding(Severity.ERROR, "guest.luks.checksum_bad", where))
    else:
        fs.details["cipher"] = cstring(head[8:40], "ascii")
    fs.findings.append(finding(Severity.INFO, "guest.luks.encrypted", where, version=version))
    return fs
