"""The fleet table's data, apart from any widget: columns, sort keys, filters and exports.

Every cell is :class:`rich.text.Text` from :func:`~vhdxray.tui.safe_text.safe` or our own
words: paths come from the filesystem and may hold control characters or markup.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import humanize
from rich.text import Text

from vhdxray.core.analysis.scan import LINE_KEYS, VERDICTS, ScanLine
from vhdxray.tui.safe_text import plain, safe

VERDICT_STYLES = {
    "error": "bold red",
    "unreadable": "bold magenta",
    "not_vhdx": "yellow",
    "warning": "yellow",
    "ok": "green",
}


def display_name(line: ScanLine, roots: Iterable[Path]) -> str:
    """The path relative to the scanned folder it was found in (or as it is)."""
    path = str(line["path"])
    for root in roots:
        try:
            rel = os.path.relpath(path, root)
        except ValueError:
            continue
        if not rel.startswith(".."):
            return rel
    return path


def _log(line: ScanLine) -> str:
    value = line["replay_needed"]
    return "-" if value is None else ("REPLAY" if value else "clean")


def _in_use(line: ScanLine) -> str:
    value = line["in_use"]
    return "?" if value is None else ("IN USE" if value else "no")


def _inside(line: ScanLine) -> str:
    """The guest in a few words: the worst problem's code, or the filesystems found."""
    guest = line["guest"]
    if not isinstance(guest, dict):
        return "-"
    if guest.get("error"):
        return f"({guest['error']})"  # not looked at, and why
    findings = guest.get("findings") or []
    if findings:
        more = f" +{len(findings) - 1}" if len(findings) > 1 else ""
        return str(findings[0]).removeprefix("guest.") + more
    filesystems = sorted(set(guest.get("filesystems") or []))
    if filesystems:
        return ", ".join(filesystems) + " ok"
    return str(guest.get("partition_table") or "-")


def _type(line: ScanLine) -> str:
    disk_type = line["disk_type"]
    if disk_type is not None:
        return str(disk_type)
    return str(line["kind"])


def _header(line: ScanLine) -> str:
    value = line["current_header"]
    return "-" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    cell: Callable[[ScanLine, str], Text]  # (line, display name) -> cell
    sort: Callable[[ScanLine, str], Any]  # values of one column compare with each other


COLUMNS: tuple[Column, ...] = (
    Column("name", "Name", lambda _l, name: safe(name), lambda _l, name: name.lower()),
    Column(
        "size",
        "Size",
        lambda line, _n: plain(humanize.naturalsize(int(line["file_size"] or 0), binary=True)),
        lambda line, _n: int(line["file_size"] or 0),
    ),
    Column("type", "Type", lambda line, _n: safe(_type(line)), lambda line, _n: _type(line)),
    Column(
        "verdict",
        "Verdict",
        lambda line, _n: plain(str(line["verdict"]), VERDICT_STYLES.get(str(line["verdict"]), "")),
        lambda line, _n: VERDICTS.index(str(line["verdict"])),
    ),
    Column(
        "header", "Header", lambda line, _n: plain(_header(line)), lambda line, _n: _header(line)
    ),
    Column(
        "log",
        "Log",
        lambda line, _n: plain(_log(line), "bold red" if line["replay_needed"] else ""),
        lambda line, _n: _log(line),
    ),
    Column(
        "inside", "Inside", lambda line, _n: safe(_inside(line)), lambda line, _n: _inside(line)
    ),
    Column(
        "in_use",
        "In use",
        lambda line, _n: plain(_in_use(line), "bold" if line["in_use"] else ""),
        lambda line, _n: _in_use(line),
    ),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)


def is_problem(line: ScanLine) -> bool:
    """What "errors only" keeps: damaged, unreadable or not a VHDX, or a broken chain."""
    parent = line["parent"]
    broken = isinstance(parent, dict) and parent.get("status") != "found"
    return line["verdict"] in ("error", "unreadable", "not_vhdx") or broken


def matches(line: ScanLine, name: str, text: str) -> bool:
    """The text filter: a case-insensitive substring of the name, type, verdict or headline."""
    if not text:
        return True
    needle = text.lower()
    haystack = (name, _type(line), str(line["verdict"]), str(line["headline"] or ""))
    return any(needle in h.lower() for h in haystack)


# Every key of a scan line but the ones that do not fit a flat cell (next step and its
# suggestions, guest, time).
CSV_FIELDS: tuple[str, ...] = tuple(
    key for key in LINE_KEYS if key not in ("next_step", "suggest", "guest", "seconds")
)


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def export_text(lines: Iterable[ScanLine], fmt: str) -> str:
    """The lines as JSON lines (the ``scan --json`` format) or CSV (lists space-separated,
    the parent as its status)."""
    if fmt == "jsonl":
        return "".join(json.dumps(line, ensure_ascii=True) + "\n" for line in lines)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    for line in lines:
        row: list[object] = []
        for key in CSV_FIELDS:
            value = line[key]
            if isinstance(value, list):
                value = " ".join(map(str, value))
            elif isinstance(value, dict):
                value = value.get("status")
            if isinstance(value, str) and value.startswith(_FORMULA):
                value = "'" + value  # a spreadsheet must not run a file name as a formula
            row.append("" if value is None else value)
        writer.writerow(row)
    return buffer.getvalue()
