"""The app side of the repairs: each repair the planner offers becomes a dialog and a job.

:func:`propose_repair` turns one repair of a :class:`~vhdxray.core.write.repair.RepairPlan` into a
:class:`~vhdxray.tui.writeflow.Proposal`, following the header update's pattern:

- a repair that applies: exactly what will be written (the planner's lines), what stays, the
  backup files (one per step, named as the writer will name them), the log replay's pages,
  ``y`` to confirm;
- a repair that needs a choice first (which header slot, which region-table copy): the
  candidates, and one key per choice (``1``/``2``) with its consequences; the choice leads to
  the full confirmation;
- a refused repair (the truncation map, a replay that must not be done, the image in use):
  why, and no ``y``.

:class:`RepairJob` runs the confirmed repair through :func:`vhdxray.core.write.repair.run_repairs`
(in place, or into a new copy beside the image) in the app's worker thread.

The planner reads the image, so the app plans only when the user asks (a key, a view that
shows the results); :mod:`vhdxray.core.write.repair` is imported on first use, never at start-up.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from vhdxray.core.analysis.reader import Report, read_report
from vhdxray.core.analysis.repairids import (
    CLEAR_LOG_GUID,
    HEADERS,
    REGION_TABLE,
    REPLAY,
    TRUNCATION,
)
from vhdxray.core.format.findings import Severity
from vhdxray.core.format.header import CurrentReason, slot_summary
from vhdxray.core.write.repairs import OptionKind, RepairKind, kind, kinds
from vhdxray.tui.outcome import app_text
from vhdxray.tui.screens.confirm import Confirmation, Offer
from vhdxray.tui.widgets.findings import FindingRepair
from vhdxray.tui.widgets.repairviews import replay_pages_table, truncation_renderable
from vhdxray.tui.writeflow import Progress, Proposal, RepairRunFailed, WriteDone, in_use_reason

if TYPE_CHECKING:
    from vhdxray.core.outcome import Suggestion
    from vhdxray.core.write.repair import Refused, Repair, RepairOptions, RepairPlan


# The app's words for each kind of option a repair declares (the choice buttons).
CHOICE_WORDS: Final = {
    OptionKind.SLOT: "Header",
    OptionKind.COPY: "Copy",
    OptionKind.PATH: "Path",
    OptionKind.FLAG: "Flag",
}


def _option_kind(name: str) -> OptionKind | None:
    for k in kinds():
        for spec in k.options:
            if spec.name == name:
                return spec.kind
    return None


def choice_word(option: str) -> str:
    kind_of = _option_kind(option)
    return option if kind_of is None else CHOICE_WORDS[kind_of]


def copy_kind(action: str) -> RepairKind | None:
    """The kind whose "into a copy" action is ``action``."""
    return next((k for k in kinds() if k.copy_action == action), None)


COPY_SUFFIX: Final = ".replayed"
MAX_CHOICE_LINES: Final = 3  # a choice's own lines shown under it; its confirmation has all


class RepairHost(Protocol):
    """What the proposals need from the app."""

    image: Path
    report: Report

    def repair_plan(self, options: RepairOptions | None = None) -> RepairPlan: ...

    def shown_path(self, path: Path) -> str: ...


Options = Sequence[tuple[str, "int | str"]]


def _options(pairs: Options, into_copy: bool) -> RepairOptions:
    from vhdxray.core.write.repair import RepairOptions

    return RepairOptions(into_copy=into_copy, **dict(pairs))


def find_item(plan: RepairPlan, repair_id: str) -> Repair | Refused | None:
    """The repair (or refusal) with ``repair_id`` in ``plan``."""
    return plan.item(repair_id)


def action_for(repair_id: str, *, into_copy: bool = False) -> str:
    """The app's action id of a repair kind (declared by the kind)."""
    k = kind(repair_id)
    if k is None:
        return f"repair:{repair_id}"
    if into_copy and k.copy_action is not None:
        return k.copy_action
    return k.action


