"""Planning the header double update (MS-VHDX §2.2.2.1): pure, no I/O.

The plan says exactly what will be written (slot order, sequence numbers, GUIDs) or why the
update must not be done. :mod:`vhdxray.core.write.update` carries a plan out through the writer;
the verdict and the app plan without importing any writing code.
"""

from __future__ import annotations

import uuid

from vhdxray.core.analysis.reader import Report
from vhdxray.core.format import layout
from vhdxray.core.format.guid import new_guid
from vhdxray.core.format.header import MAX_SEQUENCE, Header, next_header
from vhdxray.core.format.record import record


@record
class Refusal:
    """Why an update will not be done; ``code`` is stable, ``reason`` is plain words."""

    code: str
    reason: str


@record
class SlotWrite:
    slot: int
    sequence_number: int
    data: bytes  # the full 4 KiB


@record
class HeaderUpdatePlan:
    base_slot: int  # the slot whose fields are carried over
    first: SlotWrite
    second: SlotWrite
    file_write_guid: uuid.UUID
    data_write_guid: uuid.UUID
    log_guid: uuid.UUID
    old_file_write_guid: uuid.UUID
    old_data_write_guid: uuid.UUID
    old_log_guid: uuid.UUID
    log_offset: int
    log_length: int
    expected: tuple[bytes, bytes]  # slot 1 and slot 2 bytes the plan was built from
    notes: tuple[str, ...]  # consequences worth saying before confirming

    @property
    def unchanged(self) -> tuple[str, ...]:
        kept = []
        if self.data_write_guid == self.old_data_write_guid:
            kept.append(f"DataWriteGuid {self.data_write_guid}")
        if self.log_guid == self.old_log_guid:
            kept.append(f"LogGuid {self.log_guid}")
        kept.append(f"LogOffset 0x{self.log_offset:x}, LogLength {self.log_length}")
        kept.append("everything outside the two 4 KiB header structures")
        return tuple(kept)

    def describe(self) -> list[str]:
        """The plan in plain words, one line each (CLI and confirmation dialog)."""
        lines = [
            f"Build the new header from header {self.base_slot}.",
            f"1. Write header slot {self.first.slot} "
            f"(offset 0x{layout.HEADER_SLOT_OFFSETS[self.first.slot - 1]:x}) with sequence "
            f"number {self.first.sequence_number}, then fsync and verify.",
            f"2. Write header slot {self.second.slot} "
            f"(offset 0x{layout.HEADER_SLOT_OFFSETS[self.second.slot - 1]:x}) with sequence "
            f"number {self.second.sequence_number}, then fsync and verify.",
            f"New FileWriteGuid (both slots): {self.file_write_guid}",
        ]
        if self.data_write_guid != self.old_data_write_guid:
            lines.append(
                f"New DataWriteGuid: {self.data_write_guid} (was {self.old_data_write_guid}); "
                "differencing children linked to the old value will no longer match."
            )
        if self.log_guid != self.old_log_guid:
            lines.append(f"LogGuid: {self.log_guid} (was {self.old_log_guid})")
        lines.append("Unchanged: " + "; ".join(self.unchanged) + ".")
        lines.extend(self.notes)
        return lines

    def to_json(self) -> dict[str, object]:
        return {
            "base_slot": self.base_slot,
            "writes": [
                {
                    "slot": w.slot,
                    "sequence_number": w.sequence_number,
                    "offset": layout.HEADER_SLOT_OFFSETS[w.slot - 1],
                }
                for w in (self.first, self.second)
            ],
            "file_write_guid": str(self.file_write_guid),
            "data_write_guid": str(self.data_write_guid),
            "log_guid": str(self.log_guid),
            "old_file_write_guid": str(self.old_file_write_guid),
            "notes": list(self.notes),
        }


def is_usable(h: Header) -> bool:
    """A header this spec can process: Version 1, and LogVersion 0 unless LogGuid is zero."""
    return h.version == layout.HEADER_VERSION and (
        h.log_version == layout.LOG_VERSION or h.log_guid == layout.ZERO_GUID
    )


