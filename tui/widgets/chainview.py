"""The Chain view of a differencing child: its parent found, moved, modified or missing.

Everything shown that comes from the image (locator keys, values, paths) goes through
``safe``; the words are the app's own.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from vhdxray.core.analysis.chain import INFO, MISMATCH, OK, WARNING, describe_locator
from vhdxray.core.analysis.reader import Report
from vhdxray.tui.chainstatus import FOUND, MISSING, MODIFIED, MOVED, NOT_CHILD, ParentStatus
from vhdxray.tui.safe_text import join, plain, safe

KIND_WORDS = {
    FOUND: ("PARENT FOUND", "bold green"),
    MOVED: ("PARENT MOVED", "bold yellow"),
    MODIFIED: ("PARENT MODIFIED", "bold red"),
    MISSING: ("PARENT MISSING", "bold red"),
}

MARKS = {
    OK: ("✓", "green"),
    MISMATCH: ("✗", "bold red"),
    WARNING: ("!", "bold yellow"),
    INFO: ("·", "dim"),
}

NEXT_STEP = {
    FOUND: "Nothing to do: the chain holds.",
    MOVED: (
        "The chain holds, but a path in the locator is out of date: Windows may not find the "
        "parent. Press k to relink: the locator's paths are rewritten to the parent found "
        "(after a confirmation, with backups)."
    ),
    MODIFIED: (
        "Do not use this child with this parent: its blocks were written against an earlier "
        "state of the parent. Find the parent's original (a backup, a snapshot) and put it "
        "where the locator points, or press k to relink to it. Relinking to this file anyway "
        "is refused unless you choose the risk."
    ),
    MISSING: (
        "Press k to choose the parent at its new place and relink (its identity is checked "
        "first), or put it back where the locator points (the relative path below, from this "
        "file's folder) and reload (r). Without its parent a child shows only its own blocks."
    ),
}

# --read-only: k is hidden, so the next step names no key for the relink.
READ_ONLY_STEP = {
    MOVED: (
        "The chain holds, but a path in the locator is out of date: Windows may not find the "
        "parent. To relink (the locator's paths rewritten to the parent found, after a "
        "confirmation, with backups), open the image without --read-only."
    ),
    MODIFIED: (
        "Do not use this child with this parent: its blocks were written against an earlier "
        "state of the parent. Find the parent's original (a backup, a snapshot) and put it "
        "where the locator points; to relink to it instead, open the image without "
        "--read-only."
    ),
    MISSING: (
        "Put the parent back where the locator points (the relative path below, from this "
        "file's folder) and reload (r); to choose it at its new place and relink, open the "
        "image without --read-only. Without its parent a child shows only its own blocks."
    ),
}


HERE_MEANS = "(./ is the child's folder, where this file is, not the current directory)"


def chain_renderable(
    report: Report, status: ParentStatus | None, *, writable: bool = True
) -> RenderableType:
    if status is None or status.kind == NOT_CHILD:
        return plain("This is not a differencing disk: it has no parent.")
    word, style = KIND_WORDS.get(status.kind, ("PARENT UNKNOWN", "bold red"))
    parts: list[RenderableType] = [
        join((f"{word}  ", style), safe(status.sentence.replace(" Press 8 for the chain.", ""))),
        Text(""),
    ]
    folder = str(Path(report.path).resolve().parent) + os.sep
    shortened: list[bool] = []  # a path was shown as ./NAME; then whether ./ was explained

    def here(text: str) -> str:
        """Paths in this file's folder shown as ./NAME (short, and the same on every machine)."""
        if folder in text and not shortened:
            shortened.append(False)
        return text.replace(folder, "." + os.sep)

    def add(*shown: RenderableType) -> None:
        """``shown`` added; after the first that holds a ./NAME path, what ./ means."""
        parts.extend(shown)
        if shortened == [False]:
            shortened[0] = True
            last = shown[-1].plain if isinstance(shown[-1], Text) else ""
            indent = " " * (len(last) - len(last.lstrip(" ")))  # under the line it explains
            parts.append(plain(indent + HERE_MEANS, "dim"))

    if status.path is not None:
        add(join(("Parent file: ", "bold"), safe(here(str(status.path.resolve())))))
        parts.append(Text(""))
    if status.check is not None:
        items = Table.grid(padding=(0, 1))
        items.add_column(width=1, no_wrap=True)
        items.add_column(no_wrap=True, style="bold")
        items.add_column(overflow="fold")
        for item in status.check.items:
            mark, mstyle = MARKS.get(item.status, ("?", "bold"))
            items.add_row(
                plain(mark, mstyle), safe(item.name.replace("_", " ")), safe(here(item.message))
            )
        add(plain("Checked against the parent:", "bold"), items)
        parts.append(Text(""))
    parts.append(plain("What to do:", "bold"))
    steps = NEXT_STEP if writable else {**NEXT_STEP, **READ_ONLY_STEP}
    parts.append(safe(steps.get(status.kind, "The parent cannot be identified.")))
    parts.append(Text(""))
    parts.append(plain("The parent locator (as stored in this file):", "bold"))
    for line in describe_locator(report, report.path)[1:]:
        add(safe(here(line)))
    return Group(*parts)


__all__ = ["chain_renderable"]
