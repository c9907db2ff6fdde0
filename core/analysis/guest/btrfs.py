"""btrfs: the primary superblock at 64 KiB (struct btrfs_super_block, 4 KiB). Its checksum
covers bytes 0x20..0x1000; CRC-32C (type 0), SHA-256 (2) and BLAKE2b-256 (3) are checked,
xxhash64 (1) is reported as not checked."""

from __future__ import annotations

from vhdxray.core.analysis.guest.base import (
    Filesystem,
    Structure,
    Volume,
    cstring,
    finding,
    u16le,
    u32le,
    u64le,
    uuid_text,
)
from vhdxray.core.format.checksum import crc32c
from vhdxray.core.format.findings import Severity

SB_OFFSET = 64 * 1024
SB_SIZE = 4096
MAGIC = b"_BHRfS_M"
CSUM_NAMES = {0: "crc32c", 1: "xxhash64", 2: "sha256", 3: "blake2b"}


def checksum_ok(sb: bytes) -> bool | None:
    kind = u16le(sb, 0xC4)
    body = sb[0x20:SB_SIZE]
    if kind == 0:
        return crc32c(body).to_bytes(4, "little") == sb[:4]
    if kind in (2, 3):
        import hashlib  # only for a btrfs superblock with a SHA-256 or BLAKE2b checksum

    if kind == 2:
        return hashlib.sha256(body).digest() == sb[:32]
    if kind == 3:
        return hashlib.blake2b(body, digest_size=32).digest() == sb[:32]
    return None


def probe(vol: Volume, where: str) -> Filesystem | None:
    sb = vol.head[SB_OFFSET : SB_OFFSET + SB_SIZE]
    if sb[0x40:0x48] != MAGIC:
        return None
    fs = Filesystem(
        type="btrfs",
        label=cstring(sb[0x12B:0x22B]),
        uuid=uuid_text(sb[0x20:0x30]),
        size=u64le(sb, 0x70),
        structures=[Structure("btrfs superblock", vol.start + SB_OFFSET, SB_SIZE)],
    )
    ok = checksum_ok(sb)
    fs.details = {
        "generation": u64le(sb, 0x48),
        "bytes_used": u64le(sb, 0x78),
        "num_devices": u64le(sb, 0x88),
        "sector_size": u32le(sb, 0x90),
        "checksum_type": CSUM_NAMES.get(u16le(sb, 0xC4), "unknown"),
        "checksum_checked": ok is not None,
    }
    fs.flags["checksum_bad"] = ok is False
    fs.flags["log_tree"] = u64le(sb, 0x60) != 0
    if ok is False:
        fs.findings.append(finding(Severity.ERROR, "guest.btrfs.checksum_bad", where))
    if fs.flags["log_tree"]:
        fs.findings.append(finding(Severity.INFO, "guest.btrfs.log_tree", where))
    return fs