def copy_path(image: Path) -> Path:
    """Where "replay into a copy" writes: ``NAME.replayed.vhdx`` beside the image (or
    ``NAME.replayed-2.vhdx``... when that exists; a copy never overwrites a file)."""
    stem, suffix = image.stem, image.suffix or ".vhdx"
    candidate = image.with_name(f"{stem}{COPY_SUFFIX}{suffix}")
    n = 2
    while os.path.lexists(candidate) and n < 1000:  # a dangling link is taken too
        candidate = image.with_name(f"{stem}{COPY_SUFFIX}-{n}{suffix}")
        n += 1
    return candidate


def predicted_backups(repair_id: str, plan: RepairPlan, target: Path) -> list[Path]:
    """The backup files the repair will write on ``target``, in order (the writer's names:
    an operation whose file exists already gets ``-2``, ``-3``...)."""
    from vhdxray.core.write import backup

    k = kind(repair_id)
    operations = list(k.backup_operations if k is not None else ())
    if repair_id == REPLAY and plan.replay is not None and plan.replay.state != "pending":
        operations.remove("log-replay")  # every page holds its bytes: nothing to write
    return [Path(backup.free_backup_file(target, operation)) for operation in operations]


def _remaining(report: Report | None) -> str:
    if report is None:
        return ""
    errors = [f.code for f in report.findings if f.severity is Severity.ERROR]
    if not errors:
        return "No error finding remains."
    listed = ", ".join(dict.fromkeys(errors[:6]))
    return f"{len(errors)} error finding(s) remain: {listed} (see the findings view)."


@dataclass(frozen=True)
class RepairJob:
    """One confirmed repair (or the replay into a copy), run by the app's worker."""

    title: str
    plan: RepairPlan  # the plan the confirmation showed (its options: slot, copy...)
    repairs: tuple[Repair, ...]
    output: Path | None = None  # into a copy: the new file; the original is only read
    output_shown: str = ""

    def run(self, image: Path, progress: Progress) -> WriteDone:
        from vhdxray.core.progress import Cancelled
        from vhdxray.core.write.repair import run_repairs

        count = len(self.repairs)

        def step(repair: Repair) -> None:
            where = f" (step {self.repairs.index(repair) + 1} of {count})" if count > 1 else ""
            into = f" on the copy {self.output_shown}" if self.output is not None else ""
            progress.label = f"{repair.title.lower()}{into}{where}"

        plan = dataclasses.replace(self.plan, repairs=self.repairs)
        run = run_repairs(plan, output=self.output, progress=step, tracker=progress)
        if run.error is not None and progress.cancelled and run.error.refused:
            raise Cancelled()  # the app says what the cancel left (copy removed, backups...)
        if run.error is not None:
            raise RepairRunFailed(run, self.output)
        lines = tuple(line for s in run.steps for line in s.lines)
        if self.output is not None:
            summary = (
                f"{self.title}: done on the copy {self.output_shown}; the original is unchanged. "
                f"In the copy: {_remaining(run.report)} Press O to open the copy."
            )
            return WriteDone(read_report(image), run.backups, summary, lines, copy=self.output)
        after = run.report if run.report is not None else read_report(image)
        summary = f"{self.title}: done. {_remaining(after)}"
        return WriteDone(after, run.backups, summary, lines)


# --- proposals ----------------------------------------------------------------------------


def _unoffered(item: Refused) -> tuple[Suggestion, ...]:
    """The suggestions of a refusal that its own choices (offered in the same dialog) leave
    out."""
    offered = {c.option for c in item.choices}
    return tuple(s for s in item.suggest if s.option not in offered)


def _refused(
    title: str,
    reason: str,
    lines: Sequence[str] = (),
    *,
    offers: tuple[Offer, ...] = (),
    notes: tuple[str, ...] = (),
    details: tuple[object, ...] = (),
) -> Proposal:
    return Proposal(
        Confirmation(
            title=title,
            question="",
            lines=tuple(lines),
            refusal=reason,
            offers=offers,
            notes=notes,
            details=details,  # type: ignore[arg-type]
        ),
        None,
    )


