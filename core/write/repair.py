"""The repair engine: plan every registered repair an image needs, and carry them out in
one write session.

The repairs themselves are the kinds of the registry (:mod:`vhdxray.core.write.repairs`), one
module each. :func:`plan_repairs` asks every kind, in its declared order, to plan against a
:class:`Report` (a kind may read the few bytes it needs, e.g. to preview a log replay) and
returns a :class:`RepairPlan`: the repairs that apply, each a :class:`Repair` with a stable
``id``, a title, plain-words lines (what is written, what stays, consequences), plus
:class:`Refused` items saying what will not be done, with a stable :class:`RefusalCode`, its
parameters and the choices that would make it possible. :func:`run_repairs` executes a plan,
in place or into a copy, every step inside ONE :class:`WriteSession`.

The order is the kinds' (log replay first: nothing else may change while a replay is
pending; then clearing a stale LogGuid, the region tables, the headers, the parent locator).
Per MS-VHDX 2.2.2.1 the headers are updated, with a new FileWriteGuid, before any other part of
the file changes; one FileWriteGuid serves a whole session. Every step re-reads the image when
it runs and plans its writes from what it finds, so a step made unnecessary by an earlier one
ends with "nothing left to do". Each write step leaves a backup; restore them newest first.

The planner's words are default English for the CLI; they name no command-line flag (the
front ends render options from the kinds' declarations: flags in the CLI, keys in the app).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping

from vhdxray.core.analysis.reader import Report, read_report
from vhdxray.core.analysis.truncation import TruncationMap
from vhdxray.core.fileio import path_text
from vhdxray.core.format.findings import Severity
from vhdxray.core.format.record import field, mutable_record, record, replace
from vhdxray.core.progress import Cancelled, Progress
from vhdxray.core.write.imagecopy import CopyError, StagedCopy, copy_image
from vhdxray.core.write.outcome import RefusalCode, Suggestions, VhdxrayError, WriteFailed
from vhdxray.core.write.outcome import Refused as Refusal
from vhdxray.core.write.preflight import check_backup_dir, check_copy_target
from vhdxray.core.write.repairs import RepairKind, kinds
from vhdxray.core.write.session import WriteHooks, WriteSession

TYPE_CHECKING = False
if TYPE_CHECKING:
    from vhdxray.core.write.replay import ReplayPreview

OptionValue = int | str | bool


class RepairOptions:
    """The options of one plan, by the name the kinds declare (``from_slot=1``,
    ``region_table_from=2``, ``parent="/new/base.vhdx"``...), plus ``into_copy`` (the repairs
    will run on a copy). Hashable: the app caches a plan per options."""

    __slots__ = ("into_copy", "values")

    def __init__(self, *, into_copy: bool = False, **values: OptionValue | None) -> None:
        self.into_copy = into_copy
        self.values: tuple[tuple[str, OptionValue], ...] = tuple(
            sorted((k, v) for k, v in values.items() if v is not None and v is not False)
        )

    def get(self, name: str) -> OptionValue | None:
        return dict(self.values).get(name)

    def slot(self, name: str) -> int | None:
        value = self.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def with_values(self, **values: OptionValue | None) -> RepairOptions:
        merged: dict[str, OptionValue | None] = {**dict(self.values), **values}
        return RepairOptions(into_copy=self.into_copy, **merged)

    def _key(self) -> tuple[object, ...]:
        return (self.values, self.into_copy)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RepairOptions) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.values)
        return f"RepairOptions({inner}{', ' if inner else ''}into_copy={self.into_copy})"

    def to_json(self) -> dict[str, object]:
        return {**dict(self.values), "into_copy": self.into_copy}


@record
class Choice:
    """A value the user may pick to make a refused repair possible. ``option`` is a name a
    kind declares (its :class:`~vhdxray.core.write.repairs.OptionSpec`); ``value`` None: the
    user supplies the value (a path)."""

    option: str
    value: int | str | None
    label: str

    def to_json(self) -> dict[str, object]:
        return {"option": self.option, "value": self.value, "label": self.label}


@record
class Refused:
    """A repair that will not be done: its stable ``code`` and ``params`` (the outcome
    model's), the default English ``reason``, the choices that would make it possible (with
    what each plans to), and ``suggest``: the options the reason points at, which the front
    ends render (flags in the CLI, keys in the app)."""

    id: str
    title: str
    code: RefusalCode
    reason: str
    lines: tuple[str, ...] = ()
    choices: tuple[Choice, ...] = ()
    finding_codes: tuple[str, ...] = ()
    params: Mapping[str, object] = field(default_factory=dict)
    suggest: Suggestions = ()

    @classmethod
    def of(
        cls,
        rid: str,
        title: str,
        refusal: Refusal,
        lines: Iterable[str] = (),
        choices: Iterable[Choice] = (),
        finding_codes: Iterable[str] = (),
    ) -> Refused:
        """The record of an outcome-model refusal (its code, params and reason)."""
        return cls(
            rid,
            title,
            refusal.code,
            refusal.reason,
            tuple(lines),
            tuple(choices),
            tuple(finding_codes),
            dict(refusal.params),
            refusal.suggest,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "code": self.code.value,
            "params": {k: _plain(v) for k, v in self.params.items()},
            "reason": self.reason,
            "lines": list(self.lines),
            "choices": [c.to_json() for c in self.choices],
            "finding_codes": list(self.finding_codes),
            "suggest": [x.to_json() for x in self.suggest],
        }


def _plain(value: object) -> object:
    return value if isinstance(value, int | str | bool | float) or value is None else str(value)


RepairError = VhdxrayError
"""A repair step stopped: :class:`~vhdxray.core.outcome.Refused` (that step wrote nothing) or
:class:`WriteFailed` (``backups`` undo what it wrote). ``error.refused`` tells which."""


@mutable_record
class RepairSession:
    """State shared by the steps of one run: the options and the one write session (lock,
    descriptor, backups, the run's FileWriteGuid)."""

    options: RepairOptions
    write: WriteSession

    @property
    def path(self) -> str:
        return self.write.path

    @property
    def backups(self) -> list[str]:
        return self.write.backups


@record
class StepResult:
    id: str
    done: bool  # False: nothing was left to do when the step ran
    lines: tuple[str, ...]
    backups: tuple[str, ...]  # oldest first

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "done": self.done,
            "lines": list(self.lines),
            "backups": list(self.backups),
        }


