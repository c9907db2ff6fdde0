"""An image as ``check`` reads it: the report, plus for a differencing disk the parent found
through its locator (whose problems are error findings: a child without its parent cannot be
read). ``check``, ``scan`` and the app all go through :func:`with_chain_findings` (``check`` and
``scan`` through :func:`read_checked`), so they agree on every file."""

from __future__ import annotations

import os

from vhdxray.core.analysis.reader import Report, Source, read_report, read_report_from
from vhdxray.core.format.findings import sort_findings
from vhdxray.core.format.record import replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from vhdxray.core.analysis.chain import ParentLookup

CHAIN_PREFIX = "chain."


def with_chain_findings(
    path: str | os.PathLike[str], report: Report
) -> tuple[Report, ParentLookup | None]:
    """``report`` (of the file at ``path``) with its parent lookup's findings added, and the
    lookup (None when the file is not a differencing disk). A report that already carries
    them is returned as it is (the lookup is still made)."""
    if report.metadata is None or not report.metadata.has_parent:
        return report, None
    from vhdxray.core.analysis.chain import locate_parent  # pathlib: only for a child

    lookup = locate_parent(path, report)
    if any(f.code.startswith(CHAIN_PREFIX) for f in report.findings):
        return report, lookup
    extra = lookup.findings(os.fspath(path))
    if extra:
        report = replace(report, findings=sort_findings(report.findings + extra))
    return report, lookup


def read_checked(
    path: str | os.PathLike[str], source: Source | None = None
) -> tuple[Report, ParentLookup | None]:
    """(report, parent lookup or None when the file is not a differencing disk). ``source``:
    ``path`` already open (``scan`` reads the file once for the check and the guest)."""
    report = read_report(path) if source is None else read_report_from(source, os.fspath(path))
    return with_chain_findings(path, report)
