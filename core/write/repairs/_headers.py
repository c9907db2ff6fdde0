"""What the kinds that rewrite the headers share: the header update inside the run's session,
and its words (the slot choice, the consequences). Not a kind (no ``KIND``)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import uuid

    from vhdxray.core.analysis.reader import Report
    from vhdxray.core.write.headerplan import HeaderUpdatePlan
    from vhdxray.core.write.outcome import Refused as Refusal
    from vhdxray.core.write.repair import Choice, PlanContext, Refused, RepairSession


def slot_choices(report: Report) -> tuple[Choice, ...]:
    from vhdxray.core.analysis.updatebase import is_usable
    from vhdxray.core.format.header import slot_summary
    from vhdxray.core.write.repair import Choice

    if report.headers is None:
        return ()
    choice = report.header_choice
    out = []
    current = report.effective_header if choice is not None and choice.current else None
    # A current header with an unsupported Version/LogVersion may be replaced by the other slot.
    any_slot = current is None or not is_usable(current)
    for h in report.headers:
        if not h.valid:
            continue
        if not any_slot and choice is not None and choice.current != h.slot:
            continue
        out.append(Choice("from_slot", h.slot, "rebuild both headers from " + slot_summary(h)))
    return tuple(out)


def header_refused(
    rid: str, title: str, refusal: Refusal, report: Report, codes: tuple[str, ...]
) -> Refused:
    """A refused header update as the planner's record, with the slot choice when one would
    make it possible."""
    from vhdxray.core.format.header import differing_fields, slot_summary
    from vhdxray.core.write.outcome import RefusalCode
    from vhdxray.core.write.repair import Refused

    choices: tuple[Choice, ...] = ()
    lines: list[str] = []
    slot_codes = (
        RefusalCode.NO_CURRENT_HEADER,
        RefusalCode.UNSUPPORTED_VERSION,
        RefusalCode.UNSUPPORTED_LOG_VERSION,
    )
    if refusal.code in slot_codes and report.headers:
        choices = slot_choices(report)
        h1, h2 = report.headers
        lines = [slot_summary(h) for h in report.headers if h.valid]
        if h1.valid and h2.valid:
            diff = [f for f in differing_fields(h1, h2) if f != "checksum"]
            if diff:
                lines.append("They differ in: " + ", ".join(diff) + ".")
    return Refused.of(rid, title, refusal, lines, choices, codes)


def update_lines(plan: HeaderUpdatePlan) -> list[str]:
    """The update plan in words, without the GUID drawn for the preview: the step plans again
    when it runs (from the image as it is then) and draws its own."""
    return [
        "New FileWriteGuid in both slots: a fresh random GUID, drawn when the repair runs."
        if line.startswith("New FileWriteGuid")
        else line
        for line in plan.describe()
    ]


def consequences(report: Report, plan: HeaderUpdatePlan) -> list[str]:
    from vhdxray.core.format.header import CurrentReason

    lines: list[str] = []
    choice = report.header_choice
    if (
        choice is not None
        and report.headers is not None
        and choice.reason is CurrentReason.EQUAL_IDENTICAL
    ):
        lines.append(
            choice.explain(report.headers) + " After the update the slots carry consecutive "
            "sequence numbers and one is current, for every reader."
        )
    if report.headers is not None:
        for h in report.headers:
            if not h.valid:
                lines.append(
                    f"Header {h.slot} is damaged ({'; '.join(h.invalid_reasons())}); it is "
                    f"overwritten with a correct copy built from header {plan.base_slot}."
                )
    lines.append(
        "If interrupted: the slot being written may be torn, but the other slot keeps a valid "
        "header, so the file stays readable; run the repair again to finish."
    )
    return lines


def plan_update(
    ctx: PlanContext,
    *,
    log_guid: uuid.UUID | None = None,
    allow_pending_log: bool = False,
    new_data_write_guid: bool = False,
    as_asked: bool = False,
) -> HeaderUpdatePlan | Refusal:
    """The header update a kind's plan previews, from the slot the one rule picks (with
    ``as_asked``, only the slot the user chose: an update asked for by name makes no choice
    for the user)."""
    from vhdxray.core.analysis.updatebase import source_slot
    from vhdxray.core.write.headerplan import plan_header_update

    chosen = ctx.options.slot("from_slot")
    return plan_header_update(
        ctx.report,
        from_slot=chosen if as_asked else source_slot(ctx.report, chosen),
        log_guid=log_guid,
        allow_pending_log=allow_pending_log,
        new_data_write_guid=new_data_write_guid,
    )


def session_update(
    session: RepairSession,
    report: Report,
    operation: str,
    *,
    log_guid: uuid.UUID | None = None,
    file_write_guid: uuid.UUID | None = None,
    new_data_write_guid: bool = False,
) -> HeaderUpdatePlan:
    """One header update in the run's write session, the session's FileWriteGuid reused (or
    ``file_write_guid``, the one a confirmation showed, when the session has none yet)."""
    from vhdxray.core.analysis.updatebase import source_slot
    from vhdxray.core.write.headerplan import plan_header_update
    from vhdxray.core.write.outcome import Refused as Refusal
    from vhdxray.core.write.update import run_header_update

    write = session.write
    plan = plan_header_update(
        report,
        from_slot=source_slot(report, session.options.slot("from_slot")),
        log_guid=log_guid,
        file_write_guid=write.file_write_guid or file_write_guid,
        new_data_write_guid=new_data_write_guid,
    )
    if isinstance(plan, Refusal):
        raise plan
    run_header_update(write.path, plan, operation=operation, session=write)
    write.file_write_guid = plan.file_write_guid
    return plan
