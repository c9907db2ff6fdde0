"""Where a virtual byte range falls in the guest: which partition (number, type, name) and
which filesystem (type, label), from a guest triage report. Export uses it to name the
partitions and filesystems its gaps fall in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vhdxray.core.analysis.guest.triage import GuestReport


@dataclass(frozen=True, slots=True)
class Place:
    """One partition (or the bare disk's filesystem) a range overlaps. ``partition`` is None
    for a filesystem on the whole disk. Names and labels come from the guest: hostile text."""

    partition: int | None
    partition_type: str | None
    partition_name: str | None
    filesystem: str | None
    label: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "partition_type": self.partition_type,
            "partition_name": self.partition_name,
            "filesystem": self.filesystem,
            "filesystem_label": self.label,
        }


def places(guest: GuestReport, start: int, end: int) -> tuple[Place, ...]:
    """The partitions (in disk order) or the bare filesystem that [start, end) overlaps; empty
    when it lies outside all of them (a partition table, free space) or nothing was found."""
    out: list[Place] = []
    fs = guest.filesystem
    if fs is not None and start < (fs.size or guest.disk_size):
        out.append(Place(None, None, None, fs.type, fs.label))
    for p in sorted(guest.partitions, key=lambda p: p.start):
        if start < p.start + p.length and p.start < end:
            pfs = p.filesystem
            out.append(
                Place(
                    p.index,
                    p.type_name,
                    p.name,
                    None if pfs is None else pfs.type,
                    None if pfs is None else pfs.label,
                )
            )
    return tuple(out)


def where_words(where: tuple[Place, ...]) -> str:
    """``"; in partition 1 (0x83 'Linux'; ext4 'root')"``, or "" when ``where`` is empty: the
    one wording of where a range falls (CLI and app). Guest text: print it safely."""
    parts = []
    for p in where:
        fs = "no filesystem found" if p.filesystem is None else p.filesystem
        if p.label:
            fs += f" '{p.label}'"
        if p.partition is None:
            parts.append(f"the disk's {fs}")
        else:
            kind = p.partition_type or "?"
            if p.partition_name:
                kind += f" '{p.partition_name}'"
            parts.append(f"partition {p.partition} ({kind}; {fs})")
    return "; in " + ", ".join(parts) if parts else ""


__all__ = ["Place", "places", "where_words"]
