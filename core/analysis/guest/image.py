"""Guest triage of an image file: open its virtual disk read-only (the pending log applied in
memory, the parent chain when its parents are found) and look inside."""

from __future__ import annotations

import os
from collections.abc import Sequence

from vhdxray.core.analysis.guest.triage import GuestReport, triage
from vhdxray.core.analysis.reader import Report
from vhdxray.core.format import layout
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
    not opened or parsed again, and a disk the report shows to store nothing
    (:func:`stores_nothing`) is not opened at all. Never writes and never raises on the
    image's contents."""
    if report is not None and not report.is_vhdx:
        return GuestOutcome(None, "not_vhdx", report.description)
    if report is not None and source is not None:  # the report describes this open file
        empty = stores_nothing(report)
        if empty is not None:  # triage decides on a disk that reads as zeros, unopened
            return GuestOutcome(triage(empty, sector_size=empty.logical_sector_size))
    from vhdxray.core.analysis.virtual import OpenRefused, open_virtual_disk

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


class ZeroDisk:
    """A virtual disk that :func:`stores_nothing` found holds no byte: every range reads as
    zeros, and triage is told so without a read (``may_hold_data``), as it would be by the
    opened :class:`~vhdxray.core.analysis.virtual.VirtualDisk`."""

    def __init__(self, size: int, logical_sector_size: int) -> None:
        self.size = size
        self.logical_sector_size = logical_sector_size

    def read(self, offset: int, length: int) -> bytes:
        return bytes(length)

    def may_hold_data(self, offset: int, length: int) -> bool:
        return False


_PRESENT = (
    layout.PAYLOAD_STATE_NAMES[layout.PAYLOAD_BLOCK_FULLY_PRESENT],
    layout.PAYLOAD_STATE_NAMES[layout.PAYLOAD_BLOCK_PARTIALLY_PRESENT],
)


def stores_nothing(report: Report) -> ZeroDisk | None:
    """The virtual disk of ``report``'s image when it is known, from the report alone, to
    open and to read as zeros everywhere; None when it must be opened to know.

    That is a disk which :func:`~vhdxray.core.analysis.virtual.open_virtual_disk` opens without
    a refusal (a current header, an active region table with the metadata and BAT entries,
    usable geometry: the reader analysed the BAT) and whose every byte reads as zeros there:
    not differencing (no parent shows through), no pending log (nothing laid over the file),
    and no BAT entry read with a payload state that maps file bytes (FULLY_PRESENT,
    PARTIALLY_PRESENT); every other entry, and an entry cut off, reads as zeros or a gap.
    The reader and the virtual disk read the same entries of the same BAT region.
    """
    bat, log, meta = report.bat, report.log, report.metadata
    if (
        bat is None
        or meta is None
        or bat.geometry.differencing
        or meta.has_parent
        or report.effective_header is None
        or (log is not None and log.replay_needed)
        or any(bat.payload_states.get(name, 0) for name in _PRESENT)
    ):
        return None
    return ZeroDisk(bat.geometry.virtual_size, bat.geometry.logical_sector_size)
