"""XFS: the primary superblock of allocation group 0 (big-endian struct xfs_dsb). Version 5
superblocks carry a CRC-32C (sb_crc, little-endian at 0xE0) over one sector."""

from __future__ import annotations

from vhdxray.core.analysis.guest.base import (
    Filesystem,
    Structure,
    Volume,
    cstring,
    finding,
    u16be,
    u32be,
    u32le,
    u64be,
    uuid_text,
)
from vhdxray.core.format.checksum import checksum_with_field_zeroed
from vhdxray.core.format.findings import Severity

MAGIC = b"XFSB"
CRC_OFFSET = 0xE0


def probe(vol: Volume, where: str) -> Filesystem | None:
    sb = vol.head[:4096]
    if sb[:4] != MAGIC:
        return None
    block_size = u32be(sb, 4)
    sect_size = u16be(sb, 102)
    if (
        block_size < 512
        or block_size & (block_size - 1)
        or sect_size not in (512, 1024, 2048, 4096)
    ):
        return None
    version = u16be(sb, 100) & 0xF
    fs = Filesystem(
        type="xfs",
        label=cstring(sb[108:120]),
        uuid=uuid_text(sb[32:48]),
        size=u64be(sb, 8) * block_size,
        structures=[Structure("XFS superblock", vol.start, sect_size)],
    )
    fs.details = {"block_size": block_size, "version": version, "ag_count": u32be(sb, 88)}
    if version >= 5:
        computed = checksum_with_field_zeroed(sb[:sect_size], CRC_OFFSET)
        fs.flags["checksum_bad"] = computed != u32le(sb, CRC_OFFSET)
        if fs.flags["checksum_bad"]:
            fs.findings.append(finding(Severity.ERROR, "guest.xfs.checksum_bad", where))
    fs.flags["mkfs_incomplete"] = sb[126] != 0
    if sb[126]:
        fs.findings.append(finding(Severity.ERROR, "guest.xfs.mkfs_incomplete", where))
    return fs
