"""VHDX headers (MS-VHDX §2.2.2): parse and serialise a slot, decide which one is current.

Validity is exactly the spec's: signature ``head`` and a correct CRC-32C over the 4 KiB.
Version and LogVersion are checks about the *file*, reported apart from slot validity
(QEMU folds the version into validity; the spec does not).
"""

from __future__ import annotations

import struct

from vhdxray.core.format import layout
from vhdxray.core.format.checksum import checksum_with_field_zeroed
from vhdxray.core.format.findings import Finding, error, info, warning
from vhdxray.core.format.guid import guid_bytes, read_guid
from vhdxray.core.format.record import StrEnum, record
from vhdxray.core.format.text import printable
from vhdxray.core.outcome import Option, suggest

TYPE_CHECKING = False
if TYPE_CHECKING:
    import uuid  # the annotations' uuid.UUID is what guid.Guid is to type checkers
    from typing import Any, Final


class FieldKind(StrEnum):
    """How a header field is stored and shown."""

    SIGNATURE = "signature"  # 4 ASCII bytes, shown as text
    CHECKSUM = "checksum"  # CRC-32C (u32), shown as 0x%08x
    NUMBER = "number"  # unsigned little-endian, shown in decimal
    OFFSET = "offset"  # unsigned little-endian file offset, shown in hex
    GUID = "guid"  # 16 bytes, mixed-endian (MS-VHDX §2.1), shown in registry form


@record
class HeaderField:
    """One defined field of a header slot (MS-VHDX §2.2.2)."""

    name: str  # the spec's name
    attr: str  # the Header attribute holding its value
    offset: int  # within the 4 KiB slot
    size: int
    kind: FieldKind
    short: str  # the label where space is tight (the app's panels)
    json: str | None  # its key in a header's --json object (None: reported another way)
    summary: bool  # named in a slot's one-line summary (slot_summary)


def _field(
    name: str,
    attr: str,
    offset: int,
    size: int,
    kind: FieldKind,
    *,
    short: str | None = None,
    json: str | None = "",
    summary: bool = False,
) -> HeaderField:
    return HeaderField(
        name, attr, offset, size, kind, short or name, attr if json == "" else json, summary
    )


HEADER_FIELDS: Final[tuple[HeaderField, ...]] = (
    # The one table of header fields: parsing, serialising, differing_fields, --json, the text
    # report, the app's panels and hex view all iterate it. Listed in the order the views
    # show them (identity, GUIDs, versions, the log's place); FIELDS_BY_OFFSET is disk order.
    _field("Signature", "signature", 0, 4, FieldKind.SIGNATURE, json=None),  # signature_ok
    _field("Checksum", "checksum", 4, 4, FieldKind.CHECKSUM, json="stored_checksum"),
    _field(
        "SequenceNumber", "sequence_number", 8, 8, FieldKind.NUMBER, short="Sequence", summary=True
    ),
    _field("FileWriteGuid", "file_write_guid", 16, 16, FieldKind.GUID),
    _field("DataWriteGuid", "data_write_guid", 32, 16, FieldKind.GUID, summary=True),
    _field("LogGuid", "log_guid", 48, 16, FieldKind.GUID, summary=True),
    _field("Version", "version", 66, 2, FieldKind.NUMBER, summary=True),
    _field("LogVersion", "log_version", 64, 2, FieldKind.NUMBER),
    _field("LogOffset", "log_offset", 72, 8, FieldKind.OFFSET, summary=True),
    _field("LogLength", "log_length", 68, 4, FieldKind.NUMBER, summary=True),
)
FIELDS_BY_OFFSET: Final = tuple(sorted(HEADER_FIELDS, key=lambda f: f.offset))
FIELD_BY_ATTR: Final = {f.attr: f for f in HEADER_FIELDS}


def field_struct(f: HeaderField) -> str:
    """The field's ``struct`` code (little-endian integers; bytes for signature and GUIDs)."""
    if f.kind in (FieldKind.SIGNATURE, FieldKind.GUID):
        return f"{f.size}s"
    return {2: "H", 4: "I", 8: "Q"}[f.size]


_FIELDS: Final = struct.Struct("<" + "".join(field_struct(f) for f in FIELDS_BY_OFFSET))
assert _FIELDS.size == layout.HEADER_FIELDS_SIZE  # the 80 defined bytes, no gap
CHECKSUM_OFFSET: Final = FIELD_BY_ATTR["checksum"].offset
MAX_SEQUENCE: Final = (1 << 64) - 1


