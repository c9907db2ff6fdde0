"""Where a differencing child's parent is, in the app's words: found, missing, moved, modified.

Built on :func:`vhdxray.core.analysis.chain.locate_parent` (the locator's paths as they
resolve here, then the full comparison with the file found).

- **found**: a locator path leads to a VHDX whose DataWriteGuid is the one the child expects;
- **moved**: the parent matches, but a locator path leads elsewhere or names another file
  (it was moved or renamed): relinking refreshes the paths;
- **modified**: a file is where the locator points but its DataWriteGuid differs: it was
  written (or replaced) after the child was made, so the child's blocks no longer fit it;
- **missing**: no path leads to a file from here.
"""

from __future__ import annotations

from pathlib import Path

from vhdxray.core.analysis import chain
from vhdxray.core.analysis.chain import WARNING, ChainCheck, locate_parent
from vhdxray.core.analysis.reader import Report
from vhdxray.core.format.metadata import PATH_KEYS
from vhdxray.core.format.record import record

FOUND = "found"
MOVED = "moved"
MODIFIED = "modified"
MISSING = "missing"
NOT_CHILD = "not_child"
UNKNOWN = "unknown"  # no readable locator


@record
class ParentStatus:
    kind: str
    path: Path | None  # the file the locator leads to (when one does)
    check: ChainCheck | None  # the comparison with that file
    sentence: str  # one sentence for the headline

    @property
    def bad(self) -> bool:
        return self.kind in (MISSING, MODIFIED, UNKNOWN)


def parent_status(report: Report) -> ParentStatus:
    """Follow ``report``'s parent locator (:func:`~vhdxray.core.analysis.chain.locate_parent`:
    reads the parent's structures, never writes) and say where the parent stands."""
    lookup = locate_parent(report.path, report)
    if lookup.status == chain.NOT_DIFFERENCING:
        return ParentStatus(NOT_CHILD, None, None, "")
    if lookup.status == chain.NO_LOCATOR:
        return ParentStatus(
            UNKNOWN,
            None,
            None,
            "This differencing disk has no readable parent locator: its parent is unknown.",
        )
    if lookup.status == chain.MISSING or lookup.path is None:
        return ParentStatus(
            MISSING,
            None,
            None,
            "Its parent is MISSING: no path of its parent locator leads to a file from here "
            "(the parent was moved, renamed or deleted). Press 8 for the chain.",
        )
    path, check = lookup.path, lookup.check
    if lookup.status == chain.NOT_A_PARENT:
        return ParentStatus(
            MODIFIED,
            path,
            check,
            f"The locator leads to {path.name}, which is not a readable VHDX: the parent was "
            "replaced. Press 8 for the chain.",
        )
    if lookup.status in (chain.MODIFIED, chain.MISMATCH_GEOMETRY):
        return ParentStatus(
            MODIFIED,
            path,
            check,
            f"Its parent {path.name} was MODIFIED after this child was made (its identity no "
            "longer matches what the child expects). Press 8 for the chain.",
        )
    if check is not None and any(i.status == WARNING and i.name in PATH_KEYS for i in check.items):
        return ParentStatus(
            MOVED,
            path,
            check,
            f"Its parent {path.name} was found, but not where the locator names it (it moved). "
            "Press 8 for the chain.",
        )
    return ParentStatus(FOUND, path, check, f"Its parent {path.name} was found and matches.")


__all__ = ["FOUND", "MISSING", "MODIFIED", "MOVED", "ParentStatus", "parent_status"]
