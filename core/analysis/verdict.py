"""One plain-words verdict for an image: which header is current and why, the worst
problem, and what is safe to do next. The CLI and the app both show it."""

from __future__ import annotations

from collections.abc import Iterable

from vhdxray.core.analysis.reader import NOT_REGULAR, Report
from vhdxray.core.analysis.repairids import BLOCKED_BY, FIXES, NAMES, ORDER
from vhdxray.core.analysis.updatebase import Refusal, choose_update_base
from vhdxray.core.format.findings import Severity, is_writer_habit
from vhdxray.core.format.record import record
from vhdxray.core.outcome import Suggestions


@record
class Verdict:
    level: str  # "ok" | "warning" | "error" | "not_vhdx"
    headline: str
    header_line: str  # why this header is current (or why none is)
    next_step: str
    repairs: tuple[str, ...] = ()
    """Ids of the repairs that resolve an error finding; the views say how to start them."""
    suggest: Suggestions = ()
    """The choices ``next_step`` points at (the front ends render them after it)."""


def repairs_for(codes: Iterable[str]) -> tuple[str, ...]:
    """The repairs (ids, in the order they run) whose findings are among ``codes`` and that
    nothing among them blocks (:data:`~vhdxray.core.analysis.repairids.BLOCKED_BY`)."""
    present = set(codes)
    return tuple(
        r
        for r in ORDER
        if present.intersection(FIXES.get(r, ()))
        and not present.intersection(BLOCKED_BY.get(r, ()))
    )


def _sentence(message: str) -> str:
    """A finding message as a sentence: capital first, one full stop at the end."""
    text = message.rstrip().rstrip(".")
    return text[:1].upper() + text[1:]


def header_sentence(report: Report) -> str:
    """Which header is current and why: the one sentence (header.HeaderChoice.explain)."""
    headers, choice = report.headers, report.header_choice
    if headers is None or choice is None:
        return ""
    return choice.explain(headers)


def _not_vhdx_step(kind: str) -> str:
    """The next step for a file that is not read as a VHDX: for one that could not be opened
    or is not a file, what to look at; for another format, nothing vhdxray can do."""
    if kind == "unreadable":
        return (
            "Check the path, the permission to read it and the disk it is on, then run "
            "vhdxray again."
        )
    if kind == NOT_REGULAR:
        return "Name the image file itself."
    return "Nothing to do with vhdxray."


def verdict(report: Report) -> Verdict:
    if not report.is_vhdx:
        return Verdict("not_vhdx", report.description, "", _not_vhdx_step(report.kind))
    header_line = header_sentence(report)
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    # A harmless writer habit (WRITER_HABITS) stays a warning in the findings, not in the level.
    warnings = [
        f for f in report.findings if f.severity is Severity.WARNING and not is_writer_habit(f.code)
    ]
    header_errors = [f for f in errors if f.code.startswith("header.slot")]
    plan = choose_update_base(report)
    log = report.log
    hints: Suggestions = ()
    if log is not None and log.replay_needed:
        next_step = "A log replay is pending: do not update headers yet."
    elif isinstance(plan, Refusal):
        if report.header_choice is not None and report.header_choice.current is None:
            next_step = (
                "Updating headers needs a chosen source slot."
                if plan.suggest
                else "No slot can be rebuilt from, and vhdxray does not invent a header: "
                "restore a backup of the file, or recover its data with a forensic tool."
            )
        else:
            next_step = f"Do not update headers: {plan.reason.rstrip('.')}."
        hints = plan.suggest  # the slots that can be chosen (none when no slot is valid)
    elif header_errors:
        next_step = "Safe to update headers."
    elif fixable := repairs_for(f.code for f in errors):
        names = [NAMES[r] for r in fixable]
        next_step = f"Repair it: {', then '.join(names)}."
    elif any(f.code == "region.none_valid" for f in errors):
        next_step = (
            "Neither region table copy is valid, so there is none to rebuild the other from: "
            "restore a backup of the file, or recover its data with a forensic tool."
        )
    elif errors:
        next_step = "Headers are fine; see the findings for what else is damaged."
    else:
        next_step = "No repair needed."
    # header.none_valid says what the header line already said.
    other_errors = [f for f in errors if f not in header_errors and f.code != "header.none_valid"]
    if errors:
        level = "error"
    elif warnings:
        level = "warning"
    else:
        level = "ok"
    parts = [header_line]
    if other_errors and not (log is not None and log.replay_needed):
        more = f" (+{len(other_errors) - 1} more)" if len(other_errors) > 1 else ""
        parts.append(_sentence(other_errors[0].message) + more + ".")
    parts.append(next_step)
    return Verdict(
        level,
        " ".join(p for p in parts if p),
        header_line,
        next_step,
        repairs_for(f.code for f in errors),
        hints,
    )
