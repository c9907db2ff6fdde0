"""Plan every repair an image needs, and carry them out in a safe order.

:func:`plan_repairs` looks at a :class:`Report` (and reads the few bytes it needs to preview a
log replay) and returns a :class:`RepairPlan`: the repairs that apply, each a :class:`Repair`
with a stable ``id``, a title, plain-words lines (what is written, what stays, consequences)
and :meth:`Repair.execute`, plus :class:`Refused` items saying what will not be done and why
(with the choices that would make it possible). :func:`run_repairs` executes a plan, in
place or into a copy.

The order is fixed: the log replay first (nothing else may change while a replay is pending),
then clearing a stale LogGuid (the spec calls a file with one corrupt), then the region
tables, then the headers. Per MS-VHDX 2.2.2.1 the headers are updated, with a new FileWriteGuid,
before any other part of the file changes: the replay and the LogGuid repair do that as their
first step, and a region-table repair does it itself when it runs first in its session. One
FileWriteGuid serves a whole session.

Every step re-reads the image when it runs and plans its writes from what it finds, so a step
made unnecessary by an earlier one (a header slot rewritten by the replay) ends with "nothing
left to do", and every write goes through :mod:`vhdxray.core.write.writer` (lock, backup, write,
fsync, read back, verify). Each write step leaves a backup; restore them newest first.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from vhdxray.core.analysis.reader import Report, read_report
from vhdxray.core.analysis.repairids import (
    CLEAR_LOG_GUID,
    FIXES,
    HEADERS,
    ORDER,
    REGION_TABLE,
    REPLAY,
    TRUNCATION,
)
from vhdxray.core.analysis.truncation import TruncationMap, truncation_map
from vhdxray.core.analysis.updatebase import is_usable, source_slot
from vhdxray.core.format import layout
from vhdxray.core.format.findings import Severity
from vhdxray.core.format.header import CurrentReason, Header, differing_fields
from vhdxray.core.progress import Cancelled, Progress
from vhdxray.core.source import ImageSource
from vhdxray.core.write.imagecopy import CopyError, copy_image
from vhdxray.core.write.outcome import (
    RefusalCode,
    VhdxrayError,
    WriteFailed,
    WriteState,
)
from vhdxray.core.write.preflight import check_backup_dir, check_copy_target
from vhdxray.core.write.regionrepair import (
    RegionTablePlan,
    copy_summary,
    plan_region_repair,
    run_region_repair,
)
from vhdxray.core.write.replay import (
    MAX_ZEROED_DATA,
    ReplayPreview,
    describe_replay,
    preview_replay,
    replay_from_slot,
    run_replay,
)
from vhdxray.core.write.session import WriteHooks, WriteSession
from vhdxray.core.write.update import (
    HeaderUpdatePlan,
    Refusal,
    plan_header_update,
    run_header_update,
)

# Header and region findings a header update / a region table rewrite resolves.
_HEADER_CODES: Final = FIXES[HEADERS]
_REGION_CODES: Final = FIXES[REGION_TABLE]


@dataclass(frozen=True, slots=True)
class RepairOptions:
    from_slot: int | None = None  # the header slot to rebuild from when none is current
    region_table_from: int | None = None  # the copy that wins when both are valid but differ
    into_copy: bool = False  # the repairs will run on a copy (--output)


@dataclass(frozen=True, slots=True)
class Choice:
    """A value the user may pick to make a refused repair possible."""

    option: str  # "from_slot" or "region_table_from" (CLI: --from-slot, --region-table-from)
    value: int
    label: str

    def to_json(self) -> dict[str, object]:
        return {"option": self.option, "value": self.value, "label": self.label}


@dataclass(frozen=True, slots=True)
class Refused:
    """A repair that will not be done, and why."""

    id: str
    title: str
    reason: str
    lines: tuple[str, ...] = ()
    choices: tuple[Choice, ...] = ()
    finding_codes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "reason": self.reason,
            "lines": list(self.lines),
            "choices": [c.to_json() for c in self.choices],
            "finding_codes": list(self.finding_codes),
        }


RepairError = VhdxrayError
"""A repair step stopped: :class:`Refused` (that step wrote nothing) or :class:`WriteFailed`
(``backups`` undo what it wrote). ``error.refused`` tells which."""


@dataclass
class RepairSession:
    """State shared by the steps of one run: the options and the one write session (lock,
    descriptor, backups, the run's FileWriteGuid)."""

    options: RepairOptions
    write: WriteSession

    @property
    def path(self) -> Path:
        return self.write.path

    @property
    def backups(self) -> list[Path]:
        return self.write.backups


@dataclass(frozen=True, slots=True)
class StepResult:
    id: str
    done: bool  # False: nothing was left to do when the step ran
    lines: tuple[str, ...]
    backups: tuple[Path, ...]  # oldest first

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "done": self.done,
            "lines": list(self.lines),
            "backups": [str(b) for b in self.backups],
        }


