"""The readable report printed by ``vhdxray info`` and ``vhdxray check``.

Plain text only (no Rich): every string taken from the image goes through
:func:`vhdxray.core.format.text.printable`.
"""

from __future__ import annotations

from vhdxray.core.analysis.reader import NOT_REGULAR, Report
from vhdxray.core.analysis.verdict import verdict
from vhdxray.core.format.findings import Severity
from vhdxray.core.format.header import (
    HEADER_FIELDS,
    FieldKind,
    Header,
    differing_fields,
    field_text,
)
from vhdxray.core.format.text import clip, printable
from vhdxray.tui.outcome import cli_text, shell_word
from vhdxray.tui.sizes import grouped, natural_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from vhdxray.core.analysis.guest.image import GuestOutcome


def size_text(value: int | None) -> str:
    if value is None:
        return "unknown"
    return f"{natural_size(value)} ({grouped(value)} bytes)"


def header_rows(h: Header) -> list[tuple[str, str]]:
    """(spec name, value) of every field of the slot (the one table: header.HEADER_FIELDS)."""
    rows = []
    for f in HEADER_FIELDS:
        text = field_text(h, f)
        if f.kind is FieldKind.SIGNATURE and not h.signature_ok:
            text += " (BAD)"
        elif f.kind is FieldKind.CHECKSUM and h.present:
            text += (
                " (correct)"
                if h.checksum_ok
                else f" (computed 0x{h.computed_checksum:08x}: MISMATCH)"
            )
        rows.append((f.name, text))
    return rows


def render(report: Report, *, findings: bool = True, guest: GuestOutcome | None = None) -> str:
    lines: list[str] = []
    add = lines.append
    v = verdict(report)
    add(f"File:      {printable(report.path)}")
    if report.kind not in ("unreadable", NOT_REGULAR):
        add(f"Size:      {size_text(report.file_size)}")
    if not report.is_vhdx:
        add(f"Verdict:   {v.headline}")
        return "\n".join(lines) + "\n"
    add(f"Creator:   {printable(report.creator or '')!s}")
    meta = report.metadata
    add(f"Disk type: {report.disk_type or 'unknown'}")
    if meta is not None:
        add(f"Virtual:   {size_text(meta.virtual_size)}")
        add(f"Block:     {size_text(meta.block_size)}")
        add(
            f"Sectors:   logical {meta.logical_sector_size or '?'}, "
            f"physical {meta.physical_sector_size or '?'}"
        )
    add(f"Verdict:   {cli_text(v.headline, v.suggest)}")
    if v.repairs:
        add(f"Repair:    vhdxray repair {printable(shell_word(report.path))}")
    if guest is not None:
        from vhdxray.tui.guestwords import layered_headline, only_chain_errors

        replay = report.log is not None and report.log.replay_needed
        errors = [f.code for f in report.findings if f.severity is Severity.ERROR]
        chain = only_chain_errors(errors)
        layers = layered_headline(v.level, guest.guest, replay_pending=replay, chain_only=chain)
        add(f"Layers:    {layers}")
    add("")
    if report.headers is not None:
        h1, h2 = report.headers
        cur = report.current_header
        title1 = "Slot 1 (64 KiB)" + (" CURRENT" if cur == 1 else "")
        title2 = "Slot 2 (128 KiB)" + (" CURRENT" if cur == 2 else "")
        valid1 = "valid" if h1.valid else "INVALID: " + "; ".join(h1.invalid_reasons())
        valid2 = "valid" if h2.valid else "INVALID: " + "; ".join(h2.invalid_reasons())
        differ = set(differing_fields(h1, h2))
        add(f"Headers          {title1:<37}  {title2}")
        add(f"{'':17}{valid1:<37}  {valid2}")
        rows = zip(HEADER_FIELDS, header_rows(h1), header_rows(h2), strict=True)
        for field, (name, a), (_, b) in rows:
            mark = "*" if field.attr in differ else " "
            add(f"{mark}{name:<15} {a:<37}  {b}")
        add("  (* = differs between the slots)")
        if report.header_choice is not None:
            add("  " + report.header_choice.explain(report.headers))
        add("")
    if report.region_tables is not None:
        for t in report.region_tables:
            used = " (used)" if report.active_region_table == t.slot else ""
            state = "valid" if t.valid else "INVALID: " + "; ".join(t.problems)
            add(f"Region table {t.slot} @ 0x{t.offset:x}{used}: {state}")
            for e in t.entries:
                req = "required" if e.is_required else "optional"
                add(f"  {e.name:<9} 0x{e.file_offset:>10x}  {size_text(e.length)}  {req}")
        add("")
    if meta is not None and meta.parent_locator is not None:
        add("Parent locator:")
        for key, value in meta.parent_locator.entries:
            add(f"  {printable(clip(key))} = {printable(clip(value))}")
        add("")
    log = report.log
    if log is not None:
        state = "REPLAY NEEDED" if log.replay_needed else "clean"
        length = natural_size(log.log_length)
        add(f"Log @ 0x{log.log_offset:x} ({length}): {state}, LogGuid {log.log_guid}")
        if log.active is not None:
            seqs = [e.sequence_number for e in log.active.entries]
            add(
                f"  active sequence: {len(seqs)} entr{'y' if len(seqs) == 1 else 'ies'}, "
                f"sequence {seqs[0]}..{seqs[-1]}"
            )
        if log.stale_entries:
            add(
                f"  {len(log.stale_entries)} stale entr"
                f"{'y' if len(log.stale_entries) == 1 else 'ies'} (not to be replayed)"
            )
        add("")
    bat = report.bat
    if bat is not None:
        add(
            f"BAT: {bat.geometry.total_entries} entries, {bat.allocated_blocks} blocks allocated "
            f"({size_text(bat.allocated_bytes)})"
        )
        states = ", ".join(f"{k} {n}" for k, n in bat.payload_states.items() if n)
        add(f"  payload states: {states or 'none'}")
        if bat.past_eof_blocks or bat.required_file_size > report.file_size:
            from vhdxray.core.analysis.truncation import truncation_map

            lost = truncation_map(report, report.path)
            if lost is not None:
                for text in lost.describe():
                    add(f"  {printable(text)}")
        add("")
    if guest is not None:
        from vhdxray.tui.guestwords import inside_lines

        lines += inside_lines(guest.guest, report.path, guest.error_code, guest.error)
        add("")
    if findings:
        counts = {s: 0 for s in Severity}
        for f in report.findings:
            counts[f.severity] += 1
        add(
            f"Findings: {counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} "
            f"warning(s), {counts[Severity.INFO]} info"
        )
        for f in report.findings:
            label = f.severity.value.upper()
            message = cli_text(printable(f.message), f.suggest)
            add(f"  {label:<7} {f.code}: {message} [{printable(f.where)}]")
    return "\n".join(lines) + "\n"
