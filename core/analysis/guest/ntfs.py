"""NTFS: the boot sector, its backup at the volume's last sector, and $Volume (MFT record 3)
read through $MFT and $MFTMirr with the update-sequence fix-ups applied, for the label and the
volume-dirty bit of $VOLUME_INFORMATION."""

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

OEM = b"NTFS    "
VOLUME_RECORD = 3
ATTR_VOLUME_NAME = 0x60
ATTR_VOLUME_INFORMATION = 0x70
ATTR_END = 0xFFFFFFFF
VOLUME_DIRTY = 0x0001
FIXUP_STRIDE = 512
MAX_ATTRIBUTES = 64


def geometry(boot: bytes) -> tuple[int, int, int] | None:
    """(bytes per sector, cluster size, MFT record size) when the boot sector is sane."""
    if boot[3:11] != OEM:
        return None
    bps = u16le(boot, 0x0B)
    if bps not in (512, 1024, 2048, 4096):
        return None
    spc_raw = boot[0x0D]
    spc = 1 << (256 - spc_raw) if spc_raw > 0x80 else spc_raw
    if spc == 0 or spc & (spc - 1) or spc > 1 << 16:
        return None
    cluster = bps * spc
    cpr = boot[0x40]
    record = 1 << (256 - cpr) if cpr > 0x80 else cpr * cluster
    if not 256 <= record <= 64 * 1024 or record & (record - 1):
        return None
    return bps, cluster, record


def apply_fixups(record: bytes) -> bytes | None:
    """The record with each sector's last two bytes put back from the update sequence array;
    None when it is not a FILE record or a sector's check value does not match (a torn write)."""
    if record[:4] != b"FILE":
        return None
    usa_offset, usa_count = u16le(record, 4), u16le(record, 6)
    if usa_count < 1 or usa_offset + 2 * usa_count > len(record):
        return None
    if (usa_count - 1) * FIXUP_STRIDE > len(record):
        return None
    fixed = bytearray(record)
    check = record[usa_offset : usa_offset + 2]
    for i in range(1, usa_count):
        end = i * FIXUP_STRIDE
        if fixed[end - 2 : end] != check:
            return None
        fixed[end - 2 : end] = record[usa_offset + 2 * i : usa_offset + 2 * i + 2]
    return bytes(fixed)


def volume_attributes(record: bytes) -> tuple[str | None, int | None, tuple[int, int] | None]:
    """(label, volume flags, (major, minor) version) from a fixed-up $Volume record."""
    label: str | None = None
    flags: int | None = None
    version: tuple[int, int] | None = None
    offset = u16le(record, 0x14)
    for _ in range(MAX_ATTRIBUTES):
        if offset + 8 > len(record):
            break
        kind, length = u32le(record, offset), u32le(record, offset + 4)
        if kind == ATTR_END or length < 16 or offset + length > len(record):
            break
        if record[offset + 8] == 0:  # resident
            value_length = u32le(record, offset + 0x10)
            value_offset = offset + u16le(record, offset + 0x14)
            value = record[value_offset : value_offset + value_length]
            if kind == ATTR_VOLUME_NAME:
                label = value.decode("utf-16-le", "replace") or None
            elif kind == ATTR_VOLUME_INFORMATION and len(value) >= 12:
                version = (value[8], value[9])
                flags = u16le(value, 10)
        offset += length
    return label, flags, version


def probe(vol: Volume, where: str) -> Filesystem | None:
    boot = vol.head[:512]
    geo = geometry(boot)
    if geo is None:
        return None
    bps, cluster, record_size = geo
    total_sectors = u64le(boot, 0x28)
    serial = u64le(boot, 0x48)
    fs = Filesystem(
        type="ntfs",
        uuid=f"{serial:016X}",
        size=(total_sectors + 1) * bps,  # the backup boot sector lies past the counted sectors
        structures=[Structure("NTFS boot sector", vol.start, 512)],
    )
    fs.details = {"cluster_size": cluster, "mft_record_size": record_size}
    # The backup boot sector: at the volume's last sector (total_sectors counts all but it).
    backup_at = total_sectors * bps
    if backup_at + bps <= vol.length or backup_at + bps <= vol.disk.size - vol.start:
        backup = vol.read(backup_at, 512)
        fs.structures.append(Structure("NTFS backup boot sector", vol.start + backup_at, 512))
        fs.flags["backup_boot_mismatch"] = backup != boot
    else:
        fs.flags["backup_boot_mismatch"] = True
    states: dict[str, int | None] = {}
    for name, lcn_offset in (("$MFT", 0x30), ("$MFTMirr", 0x38)):
        at = u64le(boot, lcn_offset) * cluster + VOLUME_RECORD * record_size
        if at + record_size > vol.disk.size - vol.start:
            states[name] = None
            continue
        fixed = apply_fixups(vol.read(at, record_size))
        fs.structures.append(Structure(f"$Volume in {name}", vol.start + at, record_size))
        if fixed is None:
            states[name] = None
            continue
        label, flags, version = volume_attributes(fixed)
        if name == "$MFT":
            fs.label = label
            if version is not None:
                fs.details["version"] = f"{version[0]}.{version[1]}"
        states[name] = flags
    main, mirror = states.get("$MFT"), states.get("$MFTMirr")
    fs.flags["dirty"] = bool((main or 0) & VOLUME_DIRTY or (mirror or 0) & VOLUME_DIRTY)
    fs.flags["volume_record_bad"] = main is None
    if fs.flags["dirty"]:
        fs.findings.append(finding(Severity.WARNING, "guest.ntfs.dirty", where))
    if main is None:
        fs.findings.append(
            finding(
                Severity.ERROR, "guest.ntfs.volume_record_bad", where, mirror_ok=mirror is not None
            )
        )
    if fs.flags["backup_boot_mismatch"]:
        fs.findings.append(finding(Severity.WARNING, "guest.ntfs.backup_boot_mismatch", where))
    return fs
