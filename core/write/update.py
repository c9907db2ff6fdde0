"""The header double update (MS-VHDX §2.2.2.1), run through the writer.

Done better than QEMU: the new header is built from the *current* header (not the stale
slot being overwritten), written as a full 4 KiB with Signature, Version 1, LogVersion 0
and zeroed reserved bytes; one new FileWriteGuid for the session, the same in both writes;
DataWriteGuid and LogGuid kept unless asked; fsync and read-back after each slot.
"""

from __future__ import annotations

import os

from vhdxray.core.analysis.reader import Report
from vhdxray.core.format import layout
from vhdxray.core.format.header import Header, parse_header
from vhdxray.core.format.record import record
from vhdxray.core.write.headerplan import HeaderUpdatePlan, Refusal, SlotWrite, plan_header_update
from vhdxray.core.write.outcome import WriteFailed, WriteState
from vhdxray.core.write.session import (
    PlannedWrite,
    Verify,
    WriteHooks,
    WritePlan,
    WriteResult,
    WriteSession,
)


def _verify_slot(slot: int, sequence: int) -> Verify:
    def verify(back: bytes) -> str | None:
        h: Header = parse_header(back, slot)
        if not h.valid:
            return "reads back invalid: " + "; ".join(h.invalid_reasons())
        if h.sequence_number != sequence:
            return f"reads back sequence {h.sequence_number}, expected {sequence}"
        return None

    return verify


def write_plan(plan: HeaderUpdatePlan, operation: str = "update-headers") -> WritePlan:
    """The two slot writes, in order, each with its read-back verification. ``operation``
    names the backup file (repairs use their own names)."""
    writes = []
    for w in (plan.first, plan.second):
        writes.append(
            PlannedWrite(
                offset=layout.HEADER_SLOT_OFFSETS[w.slot - 1],
                data=w.data,
                label=f"header slot {w.slot} (sequence {w.sequence_number})",
                expected=plan.expected[w.slot - 1],
                verify=_verify_slot(w.slot, w.sequence_number),
            )
        )
    return WritePlan(operation, tuple(writes))


@record
class UpdateOutcome:
    plan: HeaderUpdatePlan
    result: WriteResult
    report: Report  # the image as re-read after the update


UpdateVerificationFailed = WriteFailed  # the update was written but does not read back right


def run_header_update(
    path: str | os.PathLike[str],
    plan: HeaderUpdatePlan,
    *,
    backup_dir: str | os.PathLike[str] | None = None,
    hooks: WriteHooks | None = None,
    operation: str = "update-headers",
    session: WriteSession | None = None,
) -> UpdateOutcome:
    """Execute ``plan`` and check the outcome with a fresh read of the whole image, in
    ``session`` (whose locks are held) or in a session of its own."""
    if session is None:
        with WriteSession(path, backup_dir=backup_dir, hooks=hooks) as own:
            return _run(plan, operation, own)
    return _run(plan, operation, session)


def _run(plan: HeaderUpdatePlan, operation: str, session: WriteSession) -> UpdateOutcome:
    result = session.execute(write_plan(plan, operation))
    after = session.read_report()
    expected_current = plan.second.slot
    if after.current_header != expected_current or after.headers is None:
        raise WriteFailed(
            f"after the update header {expected_current} should be current, but the image "
            f"reads as current={after.current_header}",
            result.backup_path,
            WriteState.UNVERIFIED,
        )
    for h in after.headers:
        if not h.valid:
            raise WriteFailed(
                f"after the update header {h.slot} is not valid",
                result.backup_path,
                WriteState.UNVERIFIED,
            )
    return UpdateOutcome(plan=plan, result=result, report=after)


__all__ = [
    "HeaderUpdatePlan",
    "Refusal",
    "SlotWrite",
    "UpdateOutcome",
    "UpdateVerificationFailed",
    "plan_header_update",
    "run_header_update",
    "write_plan",
]
