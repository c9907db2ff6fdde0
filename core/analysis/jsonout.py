"""The ``--json`` document: one object with stable keys (documented in README.md)."""

from __future__ import annotations

from vhdxray.core.analysis.reader import Report
from vhdxray.core.analysis.verdict import verdict
from vhdxray.core.format.header import HEADER_FIELDS, Header, field_value

TYPE_CHECKING = False
if TYPE_CHECKING:  # the guest code is imported only when the guest is looked at
    from typing import Any

    from vhdxray.core.analysis.guest.image import GuestOutcome


def header_json(h: Header) -> dict[str, Any]:
    fields = {f.json: field_value(h, f) for f in HEADER_FIELDS if f.json is not None}
    return {
        "slot": h.slot,
        "offset": h.offset,
        "present": h.present,
        "signature_ok": h.signature_ok,
        "checksum_ok": h.checksum_ok,
        "computed_checksum": h.computed_checksum,
        "valid": h.valid,
        **fields,
        "reserved_zero": h.reserved_zero,
        "invalid_reasons": list(h.invalid_reasons()),
    }


def report_json(
    report: Report, guest: GuestOutcome | None = None, full: bool = False
) -> dict[str, Any]:
    """The document; ``guest`` (when looked at) adds ``guest`` and ``guest_error``; ``full``
    lists every stale log entry (see LogInfo.to_json)."""
    meta = report.metadata
    v = verdict(report)
    choice = report.header_choice
    return {
        "path": report.path,
        "file_size": report.file_size,
        "is_vhdx": report.is_vhdx,
        "kind": report.kind,
        "description": report.description,
        "creator": report.creator,
        "headers": None if report.headers is None else [header_json(h) for h in report.headers],
        "current_header": report.current_header,
        "current_header_reason": None if choice is None else choice.reason.value,
        "region_tables": None
        if report.region_tables is None
        else [t.to_json() for t in report.region_tables],
        "active_region_table": report.active_region_table,
        "metadata": None if meta is None else meta.to_json(),
        "disk_type": report.disk_type,
        "virtual_size": None if meta is None else meta.virtual_size,
        "block_size": None if meta is None else meta.block_size,
        "logical_sector_size": None if meta is None else meta.logical_sector_size,
        "physical_sector_size": None if meta is None else meta.physical_sector_size,
        "log": None if report.log is None else report.log.to_json(full=full),
        "bat": None if report.bat is None else report.bat.to_json(),
        "verdict": {
            "level": v.level,
            "headline": v.headline,
            "next_step": v.next_step,
            "suggest": [x.to_json() for x in v.suggest],
            "repairs": list(v.repairs),
        },
        "findings": [f.to_json() for f in report.findings],
        "guest": None if guest is None or guest.guest is None else guest.guest.to_json(),
        "guest_error": None if guest is None else guest.error_json(),
    }
