"""The app's one-line verdict: the worst layer in plain words, and the key to press.

The CLI renders :class:`~vhdxray.core.analysis.verdict.Verdict` with its flags; the app
says which slot, which structure, and which key (``u``, ``l``, ``R``, ``6``, ``8``). Findings
that only record a harmless habit of a writer (core's ``WRITER_HABITS``) do not make the image
a WARNING (core's verdict says ``ok``): the headline names them in the words of
:data:`HARMLESS`. Planning is never needed here (first paint).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vhdxray.core.analysis.reader import Report
from vhdxray.core.analysis.verdict import Verdict
from vhdxray.core.format.findings import Finding, Severity, is_writer_habit
from vhdxray.core.format.header import CurrentReason, Header
from vhdxray.core.format.record import record

if TYPE_CHECKING:
    from vhdxray.core.analysis.guest.triage import GuestReport

# The app's words for core's writer habits (WRITER_HABITS: which codes they are is core's).
HARMLESS: dict[str, str] = {
    "region.not_required": (
        "the BAT and Metadata regions are not marked required (QEMU writes them so; Windows "
        "and QEMU accept it)"
    ),
}

LAYERS = {
    "file": "The file",
    "identifier": "The file identifier",
    "header": "The headers",
    "region": "The region tables",
    "metadata": "The metadata",
    "log": "The log",
    "bat": "The block table (BAT)",
    "layout": "The layout",
    "parent": "The parent link",
}


EXPORT_MISSING_PARENT = (
    "Press e to export what this child holds (its parent's part zero-filled), 8 for the chain."
)


@record
class Headline:
    level: str  # ok | warning | error | not_vhdx
    text: str


def _slot_fault(h: Header) -> str:
    if not h.present:
        return f"Slot {h.slot} is missing (the file ends before it)"
    if not h.signature_ok and not h.checksum_ok:
        return f"Slot {h.slot} has a wrong signature and fails its checksum"
    if not h.signature_ok:
        return f"Slot {h.slot} has a wrong signature"
    return f"Slot {h.slot} fails its checksum"


def _layer(f: Finding) -> str:
    return LAYERS.get(f.code.split(".", 1)[0], "The image")


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    return (text[:1].upper() + text[1:] + ".") if text else ""


def _lower(text: str) -> str:
    """A finding's message inside a sentence (no capital, no final period)."""
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:]


CUT_NAMES = {"region": None, "log": "the log", "bat": "the BAT", "metadata": "the metadata"}
# Blocks past the end: the BAT itself is whole, the data it points to is not.
CUT_BLOCKS = {"bat.block.past_eof", "bat.sector_bitmap.past_eof"}
BLOCKS = "the data blocks its BAT points to"
# Blocks past the end that a cut cannot explain: damaged BAT entries (core judges it).
STRAY = "bat.entry.stray_offset"


def _cut_names(cut: list[Finding]) -> str:
    names: list[str] = []
    for f in cut:
        layer = f.code.split(".", 1)[0]
        name = CUT_NAMES.get(layer, "its structures")
        if f.code in CUT_BLOCKS:
            name = BLOCKS
        if layer == "region":
            name = "the BAT" if "BAT" in f.message else "the metadata"
        if name is not None and name not in names:
            names.append(name)
    if "the BAT" in names and BLOCKS in names:  # a cut BAT: its blocks go with it
        names.remove(BLOCKS)
    if not names:
        return "its structures"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def quirk_words(code: str) -> str:
    """The app's words for the writer habit ``code`` (a generic phrase for one it has none for)."""
    return HARMLESS.get(code, "a habit of the writer that Windows and QEMU accept")


def quirks(report: Report) -> list[Finding]:
    """The findings that only record a harmless writer habit (core's ``is_writer_habit``)."""
    return [f for f in report.findings if is_writer_habit(f.code)]


READ_ONLY = "open the image without --read-only"


def _write(writable: bool, keys: str, what: str) -> str:
    """The sentence that names a write: its keys, or (read-only: they are hidden) how to get
    them. ``what``: the write in words ("rewrite both slots")."""
    return keys if writable else f"To {what}, {READ_ONLY}."


