"""``vhdxray export IMAGE OUTPUT``: the virtual disk into a new raw or VHDX file.

Exit codes: 0 complete and exact; 2 written, with gaps (zero-filled and listed); 3 not a VHDX
or unreadable; 4 refused, nothing written; 1 the tool's own failure; 130 cancelled (Ctrl+C;
the partial file is removed).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from types import FrameType
from typing import Any

from vhdxray.core.analysis.virtual import GAP_REASONS, OpenRefused, VirtualDisk, open_virtual_disk
from vhdxray.core.fileio import NewFile, write_all
from vhdxray.core.outcome import Suggestions
from vhdxray.core.progress import Cancelled, Progress
from vhdxray.core.write.export import (
    FORMATS,
    RAW,
    ExportFailed,
    ExportRefused,
    ExportResult,
    check_output,
    export,
    plan_export,
)
from vhdxray.tui.console import ProgressLine as _ProgressLine
from vhdxray.tui.console import emit_json, err, line, stopped_exit
from vhdxray.tui.console import size_text as _size
from vhdxray.tui.outcome import cli_text, shell_word

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_GAPS = 2
EXIT_NOT_VHDX = 3
EXIT_REFUSED = 4
EXIT_CANCELLED = 130

_UNREADABLE_CODES = frozenset({"unreadable", "not_vhdx", "no_region_table", "metadata_unusable"})
MAX_GAPS_SHOWN = 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Copy the virtual disk out of IMAGE into the new file OUTPUT, reading only: a pending "
        "log is applied in memory, a differencing chain is merged, lost ranges are zero-filled "
        "and listed. Exit: 0 complete, 2 written with gaps, 3 not a VHDX/unreadable, "
        "4 refused (nothing written), 1 failure."
    )
    p.add_argument("image")
    p.add_argument("output", help="the new file (must not exist)")
    p.add_argument("--format", choices=FORMATS, default=RAW, help="raw (default) or vhdx")
    p.add_argument(
        "--parent",
        action="append",
        default=[],
        metavar="PATH",
        help="parent of a differencing disk; repeat for deeper chains, the image's own "
        "parent first (default: where the image's parent locator leads)",
    )
    p.add_argument(
        "--allow-missing-parent",
        action="store_true",
        help="export even when a parent is missing: its sectors are zero-filled and listed",
    )
    p.add_argument(
        "--from-slot",
        type=int,
        choices=(1, 2),
        help="read through this header slot (when no header is current)",
    )
    p.add_argument("--gaps", metavar="FILE", help="also write the gaps as JSON to FILE (new)")
    p.add_argument(
        "--partition",
        type=int,
        metavar="N",
        help="export only partition N (as numbered in the Inside block of vhdxray info; raw)",
    )
    p.add_argument(
        "--no-flush",
        action="store_true",
        help="name OUTPUT without waiting for its bytes to reach the disk (faster, as "
        "qemu-img convert and cp; a crash soon after may leave it incomplete: run sync)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress line, no summary")


def _refuse(
    args: argparse.Namespace,
    code: str,
    reason: str,
    exit_code: int,
    suggest: Suggestions = (),
) -> int:
    if args.json:
        emit_json(
            {
                "output": args.output,
                "format": args.format,
                "complete": False,
                "refused": code,
                "reason": reason,
                "suggest": [s.to_json() for s in suggest],
                "exit_code": exit_code,
            }
        )
    else:
        err(f"refused ({code}): {cli_text(reason, suggest)}; nothing was written")
    return exit_code


def _stopped(args: argparse.Namespace, how: str, reason: str, exit_code: int) -> int:
    """With ``--json``, a failed or cancelled export is one JSON object too (stdout was empty):
    ``stopped`` is ``failed`` or ``cancelled``; the partial file is always removed by then."""
    if args.json:
        emit_json(
            {
                "output": args.output,
                "format": args.format,
                "complete": False,
                "stopped": how,
                "reason": reason,
                "partial_removed": True,
                "exit_code": exit_code,
            }
        )
    return exit_code


def _document(
    args: argparse.Namespace, disk: VirtualDisk, result: ExportResult, exit_code: int
) -> dict[str, Any]:
    chain = disk.chain()
    return {
        "image": disk.path,
        "output": str(result.output),
        "format": result.format,
        "virtual_size": result.virtual_size,
        "bytes_copied": result.bytes_copied,
        "blocks_allocated": result.blocks_allocated if result.format != RAW else None,
        "log_replayed_in_memory": any(d.log.applied for d in chain),
        "log": [d.log.describe() for d in chain if d.log.applied or d.log.note],
        "parents": [d.path for d in chain[1:]],
        "parent_missing": chain[-1].parent_missing,
        "header_slot": disk.header.slot,
        "region_table": disk.region_table,
        "gaps": [g.to_json() for g in result.gaps],
        "complete": result.complete,
        "flushed": result.flushed,
        "exit_code": exit_code,
        "partition": getattr(disk, "partition", None),
    }


def _summary(disk: VirtualDisk, result: ExportResult) -> None:
    chain = disk.chain()
    part = getattr(disk, "partition", None)
    what = "virtual disk" if part is None else f"partition {part}"
    line(
        f"Exported {disk.path} to {result.output} ({result.format}, "
        f"{_size(result.virtual_size)} {what})."
    )
    line(f"Copied {result.bytes_copied} bytes of data; everything else reads as zeros.")
    if result.format != RAW:
        line(
            f"The new VHDX has {result.blocks_allocated} block(s) of "
            f"{_size(disk.block_size)} allocated, no log, and one clean header pair."
        )
    if disk.report.current_header != disk.header.slot:
        line(f"Read through header slot {disk.header.slot} (no other header is current).")
    if disk.region_table == 2:
        line("Region table copy 1 is damaged; copy 2 was used.")
    for d in chain:
        if d.log.applied or d.log.note:
            line(f"{d.path}: {d.log.describe()}.")
    if len(chain) > 1:
        line("Differencing chain merged: " + " <- ".join(d.path for d in reversed(chain)) + ".")
    if chain[-1].parent_missing:
        line(f"The parent of {chain[-1].path} is missing: its sectors are zero-filled.")
    if result.complete:
        line("No gaps: the output is complete and exact.")
    else:
        lost = sum(g.length for g in result.gaps)
        line(f"{len(result.gaps)} gap(s), {lost} bytes in all, zero-filled in the output:")
        for g in result.gaps[:MAX_GAPS_SHOWN]:
            line(f"  {g.describe()}")
        if len(result.gaps) > MAX_GAPS_SHOWN:
            line(f"  ... and {len(result.gaps) - MAX_GAPS_SHOWN} more (all in --gaps FILE)")
    if not result.flushed:
        line(
            "Not flushed (--no-flush): the data may still be in memory; run `sync` before "
            "relying on the file or deleting the source."
        )
    out = shell_word(str(result.output))
    if result.format == RAW:
        line(
            "Next step: check the file systems inside before using them, e.g. "
            f"`e2fsck -f {out}` for a bare ext4 disk, or attach it with "
            f"`losetup -P -r --find --show {out}` and check each partition."
        )
    else:
        line(f"Next step: `vhdxray check {out}`, then attach it read-only first.")


def _write_gaps(path: str, result: ExportResult) -> None:
    doc = {
        "output": str(result.output),
        "reasons": GAP_REASONS,
        "gaps": [g.to_json() for g in result.gaps],
    }
    with NewFile(path) as fd:
        write_all(fd, (json.dumps(doc, indent=2, ensure_ascii=True) + "\n").encode())


def run(args: argparse.Namespace) -> int:
    try:
        check_output(args.output)
        if args.gaps is not None:
            # Checked before the export, not after it: the gaps file is written last, and a
            # missing folder found then fails a command whose long export already succeeded.
            if os.path.lexists(args.gaps):
                raise ExportRefused("gaps_file_exists", f"{args.gaps} already exists")
            if os.path.abspath(args.gaps) == os.path.abspath(args.output):
                raise ExportRefused(
                    "gaps_file_exists", f"the gaps file {args.gaps} is the output file itself"
                )
            check_output(args.gaps)  # its folder exists
    except ExportRefused as exc:
        return _refuse(args, exc.code, exc.reason, EXIT_REFUSED)
    try:
        disk = open_virtual_disk(
            args.image,
            parents=args.parent,
            from_slot=args.from_slot,
            allow_missing_parent=args.allow_missing_parent,
        )
    except OpenRefused as exc:
        # No header at all to read through (none valid, none to choose) is unreadable, as no
        # region table is; a slot to choose (--from-slot) is a refusal the user can get past.
        unreadable = exc.code in _UNREADABLE_CODES or (exc.code == "no_header" and not exc.suggest)
        code = EXIT_NOT_VHDX if unreadable else EXIT_REFUSED
        return _refuse(args, exc.code, exc.reason, code, exc.suggest)
    with disk:
        if args.partition is not None:
            return _run_partition(args, disk)
        return _run(args, disk)


def _run_partition(args: argparse.Namespace, disk: VirtualDisk) -> int:
    """One partition's bytes, found through guest triage (GPT, MBR with logical partitions)."""
    from typing import cast

    from vhdxray.core.analysis.guest import triage
    from vhdxray.core.analysis.window import DiskWindow

    if args.format != RAW:
        return _refuse(args, "partition_format", "--partition writes a raw file only", EXIT_REFUSED)
    guest = triage(disk, sector_size=disk.logical_sector_size)
    part = next((p for p in guest.partitions if p.index == args.partition), None)
    if part is None:
        found = ", ".join(str(p.index) for p in guest.partitions) or "none"
        return _refuse(
            args,
            "no_partition",
            f"the disk has no partition {args.partition} (partition table: "
            f"{guest.partition_table}; partitions: {found})",
            EXIT_REFUSED,
        )
    if part.start + part.length > disk.size:
        return _refuse(
            args,
            "partition_past_end",
            f"partition {part.index} ends at byte {part.start + part.length}, past the "
            f"disk's end ({disk.size} bytes)",
            EXIT_REFUSED,
        )
    window = DiskWindow(disk, part.start, part.length, partition=part.index)
    # The window offers what export uses of a VirtualDisk (size, runs, and the rest delegated).
    return _run(args, cast("VirtualDisk", window))


