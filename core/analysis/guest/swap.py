"""Linux swap: "SWAPSPACE2" in the last 10 bytes of the first page, the header (union
swap_header) at 1024; a hibernation image replaces the signature with S1SUSPEND/SWSUSPEND."""

from __future__ import annotations

from vhdxray.core.analysis.guest.base import (
    Filesystem,
    Structure,
    Volume,
    cstring,
    finding,
    u32le,
    uuid_text,
)
from vhdxray.core.format.findings import Severity

PAGE_SIZES = (4096, 8192, 16384, 65536)
SIGNATURES = {b"SWAPSPACE2": False, b"SWAP-SPACE": False}
HIBERNATION = (b"S1SUSPEND", b"S2SUSPEND", b"ULSUSPEND", b"LINHIB0001", b"SWSUSPEND")


def probe(vol: Volume, where: str) -> Filesystem | None:
    for page in PAGE_SIZES:
        tail = vol.at(page - 10, 10)
        hibernated = tail.startswith(HIBERNATION) or tail.endswith(HIBERNATION)
        if tail in SIGNATURES or hibernated:
            break
    else:
        return None
    header = vol.at(1024, 128)
    last_page = u32le(header, 4)
    fs = Filesystem(
        type="swap",
        label=cstring(header[28:44]),
        uuid=uuid_text(header[12:28]),
        size=(last_page + 1) * page,
        structures=[Structure("swap header", vol.start, page)],
    )
    fs.details = {"page_size": page, "version": u32le(header, 0), "bad_pages": u32le(header, 8)}
    fs.flags["hibernated"] = hibernated
    if hibernated:
        fs.findings.append(finding(Severity.WARNING, "guest.swap.hibernated", where))
    return fs
