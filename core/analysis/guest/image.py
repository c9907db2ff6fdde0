"""Guest triage of an image file: open its virtual disk read-only (the pending log applied in
memory, the parent chain when its parents are found) and look inside."""

from __future__ import annotations

import os
from collections.abc import Sequence

from vhdxray.core.analysis.guest.triage import GuestReport, triage
from vhdxray.core.analysis.reader import Report
from vhdxray.core.format.record import record
from vhdxray.core.source import ImageSource

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@record
class GuestOutcome:
    """The guest report, or why the virtual disk could not be opened to look inside."""

    guest: GuestReport | None
    error_code: str | None = None  # "not_vhdx", "unreadable", or an OpenRefused code
    error: str | None = None  # the reason, in the opener's words

    def error_json(self) -> dict[str, Any] | None:
        if self.error_code is None:
            return None
        return {"code": self.error_code, "reason": self.error}


def inspect_image(
    path: str | os.PathLike[str],
    report: Report | None = None,
    *,
    parents: Sequence[str | os.PathLike[str]] = (),
    source: ImageSource | None = None,
) -> GuestOutcome:
    """Look inside the image at ``path``. ``report``, when given, tells a non-VHDX file
    early; with ``source`` (``path`` already open, the report read through it) the file is
    not opened or parsed again. Never writes and never raises on the image's contents."""
    from vhdxray.core.analysis.virtual import OpenRefused, open_virtual_disk

    if report is not None and not report.is_vhdx:
        return GuestOutcome(None, "not_vhdx", report.description)
    try:
        disk = open_virtual_disk(
            path,
            parents=parents,
            source=source,
            report=report if source is not None else None,
        )
    except OpenRefused as exc:
        return GuestOutcome(None, exc.code, exc.reason)
    except OSError as exc:
        return GuestOutcome(None, "unreadable", exc.strerror or str(exc))
    with disk:
        return GuestOutcome(triage(disk, sector_size=disk.logical_sector_size))