Action = Callable[[RepairSession], StepResult]


@dataclass(frozen=True, slots=True)
class Repair:
    """One applicable repair. :meth:`execute` blocks; run it in a worker thread."""

    id: str
    title: str
    lines: tuple[str, ...]
    finding_codes: tuple[str, ...]
    options: RepairOptions
    action: Action

    def execute(
        self,
        path: str | os.PathLike[str],
        *,
        backup_dir: str | os.PathLike[str] | None = None,
        hooks: WriteHooks | None = None,
    ) -> StepResult:
        """Run this repair alone on ``path`` in a write session of its own (raises
        :class:`Refused` or :class:`WriteFailed`)."""
        with WriteSession(path, backup_dir=backup_dir, hooks=hooks) as write:
            return _run_step(self, RepairSession(self.options, write))

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "lines": list(self.lines),
            "finding_codes": list(self.finding_codes),
        }


@dataclass(frozen=True, slots=True)
class RepairPlan:
    path: Path
    report: Report
    options: RepairOptions
    repairs: tuple[Repair, ...]  # in the order they run
    refusals: tuple[Refused, ...]
    replay: ReplayPreview | None = None
    truncation: TruncationMap | None = None
    notes: tuple[str, ...] = ()  # errors no repair addresses, and similar

    @property
    def nothing_to_do(self) -> bool:
        return not self.repairs and not self.refusals

    def for_finding(self, code: str) -> Repair | Refused | None:
        """The repair (or refusal) that addresses finding ``code``, for the app."""
        items: list[Repair | Refused] = [*self.repairs, *self.refusals]
        for item in items:
            if code in item.finding_codes:
                return item
        return None

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "repairs": [r.to_json() for r in self.repairs],
            "refusals": [r.to_json() for r in self.refusals],
            "replay": None if self.replay is None else self.replay.to_json(),
            "truncation": None if self.truncation is None else self.truncation.to_json(),
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------------------------
# Helpers


def _codes(report: Report, wanted: tuple[str, ...]) -> tuple[str, ...]:
    present = [f.code for f in report.findings if f.code in wanted]
    return tuple(dict.fromkeys(present))


def header_from_slot(report: Report, from_slot: int | None) -> int | None:
    """The slot a header update is built from (see updatebase.source_slot)."""
    return source_slot(report, from_slot)


def _slot_text(h: Header) -> str:
    return (
        f"header {h.slot}: sequence {h.sequence_number}, Version {h.version}, DataWriteGuid "
        f"{h.data_write_guid}, LogGuid {h.log_guid}, log at 0x{h.log_offset:x} "
        f"({h.log_length} bytes)"
    )


def _slot_choices(report: Report) -> tuple[Choice, ...]:
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
        out.append(Choice("from_slot", h.slot, "rebuild both headers from " + _slot_text(h)))
    return tuple(out)


