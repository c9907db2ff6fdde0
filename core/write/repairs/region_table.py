"""Rewrite a damaged (or differing) region table copy from the other (MS-VHDX 2.2.3); the
copy rewrite itself is :mod:`vhdxray.core.write.regionrepair`. The headers are updated first
(new FileWriteGuid) unless an earlier step of the run did it."""

from __future__ import annotations

from collections.abc import Iterable

from vhdxray.core.analysis.repairids import BACKUP_OPERATIONS, FIXES, HEADERS, REGION_TABLE
from vhdxray.core.write.repairs import FROM_SLOT, OptionKind, OptionSpec, RepairKind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

    from vhdxray.core.write.repair import PlanContext, Refused, Repair, RepairSession, StepResult

REGION_TABLE_FROM: Final = OptionSpec(
    "region_table_from",
    OptionKind.COPY,
    "the region table copy that wins when both are valid but differ",
)

KIND: Final = RepairKind(
    id=REGION_TABLE,
    title="Repair the region tables",
    label="Repair the region tables",
    help="Rewrite a damaged (or differing) region table copy from the other",
    question="Rewrite this region table copy now?",
    finding_codes=FIXES[REGION_TABLE],
    options=(FROM_SLOT, REGION_TABLE_FROM),
    backup_operations=BACKUP_OPERATIONS[REGION_TABLE],
    order=30,
    module=__name__,
    action="repair-region-tables",
    updates_headers=True,
)


def plan(ctx: PlanContext) -> Iterable[Repair | Refused]:
    from vhdxray.core.source import ImageSource
    from vhdxray.core.write.outcome import RefusalCode
    from vhdxray.core.write.outcome import Refused as Refusal
    from vhdxray.core.write.regionrepair import copy_summary, plan_region_repair
    from vhdxray.core.write.repair import Choice, Refused, Repair
    from vhdxray.core.write.repairs import _headers

    report, options = ctx.report, ctx.options
    choose = options.slot(REGION_TABLE_FROM.name)
    try:
        with ImageSource(report.path) as source:
            rplan = plan_region_repair(report, choose=choose, read=source.read_at)
    except OSError:
        rplan = plan_region_repair(report, choose=choose)
    codes = ctx.codes(KIND.finding_codes)
    if rplan is None:
        return ()
    title = KIND.title
    if isinstance(rplan, Refusal):
        lines: tuple[str, ...] = ()
        choices: tuple[Choice, ...] = ()
        if rplan.code is RefusalCode.REGION_CHOICE_NEEDED and report.region_tables is not None:
            summary: list[str] = []
            with ImageSource(report.path) as source:
                for t in report.region_tables:
                    summary += copy_summary(t, source.read_at, report.file_size)
            lines = tuple(summary)
            choices = tuple(
                Choice(
                    REGION_TABLE_FROM.name,
                    n,
                    f"copy {n} wins: copy {3 - n} is overwritten with it",
                )
                for n in (1, 2)
            )
        return (Refused.of(REGION_TABLE, title, rplan, lines, choices, codes),)
    title = f"Rewrite region table copy {rplan.target} from copy {rplan.source}"
    if ctx.replay_pending and not ctx.headers_updated:
        return (
            Refused(
                REGION_TABLE,
                title,
                RefusalCode.LOG_REPLAY_PENDING,
                "a log replay is pending and cannot be done; nothing else may change first",
                rplan.lines,
                finding_codes=codes,
            ),
        )
    lines_list = list(rplan.lines)
    header_codes: tuple[str, ...] = ()
    if not ctx.headers_updated:
        hplan = _headers.plan_update(ctx)
        if isinstance(hplan, Refusal):
            wrapped = Refusal(
                hplan.code,
                "the headers must be updated (new FileWriteGuid) before any other part of "
                "the file changes (MS-VHDX 2.2.2.1), and that update is refused: " + hplan.reason,
                hplan.params,
            )
            return (_headers.header_refused(REGION_TABLE, title, wrapped, report, codes),)
        header_codes = ctx.codes(FIXES[HEADERS])
        lines_list.insert(
            0,
            "First the headers are updated (both slots, new FileWriteGuid, built from header "
            f"{hplan.base_slot}), as MS-VHDX 2.2.2.1 requires before any other part of the file "
            "changes"
            + (f"; this also repairs: {', '.join(header_codes)}." if header_codes else "."),
        )
    return (Repair(REGION_TABLE, title, tuple(lines_list), (*codes, *header_codes), options, KIND),)


def run(session: RepairSession, repair: Repair) -> StepResult:
    from vhdxray.core.write.outcome import RefusalCode, WriteFailed, WriteState
    from vhdxray.core.write.outcome import Refused as Refusal
    from vhdxray.core.write.regionrepair import (
        RegionTablePlan,
        plan_region_repair,
        run_region_repair,
    )
    from vhdxray.core.write.repair import StepResult
    from vhdxray.core.write.repairs import _headers

    start = len(session.backups)
    write = session.write
    choose = session.options.slot(REGION_TABLE_FROM.name)
    report = write.read_report()
    plan = plan_region_repair(report, choose=choose, read=write.read_at)
    if plan is None:
        return StepResult(REGION_TABLE, False, ("The region tables need nothing.",), ())
    if isinstance(plan, Refusal):
        raise plan
    lines: list[str] = []
    if write.file_write_guid is None:
        hplan = _headers.session_update(session, report, KIND.backup_operations[0])
        lines.append(
            f"Headers updated first (sequence {hplan.second.sequence_number}, new FileWriteGuid "
            f"{hplan.file_write_guid})."
        )
        report = write.read_report()
        again = plan_region_repair(report, choose=choose, read=write.read_at)
        if not isinstance(again, RegionTablePlan):
            raise Refusal(
                RefusalCode.REGION_CHANGED,
                "the region tables changed during the header update; nothing else was written",
            )
        plan = again
    run_region_repair(write.path, plan, session=write)
    after = write.read_report()
    tables = after.region_tables
    if tables is None or not (tables[0].valid and tables[1].valid):
        raise WriteFailed(
            "after the rewrite a region table copy still reads as invalid",
            tuple(session.backups[start:]),
            WriteState.UNVERIFIED,
        )
    lines.append(f"Region table copy {plan.target} rewritten from copy {plan.source}.")
    return StepResult(REGION_TABLE, True, tuple(lines), tuple(session.backups[start:]))
