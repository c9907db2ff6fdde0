"""Metadata region (MS-VHDX §2.6): the table, the six system items and the parent locator.

The metadata table has no checksum, so every rule is checked semantically here.
"""

from __future__ import annotations

import struct
from itertools import pairwise

from vhdxray.core.format import layout
from vhdxray.core.format.findings import Finding, error, info, warning
from vhdxray.core.format.guid import guid_from_text, read_guid
from vhdxray.core.format.record import record
from vhdxray.core.format.text import printable
from vhdxray.core.source import ReadAt

TYPE_CHECKING = False
if TYPE_CHECKING:
    import uuid  # the annotations' uuid.UUID is what guid.Guid is to type checkers
    from typing import Final

_TABLE_HEADER: Final = struct.Struct("<8sHH20s")
_ENTRY: Final = struct.Struct("<16sIIII")
_LOCATOR_HEADER: Final = struct.Struct("<16sHH")
_LOCATOR_ENTRY: Final = struct.Struct("<IIHH")


# (IsVirtualDisk, IsRequired, expected length) for each system item, per the §2.6.2 table.
_KNOWN: Final = {
    layout.FILE_PARAMETERS_GUID: (False, True, 8),
    layout.VIRTUAL_DISK_SIZE_GUID: (True, True, 8),
    layout.VIRTUAL_DISK_ID_GUID: (True, True, 16),
    layout.LOGICAL_SECTOR_SIZE_GUID: (True, True, 4),
    layout.PHYSICAL_SECTOR_SIZE_GUID: (True, True, 4),
    layout.PARENT_LOCATOR_GUID: (False, True, None),
}
_BASE_ITEMS: Final = (
    layout.FILE_PARAMETERS_GUID,
    layout.VIRTUAL_DISK_SIZE_GUID,
    layout.VIRTUAL_DISK_ID_GUID,
    layout.LOGICAL_SECTOR_SIZE_GUID,
    layout.PHYSICAL_SECTOR_SIZE_GUID,
)
PATH_KEYS: Final = ("relative_path", "volume_path", "absolute_win32_path")


@record
class MetadataEntry:
    item_id: uuid.UUID
    offset: int  # from the start of the metadata region
    length: int
    flags: int
    reserved: int

    @property
    def is_user(self) -> bool:
        return bool(self.flags & layout.META_FLAG_IS_USER)

    @property
    def is_virtual_disk(self) -> bool:
        return bool(self.flags & layout.META_FLAG_IS_VIRTUAL_DISK)

    @property
    def is_required(self) -> bool:
        return bool(self.flags & layout.META_FLAG_IS_REQUIRED)

    @property
    def name(self) -> str:
        if self.is_user:
            return "user item"
        return layout.METADATA_ITEM_NAMES.get(self.item_id, "unknown")

    def to_json(self) -> dict[str, object]:
        return {
            "item_id": str(self.item_id),
            "name": self.name,
            "offset": self.offset,
            "length": self.length,
            "is_user": self.is_user,
            "is_virtual_disk": self.is_virtual_disk,
            "is_required": self.is_required,
        }


@record
class ParentLocator:
    locator_type: uuid.UUID
    entries: tuple[tuple[str, str], ...]  # (key, value) in on-disk order; hostile strings

    def get(self, key: str) -> str | None:
        for k, v in self.entries:
            if k == key:
                return v
        return None

    @property
    def parent_linkage(self) -> uuid.UUID | None:
        return parse_braced_guid(self.get("parent_linkage"))

    @property
    def parent_linkage2(self) -> uuid.UUID | None:
        return parse_braced_guid(self.get("parent_linkage2"))

    def to_json(self) -> dict[str, object]:
        return {
            "locator_type": str(self.locator_type),
            "entries": {k: v for k, v in self.entries},
        }


def parse_braced_guid(text: str | None) -> uuid.UUID | None:
    if not text:
        return None
    try:
        return guid_from_text(text.strip().strip("{}"))
    except ValueError:
        return None


