"""GPT (UEFI 2.10 §5.3): the primary header at LBA 1, the backup at the last LBA, each with
its own partition entry array; both headers' CRC32 and both arrays' CRC32 are checked, and the
entries are taken from the good copy."""

from __future__ import annotations

from vhdxray.core.analysis.guest.base import (
    Disk,
    Structure,
    guid_text,
    u32le,
    u64le,
    utf16_name,
)
from vhdxray.core.format.record import field, mutable_record, record, replace

SIGNATURE = b"EFI PART"
MIN_HEADER_SIZE = 92
# The entry array is normally 128 x 128 bytes = 16 KiB; refuse absurd ones.
MAX_ARRAY_BYTES = 1024 * 1024
ZERO_GUID = "00000000-0000-0000-0000-000000000000"

TYPE_NAMES: dict[str, str] = {
    "c12a7328-f81f-11d2-ba4b-00a0c93ec93b": "EFI system",
    "e3c9e316-0b5c-4db8-817d-f92df00215ae": "Microsoft reserved",
    "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7": "Microsoft basic data",
    "de94bba4-06d1-4d40-a16a-bfd50179d6ac": "Windows recovery",
    "5808c8aa-7e8f-42e0-85d2-e1e90434cfb3": "Windows LDM metadata",
    "af9b60a0-1431-4f62-bc68-3311714a69ad": "Windows LDM data",
    "e75caf8f-f680-4cee-afa3-b001e56efc2d": "Storage Spaces",
    "0fc63daf-8483-4772-8e79-3d69d8477de4": "Linux filesystem",
    "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f": "Linux swap",
    "e6d6d379-f507-44c2-a23c-238f2a3df928": "Linux LVM",
    "a19d880f-05fc-4d3b-a006-743f0f84911e": "Linux RAID",
    "ca7d7ccb-63ed-4c53-861c-1742536059cc": "Linux LUKS",
    "4f68bce3-e8cd-4db1-96e7-fbcaf984b709": "Linux root (x86-64)",
    "933ac7e1-2eb4-4f13-b844-0e14e2aef915": "Linux home",
    "21686148-6449-6e6f-744e-656564454649": "BIOS boot",
}


@record
class GptHeader:
    which: str  # "primary" | "backup"
    lba: int
    offset: int
    present: bool
    signature_ok: bool = False
    header_crc_ok: bool = False
    array_crc_ok: bool = False
    my_lba: int = 0
    alternate_lba: int = 0
    first_usable: int = 0
    last_usable: int = 0
    disk_guid: str = ZERO_GUID
    array_lba: int = 0
    entry_count: int = 0
    entry_size: int = 0
    problem: str | None = None  # the first reason it is not good (a code word, not a sentence)
    array: bytes = b""

    @property
    def good(self) -> bool:
        return self.problem is None


@record
class GptEntry:
    index: int
    type_guid: str
    unique_guid: str
    start: int  # bytes
    length: int  # bytes
    attributes: int
    name: str | None
    first_lba: int = 0
    last_lba: int = 0

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type_guid, "unknown")


@mutable_record
class Gpt:
    sector_size: int
    primary: GptHeader
    backup: GptHeader
    entries: list[GptEntry] = field(default_factory=list)
    source: str | None = None  # which copy the entries came from
    first_usable: int = 0  # the usable LBAs, as the copy the entries came from says
    last_usable: int = 0
    arrays_differ: bool = False
    structures: list[Structure] = field(default_factory=list)

    @property
    def primary_bad(self) -> bool:
        return not self.primary.good

    @property
    def backup_bad(self) -> bool:
        return not self.backup.good


def has_header(disk: Disk, sector_size: int) -> bool:
    return disk.read(sector_size, 8) == SIGNATURE