def _copy_offers(host: RepairHost, repair_id: str, into_copy: bool) -> tuple[Offer, ...]:
    """The "into a copy" offer of a kind that declares one (none when already into a copy)."""
    k = kind(repair_id)
    if into_copy or k is None or k.copy_action is None:
        return ()
    copy = copy_path(host.image)
    return (
        Offer(
            key="c",
            button="Into a copy",
            label=f"{k.copy_offer}, {host.shown_path(copy)}: the original stays untouched",
            action=k.copy_action,
        ),
    )


def _replay_offer() -> Offer:
    return Offer(
        key="l",
        button="Replay the log",
        label="open the log replay (its own confirmation follows)",
        action=action_for(REPLAY),
    )


def _question(repair_id: str) -> str:
    k = kind(repair_id)
    return k.question if k is not None and k.question else "Carry out this repair now?"


def _consequences(lines: list[str]) -> list[str]:
    """At most :data:`MAX_CHOICE_LINES` of a choice's own lines, in their order, those that
    say what is chosen or lost first."""
    key = ("chose", "lost", "will now use")
    first = [n for n, line in enumerate(lines) if any(k in line for k in key)]
    rest = [n for n in range(len(lines)) if n not in first]
    keep = sorted((first + rest)[:MAX_CHOICE_LINES])
    return [lines[n] for n in keep]


def _choice_proposal(
    host: RepairHost,
    repair_id: str,
    *,
    title: str,
    reason: str,
    lines: Sequence[str],
    choices: Sequence[tuple[str, int | str | None, str]],
    base: Options,
    into_copy: bool,
) -> Proposal:
    """A dialog that needs a choice first; each choice's own lines (the ones the other
    choices do not share) are its consequences."""
    from vhdxray.core.write.repair import Repair

    def with_choice(option: str, value: int | str) -> tuple[tuple[str, int | str], ...]:
        return (*((k, v) for k, v in base if k != option), (option, value))

    planned: list[list[str]] = []
    for option, value, _label in choices:
        if value is None:  # the user types the value (a path): planned once it is known
            planned.append([])
            continue
        item = find_item(
            host.repair_plan(_options(with_choice(option, value), into_copy)), repair_id
        )
        if item is None:
            planned.append(["(nothing left to repair with this choice)"])
        elif isinstance(item, Repair):
            planned.append(list(item.lines))
        else:
            planned.append([f"Refused with this choice: {app_text(item.reason, item.suggest)}"])
    valued = [p for p, c in zip(planned, choices, strict=True) if c[1] is not None]
    common = set.intersection(*(set(p) for p in valued)) if len(valued) > 1 else set()
    offers = []
    for (option, value, label), lines_of in zip(choices, planned, strict=True):
        if value is None:
            offers.append(
                Offer(
                    key="p",
                    button=f"Choose a {choice_word(option).lower()}",
                    label=label,
                    action=action_for(repair_id, into_copy=into_copy),
                    options=tuple(base),
                    ask_path=option,
                )
            )
            continue
        lines_of = _consequences([line for line in lines_of if line not in common])
        if _option_kind(option) is OptionKind.FLAG:  # an on/off choice: its own key, its words
            offers.append(
                Offer(
                    key=option[:1],
                    button=option.replace("_", " ").capitalize(),
                    label=label,
                    action=action_for(repair_id, into_copy=into_copy),
                    options=tuple(sorted(with_choice(option, 1), key=lambda kv: kv[0])),
                    lines=tuple(lines_of),
                )
            )
            continue
        if option == "from_slot":
            lines_of.append(f"Afterwards header {value} is current.")
        offers.append(
            Offer(
                key=str(value),
                button=f"{choice_word(option)} {value}",
                label=label,
                action=action_for(repair_id, into_copy=into_copy),
                options=tuple(sorted(with_choice(option, value), key=lambda kv: kv[0])),
                lines=tuple(lines_of),
            )
        )
    return Proposal(
        Confirmation(
            title=title,
            question="",
            lines=tuple(lines),
            refusal=reason,
            choice_needed=True,
            offers=tuple(offers),
        ),
        None,
    )


