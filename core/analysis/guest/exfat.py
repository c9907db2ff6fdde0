"""exFAT: the main boot region (12 sectors: boot sector, extended boot sectors, OEM
parameters, reserved, boot checksum), its backup, VolumeFlags (VolumeDirty, MediaFailure) and
the volume label entry in the root directory (Microsoft exFAT specification §3, §7.3)."""

from __future__ import annotations

from vhdxray.core.analysis.guest.base import (
    Filesystem,
    Structure,
    Volume,
    finding,
    u16le,
    u32le,
    u64le,
)
from vhdxray.core.format.findings import Severity

OEM = b"EXFAT   "
VOLUME_DIRTY = 0x0002
MEDIA_FAILURE = 0x0004
LABEL_ENTRY = 0x83
MAX_ROOT_READ = 64 * 1024


def boot_checksum(region: bytes, sector_size: int) -> int:
    """§3.4: over sectors 0..10, skipping VolumeFlags (106, 107) and PercentInUse (112)."""
    value = 0
    for i, byte in enumerate(region[: 11 * sector_size]):
        if i in (106, 107, 112):
            continue
        value = (((value << 31) | (value >> 1)) + byte) & 0xFFFFFFFF
    return value


def probe(vol: Volume, where: str) -> Filesystem | None:
    boot = vol.head[:512]
    if boot[3:11] != OEM or boot[510:512] != b"\x55\xaa":
        return None
    sector_shift, cluster_shift = boot[108], boot[109]
    if not 9 <= sector_shift <= 12 or sector_shift + cluster_shift > 25:
        return None
    sector = 1 << sector_shift
    cluster = sector << cluster_shift
    serial = u32le(boot, 100)
    fs = Filesystem(
        type="exfat",
        uuid=f"{serial >> 16:04X}-{serial & 0xFFFF:04X}",
        size=u64le(boot, 72) * sector,
        structures=[Structure("exFAT boot region", vol.start, 12 * sector)],
    )
    flags = u16le(boot, 106)
    region = vol.at(0, 12 * sector)
    stored = u32le(region, 11 * sector)
    checksum_ok = boot_checksum(region, sector) == stored
    backup = vol.read(12 * sector, 12 * sector)
    fs.structures.append(
        Structure("exFAT backup boot region", vol.start + 12 * sector, 12 * sector)
    )
    fs.flags["dirty"] = bool(flags & VOLUME_DIRTY)
    fs.flags["media_failure"] = bool(flags & MEDIA_FAILURE)
    fs.flags["boot_checksum_bad"] = not checksum_ok
    fs.flags["backup_boot_mismatch"] = not _same_but_flags(backup, region)
    fs.details = {"cluster_size": cluster, "revision": f"{boot[105]}.{boot[104]:02d}"}
    heap, root = u32le(boot, 88), u32le(boot, 96)
    if root >= 2:
        at = heap * sector + (root - 2) * cluster
        raw = vol.read(at, min(cluster, MAX_ROOT_READ))
        for i in range(0, len(raw) - 31, 32):
            kind = raw[i]
            if kind == 0:
                break
            if kind == LABEL_ENTRY:
                count = min(raw[i + 1], 11)
                fs.label = raw[i + 2 : i + 2 + 2 * count].decode("utf-16-le", "replace") or None
                break
    if fs.flags["dirty"]:
        fs.findings.append(finding(Severity.WARNING, "guest.exfat.dirty", where))
    if fs.flags["media_failure"]:
        fs.findings.append(finding(Severity.ERROR, "guest.exfat.media_failure", where))
    if not checksum_ok:
        fs.findings.append(finding(Severity.ERROR, "guest.exfat.boot_checksum_bad", where))
    if fs.flags["backup_boot_mismatch"]:
        fs.findings.append(finding(Severity.WARNING, "guest.exfat.backup_boot_mismatch", where))
    return fs


def _same_but_flags(backup: bytes, region: bytes) -> bool:
    """VolumeFlags and PercentInUse may differ between the copies (only the main one is kept
    current); everything else must match."""
    a, b = bytearray(backup[:512]), bytearray(region[:512])
    for i in (106, 107, 112):
        a[i] = b[i] = 0
    return a == b and backup[512 : len(region)] == region[512:]
