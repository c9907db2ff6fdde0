"""Region tables (MS-VHDX §2.2.3): two 64 KiB copies at 192 KiB and 256 KiB.

The spec gives the copies no precedence. We use copy 1 when it is valid, otherwise copy 2,
and report a difference when both are valid and differ.
"""

from __future__ import annotations

import struct
from itertools import pairwise

from vhdxray.core.format import layout
from vhdxray.core.format.checksum import checksum_with_field_zeroed
from vhdxray.core.format.findings import Finding, error, info, warning
from vhdxray.core.format.guid import guid_bytes, read_guid
from vhdxray.core.format.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import uuid  # the annotations' uuid.UUID is what guid.Guid is to type checkers
    from typing import Final

_TABLE_HEADER: Final = struct.Struct("<4sIII")
_ENTRY: Final = struct.Struct("<16sQII")
CHECKSUM_OFFSET: Final = 4


@record
class RegionEntry:
    guid: uuid.UUID
    file_offset: int
    length: int
    required: int  # the raw 32-bit field; bit 0 is Required

    @property
    def name(self) -> str:
        return layout.REGION_NAMES.get(self.guid, "unknown")

    @property
    def is_required(self) -> bool:
        return bool(self.required & layout.REGION_REQUIRED)

    def to_json(self) -> dict[str, object]:
        return {
            "guid": str(self.guid),
            "name": self.name,
            "file_offset": self.file_offset,
            "length": self.length,
            "required": self.is_required,
        }


@record
class RegionTable:
    """One copy of the region table, with its verdicts."""

    slot: int  # 1 or 2
    offset: int
    present: bool
    signature: bytes
    checksum: int
    computed_checksum: int
    entry_count: int
    reserved: int
    entries: tuple[RegionEntry, ...]
    problems: tuple[str, ...]  # why this copy is not usable (empty when valid)
    raw: bytes

    @property
    def signature_ok(self) -> bool:
        return self.signature == layout.REGION_SIGNATURE

    @property
    def checksum_ok(self) -> bool:
        return self.present and self.checksum == self.computed_checksum

    @property
    def valid(self) -> bool:
        return not self.problems

    def find(self, guid: uuid.UUID) -> RegionEntry | None:
        for entry in self.entries:
            if entry.guid == guid:
                return entry
        return None

    def to_json(self) -> dict[str, object]:
        return {
            "slot": self.slot,
            "offset": self.offset,
            "present": self.present,
            "signature_ok": self.signature_ok,
            "checksum_ok": self.checksum_ok,
            "stored_checksum": self.checksum,
            "computed_checksum": self.computed_checksum,
            "entry_count": self.entry_count,
            "valid": self.valid,
            "problems": list(self.problems),
            "entries": [e.to_json() for e in self.entries],
        }


def _entry_problems(entries: tuple[RegionEntry, ...]) -> list[str]:
    problems: list[str] = []
    seen: set[uuid.UUID] = set()
    for e in entries:
        label = f"{e.name} region ({e.guid})" if e.name == "unknown" else f"{e.name} region"
        if e.guid in seen:
            problems.append(f"{label} appears twice")
        seen.add(e.guid)
        if e.file_offset < layout.HEADER_SECTION_SIZE:
            problems.append(f"{label} starts at 0x{e.file_offset:x}, inside the first 1 MiB")
        if not layout.is_aligned(e.file_offset):
            problems.append(f"{label} offset 0x{e.file_offset:x} is not a multiple of 1 MiB")
        if e.length == 0 or not layout.is_aligned(e.length):
            problems.append(f"{label} length {e.length} is not a non-zero multiple of 1 MiB")
        if e.name == "unknown" and e.is_required:
            problems.append(f"{label} is marked required but is not known: the file must not load")
    ordered = sorted(entries, key=lambda x: x.file_offset)
    for a, b in pairwise(ordered):
        if a.file_offset + a.length > b.file_offset:
            problems.append(f"{a.name} region overlaps {b.name} region")
    for guid, name in layout.REGION_NAMES.items():
        if guid not in seen:
            problems.append(f"the {name} region is missing")
    return problems


def parse_region_table(raw: bytes, slot: int) -> RegionTable:
    """Parse one 64 KiB copy (``raw`` may be shorter if the file is truncated)."""
    offset = layout.REGION_TABLE_OFFSETS[slot - 1]
    present = len(raw) >= layout.REGION_TABLE_SIZE
    data = bytes(raw[: layout.REGION_TABLE_SIZE])
    head = data.ljust(layout.REGION_TABLE_HEADER_SIZE, b"\0")
    signature, checksum, count, reserved = _TABLE_HEADER.unpack_from(head)
    computed = checksum_with_field_zeroed(data, CHECKSUM_OFFSET) if present else 0
    problems: list[str] = []
    if not present:
        problems.append("the file ends inside this copy")
    if signature != layout.REGION_SIGNATURE:
        problems.append(f"signature is {signature!r}, not 'regi'")
    if present and checksum != computed:
        problems.append(f"checksum mismatch: stored 0x{checksum:08x}, computed 0x{computed:08x}")
    if count > layout.REGION_MAX_ENTRIES:
        problems.append(f"EntryCount {count} exceeds {layout.REGION_MAX_ENTRIES}")
    entries: list[RegionEntry] = []
    readable = min(count, layout.REGION_MAX_ENTRIES)
    for i in range(readable):
        pos = layout.REGION_TABLE_HEADER_SIZE + i * layout.REGION_ENTRY_SIZE
        if pos + layout.REGION_ENTRY_SIZE > len(data):
            break
        guid, file_offset, length, required = _ENTRY.unpack_from(data, pos)
        entries.append(RegionEntry(read_guid(guid), file_offset, length, required))
    entries_t = tuple(entries)
    if signature == layout.REGION_SIGNATURE and present:
        problems.extend(_entry_problems(entries_t))
    return RegionTable(
        slot=slot,
        offset=offset,
        present=present,
        signature=signature,
        checksum=checksum,
        computed_checksum=computed,
        entry_count=count,
        reserved=reserved,
        entries=entries_t,
        problems=tuple(problems),
        raw=data,
    )