@record
class Repair:
    """One applicable repair. :meth:`execute` blocks; run it in a worker thread. ``carry``
    is the kind's own data from plan to run (e.g. a previewed GUID)."""

    id: str
    title: str
    lines: tuple[str, ...]
    finding_codes: tuple[str, ...]
    options: RepairOptions
    kind: RepairKind
    carry: object = None

    def execute(
        self,
        path: str | os.PathLike[str],
        *,
        backup_dir: str | os.PathLike[str] | None = None,
        hooks: WriteHooks | None = None,
    ) -> StepResult:
        """Run this repair alone on ``path`` in a write session of its own (raises
        :class:`~vhdxray.core.outcome.Refused` or :class:`WriteFailed`)."""
        with WriteSession(path, backup_dir=backup_dir, hooks=hooks) as write:
            return _run_step(self, RepairSession(self.options, write))

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "lines": list(self.lines),
            "finding_codes": list(self.finding_codes),
        }


@mutable_record
class PlanContext:
    """What the kinds see while a plan is made, in their order: the image, the options, the
    kinds asked for by name, and what the kinds before them planned."""

    report: Report
    options: RepairOptions
    requested: frozenset[str] = frozenset()  # kinds asked for by name (update-headers)
    repairs: list[Repair] = field(default_factory=list)
    refusals: list[Refused] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    handled: set[str] = field(default_factory=set)  # finding codes answered besides the items'
    headers_updated: bool = False  # a planned repair before rewrites the headers first
    replay: ReplayPreview | None = None
    truncation: TruncationMap | None = None

    @property
    def path(self) -> str:
        return path_text(self.report.path)

    @property
    def replay_pending(self) -> bool:
        log = self.report.log
        return log is not None and log.replay_needed

    def codes(self, wanted: Iterable[str]) -> tuple[str, ...]:
        """The finding codes of the image among ``wanted``, once each, in finding order."""
        wanted = set(wanted)
        return tuple(dict.fromkeys(f.code for f in self.report.findings if f.code in wanted))