@record
class Metadata:
    offset: int  # file offset of the region
    length: int
    signature_ok: bool
    entry_count: int
    entries: tuple[MetadataEntry, ...]
    block_size: int | None
    leave_blocks_allocated: bool | None
    has_parent: bool | None
    virtual_size: int | None
    virtual_disk_id: uuid.UUID | None
    logical_sector_size: int | None
    physical_sector_size: int | None
    parent_locator: ParentLocator | None

    @property
    def disk_type(self) -> str | None:
        """fixed, dynamic or differencing, from the File Parameters flags (§2.6.2.1)."""
        if self.has_parent is None or self.leave_blocks_allocated is None:
            return None
        if self.has_parent:
            return "differencing"
        return "fixed" if self.leave_blocks_allocated else "dynamic"

    def to_json(self) -> dict[str, object]:
        return {
            "offset": self.offset,
            "length": self.length,
            "signature_ok": self.signature_ok,
            "entry_count": self.entry_count,
            "entries": [e.to_json() for e in self.entries],
            "block_size": self.block_size,
            "leave_blocks_allocated": self.leave_blocks_allocated,
            "has_parent": self.has_parent,
            "virtual_size": self.virtual_size,
            "virtual_disk_id": None if self.virtual_disk_id is None else str(self.virtual_disk_id),
            "logical_sector_size": self.logical_sector_size,
            "physical_sector_size": self.physical_sector_size,
            "parent_locator": None
            if self.parent_locator is None
            else self.parent_locator.to_json(),
        }


MAX_LOCATOR_ENTRIES: Final = 256
"""Locator entries kept (a real locator has five keys); the rest are counted, not decoded."""
_EXAMPLES: Final = 5
_CONTROL: Final = frozenset(map(chr, (*range(0x01, 0x20), *range(0x7F, 0xA0))))


def decode_locator_text(raw: bytes) -> tuple[str, tuple[str, ...]]:
    """A locator key or value, every code unit kept, and what is wrong with it.

    NULs and control characters stay in the text (display layers show them escaped through
    ``printable``, so a value of NULs is visible, not ""); an odd trailing byte becomes U+FFFD.
    """
    even = len(raw) - len(raw) % 2
    text = raw[:even].decode("utf-16-le", errors="replace")
    problems: list[str] = []
    if len(raw) % 2:
        text += "\ufffd"
        problems.append(f"an odd byte length ({len(raw)})")
    if "\x00" in text:
        problems.append("NUL characters")
    if not _CONTROL.isdisjoint(text):
        problems.append("control characters")
    if "\ufffd" in text[: len(text) - len(raw) % 2]:
        problems.append("invalid UTF-16")
    return text, tuple(problems)


def _listed(items: list[str], total: int) -> str:
    more = f" and {total - len(items)} more" if total > len(items) else ""
    return ", ".join(items) + more