@record
class Header:
    """One header slot as found on disk, with its verdicts."""

    slot: int  # 1 or 2
    offset: int
    present: bool  # the file holds all 4 KiB of the slot
    signature: bytes
    checksum: int
    computed_checksum: int
    sequence_number: int
    file_write_guid: uuid.UUID
    data_write_guid: uuid.UUID
    log_guid: uuid.UUID
    log_version: int
    version: int
    log_length: int
    log_offset: int
    reserved_zero: bool  # bytes 80..4095 are all zero
    raw: bytes  # the 4 KiB as read (shorter if the file is cut inside the slot)

    @property
    def signature_ok(self) -> bool:
        return self.signature == layout.HEADER_SIGNATURE

    @property
    def checksum_ok(self) -> bool:
        return self.present and self.checksum == self.computed_checksum

    @property
    def valid(self) -> bool:
        """Valid per §2.2.2: signature and checksum, nothing else."""
        return self.present and self.signature_ok and self.checksum_ok

    def field_bytes(self) -> bytes:
        """The 80 defined bytes (what Disk2VHD writes identically in both slots)."""
        return self.raw[: layout.HEADER_FIELDS_SIZE]

    def invalid_reasons(self) -> tuple[str, ...]:
        """Plain-words reasons this slot is not valid (empty when it is)."""
        if not self.present:
            return ("the file ends before this slot",)
        reasons: list[str] = []
        if not self.signature_ok:
            reasons.append(f"signature is {self.signature!r}, not 'head'")
        if not self.checksum_ok:
            reasons.append(
                f"checksum mismatch: stored 0x{self.checksum:08x}, "
                f"computed 0x{self.computed_checksum:08x}"
            )
        return tuple(reasons)


def parse_header(raw: bytes, slot: int) -> Header:
    """Parse one slot's 4 KiB (``raw`` may be shorter when the file is truncated)."""
    offset = layout.HEADER_SLOT_OFFSETS[slot - 1]
    present = len(raw) >= layout.HEADER_SIZE
    padded = bytes(raw[: layout.HEADER_SIZE]).ljust(layout.HEADER_FIELDS_SIZE, b"\0")
    values: dict[str, Any] = {}
    for f, value in zip(FIELDS_BY_OFFSET, _FIELDS.unpack_from(padded), strict=True):
        values[f.attr] = read_guid(value) if f.kind is FieldKind.GUID else value
    computed = checksum_with_field_zeroed(padded, CHECKSUM_OFFSET) if present else 0
    reserved = padded[layout.HEADER_FIELDS_SIZE : layout.HEADER_SIZE]
    return Header(
        slot=slot,
        offset=offset,
        present=present,
        computed_checksum=computed,
        reserved_zero=reserved == bytes(len(reserved)),  # a memcmp: any() walks 4016 ints
        raw=bytes(raw[: layout.HEADER_SIZE]),
        **values,
    )


def serialise_header(
    *,
    sequence_number: int,
    file_write_guid: uuid.UUID,
    data_write_guid: uuid.UUID,
    log_guid: uuid.UUID,
    log_length: int,
    log_offset: int,
) -> bytes:
    """A complete 4 KiB header: signature, Version 1, LogVersion 0, reserved zero, CRC."""
    values: dict[str, Any] = {
        "signature": layout.HEADER_SIGNATURE,
        "checksum": 0,
        "sequence_number": sequence_number,
        "file_write_guid": file_write_guid,
        "data_write_guid": data_write_guid,
        "log_guid": log_guid,
        "log_version": layout.LOG_VERSION,
        "version": layout.HEADER_VERSION,
        "log_length": log_length,
        "log_offset": log_offset,
    }
    buf = bytearray(layout.HEADER_SIZE)
    stored = [
        guid_bytes(values[f.attr]) if f.kind is FieldKind.GUID else values[f.attr]
        for f in FIELDS_BY_OFFSET
    ]
    _FIELDS.pack_into(buf, 0, *stored)
    struct.pack_into("<I", buf, CHECKSUM_OFFSET, checksum_with_field_zeroed(buf, CHECKSUM_OFFSET))
    return bytes(buf)


class CurrentReason(StrEnum):
    """Why a slot is (or no slot is) current; the TUI and CLI explain these in words."""

    ONLY_VALID = "only_valid"
    HIGHER_SEQUENCE = "higher_sequence"
    EQUAL_IDENTICAL = "equal_sequence_identical"
    EQUAL_DIFFERENT = "equal_sequence_different"
    NONE_VALID = "none_valid"