def plan_header_update(
    report: Report,
    *,
    from_slot: int | None = None,
    new_data_write_guid: bool = False,
    log_guid: uuid.UUID | None = None,
    file_write_guid: uuid.UUID | None = None,
    allow_pending_log: bool = False,
) -> HeaderUpdatePlan | Refusal:
    """Plan the update, or say why it must not be done. Pure: no I/O.

    ``log_guid`` sets a new LogGuid (log replay and stale-GUID repairs); ``allow_pending_log``
    is for the replay itself, whose first header update must keep the pending log's GUID.
    """
    if not report.is_vhdx:
        return Refusal("not_vhdx", f"{report.path} is not a VHDX image: {report.description}")
    headers, choice = report.headers, report.header_choice
    assert headers is not None and choice is not None
    if report.file_size < layout.HEADER_SLOT_OFFSETS[1] + layout.HEADER_SIZE:
        return Refusal(
            "truncated",
            "the file ends inside the header section: writing headers would extend it; "
            "nothing was written",
        )
    notes: list[str] = []
    if from_slot is not None:
        if from_slot not in (1, 2):
            return Refusal("bad_slot", f"--from-slot must be 1 or 2, not {from_slot}")
        current = headers[choice.current - 1] if choice.current is not None else None
        if current is not None and choice.current != from_slot and is_usable(current):
            return Refusal(
                "from_slot_not_current",
                f"header {choice.current} is current; the update is built from it. "
                "--from-slot is only for images with no current header, or whose current "
                "header declares an unsupported Version or LogVersion.",
            )
        base = headers[from_slot - 1]
        if not base.valid:
            return Refusal(
                "from_slot_invalid",
                f"header {from_slot} is not valid ({'; '.join(base.invalid_reasons())}): "
                "a header cannot be rebuilt from it",
            )
        first_slot, second_slot = 3 - from_slot, from_slot
        if choice.current is None:
            notes.append(
                f"There is no current header; you chose header {from_slot} as the source of "
                f"truth. Header {3 - from_slot}'s differing fields will be lost."
            )
        elif current is not None and choice.current != from_slot:
            notes.append(
                f"Header {choice.current} is current but declares Version {current.version}, "
                f"LogVersion {current.log_version}; you chose the older header {from_slot} "
                f"(sequence {base.sequence_number}) as the source of truth. Header "
                f"{choice.current}'s fields are replaced."
            )
    else:
        if choice.current is None:
            return Refusal(
                "no_current_header",
                choice.explain(headers)
                + " Choose the slot to rebuild from with --from-slot 1 or --from-slot 2.",
            )
        base = headers[choice.current - 1]
        first_slot, second_slot = 3 - choice.current, choice.current

    if not is_usable(base) and from_slot is None:
        other = headers[2 - base.slot]
        alternative = (
            f" --from-slot {other.slot} rebuilds from the older header {other.slot}, which "
            "is valid and version 1;"
            if other.valid and is_usable(other)
            else ""
        )
        if base.version != layout.HEADER_VERSION:
            return Refusal(
                "unsupported_version",
                f"header {base.slot} has Version {base.version}; rewriting it would declare a "
                f"version 1 file.{alternative} if you are sure the file is version 1, use "
                f"--from-slot {base.slot}.",
            )
        return Refusal(
            "unsupported_log_version",
            f"header {base.slot} has LogVersion {base.log_version} and a non-zero LogGuid: "
            "its log is in a format this specification does not define, and writing "
            f"LogVersion 0 would let readers replay it.{alternative} to rewrite it anyway, "
            f"use --from-slot {base.slot}.",
        )
    if base.version != layout.HEADER_VERSION:
        notes.append(
            f"Header {base.slot} says Version {base.version}; the new headers say Version 1."
        )
    if base.log_version != layout.LOG_VERSION:
        notes.append(f"LogVersion {base.log_version} will be written as 0.")
    log = report.log
    if log is not None and log.replay_needed and not allow_pending_log:
        return Refusal(
            "log_replay_pending",
            "a log replay is pending: the log must be replayed first (vhdxray repair), or "
            "its changes to the metadata and BAT would be lost",
        )
    if base.sequence_number > MAX_SEQUENCE - 2:
        return Refusal(
            "sequence_overflow",
            f"sequence number {base.sequence_number} cannot grow by 2 without overflowing",
        )
    fwg = file_write_guid or new_guid()
    dwg = new_guid() if new_data_write_guid else base.data_write_guid
    lg = base.log_guid if log_guid is None else log_guid
    first_seq, second_seq = base.sequence_number + 1, base.sequence_number + 2
    first = SlotWrite(
        first_slot,
        first_seq,
        next_header(
            base, sequence_number=first_seq, file_write_guid=fwg, data_write_guid=dwg, log_guid=lg
        ),
    )
    second = SlotWrite(
        second_slot,
        second_seq,
        next_header(
            base, sequence_number=second_seq, file_write_guid=fwg, data_write_guid=dwg, log_guid=lg
        ),
    )
    return HeaderUpdatePlan(
        base_slot=base.slot,
        first=first,
        second=second,
        file_write_guid=fwg,
        data_write_guid=dwg,
        log_guid=lg,
        old_file_write_guid=base.file_write_guid,
        old_data_write_guid=base.data_write_guid,
        old_log_guid=base.log_guid,
        log_offset=base.log_offset,
        log_length=base.log_length,
        expected=(headers[0].raw, headers[1].raw),
        notes=tuple(notes),
    )