def _identical_headers_choice(
    host: RepairHost, title: str, base: Options, into_copy: bool
) -> Proposal:
    """Byte-identical headers with equal sequence numbers (Disk2VHD): the planner would
    rebuild from slot 1; the app lets the user pick the slot, saying what it changes."""
    report = host.report
    assert report.headers is not None and report.header_choice is not None
    reason = (
        report.header_choice.explain(report.headers)
        + " Choose the slot to rebuild both headers from. The two are identical, so the new "
        "headers carry the same fields either way: the choice decides which slot is written "
        "first and which one ends up current."
    )
    lines = [slot_summary(h) for h in report.headers]
    choices = [
        ("from_slot", h.slot, f"rebuild both headers from header {h.slot}")
        for h in report.headers
        if h.valid
    ]
    return _choice_proposal(
        host,
        HEADERS,
        title=title,
        reason=reason,
        lines=lines,
        choices=choices,
        base=base,
        into_copy=into_copy,
    )


def propose_repair(
    host: RepairHost,
    repair_id: str,
    *,
    options: Options = (),
    into_copy: bool = False,
) -> Proposal:
    """The dialog (and job) for the repair ``repair_id`` of the image as loaded now."""
    from vhdxray.core.write.repair import Repair

    plan = host.repair_plan(_options(options, into_copy))
    item = find_item(plan, repair_id)
    if item is None:
        return _refused(
            "Repair",
            "nothing to repair here: the image (as loaded) does not need this repair; reload "
            "(r) if it changed on disk",
        )
    title = item.title + (" (into a copy)" if into_copy else "")
    if not isinstance(item, Repair):
        if item.choices:
            return _choice_proposal(
                host,
                repair_id,
                title=title,
                reason=app_text(item.reason, _unoffered(item)),
                lines=item.lines,
                choices=[(c.option, c.value, c.label) for c in item.choices],
                base=options,
                into_copy=into_copy,
            )
        offers = _copy_offers(host, repair_id, into_copy)
        if repair_id == TRUNCATION and plan.truncation is not None:
            return _refused(
                title,
                app_text(item.reason, item.suggest),
                offers=offers,
                details=(truncation_renderable(plan.truncation),),
            )
        return _refused(title, app_text(item.reason, item.suggest), item.lines, offers=offers)

    replay_first = repair_id != REPLAY and find_item(plan, REPLAY) is not None
    if replay_first:
        return _refused(
            title,
            "a log replay is pending: replay the log first. Nothing else may change before it, "
            "or the changes it carries would be lost or would overwrite this repair.",
            item.lines,
            offers=(_replay_offer(),) if isinstance(find_item(plan, REPLAY), Repair) else (),
        )
    choice = host.report.header_choice
    if (
        repair_id == HEADERS
        and not any(k == "from_slot" for k, _ in options)
        and choice is not None
        and choice.reason is CurrentReason.EQUAL_IDENTICAL
    ):
        return _identical_headers_choice(host, title, options, into_copy)

    lines = list(item.lines)
    slot = dict(options).get("from_slot")
    if slot is not None and not any("you chose header" in line for line in lines):
        lines.insert(0, f"You chose header {slot}: both slots are rebuilt from it.")
    target = host.image
    output: Path | None = None
    if into_copy:
        output = copy_path(host.image)
        target = output
        lines.insert(
            0,
            f"First copy the image to the new file {host.shown_path(output)} (sparse; the "
            f"original, {host.shown_path(host.image)}, is only read and stays untouched). "
            "Every step below then runs on the copy.",
        )
    else:
        busy = in_use_reason(host.image)
        if busy is not None:
            return _refused(title, busy, lines)
    backups = [host.shown_path(p) for p in predicted_backups(repair_id, plan, target)]
    details: tuple[object, ...] = ()
    if repair_id == REPLAY and plan.replay is not None:
        from rich.console import Group

        from vhdxray.tui.safe_text import plain

        details = (
            Group(
                plain(
                    "Page by page (pending = written now, applied = already holds the logged "
                    "bytes, superseded = a later descriptor rewrites it):",
                    "bold",
                ),
                replay_pages_table(plan.replay),
            ),
        )
    details_at: int | None = None
    if details and plan.replay is not None:  # the pages right after the replay's summary
        summary = plan.replay.describe()
        details_at = lines.index(summary[-1]) + 1 if summary[-1] in lines else None
    offers = _copy_offers(host, repair_id, into_copy)
    confirmation = Confirmation(
        title=title,
        question=_question(repair_id),
        lines=tuple(lines),
        backup=backups[0] if len(backups) == 1 else None,
        backups=tuple(backups) if len(backups) > 1 else (),
        details=details,  # type: ignore[arg-type]
        details_at=details_at,
        offers=offers,
    )
    job = RepairJob(
        title=item.title,
        plan=plan,
        repairs=(item,),
        output=output,
        output_shown="" if output is None else host.shown_path(output),
    )
    return Proposal(confirmation, job)