def _parse_locator(data: bytes, where: str, findings: list[Finding]) -> ParentLocator | None:
    """Parse the locator item, bounded by its length whatever its header and entries say.

    The entry count is cut to what the item can hold; the text decoded (keys and values
    together) never exceeds the item's length, which a real locator's strings (laid one after
    another) always fit in: entries that point at the same bytes again and again cannot blow
    up; at most :data:`MAX_LOCATOR_ENTRIES` entries are kept; each kind of problem is one
    finding, however many entries have it."""
    if len(data) < _LOCATOR_HEADER.size:
        findings.append(error("metadata.locator.short", where, "the parent locator is too short"))
        return None
    ltype_raw, _reserved, count = _LOCATOR_HEADER.unpack_from(data)
    ltype = read_guid(ltype_raw)
    if ltype != layout.VHDX_PARENT_LOCATOR_TYPE:
        findings.append(
            error(
                "metadata.locator.type",
                where,
                f"parent locator type {ltype} is not the VHDX locator type; the parent "
                "cannot be found",
            )
        )
    room = (len(data) - _LOCATOR_HEADER.size) // _LOCATOR_ENTRY.size
    if count > room:
        findings.append(
            error(
                "metadata.locator.entries",
                where,
                f"the parent locator says {count} entries but the item holds only {room}",
            )
        )
        count = room
    entries: list[tuple[str, str]] = []
    seen: set[str] = set()
    outside: list[int] = []
    duplicates: dict[str, int] = {}
    odd: dict[str, tuple[str, ...]] = {}
    budget = len(data)
    stopped_at: int | None = None
    for i in range(count):
        koff, voff, klen, vlen = _LOCATOR_ENTRY.unpack_from(
            data, _LOCATOR_HEADER.size + i * _LOCATOR_ENTRY.size
        )
        if (
            not (koff and voff and klen and vlen)
            or koff + klen > len(data)
            or voff + vlen > len(data)
        ):
            outside.append(i)
            continue
        if klen + vlen > budget or len(entries) >= MAX_LOCATOR_ENTRIES:
            stopped_at = i
            break
        budget -= klen + vlen
        key, key_problems = decode_locator_text(data[koff : koff + klen])
        if key in seen:
            duplicates[key] = duplicates.get(key, 1) + 1
            continue
        value, value_problems = decode_locator_text(data[voff : voff + vlen])
        if key_problems or value_problems:
            odd[key] = tuple(dict.fromkeys(key_problems + value_problems))
        seen.add(key)
        entries.append((key, value))
    if outside:
        shown = [str(i) for i in outside[:_EXAMPLES]]
        findings.append(
            error(
                "metadata.locator.entry",
                where,
                f"{len(outside)} parent locator entries point outside the item ({len(data)} "
                f"bytes) or have a zero offset or length: entries {_listed(shown, len(outside))}",
            )
        )
    if stopped_at is not None:
        reason = (
            f"more than {MAX_LOCATOR_ENTRIES} keys"
            if len(entries) >= MAX_LOCATOR_ENTRIES
            else f"their keys and values add up to more than the item's {len(data)} bytes (the "
            "entries point at the same bytes over and over)"
        )
        findings.append(
            error(
                "metadata.locator.oversized",
                where,
                f"the parent locator's entries hold {reason}; only the first {stopped_at} of "
                f"{count} entries were read",
            )
        )
    if duplicates:
        shown = [f"{printable(k)[:60]!r} ({n} times)" for k, n in list(duplicates.items())[:5]]
        findings.append(
            error(
                "metadata.locator.duplicate_key",
                where,
                f"{len(duplicates)} parent locator keys appear more than once (keys must be "
                f"unique; the first is used): {_listed(shown, len(duplicates))}",
            )
        )
    if odd:
        shown = [f"{printable(k)[:60]!r}: {', '.join(p)}" for k, p in list(odd.items())[:_EXAMPLES]]
        findings.append(
            warning(
                "metadata.locator.text",
                where,
                "parent locator keys or values that the spec forbids (they must be UTF-16 "
                f"without NULs); shown escaped: {_listed(shown, len(odd))}",
            )
        )
    loc = ParentLocator(ltype, tuple(entries))
    if "parent_linkage" not in seen:
        findings.append(
            error(
                "metadata.locator.no_linkage",
                where,
                "the parent locator has no parent_linkage key: the parent cannot be verified",
            )
        )
    elif loc.parent_linkage is None:
        findings.append(
            error(
                "metadata.locator.bad_linkage",
                where,
                "parent_linkage is not a GUID",
            )
        )
    if not any(k in seen for k in PATH_KEYS):
        findings.append(
            error(
                "metadata.locator.no_path",
                where,
                "the parent locator has none of relative_path, volume_path, absolute_win32_path",
            )
        )
    return loc


def _item_where(e: MetadataEntry) -> str:
    """Where a finding about one item is (made only when there is one: a GUID's text costs)."""
    return f"metadata item {e.name} ({e.item_id})"