def _run(args: argparse.Namespace, disk: VirtualDisk) -> int:
    show = not args.quiet and not args.json and sys.stderr.isatty()
    bar = _ProgressLine()
    progress = Progress(on_update=bar if show else None)

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        progress.cancel()

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread
        previous = None
    try:
        plan = plan_export(disk, args.format, progress)
        result = export(
            disk,
            args.output,
            fmt=args.format,
            plan=plan,
            progress=progress,
            flush=not args.no_flush,
        )
    except ExportRefused as exc:
        return _refuse(args, exc.code, exc.reason, EXIT_REFUSED)
    except (Cancelled, KeyboardInterrupt):
        bar.end()
        err("cancelled: the partial output was removed; nothing was written")
        return _stopped(args, "cancelled", "cancelled", stopped_exit(EXIT_CANCELLED))
    except ExportFailed as exc:
        bar.end()
        err(f"FAILED: {exc}; the partial output was removed")
        return _stopped(args, "failed", str(exc), EXIT_FAILURE)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    bar.end()
    exit_code = EXIT_OK if result.complete else EXIT_GAPS
    if args.gaps is not None:
        try:
            _write_gaps(args.gaps, result)
        except OSError as exc:
            err(f"the gaps file {args.gaps} could not be written: {exc.strerror or exc}")
            exit_code = EXIT_FAILURE
    if args.json:
        emit_json(_document(args, disk, result, exit_code))
    elif not args.quiet:
        _summary(disk, result)
    elif not result.complete:
        err(f"{len(result.gaps)} gap(s) zero-filled in {result.output}")
    return exit_code


__all__ = ["add_arguments", "run"]
