"""Rewrite both headers (the MS-VHDX 2.2.2.1 double update) from the current one, or from a
slot the user chooses when none is current.

The one header-update path: ``repair`` plans it when a header finding asks for it;
``update-headers`` and the app's ``u`` ask for it by name (``requested``), so it is planned
on a healthy image too, with the FileWriteGuid the confirmation shows. The update itself is
:mod:`vhdxray.core.write.update`.
"""

from __future__ import annotations

from collections.abc import Iterable

from vhdxray.core.analysis.repairids import BACKUP_OPERATIONS, FIXES, HEADERS
from vhdxray.core.format.record import record
from vhdxray.core.write.repairs import FROM_SLOT, OptionKind, OptionSpec, RepairKind

TYPE_CHECKING = False
if TYPE_CHECKING:
    import uuid
    from typing import Final

    from vhdxray.core.write.headerplan import HeaderUpdatePlan
    from vhdxray.core.write.repair import PlanContext, Refused, Repair, RepairSession, StepResult

NEW_DATA_WRITE_GUID: Final = OptionSpec(
    "new_data_write_guid",
    OptionKind.FLAG,
    "also give the disk a new DataWriteGuid (breaks children's links)",
    risk="differencing children linked to the old DataWriteGuid will no longer match",
)

KIND: Final = RepairKind(
    id=HEADERS,
    title="Rewrite both headers",
    label="Repair the headers",
    help="Rebuild both header slots (from a slot you choose when none is current)",
    question="Rewrite both headers now?",
    finding_codes=FIXES[HEADERS],
    options=(FROM_SLOT, NEW_DATA_WRITE_GUID),
    backup_operations=BACKUP_OPERATIONS[HEADERS],
    order=40,
    module=__name__,
    action="repair-headers",
    updates_headers=True,
)


@record
class Requested:
    """The update asked for by name: the plan shown (its GUID is the one written)."""

    plan: HeaderUpdatePlan
    file_write_guid: uuid.UUID


def plan(ctx: PlanContext) -> Iterable[Repair | Refused]:
    from vhdxray.core.format.header import CurrentReason
    from vhdxray.core.write.outcome import RefusalCode
    from vhdxray.core.write.outcome import Refused as Refusal
    from vhdxray.core.write.repair import Refused, Repair
    from vhdxray.core.write.repairs import _headers

    report, title = ctx.report, KIND.title
    new_dwg = bool(ctx.options.get(NEW_DATA_WRITE_GUID.name))
    codes = ctx.codes(KIND.finding_codes)
    out: list[Repair | Refused] = []
    if HEADERS in ctx.requested:
        hplan = _headers.plan_update(ctx, new_data_write_guid=new_dwg, as_asked=True)
        if isinstance(hplan, Refusal):
            return (_headers.header_refused(HEADERS, title, hplan, report, codes),)
        carry = Requested(hplan, hplan.file_write_guid)
        return (Repair(HEADERS, title, tuple(hplan.describe()), codes, ctx.options, KIND, carry),)
    if codes and not ctx.headers_updated:
        if ctx.replay_pending:
            out.append(
                Refused(
                    HEADERS,
                    title,
                    RefusalCode.LOG_REPLAY_PENDING,
                    "a log replay is pending and cannot be done; the headers must not change first",
                    finding_codes=codes,
                )
            )
        else:
            hplan = _headers.plan_update(ctx, new_data_write_guid=new_dwg)
            if isinstance(hplan, Refusal):
                out.append(_headers.header_refused(HEADERS, title, hplan, report, codes))
            else:
                described = _headers.update_lines(hplan)
                choice = report.header_choice
                if choice is not None and choice.reason is CurrentReason.EQUAL_IDENTICAL:
                    # The planner's generic "differing fields will be lost" note does not apply.
                    described = [
                        d for d in described if not d.startswith("There is no current header")
                    ]
                lines = [*described, *_headers.consequences(report, hplan)]
                out.append(Repair(HEADERS, title, tuple(lines), codes, ctx.options, KIND))
    elif codes:
        ctx.handled.update(codes)
        ctx.notes.append(
            "The header problems (" + ", ".join(codes) + ") are repaired as a side "
            "effect: the first repair rewrites both header slots from the current one."
        )
    findings = {f.code for f in report.findings}
    if "header.none_valid" in findings:
        out.append(
            Refused(
                HEADERS,
                "No valid header",
                RefusalCode.NO_VALID_HEADER,
                "neither header slot is valid, so there is no header to rebuild from; vhdxray "
                "does not invent one",
                finding_codes=("header.none_valid",),
            )
        )
    if "header.log_version" in findings:
        out.append(
            Refused(
                HEADERS,
                "Unknown log version",
                RefusalCode.UNSUPPORTED_LOG_VERSION,
                "the current header has a LogVersion other than 0 and a LogGuid: its log has an "
                "unknown format, so vhdxray neither replays it nor declares it empty",
                finding_codes=("header.log_version", "log.version_unsupported"),
            )
        )
    return out


def run(session: RepairSession, repair: Repair) -> StepResult:
    from vhdxray.core.write.repair import StepResult
    from vhdxray.core.write.repairs import _headers

    start = len(session.backups)
    report = session.write.read_report()
    requested = repair.carry if isinstance(repair.carry, Requested) else None
    if requested is None and not any(f.code in KIND.finding_codes for f in report.findings):
        return StepResult(
            HEADERS, False, ("The headers need nothing (an earlier step rewrote them).",), ()
        )
    plan = _headers.session_update(
        session,
        report,
        KIND.backup_operations[0],
        file_write_guid=None if requested is None else requested.file_write_guid,
        new_data_write_guid=bool(session.options.get(NEW_DATA_WRITE_GUID.name)),
    )
    lines = (
        f"Headers rebuilt from header {plan.base_slot}: slot {plan.first.slot} sequence "
        f"{plan.first.sequence_number}, slot {plan.second.slot} sequence "
        f"{plan.second.sequence_number}; both valid.",
    )
    return StepResult(HEADERS, True, lines, tuple(session.backups[start:]))