def _header_refused(
    rid: str, title: str, refusal: Refusal, report: Report, codes: tuple[str, ...]
) -> Refused:
    choices: tuple[Choice, ...] = ()
    lines: list[str] = []
    if (
        refusal.code in ("no_current_header", "unsupported_version", "unsupported_log_version")
        and report.headers
    ):
        choices = _slot_choices(report)
        h1, h2 = report.headers
        lines = [_slot_text(h) for h in report.headers if h.valid]
        if h1.valid and h2.valid:
            diff = [f for f in differing_fields(h1, h2) if f != "checksum"]
            if diff:
                lines.append("They differ in: " + ", ".join(diff) + ".")
    return Refused(rid, title, refusal.reason, tuple(lines), choices, codes)


def _update_lines(plan: HeaderUpdatePlan) -> list[str]:
    """The update plan in words, without the GUID drawn for the preview: the step plans again
    when it runs (from the image as it is then) and draws its own."""
    return [
        "New FileWriteGuid in both slots: a fresh random GUID, drawn when the repair runs."
        if line.startswith("New FileWriteGuid")
        else line
        for line in plan.describe()
    ]


def _header_consequences(report: Report, plan: HeaderUpdatePlan) -> list[str]:
    lines: list[str] = []
    choice = report.header_choice
    if choice is not None and choice.reason is CurrentReason.EQUAL_IDENTICAL:
        lines.append(
            "Both headers are byte-identical with equal sequence numbers (Disk2VHD writes them "
            "so); the spec defines no current header then. After the update the slots carry "
            "consecutive sequence numbers and one is current, for every reader."
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


def _session_header_update(
    session: RepairSession, report: Report, operation: str, *, log_guid: uuid.UUID | None = None
) -> HeaderUpdatePlan:
    """One header update in the run's write session, the session's FileWriteGuid reused."""
    write = session.write
    plan = plan_header_update(
        report,
        from_slot=header_from_slot(report, session.options.from_slot),
        log_guid=log_guid,
        file_write_guid=write.file_write_guid,
    )
    if isinstance(plan, Refusal):
        raise plan
    run_header_update(write.path, plan, operation=operation, session=write)
    write.file_write_guid = plan.file_write_guid
    return plan


def _run_step(repair: Repair, session: RepairSession) -> StepResult:
    start = len(session.backups)
    try:
        return repair.action(session)
    except Refusal:
        raise
    except WriteFailed as exc:
        raise exc.with_backups(tuple(session.backups[start:])) from exc
    except OSError as exc:
        raise WriteFailed(
            f"I/O error: {exc.strerror or exc}", tuple(session.backups[start:])
        ) from exc


# --------------------------------------------------------------------------------------------
# The steps


def _replay_action(session: RepairSession) -> StepResult:
    start = len(session.backups)
    write = session.write
    report = write.read_report()
    outcome = run_replay(
        write.path,
        from_slot=replay_from_slot(report, session.options.from_slot),
        file_write_guid=write.file_write_guid,
        session=write,
    )
    if outcome.file_write_guid is not None:
        write.file_write_guid = outcome.file_write_guid
    return StepResult(REPLAY, outcome.replayed, outcome.lines, tuple(session.backups[start:]))


def _clear_guid_action(session: RepairSession) -> StepResult:
    start = len(session.backups)
    report = session.write.read_report()
    eff = report.effective_header
    log = report.log
    if eff is None or eff.log_guid == layout.ZERO_GUID or log is None or log.active is not None:
        return StepResult(CLEAR_LOG_GUID, False, ("LogGuid is no longer stale.",), ())
    plan = _session_header_update(session, report, "clear-log-guid", log_guid=layout.ZERO_GUID)
    lines = (
        f"Headers updated (sequence {plan.second.sequence_number}): LogGuid {plan.old_log_guid} "
        "replaced by zero; the log region is untouched.",
    )
    return StepResult(CLEAR_LOG_GUID, True, lines, tuple(session.backups[start:]))


def _region_action(session: RepairSession) -> StepResult:
    start = len(session.backups)
    write = session.write
    report = write.read_report()
    plan = plan_region_repair(report, choose=session.options.region_table_from, read=write.read_at)
    if plan is None:
        return StepResult(REGION_TABLE, False, ("The region tables need nothing.",), ())
    if isinstance(plan, Refusal):
        raise plan
    lines: list[str] = []
    if write.file_write_guid is None:
        hplan = _session_header_update(session, report, "region-table-headers")
        lines.append(
            f"Headers updated first (sequence {hplan.second.sequence_number}, new FileWriteGuid "
            f"{hplan.file_write_guid})."
        )
        report = write.read_report()
        again = plan_region_repair(
            report, choose=session.options.region_table_from, read=write.read_at
        )
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


def _header_action(session: RepairSession) -> StepResult:
    start = len(session.backups)
    report = session.write.read_report()
    codes = _codes(report, _HEADER_CODES)
    if not codes:
        return StepResult(
            HEADERS, False, ("The headers need nothing (an earlier step rewrote them).",), ()
        )
    plan = _session_header_update(session, report, "update-headers")
    lines = (
        f"Headers rebuilt from header {plan.base_slot}: slot {plan.first.slot} sequence "
        f"{plan.first.sequence_number}, slot {plan.second.slot} sequence "
        f"{plan.second.sequence_number}; both valid.",
    )
    return StepResult(HEADERS, True, lines, tuple(session.backups[start:]))


# --------------------------------------------------------------------------------------------
# Planning


def plan_repairs(report: Report, options: RepairOptions | None = None) -> RepairPlan:
    """Every repair that applies to the image ``report`` describes, in the order they run,
    and what will not be done. Reads the image (read-only) to preview a log replay and to
    look at region tables; never writes."""
    options = RepairOptions() if options is None else options
    path = Path(report.path)
    repairs: list[Repair] = []
    refusals: list[Refused] = []
    notes: list[str] = []
    if not report.is_vhdx:
        refusals.append(Refused("not_vhdx", "Not a VHDX image", report.description))
        return RepairPlan(path, report, options, (), tuple(refusals))

    trunc = truncation_map(report, path)
    if trunc is not None:
        refusals.append(
            Refused(
                TRUNCATION,
                "The file is truncated",
                f"{trunc.missing_bytes} bytes are missing from the end of the file and "
                f"{trunc.lost_bytes} bytes of the virtual disk are lost; vhdxray never invents "
                "the missing data",
                tuple(trunc.describe()),
                (),
                _codes(
                    report,
                    (
                        "bat.block.past_eof",
                        "bat.sector_bitmap.past_eof",
                        "bat.region.truncated",
                        "region.past_eof",
                        "log.file_too_short",
                        "log.past_eof",
                        "file.truncated",
                    ),
                ),
            )
        )

    header_update_first = False  # a step before the region repair updates the headers
    log = report.log
    preview: ReplayPreview | None = None
    replay_pending = log is not None and log.replay_needed
    if replay_pending:
        preview, item = _plan_replay(report, options)
        if isinstance(item, Repair):
            repairs.append(item)
            header_update_first = True
        else:
            refusals.append(item)

    eff = report.effective_header
    stale_guid = (
        not replay_pending
        and eff is not None
        and eff.log_guid != layout.ZERO_GUID
        and log is not None
        and log.active is None
    )
    if stale_guid:
        item2 = _plan_clear_guid(report, options)
        if isinstance(item2, Repair):
            repairs.append(item2)
            header_update_first = True
        else:
            refusals.append(item2)

    region_item = _plan_region(report, options, header_update_first, replay_pending)
    if isinstance(region_item, Repair):
        repairs.append(region_item)
    elif region_item is not None:
        refusals.append(region_item)

    header_codes = _codes(report, _HEADER_CODES)
    covered = any(r.id in (REPLAY, CLEAR_LOG_GUID, REGION_TABLE) for r in repairs)
    if header_codes and not covered:
        item3 = _plan_headers(report, options, header_codes, replay_pending)
        if item3 is not None:
            if isinstance(item3, Repair):
                repairs.append(item3)
            else:
                refusals.append(item3)
    elif header_codes and covered:
        notes.append(
            "The header problems (" + ", ".join(header_codes) + ") are repaired as a side "
            "effect: the first repair rewrites both header slots from the current one."
        )
    if "header.none_valid" in {f.code for f in report.findings}:
        refusals.append(
            Refused(
                HEADERS,
                "No valid header",
                "neither header slot is valid, so there is no header to rebuild from; vhdxray "
                "does not invent one",
                finding_codes=("header.none_valid",),
            )
        )
    if "header.log_version" in {f.code for f in report.findings}:
        refusals.append(
            Refused(
                HEADERS,
                "Unknown log version",
                "the current header has a LogVersion other than 0 and a LogGuid: its log has an "
                "unknown format, so vhdxray neither replays it nor declares it empty",
                finding_codes=("header.log_version", "log.version_unsupported"),
            )
        )

    every: list[Repair | Refused] = [*repairs, *refusals]
    handled = {c for item in every for c in item.finding_codes}
    handled.update(header_codes)
    rest = [f for f in report.findings if f.severity is Severity.ERROR and f.code not in handled]
    if rest:
        notes.append(
            f"{len(rest)} error finding(s) that no repair here addresses: "
            + "; ".join(f"{f.code} ({f.where})" for f in rest[:5])
            + ("; ..." if len(rest) > 5 else "")
            + ". See `vhdxray check`."
        )
    ordered = sorted(repairs, key=lambda r: ORDER.index(r.id))
    return RepairPlan(
        path=path,
        report=report,
        options=options,
        repairs=tuple(ordered),
        refusals=tuple(refusals),
        replay=preview,
        truncation=trunc,
        notes=tuple(notes),
    )


def _plan_replay(
    report: Report, options: RepairOptions
) -> tuple[ReplayPreview | None, Repair | Refused]:
    title = "Replay the pending log"
    codes = _codes(report, FIXES[REPLAY])
    try:
        preview = preview_replay(report.path, report)
    except OSError as exc:
        return None, Refused(REPLAY, title, f"the log cannot be read: {exc.strerror or exc}")
    if preview is None:  # pragma: no cover - the report said a replay is needed
        return None, Refused(REPLAY, title, "the log no longer needs a replay; read it again")
    if preview.blockers:
        lines = tuple(preview.describe())
        return preview, Refused(
            REPLAY,
            title,
            "the log must not be replayed: " + "; ".join(preview.blockers),
            lines,
            finding_codes=(*codes, *_codes(report, ("log.file_too_short",))),
        )
    if preview.zeroed_data_bytes > MAX_ZEROED_DATA and not options.into_copy:
        return preview, Refused(
            REPLAY,
            title,
            f"the replay would overwrite {preview.zeroed_data_bytes} bytes of existing data "
            "with zeros, more than vhdxray backs up in one go; replay into a copy (--output "
            "COPY) instead",
            tuple(preview.describe()),
            finding_codes=codes,
        )
    plan = plan_header_update(
        report,
        from_slot=replay_from_slot(report, options.from_slot),
        allow_pending_log=True,
    )
    if isinstance(plan, Refusal):
        return preview, _header_refused(REPLAY, title, plan, report, codes)
    text = describe_replay(preview)
    header_codes = _codes(report, _HEADER_CODES)
    if header_codes:
        text.append(
            "Both header slots are rewritten from header "
            f"{plan.base_slot}, which also repairs: {', '.join(header_codes)}."
        )
    return preview, Repair(
        REPLAY, title, tuple(text), (*codes, *header_codes), options, _replay_action
    )


def _plan_clear_guid(report: Report, options: RepairOptions) -> Repair | Refused:
    title = "Clear the stale LogGuid"
    log = report.log
    eff = report.effective_header
    assert log is not None and eff is not None
    codes = _codes(report, FIXES[CLEAR_LOG_GUID])
    if log.log_version != layout.LOG_VERSION:
        return Refused(
            CLEAR_LOG_GUID,
            title,
            f"LogVersion is {log.log_version}: the log has an unknown format, so vhdxray cannot "
            "tell that it holds nothing to replay",
            finding_codes=(*codes, *_codes(report, ("log.version_unsupported",))),
        )
    plan = plan_header_update(
        report,
        from_slot=header_from_slot(report, options.from_slot),
        log_guid=layout.ZERO_GUID,
    )
    if isinstance(plan, Refusal):
        return _header_refused(CLEAR_LOG_GUID, title, plan, report, codes)
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
        *_update_lines(plan),
        "Stays: the log region's bytes (kept for inspection), DataWriteGuid, and every byte "
        "outside the two 4 KiB header structures.",
        *_header_consequences(report, plan)[-1:],
    ]
    header_codes = _codes(report, _HEADER_CODES)
    return Repair(
        CLEAR_LOG_GUID, title, tuple(lines), (*codes, *header_codes), options, _clear_guid_action
    )