@record
class RepairPlan:
    report: Report
    options: RepairOptions
    repairs: tuple[Repair, ...]  # in the order they run
    refusals: tuple[Refused, ...]
    replay: ReplayPreview | None = None
    truncation: TruncationMap | None = None
    notes: tuple[str, ...] = ()  # errors no repair addresses, and similar

    @property
    def path(self) -> str:
        """The image planned for (as ``str(Path(report.path))``: :func:`~vhdxray.core.fileio.
        path_text`; the write path names files by str, issue 9)."""
        return path_text(self.report.path)

    @property
    def nothing_to_do(self) -> bool:
        return not self.repairs and not self.refusals

    def item(self, repair_id: str) -> Repair | Refused | None:
        """The repair (or refusal) with ``repair_id``."""
        items: list[Repair | Refused] = [*self.repairs, *self.refusals]
        return next((i for i in items if i.id == repair_id), None)

    def for_finding(self, code: str) -> Repair | Refused | None:
        """The repair (or refusal) that addresses finding ``code``, for the app."""
        items: list[Repair | Refused] = [*self.repairs, *self.refusals]
        for item in items:
            if code in item.finding_codes:
                return item
        return None

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "options": self.options.to_json(),
            "repairs": [r.to_json() for r in self.repairs],
            "refusals": [r.to_json() for r in self.refusals],
            "replay": None if self.replay is None else self.replay.to_json(),
            "truncation": None if self.truncation is None else self.truncation.to_json(),
            "notes": list(self.notes),
        }


def _run_step(repair: Repair, session: RepairSession) -> StepResult:
    start = len(session.backups)
    try:
        return repair.kind.run(session, repair)
    except Refusal:
        raise
    except WriteFailed as exc:  # every backup the step made (the session keeps them)
        raise exc.with_backups(tuple(session.backups[start:]) or exc.backups) from exc
    except OSError as exc:
        raise WriteFailed(
            f"I/O error: {exc.strerror or exc}", tuple(session.backups[start:])
        ) from exc


# --------------------------------------------------------------------------------------------
# Planning


def plan_repairs(
    report: Report,
    options: RepairOptions | None = None,
    *,
    only: Iterable[str] | None = None,
    requested: Iterable[str] = (),
) -> RepairPlan:
    """Every repair that applies to the image ``report`` describes, in the order they run,
    and what will not be done. ``only`` limits the plan to some kinds; ``requested`` kinds
    are planned even when no finding asks for them (``update-headers``, the app's ``u``).
    Reads the image (read-only) where a kind needs to; never writes."""
    options = RepairOptions() if options is None else options
    if not report.is_vhdx:
        refused = Refused("not_vhdx", "Not a VHDX image", RefusalCode.NOT_VHDX, report.description)
        return RepairPlan(report, options, (), (refused,))
    wanted = None if only is None else set(only)
    ctx = PlanContext(report, options, frozenset(requested))
    for kind in kinds():
        if wanted is not None and kind.id not in wanted:
            continue
        for item in kind.plan(ctx):
            if isinstance(item, Repair):
                ctx.repairs.append(item)
                if kind.updates_headers:
                    ctx.headers_updated = True
            else:
                ctx.refusals.append(item)
    if wanted is None:
        every: list[Repair | Refused] = [*ctx.repairs, *ctx.refusals]
        handled = {c for item in every for c in item.finding_codes} | ctx.handled
        rest = [
            f for f in report.findings if f.severity is Severity.ERROR and f.code not in handled
        ]
        if rest:
            ctx.notes.append(
                f"{len(rest)} error finding(s) that no repair here addresses: "
                + "; ".join(f"{f.code} ({f.where})" for f in rest[:5])
                + ("; ..." if len(rest) > 5 else "")
                + ". See the findings."
            )
    return RepairPlan(
        report=report,
        options=options,
        repairs=tuple(ctx.repairs),
        refusals=tuple(ctx.refusals),
        replay=ctx.replay,
        truncation=ctx.truncation,
        notes=tuple(ctx.notes),
    )


# --------------------------------------------------------------------------------------------
# Running a plan


