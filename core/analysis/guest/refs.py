"""ReFS: the volume boot record ("ReFS" file system name, "FSRS" identifier), with the volume
size, cluster size, version and serial number it holds. The metadata itself (a B+-tree of
checksummed pages) is not walked."""

from __future__ import annotations

from vhdxray.core.analysis.guest.base import Filesystem, Structure, Volume, u32le, u64le

FS_NAME = b"ReFS\0\0\0\0"
IDENTIFIER = b"FSRS"


def probe(vol: Volume, where: str) -> Filesystem | None:
    boot = vol.head[:512]
    if boot[3:11] != FS_NAME or boot[0x10:0x14] != IDENTIFIER:
        return None
    bps, spc = u32le(boot, 0x20), u32le(boot, 0x24)
    if bps not in (512, 4096) or spc == 0:
        return None
    serial = u64le(boot, 0x38)
    fs = Filesystem(
        type="refs",
        uuid=f"{serial:016X}",
        size=u64le(boot, 0x18) * bps,
        structures=[Structure("ReFS boot record", vol.start, 512)],
    )
    fs.details = {"version": f"{boot[0x28]}.{boot[0x29]}", "cluster_size": bps * spc}
    return fs