def serialise_region_table(entries: list[RegionEntry] | tuple[RegionEntry, ...]) -> bytes:
    """A complete 64 KiB region table with its checksum."""
    buf = bytearray(layout.REGION_TABLE_SIZE)
    _TABLE_HEADER.pack_into(buf, 0, layout.REGION_SIGNATURE, 0, len(entries), 0)
    for i, e in enumerate(entries):
        pos = layout.REGION_TABLE_HEADER_SIZE + i * layout.REGION_ENTRY_SIZE
        _ENTRY.pack_into(buf, pos, guid_bytes(e.guid), e.file_offset, e.length, e.required)
    struct.pack_into("<I", buf, CHECKSUM_OFFSET, checksum_with_field_zeroed(buf, CHECKSUM_OFFSET))
    return bytes(buf)


def choose_active(tables: tuple[RegionTable, RegionTable]) -> int | None:
    """Copy 1 when valid, else copy 2 when valid, else None."""
    for t in tables:
        if t.valid:
            return t.slot
    return None


def _entry_key(t: RegionTable) -> list[tuple[uuid.UUID, int, int, int]]:
    return sorted((e.guid, e.file_offset, e.length, e.required) for e in t.entries)


def check_region_tables(
    tables: tuple[RegionTable, RegionTable], active: int | None, file_size: int
) -> list[Finding]:
    findings: list[Finding] = []
    for t in tables:
        where = f"region table {t.slot} @ 0x{t.offset:x}"
        code = f"region.copy{t.slot}"
        if not t.present:
            findings.append(
                error(f"{code}.missing", where, f"the file ends inside region table {t.slot}")
            )
            continue
        if not t.signature_ok:
            findings.append(
                error(
                    f"{code}.signature",
                    where,
                    f"region table {t.slot} has signature {t.signature!r} instead of 'regi'",
                )
            )
        if not t.checksum_ok:
            findings.append(
                error(
                    f"{code}.checksum",
                    where,
                    f"region table {t.slot} fails its checksum: stored 0x{t.checksum:08x}, "
                    f"computed 0x{t.computed_checksum:08x}",
                )
            )
        structural = [
            p
            for p in t.problems
            if not p.startswith(("signature is", "checksum mismatch", "the file ends"))
        ]
        if t.signature_ok and structural:
            findings.append(
                error(
                    f"{code}.entries",
                    where,
                    f"region table {t.slot} is unusable: " + "; ".join(structural),
                )
            )
        if t.reserved:
            findings.append(
                warning(
                    f"{code}.reserved", where, f"region table {t.slot} reserved field is non-zero"
                )
            )
    if active is None:
        findings.append(
            error(
                "region.none_valid",
                "region tables",
                "neither region table copy is valid: the BAT and metadata cannot be located",
            )
        )
        return findings
    t1, t2 = tables
    if t1.valid and t2.valid and _entry_key(t1) != _entry_key(t2):
        findings.append(
            warning(
                "region.copies_differ",
                "region tables",
                "both region table copies are valid but list different regions; copy 1 is used",
            )
        )
    elif not t1.valid and t2.valid:
        findings.append(
            info(
                "region.using_copy2",
                "region tables",
                "region table copy 1 is damaged; copy 2 is valid and used (QEMU reads only copy 1 "
                "and would refuse this file)",
            )
        )
    used = tables[active - 1]
    where = f"region table {used.slot} @ 0x{used.offset:x}"
    for e in used.entries:
        if e.name != "unknown" and not e.is_required:
            findings.append(
                warning(
                    "region.not_required",
                    where,
                    f"the {e.name} region is not marked required (older writers do this; "
                    "Windows and QEMU accept it)",
                )
            )
        if e.name == "unknown" and not e.is_required:
            findings.append(
                info(
                    "region.unknown_optional",
                    where,
                    f"unknown optional region {e.guid} at 0x{e.file_offset:x} (ignored)",
                )
            )
        if e.file_offset + e.length > file_size:
            findings.append(
                error(
                    "region.past_eof",
                    where,
                    f"the {e.name} region ends at 0x{e.file_offset + e.length:x}, past the end "
                    f"of the file ({file_size} bytes)",
                )
            )
    return findings
