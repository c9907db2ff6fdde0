"""Planning the header double update (MS-VHDX §2.2.2.1): pure, no I/O.

The plan says exactly what will be written (slot order, sequence numbers, GUIDs) or why the
update must not be done. :mod:`vhdxray.core.write.update` carries a plan out through the writer;
the verdict and the app plan without importing any writing code.
"""

from __future__ import annotations

from vhdxray.core.analysis.reader import Report
from vhdxray.core.analysis.updatebase import choose_update_base
from vhdxray.core.format import layout
from vhdxray.core.format.guid import new_guid
from vhdxray.core.format.header import next_header
from vhdxray.core.format.record import record
from vhdxray.core.outcome import Refused

TYPE_CHECKING = False
if TYPE_CHECKING:
    import uuid  # annotations only: uuid imports platform


Refusal = Refused
"""Why an update will not be done (the outcome model's :class:`Refused`: ``code``, ``params``,
``reason``); plans return it instead of raising."""


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
    chosen = choose_update_base(report, from_slot=from_slot, allow_pending_log=allow_pending_log)
    if isinstance(chosen, Refused):
        return chosen
    headers = report.headers
    assert headers is not None
    base, first_slot, second_slot = chosen.base, chosen.first_slot, chosen.second_slot
    notes = list(chosen.notes)
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
