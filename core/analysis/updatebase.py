"""Which header a header update is built from, or why there must be none (MS-VHDX 2.2.2.1):
the one source-header rule. Pure: no I/O, nothing written.

:func:`choose_update_base` decides; :mod:`vhdxray.core.write.headerplan` builds the bytes from
its answer, and the verdict asks it what is safe to do next without importing writing code.
The rule: the current header; with byte-identical equal sequence numbers (Disk2VHD) slot 1;
a slot the user chose (``from_slot``) only when no header is current or the current one
declares an unsupported Version or LogVersion.
"""

from __future__ import annotations

from vhdxray.core.analysis.reader import Report
from vhdxray.core.format import layout
from vhdxray.core.format.header import MAX_SEQUENCE, Header
from vhdxray.core.format.record import record
from vhdxray.core.outcome import Option, Refused, Suggestion, suggest
from vhdxray.core.outcome import RefusalCode as Code

Refusal = Refused


@record
class UpdateBase:
    base: Header  # the slot whose fields are carried over
    first_slot: int  # written first (the non-current slot)
    second_slot: int
    notes: tuple[str, ...]  # consequences worth saying before confirming


def source_slot(report: Report, from_slot: int | None) -> int | None:
    """The slot to build from: the user's choice; else, when no header is current, the header
    the reader uses (header.effective_header: slot 1 for byte-identical equal headers, where
    the choice makes no difference); else None (the current header)."""
    if from_slot is not None:
        return from_slot
    if report.current_header is None and report.effective_header is not None:
        return report.effective_header.slot
    return None


def is_usable(h: Header) -> bool:
    """A header this spec can process: Version 1, and LogVersion 0 unless LogGuid is zero."""
    return h.version == layout.HEADER_VERSION and (
        h.log_version == layout.LOG_VERSION or h.log_guid == layout.ZERO_GUID
    )


def choose_update_base(
    report: Report, *, from_slot: int | None = None, allow_pending_log: bool = False
) -> UpdateBase | Refused:
    """The header an update is built from and the slot order, or why there is none."""
    if not report.is_vhdx:
        return Refusal(Code.NOT_VHDX, f"{report.path} is not a VHDX image: {report.description}")
    headers, choice = report.headers, report.header_choice
    assert headers is not None and choice is not None
    if report.file_size < layout.HEADER_SLOT_OFFSETS[1] + layout.HEADER_SIZE:
        return Refusal(
            Code.TRUNCATED,
            "the file ends inside the header section: writing headers would extend it; "
            "nothing was written",
        )
    notes: list[str] = []
    if from_slot is not None:
        if from_slot not in (1, 2):
            return Refusal(
                Code.BAD_SLOT,
                f"the source slot must be 1 or 2, not {from_slot}",
                {"slot": from_slot},
                suggest=suggest(Option.FROM_SLOT, 1, 2),
            )
        current = headers[choice.current - 1] if choice.current is not None else None
        if current is not None and choice.current != from_slot and is_usable(current):
            return Refusal(
                Code.FROM_SLOT_NOT_CURRENT,
                f"header {choice.current} is current; the update is built from it. A source "
                "slot is chosen only for images with no current header, or whose current "
                "header declares an unsupported Version or LogVersion.",
                {"current": choice.current, "slot": from_slot},
            )
        base = headers[from_slot - 1]
        if not base.valid:
            return Refusal(
                Code.FROM_SLOT_INVALID,
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
            slots = tuple(Suggestion(Option.FROM_SLOT, h.slot) for h in headers if h.valid)
            return Refusal(
                Code.NO_CURRENT_HEADER,
                choice.explain(headers)
                + (
                    " Choose the slot to rebuild from."
                    if slots
                    else " Neither slot can be rebuilt from."  # none valid: nothing to choose
                ),
                suggest=slots,
            )
        base = headers[choice.current - 1]
        first_slot, second_slot = 3 - choice.current, choice.current

    if not is_usable(base) and from_slot is None:
        other = headers[2 - base.slot]
        usable_other = other.valid and is_usable(other)
        alternative = (
            f" Rebuilding from the older header {other.slot}, which is valid and version 1, "
            "is possible."
            if usable_other
            else ""
        )
        slots = suggest(Option.FROM_SLOT, *((other.slot,) if usable_other else ()), base.slot)
        if base.version != layout.HEADER_VERSION:
            return Refusal(
                Code.UNSUPPORTED_VERSION,
                f"header {base.slot} has Version {base.version}; rewriting it would declare a "
                f"version 1 file.{alternative} If you are sure the file is version 1, choose "
                f"header {base.slot} as the source.",
                {"slot": base.slot, "version": base.version},
                suggest=slots,
            )
        return Refusal(
            Code.UNSUPPORTED_LOG_VERSION,
            f"header {base.slot} has LogVersion {base.log_version} and a non-zero LogGuid: "
            "its log is in a format this specification does not define, and writing "
            f"LogVersion 0 would let readers replay it.{alternative} To rewrite it anyway, "
            f"choose header {base.slot} as the source.",
            {"slot": base.slot, "log_version": base.log_version},
            suggest=slots,
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
            Code.LOG_REPLAY_PENDING,
            "a log replay is pending: the log must be replayed first (the log replay "
            "repair), or its changes to the metadata and BAT would be lost",
        )
    if base.sequence_number > MAX_SEQUENCE - 2:
        return Refusal(
            Code.SEQUENCE_OVERFLOW,
            f"sequence number {base.sequence_number} cannot grow by 2 without overflowing",
        )
    return UpdateBase(base, first_slot, second_slot, tuple(notes))