def parse_metadata(offset: int, length: int, read: ReadAt) -> tuple[Metadata, list[Finding]]:
    """Parse the metadata region at file ``offset`` (``length`` bytes) through ``read``."""
    findings: list[Finding] = []
    where = f"metadata table @ 0x{offset:x}"
    table = read(offset, min(length, layout.METADATA_TABLE_SIZE))
    empty = Metadata(offset, length, False, 0, (), None, None, None, None, None, None, None, None)
    if len(table) < layout.METADATA_HEADER_SIZE:
        findings.append(error("metadata.missing", where, "the metadata region cannot be read"))
        return empty, findings
    signature, _reserved, count, _reserved2 = _TABLE_HEADER.unpack_from(table)
    if signature != layout.METADATA_SIGNATURE:
        findings.append(
            error(
                "metadata.signature",
                where,
                f"metadata table signature is {signature!r}, not 'metadata'",
            )
        )
        return empty, findings
    if count > layout.METADATA_MAX_ENTRIES:
        findings.append(
            error(
                "metadata.entry_count",
                where,
                f"EntryCount {count} exceeds {layout.METADATA_MAX_ENTRIES}; reading the first "
                f"{layout.METADATA_MAX_ENTRIES}",
            )
        )
    entries: list[MetadataEntry] = []
    for i in range(min(count, layout.METADATA_MAX_ENTRIES)):
        pos = layout.METADATA_HEADER_SIZE + i * layout.METADATA_ENTRY_SIZE
        if pos + layout.METADATA_ENTRY_SIZE > len(table):
            findings.append(
                error("metadata.truncated", where, f"the table ends after {i} of {count} entries")
            )
            break
        item, ioff, ilen, flags, res = _ENTRY.unpack_from(table, pos)
        entries.append(MetadataEntry(read_guid(item), ioff, ilen, flags, res))

    values: dict[uuid.UUID, bytes] = {}
    seen: set[tuple[uuid.UUID, bool]] = set()
    user_count = 0
    for e in entries:
        key = (e.item_id, e.is_user)
        if key in seen:
            findings.append(
                error("metadata.duplicate", _item_where(e), "this item is listed twice")
            )
            continue
        seen.add(key)
        user_count += e.is_user
        if e.flags & ~0x7:
            findings.append(
                warning("metadata.flags_reserved", _item_where(e), "reserved flag bits set")
            )
        if e.length == 0:
            if e.offset != 0:
                findings.append(
                    warning(
                        "metadata.item_offset", _item_where(e), "empty item with a non-zero offset"
                    )
                )
        elif e.offset < layout.METADATA_MIN_ITEM_OFFSET or e.offset + e.length > length:
            findings.append(
                error(
                    "metadata.item_range",
                    _item_where(e),
                    f"item at region offset {e.offset} length {e.length} lies outside the "
                    f"region's item area (64 KiB..{length})",
                )
            )
            continue
        if e.length > layout.METADATA_MAX_ITEM_LENGTH:
            findings.append(
                error("metadata.item_length", _item_where(e), f"item length {e.length} > 1 MiB")
            )
            continue
        if not e.is_user and e.item_id not in _KNOWN:
            if e.is_required:
                findings.append(
                    error(
                        "metadata.unknown_required",
                        _item_where(e),
                        "unknown system item marked required: the file must not be loaded by "
                        "this implementation",
                    )
                )
            else:
                findings.append(
                    info("metadata.unknown_item", _item_where(e), "unknown optional item")
                )
            continue
        if e.is_user:
            continue
        is_vd, is_req, size = _KNOWN[e.item_id]
        if e.is_virtual_disk != is_vd:
            findings.append(
                warning(
                    "metadata.flags",
                    _item_where(e),
                    f"IsVirtualDisk is {e.is_virtual_disk}, the spec says {is_vd}",
                )
            )
        if e.is_required != is_req:
            if e.item_id == layout.PHYSICAL_SECTOR_SIZE_GUID:
                findings.append(
                    warning(
                        "metadata.physical_sector_not_required",
                        _item_where(e),
                        "PhysicalSectorSize is not marked required (early images did this; "
                        "Windows and VirtualBox accept it)",
                    )
                )
            else:
                findings.append(
                    warning("metadata.not_required", _item_where(e), "item is not marked required")
                )
        data = read(offset + e.offset, e.length) if e.length else b""
        if len(data) < e.length:
            findings.append(
                error("metadata.item_unreadable", _item_where(e), "the file ends inside it")
            )
            continue
        if size is not None and e.length != size:
            findings.append(
                error(
                    "metadata.item_size",
                    _item_where(e),
                    f"item is {e.length} bytes, expected {size}",
                )
            )
            continue
        values[e.item_id] = data
    if user_count > layout.METADATA_MAX_USER_ENTRIES:
        findings.append(error("metadata.user_count", where, f"{user_count} user items exceed 1024"))
    ranged = sorted((e for e in entries if e.length), key=lambda x: x.offset)
    for a, b in pairwise(ranged):
        if a.offset + a.length > b.offset:
            findings.append(
                error("metadata.overlap", where, f"items {a.name} and {b.name} overlap")
            )

    for guid in _BASE_ITEMS:
        if guid not in values and not any(e.item_id == guid for e in entries):
            findings.append(
                error(
                    "metadata.missing_item",
                    where,
                    f"required item {layout.METADATA_ITEM_NAMES[guid]} is missing",
                )
            )

    block_size = leave = has_parent = None
    if (fp := values.get(layout.FILE_PARAMETERS_GUID)) is not None:
        block_size, flags = struct.unpack("<II", fp)
        leave = bool(flags & layout.FILE_PARAM_LEAVE_BLOCKS_ALLOCATED)
        has_parent = bool(flags & layout.FILE_PARAM_HAS_PARENT)
        if flags & ~0x3:
            findings.append(
                warning("metadata.file_parameters_reserved", where, "reserved flag bits set")
            )
        if not (
            layout.MIN_BLOCK_SIZE <= block_size <= layout.MAX_BLOCK_SIZE
            and block_size & (block_size - 1) == 0
        ):
            findings.append(
                error(
                    "metadata.block_size",
                    where,
                    f"BlockSize {block_size} is not a power of two from 1 MiB to 256 MiB",
                )
            )
            block_size = None
    logical = physical = None
    if (raw := values.get(layout.LOGICAL_SECTOR_SIZE_GUID)) is not None:
        logical = struct.unpack("<I", raw)[0]
        if logical not in layout.SECTOR_SIZES:
            findings.append(
                error("metadata.logical_sector_size", where, f"LogicalSectorSize {logical}")
            )
            logical = None
    if (raw := values.get(layout.PHYSICAL_SECTOR_SIZE_GUID)) is not None:
        physical = struct.unpack("<I", raw)[0]
        if physical not in layout.SECTOR_SIZES:
            findings.append(
                error("metadata.physical_sector_size", where, f"PhysicalSectorSize {physical}")
            )
            physical = None
    virtual_size = None
    if (raw := values.get(layout.VIRTUAL_DISK_SIZE_GUID)) is not None:
        virtual_size = struct.unpack("<Q", raw)[0]
        problems = []
        if virtual_size == 0:
            problems.append("is zero")
        if virtual_size > layout.MAX_VIRTUAL_DISK_SIZE:
            problems.append("exceeds 64 TiB")
        if logical and virtual_size % logical:
            problems.append(f"is not a multiple of the logical sector size {logical}")
        if problems:
            findings.append(
                error(
                    "metadata.virtual_size",
                    where,
                    f"VirtualDiskSize {virtual_size} " + " and ".join(problems),
                )
            )
            virtual_size = None
    disk_id = None
    if (raw := values.get(layout.VIRTUAL_DISK_ID_GUID)) is not None:
        disk_id = read_guid(raw)
    locator = None
    loc_entry = next((e for e in entries if e.item_id == layout.PARENT_LOCATOR_GUID), None)
    if (raw := values.get(layout.PARENT_LOCATOR_GUID)) is not None:
        locator = _parse_locator(raw, "metadata item ParentLocator", findings)
    if has_parent and loc_entry is None:
        findings.append(
            error(
                "metadata.locator.missing",
                where,
                "the disk has a parent (HasParent) but no parent locator item",
            )
        )
    if has_parent is False and loc_entry is not None:
        findings.append(
            warning(
                "metadata.locator.unexpected",
                where,
                "a parent locator is present but HasParent is not set",
            )
        )
    return (
        Metadata(
            offset=offset,
            length=length,
            signature_ok=True,
            entry_count=count,
            entries=tuple(entries),
            block_size=block_size,
            leave_blocks_allocated=leave,
            has_parent=has_parent,
            virtual_size=virtual_size,
            virtual_disk_id=disk_id,
            logical_sector_size=logical,
            physical_sector_size=physical,
            parent_locator=locator,
        ),
        findings,
    )


