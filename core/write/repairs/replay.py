"""Replay the pending log (MS-VHDX 2.3.3): the first repair of a run, since nothing else may
change while a replay is pending. The replay itself is :mod:`vhdxray.core.write.replay`."""

from __future__ import annotations

from collections.abc import Iterable

from vhdxray.core.analysis.repairids import BACKUP_OPERATIONS, FIXES, HEADERS, REPLAY
from vhdxray.core.write.repairs import FROM_SLOT, RepairKind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

    from vhdxray.core.write.repair import PlanContext, Refused, Repair, RepairSession, StepResult

KIND: Final = RepairKind(
    id=REPLAY,
    title="Replay the pending log",
    label="Replay log",
    help="Replay the pending log in place (MS-VHDX 2.3.3), after a page-by-page preview",
    question="Replay the log now?",
    finding_codes=FIXES[REPLAY],
    options=(FROM_SLOT,),
    backup_operations=BACKUP_OPERATIONS[REPLAY],
    order=10,
    module=__name__,
    action="replay-log",
    key="l",
    copy_action="replay-log-copy",
    copy_title="Replay the log into a copy",
    copy_label="Replay log into a copy",
    copy_offer="replay into a new copy",
    copy_help="Copy the image beside it and replay the log in the copy; the original stays",
    updates_headers=True,
)


def plan(ctx: PlanContext) -> Iterable[Repair | Refused]:
    from vhdxray.core.write.outcome import Option, RefusalCode, suggest
    from vhdxray.core.write.outcome import Refused as Refusal
    from vhdxray.core.write.repair import Refused, Repair
    from vhdxray.core.write.repairs import _headers
    from vhdxray.core.write.replay import MAX_ZEROED_DATA, describe_replay, preview_replay

    if not ctx.replay_pending:
        return ()
    report, title = ctx.report, KIND.title
    codes = ctx.codes(KIND.finding_codes)
    try:
        preview = preview_replay(report.path, report)
    except OSError as exc:
        reason = f"the log cannot be read: {exc.strerror or exc}"
        return (Refused(REPLAY, title, RefusalCode.LOG_UNREADABLE, reason),)
    if preview is None:  # pragma: no cover - the report said a replay is needed
        reason = "the log no longer needs a replay; read it again"
        return (Refused(REPLAY, title, RefusalCode.NOTHING_TO_DO, reason),)
    ctx.replay = preview
    if preview.blockers:
        return (
            Refused(
                REPLAY,
                title,
                RefusalCode.REPLAY_BLOCKED,
                "the log must not be replayed: " + "; ".join(preview.blockers),
                tuple(preview.describe()),
                finding_codes=(*codes, *ctx.codes(("log.file_too_short",))),
            ),
        )
    if preview.zeroed_data_bytes > MAX_ZEROED_DATA and not ctx.options.into_copy:
        return (
            Refused(
                REPLAY,
                title,
                RefusalCode.ZEROED_DATA_TOO_LARGE,
                f"the replay would overwrite {preview.zeroed_data_bytes} bytes of existing data "
                "with zeros, more than vhdxray backs up in one go; replay into a copy instead",
                tuple(preview.describe()),
                finding_codes=codes,
                params={"bytes": preview.zeroed_data_bytes, "limit": MAX_ZEROED_DATA},
                suggest=suggest(Option.OUTPUT),
            ),
        )
    hplan = _headers.plan_update(ctx, allow_pending_log=True)
    if isinstance(hplan, Refusal):
        return (_headers.header_refused(REPLAY, title, hplan, report, codes),)
    text = describe_replay(preview)
    header_codes = ctx.codes(FIXES[HEADERS])
    if header_codes:
        text.append(
            "Both header slots are rewritten from header "
            f"{hplan.base_slot}, which also repairs: {', '.join(header_codes)}."
        )
    return (Repair(REPLAY, title, tuple(text), (*codes, *header_codes), ctx.options, KIND),)


def run(session: RepairSession, repair: Repair) -> StepResult:
    from vhdxray.core.analysis.updatebase import source_slot
    from vhdxray.core.write.repair import StepResult
    from vhdxray.core.write.replay import run_replay

    start = len(session.backups)
    write = session.write
    report = write.read_report()
    outcome = run_replay(
        write.path,
        from_slot=source_slot(report, session.options.slot("from_slot")),
        file_write_guid=write.file_write_guid,
        session=write,
    )
    if outcome.file_write_guid is not None:
        write.file_write_guid = outcome.file_write_guid
    return StepResult(REPLAY, outcome.replayed, outcome.lines, tuple(session.backups[start:]))