def headline(
    report: Report,
    v: Verdict,
    parent: str = "",
    parent_bad: bool = False,
    *,
    writable: bool = True,
) -> Headline:
    """The headline for ``report`` (``parent``: the parent-link sentence of a child;
    ``writable`` False: the app is read-only, so no write key is named)."""
    if not report.is_vhdx:
        return Headline("not_vhdx", v.headline)
    headers, choice = report.headers, report.header_choice
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    warnings = [
        f for f in report.findings if f.severity is Severity.WARNING and not is_writer_habit(f.code)
    ]
    log = report.log
    if log is not None and log.replay_needed:
        return Headline(
            "error",
            "The log holds writes that are not yet in place (a log replay is pending; do not "
            "update the headers first). "
            + _write(writable, "Press l to replay it, or R for every repair.", "replay it"),
        )
    if headers is not None and choice is not None:
        if choice.reason is CurrentReason.ONLY_VALID and choice.current is not None:
            bad = headers[2 - choice.current]
            return Headline(
                "error",
                f"{_slot_fault(bad)}; slot {choice.current} is current. "
                + _write(writable, "Press u to rewrite both slots.", "rewrite both slots"),
            )
        why = choice.explain(headers)  # the one current-header sentence
        if choice.reason is CurrentReason.EQUAL_IDENTICAL:
            rebuild = _write(
                writable, "Press R to rebuild both from one slot.", "rebuild both from one slot"
            )
            return Headline("warning", f"{why} {rebuild}")
        if choice.reason is CurrentReason.EQUAL_DIFFERENT:
            choose = _write(
                writable,
                "Press R to choose the slot to rebuild both from.",
                "rebuild both from the slot you choose",
            )
            return Headline("error", f"{why} {choose}")
        if choice.current is None:
            can = "Press R for what can be done." if writable else f"To repair, {READ_ONLY}."
            return Headline("error", f"{why} {can}")
    header_errors = [f for f in errors if f.code.startswith("header.")]
    other = [f for f in errors if f not in header_errors]
    if parent_bad:
        if any(f.code == "chain.missing" for f in errors):  # data at risk: offer export first
            said = parent.replace(" Press 8 for the chain.", "")
            return Headline("error", f"{said} {EXPORT_MISSING_PARENT}")
        return Headline("error", parent)
    cut = [f for f in errors if f.code.endswith("past_eof") or f.code == "file.truncated"]
    if cut:
        return Headline(
            "error",
            f"The file is cut short: it ends at {report.file_size:,} bytes, before the end of "
            f"{_cut_names(cut)}. Nothing invents the lost bytes: press e to export what is "
            "readable (the lost ranges zero-filled and listed), 5 for what is lost.",
        )
    stray = [f for f in other if f.code == STRAY]
    if stray and len(stray) == len(other) and report.bat is not None:
        return Headline(
            "error",
            "A damaged BAT entry points past the end of the file (the file is not cut short): "
            f"{report.bat.lost_virtual_bytes:,} bytes of the virtual disk cannot be read. "
            "Nothing invents them: press e to export what is readable (those ranges zero-filled "
            "and listed), 5 for what cannot be read.",
        )
    if other:
        worst = other[0]
        more = f" (and {len(other) - 1} more)" if len(other) > 1 else ""
        return Headline(
            "error",
            f"{_layer(worst)}: {_lower(worst.message)}{more}. "
            + (
                "Press R for the repairs, 6 for every finding."
                if writable
                else f"Press 6 for every finding; to repair, {READ_ONLY}."
            ),
        )
    if header_errors:
        return Headline(
            "error",
            f"{_sentence(header_errors[0].message)} "
            + _write(
                writable, "Press u to rewrite both slots, R for every repair.", "rewrite both slots"
            ),
        )
    current = ""
    if choice is not None and choice.current is not None and headers is not None:
        current = f"slot {choice.current} is current and both slots are valid"
    tail = f" {parent}" if parent else ""
    if warnings:
        w = warnings[0]
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        return Headline(
            "warning",
            f"{_layer(w)}: {_lower(w.message)}{more}; {current}. Press 6 for the findings.{tail}",
        )
    quirk = quirks(report)
    if quirk:
        return Headline(
            "ok",
            f"Healthy: {current}. One harmless writer quirk: {quirk_words(quirk[0].code)}. "
            f"Nothing to repair.{tail}",
        )
    return Headline("ok", f"Healthy: {current}. Nothing to repair.{tail}")


def with_guest(h: Headline, guest: GuestReport | None, path: str) -> Headline:
    """``h`` with the guest layer named (once guest triage has run): a healthy container whose
    filesystem needs care gets a headline about the guest, with the command to run next; any
    other headline says in a few words what is inside."""
    if guest is None or h.level == "not_vhdx":
        return h
    from vhdxray.tui.guestwords import guest_short, words

    serious = [f for f in guest.sorted_findings() if f.severity.value in ("error", "warning")]
    if serious and h.level == "ok":
        w = words(serious[0], path)
        step = f" Next: {_lower(w.next_step)}." if w.next_step else ""
        more = f" (and {len(serious) - 1} more)" if len(serious) > 1 else ""
        container = h.text.replace("Nothing to repair.", "Nothing to repair in the container.")
        return Headline(
            "error" if serious[0].severity.value == "error" else "warning",
            f"{container} Inside, {_lower(w.message)}{more}.{step} Press i for the inside.",
        )
    return Headline(h.level, f"{h.text} Inside: {guest_short(guest)} (i).")


__all__ = ["HARMLESS", "Headline", "headline", "quirk_words", "quirks", "with_guest"]