def _plan_region(
    report: Report, options: RepairOptions, headers_first: bool, replay_pending: bool
) -> Repair | Refused | None:
    try:
        with ImageSource(report.path) as source:
            plan = plan_region_repair(report, choose=options.region_table_from, read=source.read_at)
    except OSError:
        plan = plan_region_repair(report, choose=options.region_table_from)
    codes = _codes(report, _REGION_CODES)
    if plan is None:
        return None
    title = "Repair the region tables"
    if isinstance(plan, Refusal):
        lines: tuple[str, ...] = ()
        choices: tuple[Choice, ...] = ()
        if plan.code == "region.choice_needed" and report.region_tables is not None:
            summary: list[str] = []
            with ImageSource(report.path) as source:
                for t in report.region_tables:
                    summary += copy_summary(t, source.read_at, report.file_size)
            lines = tuple(summary)
            choices = tuple(
                Choice(
                    "region_table_from",
                    n,
                    f"copy {n} wins: copy {3 - n} is overwritten with it",
                )
                for n in (1, 2)
            )
        return Refused(REGION_TABLE, title, plan.reason, lines, choices, codes)
    title = f"Rewrite region table copy {plan.target} from copy {plan.source}"
    if replay_pending and not headers_first:
        return Refused(
            REGION_TABLE,
            title,
            "a log replay is pending and cannot be done; nothing else may change first",
            plan.lines,
            finding_codes=codes,
        )
    lines_list = list(plan.lines)
    header_codes: tuple[str, ...] = ()
    if not headers_first:
        hplan = plan_header_update(report, from_slot=header_from_slot(report, options.from_slot))
        if isinstance(hplan, Refusal):
            return _header_refused(
                REGION_TABLE,
                title,
                Refusal(
                    hplan.code,
                    "the headers must be updated (new FileWriteGuid) before any other part of "
                    "the file changes (MS-VHDX 2.2.2.1), and that update is refused: "
                    + hplan.reason,
                ),
                report,
                codes,
            )
        header_codes = _codes(report, _HEADER_CODES)
        lines_list.insert(
            0,
            "First the headers are updated (both slots, new FileWriteGuid, built from header "
            f"{hplan.base_slot}), as MS-VHDX 2.2.2.1 requires before any other part of the file "
            "changes"
            + (f"; this also repairs: {', '.join(header_codes)}." if header_codes else "."),
        )
    return Repair(
        REGION_TABLE, title, tuple(lines_list), (*codes, *header_codes), options, _region_action
    )


