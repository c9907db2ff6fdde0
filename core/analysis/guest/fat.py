"""FAT12/16/32: the BIOS parameter block. FAT32 is the BPB with a zero 16-bit FAT size (its FAT
size and root cluster are in the FAT32 extended BPB), as Windows' fastfat, Linux and fsck.fat
decide, whatever the cluster count (mkfs.fat -F 32 makes FAT32 volumes under 65525 clusters);
otherwise the cluster count decides FAT12 (< 4085) or FAT16. Health: the
"volume dirty" bits (boot sector flag byte and FAT[1]) and the FAT32 backup boot sector."""

from __future__ import annotations

from vhdxray.core.analysis.guest.base import (
    Filesystem,
    Structure,
    Volume,
    cstring,
    finding,
    u16le,
    u32le,
)
from vhdxray.core.format.findings import Severity

NO_NAME = "NO NAME"
# The most of the root directory read for its volume-label entry.
MAX_ROOT_READ = 64 * 1024
ATTR_VOLUME_ID = 0x08
ATTR_LONG_NAME = 0x0F


def bpb(boot: bytes) -> dict[str, int] | None:
    if boot[0] not in (0xEB, 0xE9) or boot[510:512] != b"\x55\xaa":
        return None
    if boot[3:11] in (b"NTFS    ", b"EXFAT   ", b"-FVE-FS-"):
        return None
    bps = u16le(boot, 11)
    spc = boot[13]
    reserved = u16le(boot, 14)
    nfats = boot[16]
    if bps not in (512, 1024, 2048, 4096) or spc == 0 or spc & (spc - 1):
        return None
    if reserved == 0 or nfats not in (1, 2):
        return None
    root_entries = u16le(boot, 17)
    total = u16le(boot, 19) or u32le(boot, 32)
    fat_size = u16le(boot, 22) or u32le(boot, 36)
    if total == 0 or fat_size == 0:
        return None
    root_sectors = (root_entries * 32 + bps - 1) // bps
    data = total - (reserved + nfats * fat_size + root_sectors)
    if data <= 0:
        return None
    return {
        "bps": bps,
        "spc": spc,
        "reserved": reserved,
        "nfats": nfats,
        "total": total,
        "fat_size": fat_size,
        "clusters": data // spc,
        "fat32": int(u16le(boot, 22) == 0),
        "root_entries": root_entries,
        "root_sectors": root_sectors,
    }


def _root_label(vol: Volume, boot: bytes, p: dict[str, int]) -> str | None:
    """The volume-label entry of the root directory (what Windows' label and Explorer write,
    often leaving the boot sector's "NO NAME"; blkid and fatlabel read it first), or None."""
    bps = p["bps"]
    first_data = p["reserved"] + p["nfats"] * p["fat_size"]  # in sectors
    if p["fat32"]:
        root_cluster = u32le(boot, 44)
        if root_cluster < 2 or root_cluster - 2 >= p["clusters"]:
            return None
        at = (first_data + (root_cluster - 2) * p["spc"]) * bps
        length = p["spc"] * bps
    else:
        at = first_data * bps
        length = p["root_entries"] * 32
    raw = vol.read(at, min(length, MAX_ROOT_READ))
    for i in range(0, len(raw) - 31, 32):
        first = raw[i]
        if first == 0:
            break
        attr = raw[i + 11]
        if first == 0xE5 or attr & ATTR_LONG_NAME == ATTR_LONG_NAME:
            continue
        if attr & ATTR_VOLUME_ID:
            name = bytes([0xE5]) + raw[i + 1 : i + 11] if first == 0x05 else raw[i : i + 11]
            return cstring(name, "latin-1")
    return None


def probe(vol: Volume, where: str) -> Filesystem | None:
    boot = vol.head[:512]
    p = bpb(boot)
    if p is None:
        return None
    clusters = p["clusters"]
    kind = "fat32" if p["fat32"] else "fat12" if clusters < 4085 else "fat16"
    ext = 64 if kind == "fat32" else 36  # the extended BPB: drive number, flags, signature
    has_ebpb = boot[ext + 2] in (0x28, 0x29)
    serial = u32le(boot, ext + 3) if boot[ext + 2] == 0x29 else None
    label = cstring(boot[ext + 7 : ext + 18], "latin-1") if boot[ext + 2] == 0x29 else None
    fs = Filesystem(
        type=kind,
        label=None if label == NO_NAME else label,
        uuid=None if serial is None else f"{serial >> 16:04X}-{serial & 0xFFFF:04X}",
        size=p["total"] * p["bps"],
        structures=[Structure("FAT boot sector", vol.start, 512)],
    )
    fs.details = {"cluster_size": p["bps"] * p["spc"], "clusters": clusters}
    root_label = _root_label(vol, boot, p)
    if root_label is not None:
        fs.label = None if root_label == NO_NAME else root_label
    fat_at = p["reserved"] * p["bps"]
    fat_head = vol.read(fat_at, 8)
    fs.structures.append(Structure("FAT (first sector)", vol.start + fat_at, p["bps"]))
    dirty = bool(has_ebpb and boot[ext + 1] & 0x01)
    errors = False
    if kind == "fat16":
        entry1 = u16le(fat_head, 2)
        dirty = dirty or not entry1 & 0x8000
        errors = not entry1 & 0x4000
    elif kind == "fat32":
        entry1 = u32le(fat_head, 4)
        dirty = dirty or not entry1 & 0x08000000
        errors = not entry1 & 0x04000000
        backup_sector = u16le(boot, 50)
        if 0 < backup_sector < p["reserved"]:
            backup = vol.read(backup_sector * p["bps"], 512)
            fs.structures.append(
                Structure("FAT32 backup boot sector", vol.start + backup_sector * p["bps"], 512)
            )
            # the state byte (its dirty bit) is kept in the main boot sector only (Linux's
            # fat_set_state, Windows NT): a dirty volume's copies differ there by design
            differs = _without_state(backup, ext) != _without_state(boot, ext)
            fs.flags["backup_boot_mismatch"] = differs
            if differs:
                fs.findings.append(
                    finding(Severity.WARNING, "guest.fat.backup_boot_mismatch", where, fs=kind)
                )
    fs.flags["dirty"] = dirty
    fs.flags["errors"] = errors
    if dirty:
        fs.findings.append(finding(Severity.WARNING, "guest.fat.dirty", where, fs=kind))
    if errors:
        fs.findings.append(finding(Severity.ERROR, "guest.fat.errors", where, fs=kind))
    return fs


def _without_state(sector: bytes, ext: int) -> bytes:
    return sector[: ext + 1] + b"\0" + sector[ext + 2 :]
