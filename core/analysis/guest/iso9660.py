"""ISO 9660 (ECMA-119): the primary volume descriptor at 32 KiB; the volume identifier is the
label, the creation date the UUID (as blkid shows it), the space size times block size the size."""

from __future__ import annotations

from vhdxray.core.analysis.guest.base import Filesystem, Structure, Volume, u16le, u32le

PVD_OFFSET = 16 * 2048
MAX_DESCRIPTORS = 16


def probe(vol: Volume, where: str) -> Filesystem | None:
    pvd = vol.head[PVD_OFFSET : PVD_OFFSET + 2048]
    if pvd[1:6] != b"CD001" or pvd[6] != 1:
        return None
    if pvd[0] != 1:  # a boot record or supplementary descriptor first: find the primary
        for i in range(1, MAX_DESCRIPTORS):
            candidate = vol.at(PVD_OFFSET + i * 2048, 2048)
            if candidate[1:6] != b"CD001" or candidate[0] == 255:
                return None
            if candidate[0] == 1:
                pvd = candidate
                break
        else:
            return None
    block = u16le(pvd, 128) or 2048
    created = pvd[813:829].decode("ascii", "replace")
    uuid = None
    if created.isdigit() and created.strip("0"):
        c = created
        uuid = f"{c[0:4]}-{c[4:6]}-{c[6:8]}-{c[8:10]}-{c[10:12]}-{c[12:14]}-{c[14:16]}"
    label = pvd[40:72].decode("ascii", "replace").strip() or None
    fs = Filesystem(
        type="iso9660",
        label=label,
        uuid=uuid,
        size=u32le(pvd, 80) * block,
        structures=[Structure("ISO 9660 primary volume descriptor", vol.start + PVD_OFFSET, 2048)],
    )
    return fs