def _plan_headers(
    report: Report, options: RepairOptions, codes: tuple[str, ...], replay_pending: bool
) -> Repair | Refused | None:
    title = "Rewrite both headers"
    if replay_pending:
        return Refused(
            HEADERS,
            title,
            "a log replay is pending and cannot be done; the headers must not change first",
            finding_codes=codes,
        )
    plan = plan_header_update(report, from_slot=header_from_slot(report, options.from_slot))
    if isinstance(plan, Refusal):
        return _header_refused(HEADERS, title, plan, report, codes)
    described = _update_lines(plan)
    choice = report.header_choice
    if choice is not None and choice.reason is CurrentReason.EQUAL_IDENTICAL:
        # The planner's generic "differing fields will be lost" note does not apply.
        described = [d for d in described if not d.startswith("There is no current header")]
    lines = [*described, *_header_consequences(report, plan)]
    return Repair(HEADERS, title, tuple(lines), codes, options, _header_action)


# --------------------------------------------------------------------------------------------
# Running a plan


@dataclass(frozen=True, slots=True)
class RepairRun:
    target: Path  # the image that was written (the copy with --output)
    copied_from: Path | None
    steps: tuple[StepResult, ...]
    backups: tuple[Path, ...]  # oldest first; restore newest first
    report: Report | None  # the target as read at the end (None if it was never made)
    error: RepairError | None = None
    failed_step: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "target": str(self.target),
            "copied_from": None if self.copied_from is None else str(self.copied_from),
            "steps": [s.to_json() for s in self.steps],
            "backups": [str(b) for b in self.backups],
            "failed_step": self.failed_step,
            "error": None if self.error is None else self.error.to_json(),
            "refused": None if self.error is None else self.error.refused,
        }


