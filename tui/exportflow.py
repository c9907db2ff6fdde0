"""Export from the app (``e``): the worker's job and the summary it ends with.

The job is the CLI's (:mod:`vhdxray.tui.cli_export`) without its flags: open the virtual disk
read-only (the pending log applied in memory, a differencing chain merged; a missing parent's
sectors zero-filled and listed), plan, then :func:`vhdxray.core.write.export.export` with the
progress dialog's :class:`~vhdxray.core.progress.Progress`. Core writes to a temporary name and
removes it on cancel or failure; :func:`leftovers` lets the app check that and say so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from rich.console import Group, RenderableType
from rich.text import Text

from vhdxray.core.progress import Progress
from vhdxray.core.write.export import RAW, VHDX, ExportResult, Gap
from vhdxray.tui.safe_text import join, plain, safe
from vhdxray.tui.screens.progress import amount

MAX_GAPS_SHOWN = 500  # the summary scrolls; a bound for a hostile image's thousands of gaps
FORMAT_WORDS = {RAW: "raw", VHDX: "VHDX"}


@dataclass(frozen=True, slots=True)
class ExportDone:
    """A finished export and what the summary says about how it was read."""

    result: ExportResult
    notes: tuple[str, ...]  # log applied in memory, chain merged, slot or table used

    @property
    def output(self) -> Path:
        return self.result.output


def default_output(image: Path, fmt: str) -> Path:
    """A free name next to the image: ``NAME.raw`` or ``NAME.export.vhdx`` (``-2``, ``-3``…
    when taken)."""
    stem = image.name.rsplit(".", 1)[0] if "." in image.name else image.name
    suffix = ".raw" if fmt == RAW else ".export.vhdx"
    candidate = image.with_name(stem + suffix)
    n = 2
    while candidate.exists() or candidate.is_symlink():
        candidate = image.with_name(f"{stem}-{n}{suffix}")
        n += 1
    return candidate


def run_export(image: Path, output: Path, fmt: str, progress: Progress) -> ExportDone:
    """Blocking (a worker thread). Raises ``OpenRefused``/``ExportRefused`` (nothing written),
    ``ExportFailed`` or ``Cancelled`` (the partial file removed)."""
    from vhdxray.core.analysis.virtual import open_virtual_disk
    from vhdxray.core.write.export import export, plan_export

    progress.label = "reading the block table"
    with open_virtual_disk(image, allow_missing_parent=True) as disk:
        plan = plan_export(disk, fmt, progress)
        result = export(disk, output, fmt=fmt, plan=plan, progress=progress)
        notes: list[str] = []
        if disk.report.current_header != disk.header.slot:
            notes.append(f"Read through header slot {disk.header.slot} (no other is current).")
        if disk.region_table == 2:
            notes.append("Region table copy 1 is damaged; copy 2 was used.")
        chain = disk.chain()
        for d in chain:
            if d.log.applied:
                notes.append(_sentence(d.log.describe()))
        if len(chain) > 1:
            names = " ← ".join(Path(d.path).name for d in reversed(chain))
            notes.append(f"The differencing chain was merged: {names}.")
        if chain[-1].parent_missing:
            notes.append(
                f"The parent of {Path(chain[-1].path).name} is missing: the sectors it holds "
                "are zero-filled and listed below."
            )
        return ExportDone(result, tuple(notes))


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].upper() + text[1:] + "."


def leftovers(output: Path) -> list[Path]:
    """The output and any partial file of it that is still on disk (after a cancel or a
    failure: core removes them; this is how the app checks before saying so)."""
    found = [output] if output.exists() or output.is_symlink() else []
    folder = output.parent if str(output.parent) else Path(".")
    with suppress(OSError):
        found += sorted(folder.glob(f".{output.name}.vhdxray-partial-*"))
    return found


def gap_line(gap: Gap) -> str:
    """One gap: its virtual range, why it is lost, and the partitions and filesystem it falls
    in (found by core's guest triage when the export ran)."""
    from vhdxray.core.analysis.guest.locate import where_words
    from vhdxray.core.analysis.virtual import GAP_REASONS

    why = GAP_REASONS.get(gap.reason, gap.reason)
    return (
        f"0x{gap.virtual_start:x}..0x{gap.virtual_end:x} ({amount(gap.length, 'bytes')}): "
        f"{why}{where_words(gap.where)}"
    )


def summary_title(done: ExportDone) -> str:
    gaps = done.result.gaps
    if not gaps:
        return "Exported: complete and exact"
    return f"Exported with {len(gaps)} gap{'s' if len(gaps) != 1 else ''} (zero-filled, listed)"


def summary_renderable(
    done: ExportDone,
    image_name: str,
    shown: Callable[[Path], str],
) -> RenderableType:
    """What was written, how it was read, every gap (virtual range, reason, where it falls)
    and the next step."""
    r = done.result
    out = shown(r.output)
    parts: list[RenderableType] = [
        join(
            ("Wrote ", "bold"),
            safe(out),
            f" ({FORMAT_WORDS.get(r.format, r.format)}, a {amount(r.virtual_size, 'bytes')} "
            "virtual disk) from ",
            safe(image_name),
            "; the image was only read.",
        ),
        plain(
            f"Copied {amount(r.bytes_copied, 'bytes')} of data; everything else reads as zeros "
            + ("(holes in the file)." if r.format == RAW else "(blocks not allocated).")
        ),
    ]
    if r.format == VHDX:
        parts.append(
            plain(
                f"The new VHDX has {r.blocks_allocated} block(s) allocated, no log and one "
                "clean header pair."
            )
        )
    parts += [safe(n) for n in done.notes]
    parts.append(Text(""))
    if not r.gaps:
        parts.append(plain("No gaps: every byte of the virtual disk was read.", "bold green"))
    else:
        lost = sum(g.length for g in r.gaps)
        parts.append(
            plain(
                f"{len(r.gaps)} gap{'s' if len(r.gaps) != 1 else ''}, {amount(lost, 'bytes')} "
                "in all, zero-filled in the "
                "output (virtual ranges):",
                "bold yellow",
            )
        )
        for g in r.gaps[:MAX_GAPS_SHOWN]:
            parts.append(join("  ", safe(gap_line(g))))
        if len(r.gaps) > MAX_GAPS_SHOWN:
            parts.append(
                plain(
                    f"  … and {len(r.gaps) - MAX_GAPS_SHOWN} more, not shown (the first "
                    f"{MAX_GAPS_SHOWN} are listed)"
                )
            )
    parts.append(Text(""))
    if r.format == RAW:
        parts.append(
            join(
                ("Next: ", "bold"),
                "check the filesystems before using them, e.g. ",
                safe(f"e2fsck -f {out}"),
                " for a bare ext4 disk, or ",
                safe(f"losetup -P -r --find --show {out}"),
                " and check each partition.",
            )
        )
    else:
        parts.append(
            join(
                ("Next: ", "bold"),
                "press O to open the exported VHDX here (or ",
                safe(f"vhdxray check {out}"),
                "), and attach it read-only first.",
            )
        )
    return Group(*parts)


def cancelled_renderable(output_shown: str, left: Sequence[Path]) -> RenderableType:
    if not left:
        return plain(
            f"Nothing is left of {output_shown}: the partial file was removed. The image was "
            "only read and is unchanged."
        )
    return Group(
        plain("The image was only read and is unchanged. These files are still there:"),
        *(join("  ", safe(str(p))) for p in left),
    )


__all__ = [
    "ExportDone",
    "cancelled_renderable",
    "default_output",
    "gap_line",
    "leftovers",
    "run_export",
    "summary_renderable",
    "summary_title",
]
