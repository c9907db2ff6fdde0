"""BitLocker: a volume whose boot sector carries "-FVE-FS-" (Windows 7 and later; Vista and
BitLocker To Go variants share the FVE metadata blocks). The first FVE metadata block is checked
for its signature; nothing inside can be read without unlocking on Windows."""

from __future__ import annotations

from vhdxray.core.analysis.guest.base import (
    Filesystem,
    Structure,
    Volume,
    finding,
    guid_text,
    u16le,
    u64le,
)
from vhdxray.core.format.findings import Severity

OEM = b"-FVE-FS-"
FVE_SIGNATURE = b"-FVE-FS-"
METADATA_OFFSETS = (0xB0, 0xB8, 0xC0)


def probe(vol: Volume, where: str) -> Filesystem | None:
    boot = vol.head[:512]
    if boot[3:11] != OEM:
        return None
    bps = u16le(boot, 0x0B) or 512
    fs = Filesystem(
        type="bitlocker",
        uuid=guid_text(boot[0xA0:0xB0]),
        size=None,
        structures=[Structure("BitLocker boot sector", vol.start, 512)],
    )
    offsets = [u64le(boot, o) for o in METADATA_OFFSETS]
    good = 0
    for i, at in enumerate(offsets, start=1):
        if 0 < at < vol.length:
            block = vol.read(at, 64)
            fs.structures.append(Structure(f"FVE metadata block {i}", vol.start + at, 64))
            if block[:8] == FVE_SIGNATURE:
                good += 1
    fs.details = {"bytes_per_sector": bps, "metadata_blocks_ok": good}
    fs.flags["metadata_bad"] = good == 0
    fs.findings.append(finding(Severity.INFO, "guest.bitlocker.encrypted", where))
    if good == 0:
        fs.findings.append(finding(Severity.ERROR, "guest.bitlocker.metadata_bad", where))
    return fs
