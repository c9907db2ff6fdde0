"""ext2/ext3/ext4: the superblock at 1024 bytes (the kernel's struct ext4_super_block).

Type as blkid decides it: ext4 when an incompat or ro_compat feature ext3 does not know is set,
ext3 when there is a journal, else ext2. Health: RECOVER (journal recovery pending), the
ERROR_FS state bit and the error count; a state without VALID_FS (dumpe2fs "not clean": e2fsck
forces a full check); the superblock checksum when metadata_csum is on.
"""

from __future__ import annotations

from vhdxray.core.analysis.guest.base import (
    Filesystem,
    Structure,
    Volume,
    cstring,
    finding,
    u16le,
    u32le,
    uuid_text,
)
from vhdxray.core.format.checksum import crc32c
from vhdxray.core.format.findings import Severity

SB_OFFSET = 1024
SB_SIZE = 1024
MAGIC = 0xEF53

COMPAT_HAS_JOURNAL = 0x4
INCOMPAT_RECOVER = 0x4
INCOMPAT_64BIT = 0x80
RO_COMPAT_METADATA_CSUM = 0x400
EXT3_INCOMPAT = 0x2 | 0x4 | 0x10  # filetype, recover, meta_bg
EXT3_RO_COMPAT = 0x1 | 0x2 | 0x4  # sparse_super, large_file, btree_dir
STATE_VALID = 0x1  # EXT2_VALID_FS: cleanly unmounted (dumpe2fs "clean")
STATE_ERROR = 0x2

# Where the group-1 backup superblock lies for each block size (the group starts at block
# blocks_per_group (+1 with 1 KiB blocks); a default mkfs uses 8 * block_size blocks per group).
BACKUP_OFFSETS = tuple((bs, (8 * bs + (1 if bs == 1024 else 0)) * bs) for bs in (1024, 2048, 4096))


def parse_superblock(sb: bytes) -> dict[str, int] | None:
    if len(sb) < SB_SIZE or u16le(sb, 0x38) != MAGIC:
        return None
    log_block = u32le(sb, 0x18)
    if log_block > 6:  # 64 KiB blocks at most
        return None
    return {"log_block": log_block}


def _times(sb: bytes) -> dict[str, int | None]:
    def t(lo: int, hi: int) -> int | None:
        value = u32le(sb, lo) | (sb[hi] << 32)
        return value or None

    return {
        "last_mount": t(0x2C, 0x274),
        "last_write": t(0x30, 0x275),
        "last_check": t(0x40, 0x277),
        "first_error": t(0x198, 0x27C),
        "last_error": t(0x1CC, 0x27D),
    }


def ext_type(compat: int, incompat: int, ro_compat: int) -> str:
    if incompat & ~EXT3_INCOMPAT or ro_compat & ~EXT3_RO_COMPAT:
        return "ext4"
    if compat & COMPAT_HAS_JOURNAL:
        return "ext3"
    return "ext2"


def probe(vol: Volume, where: str) -> Filesystem | None:
    sb = vol.at(SB_OFFSET, SB_SIZE)
    if parse_superblock(sb) is None:
        return None
    block_size = 1024 << u32le(sb, 0x18)
    compat, incompat, ro_compat = u32le(sb, 0x5C), u32le(sb, 0x60), u32le(sb, 0x64)
    blocks = u32le(sb, 0x04)
    if incompat & INCOMPAT_64BIT:
        blocks |= u32le(sb, 0x150) << 32
    fs = Filesystem(
        type=ext_type(compat, incompat, ro_compat),
        label=cstring(sb[0x78:0x88]),
        uuid=uuid_text(sb[0x68:0x78]),
        size=blocks * block_size,
        structures=[Structure("ext superblock", vol.start + SB_OFFSET, SB_SIZE)],
    )
    state = u16le(sb, 0x3A)
    error_count = u32le(sb, 0x194)
    fs.flags["needs_recovery"] = bool(incompat & INCOMPAT_RECOVER)
    fs.flags["errors"] = bool(state & STATE_ERROR) or error_count > 0
    fs.flags["not_clean"] = not state & STATE_VALID
    if ro_compat & RO_COMPAT_METADATA_CSUM:
        stored = u32le(sb, 0x3FC)
        computed = crc32c(sb[:0x3FC]) ^ 0xFFFFFFFF  # the kernel's crc32c(~0, ...) without final xor
        fs.flags["checksum_bad"] = stored != computed
    fs.times = _times(sb)
    fs.details = {
        "block_size": block_size,
        "state": state,
        "error_count": error_count,
        "mount_count": u16le(sb, 0x34),
    }
    name = fs.type
    if fs.flags["needs_recovery"]:
        fs.findings.append(finding(Severity.WARNING, "guest.ext.needs_recovery", where, fs=name))
    if fs.flags["errors"]:
        fs.findings.append(
            finding(Severity.ERROR, "guest.ext.errors", where, fs=name, error_count=error_count)
        )
    if fs.flags["not_clean"] and not fs.flags["errors"] and not fs.flags["needs_recovery"]:
        fs.findings.append(finding(Severity.WARNING, "guest.ext.not_clean", where, fs=name))
    if fs.flags.get("checksum_bad"):
        fs.findings.append(finding(Severity.ERROR, "guest.ext.checksum_bad", where, fs=name))
    return fs


def backup_superblock(vol: Volume) -> tuple[int, int, int] | None:
    """A group-1 backup ext superblock inside ``vol``: (block size, its disk offset, the disk
    offset where that ext filesystem began), or None.

    Used under a Windows boot sector: finding one means an ext filesystem was there before
    the volume was formatted over it. It began at the volume's start (the partition was
    reformatted) or, for a partition, at the disk's start: Disk Management initialised a
    whole-disk ext4 (WSL's ext4.vhdx) with a table and formatted a partition in it, so the
    backups lie at their disk offsets, inside the new partition."""
    bases = (vol.start, 0) if vol.start > 0 else (vol.start,)
    for base in bases:
        for block_size, offset in BACKUP_OFFSETS:
            at = base + offset - vol.start  # where in the volume
            if at < 0 or at + SB_SIZE > vol.length:
                continue
            sb = vol.read(at, SB_SIZE)
            if (
                parse_superblock(sb) is not None
                and 1024 << u32le(sb, 0x18) == block_size
                and u16le(sb, 0x5A) == 1  # s_block_group_nr
                # group 1 starts here when the filesystem starts at ``base``: first data
                # block + blocks per group (another ext filesystem's group 1 does not)
                and (u32le(sb, 0x14) + u32le(sb, 0x20)) * block_size == offset
            ):
                return block_size, vol.start + at, base
    return None
