"""Where a differencing child's parent is, in the app's words: found, missing, moved, modified.

Built on :func:`vhdxray.core.analysis.chain.probe_paths` and
:func:`~vhdxray.core.analysis.chain.check_chain` (the locator's paths as they resolve here,
then the full comparison with the file found). Windows-only paths (volume, absolute) cannot be
followed here: a parent named only by those is "not found from here".

- **found**: a locator path leads to a VHDX whose DataWriteGuid is the one the child expects;
- **moved**: the parent matches, but a locator path leads elsewhere or names another file
  (it was moved or renamed): relinking refreshes the paths;
- **modified**: a file is where the locator points but its DataWriteGuid differs: it was
  written (or replaced) after the child was made, so the child's blocks no longer fit it;
- **missing**: no path leads to a file from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vhdxray.core.analysis.chain import (
    WARNING,
    ChainCheck,
    check_chain,
    probe_paths,
)
from vhdxray.core.analysis.reader import Report, read_report
from vhdxray.core.format.metadata import PATH_KEYS

FOUND = "found"
MOVED = "moved"
MODIFIED = "modified"
MISSING = "missing"
NOT_CHILD = "not_child"
UNKNOWN = "unknown"  # no readable locator


@dataclass(frozen=True, slots=True)
class ParentStatus:
    kind: str
    path: Path | None  # the file the locator leads to (when one does)
    check: ChainCheck | None  # the comparison with that file
    sentence: str  # one sentence for the headline

    @property
    def bad(self) -> bool:
        return self.kind in (MISSING, MODIFIED, UNKNOWN)


def parent_status(report: Report) -> ParentStatus:
    """Follow ``report``'s parent locator (reads the parent's structures, never writes)."""
    meta = report.metadata
    if meta is None or not meta.has_parent:
        return ParentStatus(NOT_CHILD, None, None, "")
    locator = meta.parent_locator
    if locator is None:
        return ParentStatus(
            UNKNOWN,
            None,
            None,
            "This differencing disk has no readable parent locator: its parent is unknown.",
        )
    probes = probe_paths(report.path, locator)
    found = [p for p in probes if p.exists and p.local_path is not None]
    if not found:
        return ParentStatus(
            MISSING,
            None,
            None,
            "Its parent is MISSING: no path of its parent locator leads to a file from here "
            "(the parent was moved, renamed or deleted). Press 8 for the chain.",
        )
    first = found[0]
    assert first.local_path is not None
    parent = read_report(first.local_path)
    check = check_chain(report, parent, child_path=report.path, parent_path=first.local_path)
    if not check.consistent:
        return ParentStatus(
            MODIFIED,
            first.local_path,
            check,
            f"Its parent {first.local_path.name} was MODIFIED after this child was made (its "
            "identity no longer matches what the child expects). Press 8 for the chain.",
        )
    if any(i.status == WARNING and i.name in PATH_KEYS for i in check.items):
        return ParentStatus(
            MOVED,
            first.local_path,
            check,
            f"Its parent {first.local_path.name} was found, but not where the locator names it "
            "first (it moved). Press 8 for the chain.",
        )
    return ParentStatus(
        FOUND,
        first.local_path,
        check,
        f"Its parent {first.local_path.name} was found and matches.",
    )


__all__ = ["FOUND", "MISSING", "MODIFIED", "MOVED", "ParentStatus", "parent_status"]