def run_repairs(
    plan: RepairPlan,
    *,
    output: str | os.PathLike[str] | None = None,
    backup_dir: str | os.PathLike[str] | None = None,
    hooks: WriteHooks | None = None,
    progress: Callable[[Repair], None] | None = None,
    tracker: Progress | None = None,
) -> RepairRun:
    """Carry out ``plan.repairs`` in order, in ONE write session (the image is locked from the
    first re-read to the last verification); stop at the first step that fails or is refused.

    With ``output`` the image is first copied there (sparsely; the ranges a replay zeroes
    are left as holes) and the copy is repaired; the original is never opened for writing.
    Everything checkable (the backup folder, room for the copy) is checked before copying,
    and a copy in which nothing was written is removed again when the run is refused.
    ``progress`` is called before each step; ``tracker`` counts bytes written and may cancel
    between steps (a step is never cut in the middle). Exceptions other than the outcome
    model's (e.g. a test's simulated crash) propagate.
    """
    target = plan.path
    copied: Path | None = None
    refusal = check_backup_dir(backup_dir, Path(output) if output is not None else plan.path)
    if refusal is None and output is not None:
        refusal = check_copy_target(plan.path, Path(output))
    if refusal is not None:
        return RepairRun(Path(output or plan.path), None, (), (), None, refusal, "preflight")
    if output is not None:
        holes = () if plan.replay is None else plan.replay.final_zero_runs
        try:
            target = copy_image(plan.path, output, leave_holes=holes, progress=tracker)
        except Cancelled:  # copy_image removed the partial copy
            cancelled = Refusal(RefusalCode.CANCELLED, "cancelled while copying; no copy is left")
            return RepairRun(Path(output), None, (), (), None, cancelled, "copy")
        except CopyError as exc:
            return RepairRun(
                Path(output), None, (), (), None, Refusal(RefusalCode.COPY_FAILED, str(exc)), "copy"
            )
        copied = plan.path
    steps: list[StepResult] = []
    try:
        with WriteSession(target, backup_dir=backup_dir, hooks=hooks, progress=tracker) as write:
            session = RepairSession(plan.options, write)
            for repair in plan.repairs:
                if tracker is not None and tracker.cancelled:
                    raise _Stop(
                        repair.id,
                        Refusal(
                            RefusalCode.CANCELLED,
                            "cancelled before this step; the steps before it are complete",
                        ),
                    )
                if progress is not None:
                    progress(repair)
                try:
                    steps.append(_run_step(repair, session))
                except VhdxrayError as exc:
                    raise _Stop(repair.id, exc) from exc
            return RepairRun(
                target, copied, tuple(steps), tuple(write.backups), write.read_report()
            )
    except _Stop as stop:
        backups = tuple(write.backups)
        failed, error = stop.step, stop.error
    except Refusal as exc:  # the session could not be opened (in use, no permission)
        backups, error = (), exc
        failed = plan.repairs[0].id if plan.repairs else "open"  # the first step cannot start
    if copied is not None and error.refused and not backups:
        Path(target).unlink(missing_ok=True)  # nothing was written into it: no copy is left
        return RepairRun(target, None, (), (), None, error, failed)
    return RepairRun(target, copied, tuple(steps), backups, read_report(target), error, failed)


class _Stop(Exception):
    def __init__(self, step: str, error: VhdxrayError) -> None:
        super().__init__(str(error))
        self.step = step
        self.error = error