def serialise_locator(entries: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> bytes:
    """A VHDX parent locator item: header, key/value entries, then the UTF-16LE strings.
    Offsets are measured from the start of the item."""
    count = len(entries)
    strings = bytearray()
    table = bytearray()
    base = _LOCATOR_HEADER.size + count * _LOCATOR_ENTRY.size
    for key, value in entries:
        k = key.encode("utf-16-le")
        v = value.encode("utf-16-le")
        koff = base + len(strings)
        strings += k
        voff = base + len(strings)
        strings += v
        table += _LOCATOR_ENTRY.pack(koff, voff, len(k), len(v))
    header = _LOCATOR_HEADER.pack(layout.VHDX_PARENT_LOCATOR_TYPE.bytes_le, 0, count)
    return header + bytes(table) + bytes(strings)


def serialise_metadata(
    items: list[tuple[uuid.UUID, int, bytes]], region_length: int = layout.MiB
) -> bytes:
    """The metadata region: table at 0, items packed from 64 KiB. ``items`` holds
    (item id, flags, value); flags use the META_FLAG_* bits."""
    buf = bytearray(region_length)
    _TABLE_HEADER.pack_into(buf, 0, layout.METADATA_SIGNATURE, 0, len(items), bytes(20))
    pos = layout.METADATA_MIN_ITEM_OFFSET
    for i, (item_id, flags, value) in enumerate(items):
        entry_at = layout.METADATA_HEADER_SIZE + i * layout.METADATA_ENTRY_SIZE
        if pos + len(value) > region_length:
            raise ValueError("metadata items do not fit in the region")
        _ENTRY.pack_into(buf, entry_at, item_id.bytes_le, pos, len(value), flags, 0)
        buf[pos : pos + len(value)] = value
        pos += len(value)
    return bytes(buf)


def system_item_flags(item_id: uuid.UUID) -> int:
    """The flags the spec's table gives a system item (§2.6.2)."""
    is_vd, is_req, _ = _KNOWN[item_id]
    return (layout.META_FLAG_IS_VIRTUAL_DISK if is_vd else 0) | (
        layout.META_FLAG_IS_REQUIRED if is_req else 0
    )
