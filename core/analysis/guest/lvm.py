"""LVM2 physical volume: the label ("LABELONE" in one of the first four sectors, CRC-checked),
the PV header (UUID, device size, data and metadata areas) and the first metadata area's text,
from which the volume group and logical volume names are taken."""

from __future__ import annotations

from vhdxray.core.analysis.guest.base import (
    Filesystem,
    Structure,
    Volume,
    finding,
    u32le,
    u64le,
)
from vhdxray.core.format.findings import Severity

LABEL = b"LABELONE"
LABEL_TYPE = b"LVM2 001"
MDA_MAGIC = b" LVM2 x[5A%r0N*>"
INITIAL_CRC = 0xF597A6CF
MAX_AREAS = 16
MAX_METADATA = 64 * 1024
_NAME = rb"^\s*([A-Za-z0-9_.+-]+)\s*\{"  # a volume group's name, as its text starts


def lvm_crc(data: bytes) -> int:
    """LVM's calc_crc: the CRC-32 table walk from INITIAL_CRC with no final inversion."""
    import zlib  # only once an LVM label is found

    return ~zlib.crc32(data, ~INITIAL_CRC & 0xFFFFFFFF) & 0xFFFFFFFF


def _pv_uuid(raw: bytes) -> str:
    text = raw.decode("ascii", "replace")
    cuts = (6, 4, 4, 4, 4, 4, 6)
    parts, at = [], 0
    for n in cuts:
        parts.append(text[at : at + n])
        at += n
    return "-".join(parts)


def _areas(raw: bytes, offset: int) -> tuple[list[tuple[int, int]], int]:
    out = []
    for _ in range(MAX_AREAS):
        if offset + 16 > len(raw):
            break
        start, size = u64le(raw, offset), u64le(raw, offset + 8)
        offset += 16
        if start == 0 and size == 0:
            break
        out.append((start, size))
    return out, offset


def metadata_names(text: bytes) -> tuple[str | None, list[str]]:
    """(volume group name, logical volume names) from LVM's metadata text."""
    import re  # only once an LVM label is found

    first = re.search(_NAME, text, re.MULTILINE)
    vg = first.group(1).decode("ascii", "replace") if first else None
    lvs: list[str] = []
    at = text.find(b"logical_volumes {")
    if at >= 0:
        depth = 0
        for line in text[at:].splitlines()[1:]:
            stripped = line.strip()
            if stripped.endswith(b"{"):
                if depth == 0:
                    lvs.append(stripped[:-1].strip().decode("ascii", "replace"))
                depth += 1
            elif stripped == b"}":
                if depth == 0:
                    break
                depth -= 1
            if len(lvs) >= 256:
                break
    return vg, lvs


def probe(vol: Volume, where: str) -> Filesystem | None:
    for sector in range(4):
        label = vol.head[sector * 512 : sector * 512 + 512]
        if label[:8] == LABEL and label[24:32] == LABEL_TYPE:
            break
    else:
        return None
    crc_ok = lvm_crc(label[20:512]) == u32le(label, 16)
    pv_at = u32le(label, 20)
    if not 32 <= pv_at < 512 - 40:
        return None
    pv = label[pv_at:]
    fs = Filesystem(
        type="lvm2",
        uuid=_pv_uuid(pv[:32]),
        size=u64le(pv, 32),
        structures=[Structure("LVM2 label", vol.start + sector * 512, 512)],
    )
    data_areas, next_at = _areas(pv, 40)
    meta_areas, _ = _areas(pv, next_at)
    fs.flags["label_checksum_bad"] = not crc_ok
    vg: str | None = None
    lvs: list[str] = []
    if meta_areas:
        mda_start, mda_size = meta_areas[0]
        header = vol.read(mda_start, 512)
        fs.structures.append(Structure("LVM2 metadata area header", vol.start + mda_start, 512))
        if header[4:20] == MDA_MAGIC:
            text_offset, text_size = u64le(header, 40), u64le(header, 48)
            if text_size > 0 and text_offset + min(text_size, MAX_METADATA) <= mda_size:
                text = vol.read(mda_start + text_offset, min(text_size, MAX_METADATA))
                vg, lvs = metadata_names(text)
    fs.label = vg
    fs.details = {"volume_group": vg, "logical_volumes": lvs, "data_areas": len(data_areas)}
    if not crc_ok:
        fs.findings.append(finding(Severity.ERROR, "guest.lvm.label_checksum_bad", where))
    return fs