@record
class RepairRun:
    """What a run did. Paths are str, as ``str(Path(...))`` writes them (the write path imports
    no pathlib, issue 9)."""

    target: str  # the image that was written (the copy with --output)
    copied_from: str | None
    steps: tuple[StepResult, ...]
    backups: tuple[str, ...]  # oldest first; restore newest first
    report: Report | None  # the target as read at the end (None if it was never made)
    error: RepairError | None = None
    failed_step: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "target": self.target,
            "copied_from": self.copied_from,
            "steps": [s.to_json() for s in self.steps],
            "backups": list(self.backups),
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
    source = plan.report.path
    staged: StagedCopy | None = None
    refusal = check_backup_dir(backup_dir, output if output is not None else source)
    if refusal is None and output is not None:
        refusal = check_copy_target(source, output)
    if refusal is not None:
        return RepairRun(path_text(output or source), None, (), (), None, refusal, "preflight")
    if output is not None:
        holes = () if plan.replay is None else plan.replay.final_zero_runs
        try:
            staged = copy_image(source, output, leave_holes=holes, progress=tracker)
        except Cancelled:  # copy_image removed the partial copy
            cancelled = Refusal(RefusalCode.CANCELLED, "cancelled while copying; no copy is left")
            return RepairRun(path_text(output), None, (), (), None, cancelled, "copy")
        except CopyError as exc:
            error = Refusal(RefusalCode.COPY_FAILED, str(exc))
            return RepairRun(path_text(output), None, (), (), None, error, "copy")
    target = plan.path if staged is None else staged.target
    try:
        run = _run_steps(plan, staged, backup_dir, hooks, progress, tracker)
    except BaseException:
        if staged is not None:  # a crash or a test's simulated one: no partial copy is left
            staged.discard()
        raise
    if staged is None:
        return replace(run, report=_as_checked(target, run.report))
    if run.error is not None and run.error.refused and not run.backups:
        staged.discard()  # nothing was written into it: no copy is left
        return RepairRun(target, None, (), (), None, run.error, run.failed_step)
    try:
        staged.publish()
    except CopyError as exc:
        error = Refusal(RefusalCode.COPY_FAILED, str(exc))
        return RepairRun(target, None, run.steps, run.backups, None, error, "copy")
    report = run.report if run.error is None else read_report(target)
    report = _as_checked(target, report)
    return RepairRun(target, plan.path, run.steps, run.backups, report, run.error, run.failed_step)


def _as_checked(path: str, report: Report | None) -> Report | None:
    """``report`` as ``check`` reads the file: a differencing child's parent lookup adds its
    findings, so what a run says is left (a parent still missing) is what ``check`` says."""
    if report is None:
        return None
    from vhdxray.core.analysis.checked import with_chain_findings

    return with_chain_findings(path, report)[0]


def _run_steps(
    plan: RepairPlan,
    staged: StagedCopy | None,
    backup_dir: str | os.PathLike[str] | None,
    hooks: WriteHooks | None,
    progress: Callable[[Repair], None] | None,
    tracker: Progress | None,
) -> RepairRun:
    """The steps of :func:`run_repairs` in one write session, on the image or on ``staged``
    (whose report is taken before it is published, under its final name)."""
    path = plan.path if staged is None else staged.temp
    name = plan.path if staged is None else staged.target
    steps: list[StepResult] = []
    try:
        with WriteSession(
            path, name=name, backup_dir=backup_dir, hooks=hooks, progress=tracker
        ) as write:
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
            return RepairRun(name, None, tuple(steps), tuple(write.backups), write.read_report())
    except _Stop as stop:
        backups = tuple(write.backups)
        failed, error = stop.step, stop.error
    except Refusal as exc:  # the session could not be opened (in use, no permission)
        backups, error = (), exc
        failed = plan.repairs[0].id if plan.repairs else "open"  # the first step cannot start
    report = None if staged is not None else read_report(name)  # a copy: read once published
    return RepairRun(name, None, tuple(steps), backups, report, error, failed)


class _Stop(Exception):
    def __init__(self, step: str, error: VhdxrayError) -> None:
        super().__init__(str(error))
        self.step = step
        self.error = error