# --- the menu and the findings ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MenuItem:
    """One entry of the Repair… menu."""

    action: str  # the action id the app asks about
    title: str
    state: str  # "repair", "choice", "refused"
    lines: tuple[str, ...]  # a short explanation


def menu_items(plan: RepairPlan, copy_plan: RepairPlan | None = None) -> list[MenuItem]:
    """The repairs in the order they should run, each kind's "into a copy" variant after it
    (``copy_plan``: the plan with ``into_copy``, which may lift an in-place limit), then the
    refusals."""
    from vhdxray.core.write.repair import Repair

    def copy_item(repair_id: str) -> list[MenuItem]:
        k = kind(repair_id)
        if k is None or k.copy_action is None:
            return []
        words = ("a new file beside the image; the original stays untouched",)
        return [MenuItem(k.copy_action, k.copy_title, "repair", words)]

    items: list[MenuItem] = []
    for repair in plan.repairs:
        fixes = ", ".join(repair.finding_codes) or "-"
        items.append(MenuItem(action_for(repair.id), repair.title, "repair", (f"fixes: {fixes}",)))
        items += copy_item(repair.id)
    for refused in plan.refusals:
        state = "choice" if refused.choices else "refused"
        reason = app_text(refused.reason, _unoffered(refused))
        items.append(MenuItem(action_for(refused.id), refused.title, state, (reason,)))
        copy_works = copy_plan is not None and isinstance(find_item(copy_plan, refused.id), Repair)
        if not refused.choices and copy_works:
            items += copy_item(refused.id)
    return items


def finding_repairs(plan: RepairPlan) -> dict[str, FindingRepair]:
    """Finding code -> what the findings view says about its repair."""
    from vhdxray.core.write.repair import Repair

    out: dict[str, FindingRepair] = {}
    for finding in plan.report.findings:
        item = plan.for_finding(finding.code)
        if item is None or finding.code in out:
            continue
        if isinstance(item, Repair):
            out[finding.code] = FindingRepair(item.title, "repair")
        elif item.choices:
            out[finding.code] = FindingRepair(item.title, "choice")
        else:
            out[finding.code] = FindingRepair(
                item.title, "refused", app_text(item.reason, item.suggest)
            )
    return out


__all__ = [
    "CLEAR_LOG_GUID",
    "HEADERS",
    "REGION_TABLE",
    "REPLAY",
    "TRUNCATION",
    "MenuItem",
    "RepairJob",
    "copy_path",
    "finding_repairs",
    "menu_items",
    "predicted_backups",
    "propose_repair",
]
