"""Which screen a report opens on, decided without importing either screen (the explanation
screen is imported only for the files that need it)."""

from __future__ import annotations

from vhdxray.core.analysis.reader import Report

TRUNCATED = "file.truncated"


def is_truncated(report: Report) -> bool:
    return report.is_vhdx and any(f.code == TRUNCATED for f in report.findings)


def needs_explanation(report: Report) -> bool:
    """True when the header view cannot be the first screen."""
    return not report.is_vhdx or report.headers is None or is_truncated(report)