@record
class HeaderChoice:
    current: int | None  # 1, 2 or None
    reason: CurrentReason

    def explain(self, headers: tuple[Header, Header]) -> str:
        """The one sentence saying which header is current and why (or why none is): the CLI
        report and verdict, the app and the refusals all say it with these words; --json gives
        ``reason`` as its code."""
        h1 = headers[0]
        if self.reason is CurrentReason.ONLY_VALID and self.current is not None:
            other = headers[2 - self.current]
            why = "; ".join(other.invalid_reasons())
            return (
                f"Header {self.current} is current: it is the only valid header "
                f"(header {other.slot}: {why})."
            )
        if self.reason is CurrentReason.HIGHER_SEQUENCE and self.current is not None:
            cur, other = headers[self.current - 1], headers[2 - self.current]
            return (
                f"Header {self.current} is current: both are valid and its sequence number "
                f"{cur.sequence_number} is greater than {other.sequence_number}."
            )
        if self.reason is CurrentReason.EQUAL_IDENTICAL:
            return (
                f"No header is current: both are valid with the same sequence number "
                f"{h1.sequence_number} and identical bytes (as Disk2VHD writes them). "
                "Windows and QEMU accept this; the spec calls it corrupt."
            )
        if self.reason is CurrentReason.EQUAL_DIFFERENT:
            return (
                f"No header is current: both are valid with the same sequence number "
                f"{h1.sequence_number} but their contents differ."
            )
        why = "; ".join(f"header {h.slot}: {'; '.join(h.invalid_reasons())}" for h in headers)
        return f"No header is current: neither slot is valid ({why})."


def choose_current(h1: Header, h2: Header) -> HeaderChoice:
    """The spec's rule: the only valid header, or the valid one with the strictly greater
    sequence number. Equal sequence numbers leave no current header."""
    if h1.valid and not h2.valid:
        return HeaderChoice(1, CurrentReason.ONLY_VALID)
    if h2.valid and not h1.valid:
        return HeaderChoice(2, CurrentReason.ONLY_VALID)
    if not h1.valid and not h2.valid:
        return HeaderChoice(None, CurrentReason.NONE_VALID)
    if h1.sequence_number > h2.sequence_number:
        return HeaderChoice(1, CurrentReason.HIGHER_SEQUENCE)
    if h2.sequence_number > h1.sequence_number:
        return HeaderChoice(2, CurrentReason.HIGHER_SEQUENCE)
    if h1.field_bytes() == h2.field_bytes():
        return HeaderChoice(None, CurrentReason.EQUAL_IDENTICAL)
    return HeaderChoice(None, CurrentReason.EQUAL_DIFFERENT)


def effective_header(headers: tuple[Header, Header], choice: HeaderChoice) -> Header | None:
    """The header whose fields describe the file.

    The current one; with byte-identical equal headers (Disk2VHD) slot 1, since both say
    the same thing and every peer reads the file that way.
    """
    if choice.current is not None:
        return headers[choice.current - 1]
    if choice.reason is CurrentReason.EQUAL_IDENTICAL:
        return headers[0]
    return None


def differing_fields(h1: Header, h2: Header) -> tuple[str, ...]:
    """Names of the defined fields whose values differ between the two slots."""
    return tuple(f.attr for f in FIELDS_BY_OFFSET if getattr(h1, f.attr) != getattr(h2, f.attr))


def field_value(h: Header, f: HeaderField) -> object:
    """The field's value as --json gives it: GUIDs as strings, numbers as numbers."""
    value = getattr(h, f.attr)
    return str(value) if f.kind is FieldKind.GUID else value


def field_text(h: Header, f: HeaderField) -> str:
    """The field's value in plain words, as every view shows it (no verdict attached)."""
    value = getattr(h, f.attr)
    if f.kind is FieldKind.SIGNATURE:
        return printable(value.decode("latin-1"))
    if f.kind is FieldKind.CHECKSUM:
        return f"0x{value:08x}"
    if f.kind is FieldKind.OFFSET:
        return f"0x{value:x}"
    return str(value)


def slot_summary(h: Header) -> str:
    """One line naming a slot's essential fields (the ``summary`` ones), e.g. for choosing
    the slot a header update is built from."""
    fields = (f"{f.name} {field_text(h, f)}" for f in HEADER_FIELDS if f.summary)
    return f"header {h.slot}: " + ", ".join(fields)


