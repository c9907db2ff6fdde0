"""The MBR partition table: four primary entries, extended partitions with their chain of
EBRs (logical partitions), and the protective MBR that guards a GPT."""

from __future__ import annotations

from vhdxray.core.analysis.guest.base import Disk, Structure, u32le
from vhdxray.core.format.record import field, mutable_record, record

SIGNATURE = b"\x55\xaa"
ENTRY_OFFSET = 446
PROTECTIVE = 0xEE
EXTENDED = frozenset((0x05, 0x0F, 0x85))
# A chain of EBRs longer than this is treated as a loop or garbage.
MAX_LOGICAL = 128

TYPE_NAMES: dict[int, str] = {
    0x01: "FAT12",
    0x04: "FAT16 <32M",
    0x05: "Extended",
    0x06: "FAT16",
    0x07: "NTFS/exFAT/ReFS",
    0x0B: "FAT32 (CHS)",
    0x0C: "FAT32 (LBA)",
    0x0E: "FAT16 (LBA)",
    0x0F: "Extended (LBA)",
    0x27: "Windows recovery",
    0x42: "Windows dynamic disk",
    0x82: "Linux swap",
    0x83: "Linux",
    0x85: "Linux extended",
    0x8E: "Linux LVM",
    0xA5: "FreeBSD",
    0xEE: "GPT protective",
    0xEF: "EFI system",
    0xFD: "Linux RAID",
}


@record
class MbrEntry:
    index: int  # 1..4 primary, 5.. logical (as Linux numbers them)
    bootable: bool
    type: int
    start: int  # bytes
    length: int  # bytes
    logical: bool = False

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type, "unknown")


@mutable_record
class Mbr:
    entries: list[MbrEntry] = field(default_factory=list)  # data partitions (no extended)
    extended: list[MbrEntry] = field(default_factory=list)
    protective: bool = False
    ebr_loop: bool = False
    structures: list[Structure] = field(default_factory=list)
    sane: bool = True  # status bytes 0x00/0x80 and no empty-but-typed entries


def _entries(sector: bytes) -> list[tuple[int, int, int, int]]:
    out = []
    for i in range(4):
        o = ENTRY_OFFSET + 16 * i
        out.append((sector[o], sector[o + 4], u32le(sector, o + 8), u32le(sector, o + 12)))
    return out


def has_signature(sector: bytes) -> bool:
    return len(sector) >= 512 and sector[510:512] == SIGNATURE


def looks_like_mbr(sector: bytes) -> bool:
    """Signature present, every status byte 0x00 or 0x80, at least one used entry."""
    if not has_signature(sector):
        return False
    used = 0
    for status, ptype, start, count in _entries(sector):
        if status not in (0x00, 0x80):
            return False
        if ptype != 0:
            if count == 0 or (start == 0 and ptype != PROTECTIVE):
                return False
            used += 1
    return used > 0


def parse_mbr(disk: Disk, sector0: bytes, sector_size: int = 512) -> Mbr:
    mbr = Mbr(structures=[Structure("MBR", 0, 512)])
    for status, _, _, _ in _entries(sector0):
        if status not in (0x00, 0x80):
            mbr.sane = False
    for i, (status, ptype, start, count) in enumerate(_entries(sector0), start=1):
        if ptype == 0 or count == 0:
            continue
        entry = MbrEntry(i, status == 0x80, ptype, start * sector_size, count * sector_size)
        if ptype == PROTECTIVE:
            mbr.protective = True
            continue
        if ptype in EXTENDED:
            mbr.extended.append(entry)
            _logical(disk, mbr, start, sector_size)
            continue
        mbr.entries.append(entry)
    # numbered as Linux and sfdisk list them: a primary entry after the extended one (the
    # 4th, say) comes before the logical partitions (5, 6, ...) found through it
    mbr.entries.sort(key=lambda e: e.index)
    return mbr


def _logical(disk: Disk, mbr: Mbr, ext_lba: int, sector_size: int) -> None:
    """Walk the EBR chain: each EBR's entry 1 is a logical partition (relative to the EBR),
    entry 2 points at the next EBR (relative to the extended partition's start)."""
    seen: set[int] = set()
    ebr_lba = ext_lba
    index = 5 + sum(1 for e in mbr.entries if e.logical)
    for _ in range(MAX_LOGICAL):
        if ebr_lba in seen:
            mbr.ebr_loop = True
            return
        seen.add(ebr_lba)
        sector = disk.read(ebr_lba * sector_size, 512)
        if not has_signature(sector):
            return
        mbr.structures.append(Structure(f"EBR {index}", ebr_lba * sector_size, 512))
        entries = _entries(sector)
        _, ptype, start, count = entries[0]
        if ptype != 0 and count:
            mbr.entries.append(
                MbrEntry(
                    index,
                    False,
                    ptype,
                    (ebr_lba + start) * sector_size,
                    count * sector_size,
                    logical=True,
                )
            )
            index += 1
        _, next_type, next_start, next_count = entries[1]
        if next_type not in EXTENDED or next_count == 0:
            return
        ebr_lba = ext_lba + next_start
    mbr.ebr_loop = True