def _read_header(disk: Disk, which: str, lba: int, sector_size: int) -> GptHeader:
    offset = lba * sector_size
    if lba <= 0 or offset + sector_size > disk.size:
        return GptHeader(which, lba, offset, present=False, problem="missing")
    raw = disk.read(offset, sector_size)
    if raw[:8] != SIGNATURE:
        return GptHeader(which, lba, offset, present=True, problem="signature")
    size = u32le(raw, 12)
    if not MIN_HEADER_SIZE <= size <= sector_size:
        return GptHeader(which, lba, offset, True, True, problem="header_size")
    stored = u32le(raw, 16)
    import zlib  # only once a GPT header is there to check

    computed = zlib.crc32(raw[:16] + b"\0\0\0\0" + raw[20:size])
    head = GptHeader(
        which,
        lba,
        offset,
        present=True,
        signature_ok=True,
        my_lba=u64le(raw, 24),
        alternate_lba=u64le(raw, 32),
        first_usable=u64le(raw, 40),
        last_usable=u64le(raw, 48),
        disk_guid=guid_text(raw[56:72]),
        array_lba=u64le(raw, 72),
        entry_count=u32le(raw, 80),
        entry_size=u32le(raw, 84),
    )
    if stored != computed:
        return replace(head, problem="header_crc")
    head = replace(head, header_crc_ok=True)
    problem = None
    if head.my_lba != lba:
        problem = "my_lba"
    count, esize = head.entry_count, head.entry_size
    if esize < 128 or esize % 8 or count * esize > MAX_ARRAY_BYTES:
        return replace(head, problem=problem or "entry_array_size")
    array_offset = head.array_lba * sector_size
    if array_offset <= 0 or array_offset + count * esize > disk.size:
        return replace(head, problem=problem or "entry_array_past_end")
    array = disk.read(array_offset, count * esize)
    import zlib

    array_ok = zlib.crc32(array) == u32le(raw, 88)
    if not array_ok:
        problem = problem or "entry_array_crc"
    return replace(head, array_crc_ok=array_ok, array=array, problem=problem)


def _entries(array: bytes, size: int, sector_size: int) -> list[GptEntry]:
    out = []
    for i in range(len(array) // size if size else 0):
        raw = array[i * size : i * size + 128]
        type_guid = guid_text(raw[0:16])
        if type_guid == ZERO_GUID:
            continue
        first, last = u64le(raw, 32), u64le(raw, 40)
        length = (last - first + 1) * sector_size if last >= first else 0
        out.append(
            GptEntry(
                i + 1,
                type_guid,
                guid_text(raw[16:32]),
                first * sector_size,
                length,
                u64le(raw, 48),
                utf16_name(raw[56:128]),
                first,
                last,
            )
        )
    return out


def parse_gpt(disk: Disk, sector_size: int) -> Gpt:
    primary = _read_header(disk, "primary", 1, sector_size)
    last_lba = disk.size // sector_size - 1
    backup = _read_header(disk, "backup", last_lba, sector_size)
    if not backup.good and primary.good and primary.alternate_lba not in (0, last_lba):
        # The disk grew (or shrank) since the GPT was written: the backup is where the
        # primary says, not at the end of the disk.
        moved = _read_header(disk, "backup", primary.alternate_lba, sector_size)
        if moved.present:
            backup = moved
    gpt = Gpt(sector_size, primary, backup)
    gpt.structures.append(Structure("GPT primary header", primary.offset, sector_size))
    if primary.array:
        gpt.structures.append(
            Structure("GPT primary entries", primary.array_lba * sector_size, len(primary.array))
        )
    gpt.structures.append(Structure("GPT backup header", backup.offset, sector_size))
    if backup.array:
        gpt.structures.append(
            Structure("GPT backup entries", backup.array_lba * sector_size, len(backup.array))
        )
    source = primary if primary.good else backup if backup.good else None
    if source is None and primary.array_crc_ok:
        source = primary  # header damaged but the array checks out: still the best we have
    if source is not None:
        gpt.source = source.which
        gpt.first_usable, gpt.last_usable = source.first_usable, source.last_usable
        gpt.entries = _entries(source.array, source.entry_size, sector_size)
    if primary.good and backup.good and primary.array != backup.array:
        gpt.arrays_differ = True
    return gpt