def check_headers(headers: tuple[Header, Header], choice: HeaderChoice) -> list[Finding]:
    """Findings about both slots and about the header that describes the file."""
    findings: list[Finding] = []
    for h in headers:
        where = f"header slot {h.slot} @ 0x{h.offset:x}"
        code = f"header.slot{h.slot}"
        if not h.present:
            findings.append(
                error(f"{code}.missing", where, f"the file ends before header slot {h.slot}")
            )
            continue
        if not h.signature_ok:
            findings.append(
                error(
                    f"{code}.signature",
                    where,
                    f"header {h.slot} has signature {h.signature!r} instead of 'head'",
                )
            )
        if not h.checksum_ok:
            findings.append(
                error(
                    f"{code}.checksum",
                    where,
                    f"header {h.slot} fails its checksum: stored 0x{h.checksum:08x}, "
                    f"computed 0x{h.computed_checksum:08x}",
                )
            )
        if h.valid and not h.reserved_zero:
            findings.append(
                warning(
                    f"{code}.reserved",
                    where,
                    f"header {h.slot} has non-zero reserved bytes (80..4095); the spec wants "
                    "zeros (QEMU keeps stale bytes when it rewrites a slot)",
                )
            )

    h1, h2 = headers
    if choice.reason is CurrentReason.NONE_VALID:
        findings.append(
            error("header.none_valid", "headers", "neither header slot is valid: no current header")
        )
    elif choice.reason is CurrentReason.EQUAL_IDENTICAL:
        findings.append(
            warning(
                "header.equal_sequence_identical",
                "headers",
                f"both headers are valid with the same sequence number {h1.sequence_number} "
                "and identical bytes (Disk2VHD writes this); the spec defines no current "
                "header here, Windows and QEMU use them. A header update from either slot "
                "normalises it.",
                suggest(Option.FROM_SLOT, 1),
            )
        )
    elif choice.reason is CurrentReason.EQUAL_DIFFERENT:
        diff = ", ".join(f for f in differing_fields(h1, h2) if f != "checksum")
        findings.append(
            error(
                "header.equal_sequence_different",
                "headers",
                f"both headers are valid with the same sequence number {h1.sequence_number} "
                f"but differ ({diff}): no header is current",
            )
        )
    elif choice.current is not None and h1.valid and h2.valid:
        changed = tuple(
            f
            for f in differing_fields(h1, h2)
            if f not in ("checksum", "sequence_number", "file_write_guid")
        )
        if changed:
            findings.append(
                info(
                    "header.slots_differ",
                    "headers",
                    f"the two valid headers differ in {', '.join(changed)}; header "
                    f"{choice.current} is current and wins",
                )
            )

    eff = effective_header(headers, choice)
    if eff is None:
        return findings
    where = f"header slot {eff.slot} @ 0x{eff.offset:x}"
    if eff.version != layout.HEADER_VERSION:
        findings.append(
            error(
                "header.version",
                where,
                f"the current header has Version {eff.version}; only 1 is defined, so the "
                "file must not be used under this specification",
            )
        )
    if eff.log_version != layout.LOG_VERSION and eff.log_guid != layout.ZERO_GUID:
        findings.append(
            error(
                "header.log_version",
                where,
                f"the current header has LogVersion {eff.log_version} (must be 0) and a "
                "non-zero LogGuid: the log cannot be processed",
            )
        )
    elif eff.log_version != layout.LOG_VERSION:
        findings.append(
            warning(
                "header.log_version_unused",
                where,
                f"LogVersion is {eff.log_version} (should be 0); harmless while LogGuid is zero, "
                "but QEMU refuses the file",
            )
        )
    if eff.sequence_number >= MAX_SEQUENCE - 1:
        findings.append(
            warning(
                "header.sequence_overflow",
                where,
                "the sequence number is at its maximum: headers can no longer be updated",
            )
        )
    return findings


def next_header(
    base: Header,
    *,
    sequence_number: int,
    file_write_guid: uuid.UUID,
    data_write_guid: uuid.UUID | None = None,
    log_guid: uuid.UUID | None = None,
) -> bytes:
    """Serialise a new 4 KiB header built from ``base``'s fields (§2.2.2.1 step 2-4)."""
    return serialise_header(
        sequence_number=sequence_number,
        file_write_guid=file_write_guid,
        data_write_guid=base.data_write_guid if data_write_guid is None else data_write_guid,
        log_guid=base.log_guid if log_guid is None else log_guid,
        log_length=base.log_length,
        log_offset=base.log_offset,
    )


__all__ = [
    "FIELDS_BY_OFFSET",
    "FIELD_BY_ATTR",
    "HEADER_FIELDS",
    "CurrentReason",
    "FieldKind",
    "Header",
    "HeaderChoice",
    "HeaderField",
    "check_headers",
    "choose_current",
    "differing_fields",
    "effective_header",
    "field_struct",
    "field_text",
    "field_value",
    "next_header",
    "parse_header",
    "serialise_header",
    "slot_summary",
]
