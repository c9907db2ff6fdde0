"""Clear a stale LogGuid: the header names a log that holds no valid sequence to replay (the
spec calls such a file corrupt). Headers only; the log region's bytes stay for inspection."""

from __future__ import annotations

from collections.abc import Iterable

from vhdxray.core.analysis.repairids import BACKUP_OPERATIONS, CLEAR_LOG_GUID, FIXES, HEADERS
from vhdxray.core.write.repairs import FROM_SLOT, RepairKind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

    from vhdxray.core.write.repair import PlanContext, Refused, Repair, RepairSession, StepResult

KIND: Final = RepairKind(
    id=CLEAR_LOG_GUID,
    title="Clear the stale LogGuid",
    label="Clear the stale LogGuid",
    help="Set a LogGuid that no valid log sequence carries to zero (headers only)",
    question="Clear the LogGuid now?",
    finding_codes=FIXES[CLEAR_LOG_GUID],
    options=(FROM_SLOT,),
    backup_operations=BACKUP_OPERATIONS[CLEAR_LOG_GUID],
    order=20,
    module=__name__,
    action="clear-log-guid",
    updates_headers=True,
)


def plan(ctx: PlanContext) -> Iterable[Repair | Refused]:
    from vhdxray.core.format import layout
    from vhdxray.core.write.outcome import RefusalCode
    from vhdxray.core.write.outcome import Refused as Refusal
    from vhdxray.core.write.repair import Refused, Repair
    from vhdxray.core.write.repairs import _headers

    report, title = ctx.report, KIND.title
    log, eff = report.log, report.effective_header
    if (
        ctx.replay_pending
        or eff is None
        or eff.log_guid == layout.ZERO_GUID
        or log is None
        or log.active is not None
    ):
        return ()
    codes = ctx.codes(KIND.finding_codes)
    if log.log_version != layout.LOG_VERSION:
        return (
            Refused(
                CLEAR_LOG_GUID,
                title,
                RefusalCode.UNSUPPORTED_LOG_VERSION,
                f"LogVersion is {log.log_version}: the log has an unknown format, so vhdxray "
                "cannot tell that it holds nothing to replay",
                finding_codes=(*codes, *ctx.codes(("log.version_unsupported",))),
                params={"log_version": log.log_version},
            ),
        )
    hplan = _headers.plan_update(ctx, log_guid=layout.ZERO_GUID)
    if isinstance(hplan, Refusal):
        return (_headers.header_refused(CLEAR_LOG_GUID, title, hplan, report, codes),)
    matching = [e for e in log.entries if e.guid_matches]
    why = [
        f"LogGuid is {eff.log_guid}, so the header says a log is pending, but "
        + (
            "the log has no space (LogLength 0)."
            if log.log_length == 0
            else "no entry in the log carries that GUID."
            if not matching
            else f"the {len(matching)} entr{'y' if len(matching) == 1 else 'ies'} carrying it "
            "are damaged or form no valid sequence."
        ),
        "No data is lost by clearing it: the spec replays only a valid sequence of entries "
        "with the header's LogGuid, and there is none, so nothing in the log can ever be "
        "applied. A writer changes the metadata only after its log entry is complete and "
        "flushed, so whatever an incomplete entry described never reached the file. The "
        "metadata and BAT on disk are what every reader uses now (QEMU already opens the file "
        "that way); LogGuid zero only records that the log is empty.",
        "This is typically a crash between setting LogGuid and writing the first log entry.",
    ]
    lines = [
        *why,
        *_headers.update_lines(hplan),
        "Stays: the log region's bytes (kept for inspection), DataWriteGuid, and every byte "
        "outside the two 4 KiB header structures.",
        *_headers.consequences(report, hplan)[-1:],
    ]
    header_codes = ctx.codes(FIXES[HEADERS])
    return (
        Repair(CLEAR_LOG_GUID, title, tuple(lines), (*codes, *header_codes), ctx.options, KIND),
    )


def run(session: RepairSession, repair: Repair) -> StepResult:
    from vhdxray.core.format import layout
    from vhdxray.core.write.repair import StepResult
    from vhdxray.core.write.repairs import _headers

    start = len(session.backups)
    report = session.write.read_report()
    eff, log = report.effective_header, report.log
    if eff is None or eff.log_guid == layout.ZERO_GUID or log is None or log.active is not None:
        return StepResult(CLEAR_LOG_GUID, False, ("LogGuid is no longer stale.",), ())
    plan = _headers.session_update(
        session, report, KIND.backup_operations[0], log_guid=layout.ZERO_GUID
    )
    lines = (
        f"Headers updated (sequence {plan.second.sequence_number}): LogGuid {plan.old_log_guid} "
        "replaced by zero; the log region is untouched.",
    )
    return StepResult(CLEAR_LOG_GUID, True, lines, tuple(session.backups[start:]))
