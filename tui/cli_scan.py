"""``vhdxray scan PATH...``: every image under some folders, read-only.

Human output: a progress line on a terminal (stderr), then counts per verdict and the images
that need attention, worst first. ``--json``: one JSON object per image, written as each
finishes (keys in README.md). Exit codes: 0 nothing needs fixing; 2 an image has an error
finding, cannot be read, or is named like a VHDX and is not one; 1 the tool's own failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from collections import Counter
from typing import TextIO

from vhdxray.core.analysis.scan import (
    VERDICTS,
    ScanLine,
    ScanOptions,
    needs_error_exit,
    scan,
)
from vhdxray.core.format.text import printable
from vhdxray.core.progress import Progress
from vhdxray.tui.outcome import cli_text, from_json
from vhdxray.tui.sizes import grouped

EXIT_OK = 0
EXIT_ERRORS = 2
MAX_TABLE_ROWS = 50
REDRAW_SECONDS = 0.1


def _jobs(text: str) -> int:
    """A count of readers: a whole number of at least 1 (0 or -3 was taken silently as 1)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "paths", nargs="+", metavar="PATH", help="folders (searched recursively) or files"
    )
    s.add_argument("--json", action="store_true", help="one JSON object per image, as each ends")
    s.add_argument(
        "--jobs",
        type=_jobs,
        default=min(8, (os.cpu_count() or 1) * 2),
        help="images read at once (default: twice the cores, at most 8)",
    )
    s.add_argument(
        "--processes",
        action="store_true",
        help="read in JOBS worker processes instead of threads (for many cores)",
    )
    s.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="also scan files matching GLOB (e.g. '*.vhd'); *.vhdx and *.avhdx always are",
    )
    s.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip files and folders whose name or relative path matches GLOB",
    )
    s.add_argument("--no-guest", action="store_true", help="skip looking inside the guest")
    s.add_argument("--errors-only", action="store_true", help="list only images that need fixing")


class ProgressLine:
    """One self-overwriting line on a terminal: done/found, images/s, ETA, the current file."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._last = 0.0
        self._shown = False

    def update(self, p: Progress, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < REDRAW_SECONDS:
            return
        self._last = now
        width = shutil.get_terminal_size((80, 24)).columns
        bar_width = 20
        filled = int(bar_width * p.fraction)
        eta = p.eta
        eta_text = "--:--" if eta is None else _clock(eta)
        head = (
            f"[{'#' * filled}{'-' * (bar_width - filled)}] {p.done}/{p.total} files  "
            f"{p.rate:.1f} images/s  ETA {eta_text}  "
        )
        room = max(0, width - len(head) - 1)
        name = printable(p.label)
        if len(name) > room:
            name = "…" + name[len(name) - room + 1 :] if room > 1 else ""
        self.stream.write("\r\x1b[K" + head + name)
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def run(args: argparse.Namespace) -> int:
    options = ScanOptions(
        include=tuple(args.include),
        exclude=tuple(args.exclude),
        guest=not args.no_guest,
        jobs=max(1, args.jobs),
        processes=args.processes,
    )
    show_progress = sys.stderr.isatty() and not (args.json and sys.stdout.isatty())
    bar = ProgressLine(sys.stderr) if show_progress else None
    progress = Progress(unit="files")
    counts: Counter[str] = Counter()
    attention: list[ScanLine] = []
    any_error = False
    started = time.monotonic()
    with contextlib.closing(scan(args.paths, options, progress)) as lines:
        try:
            for line in lines:
                counts[str(line["verdict"])] += 1
                bad = needs_error_exit(line)
                any_error = any_error or bad
                if args.json:
                    if bad or not args.errors_only:
                        sys.stdout.write(json.dumps(line, ensure_ascii=True) + "\n")
                        sys.stdout.flush()
                elif needs_attention(line) and (bad or not args.errors_only):
                    attention.append(_compact(line))
                if bar is not None:
                    bar.update(progress)
        finally:
            if bar is not None:
                bar.clear()
    if not args.json:
        sys.stdout.write(summary(counts, attention, time.monotonic() - started))
        sys.stdout.flush()
    return EXIT_ERRORS if any_error else EXIT_OK


def needs_attention(line: ScanLine) -> bool:
    """In the summary table: anything but a usable image (warnings are usable: Windows and
    QEMU accept them), and any child whose parent is missing or does not match."""
    parent = line["parent"]
    broken_chain = isinstance(parent, dict) and parent.get("status") != "found"
    return line["verdict"] not in ("ok", "warning") or broken_chain


def _compact(line: ScanLine) -> ScanLine:
    """What the summary table needs (so a long scan does not keep whole lines)."""
    keep = ("path", "verdict", "headline", "next_step", "in_use", "parent")
    return {k: line[k] for k in keep}


def _rank(line: ScanLine) -> tuple[int, str]:
    return VERDICTS.index(str(line["verdict"])), str(line["path"])


def summary(counts: Counter[str], attention: list[ScanLine], seconds: float) -> str:
    total = sum(counts.values())
    if total == 0:
        return "No image files found.\n"
    rate = total / seconds if seconds > 0 else 0.0
    out = [
        f"Scanned {grouped(total)} file{'s' if total != 1 else ''} in {seconds:.1f} s "
        f"({rate:.0f} images/s).\n"
    ]
    for level in VERDICTS:
        if counts[level]:
            out.append(f"  {level:<11} {counts[level]:>7}\n")
    if not attention:
        out.append("No image needs attention.\n")
        return "".join(out)
    out.append("\nNeeds attention (worst first):\n")
    attention.sort(key=_rank)
    for line in attention[:MAX_TABLE_ROWS]:
        notes = []
        if line["in_use"]:
            notes.append("in use")
        parent = line["parent"]
        if isinstance(parent, dict) and parent.get("status") != "found":
            status, reason = parent.get("status"), parent.get("reason")
            notes.append(f"parent {status}" + (f": {reason}" if reason != status else ""))
        extra = f"  ({', '.join(notes)})" if notes else ""
        out.append(f"{line['verdict']:<11} {printable(str(line['path']))}{extra}\n")
        text = str(line["headline"])
        step = str(line["next_step"] or "")
        if step and step not in text:
            text = f"{text} {step}"
        text = cli_text(text, from_json(line.get("suggest")))
        out.append(f"{'':<11} {printable(text)}\n")
    if len(attention) > MAX_TABLE_ROWS:
        more = len(attention) - MAX_TABLE_ROWS
        out.append(f"… and {more} more (vhdxray scan --json lists every image).\n")
    return "".join(out)
