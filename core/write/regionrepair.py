"""Region-table repair (MS-VHDX §2.2.3): rewrite one 64 KiB copy from the other.

The spec gives the two copies no precedence and no sequence number. When one copy is invalid
and the other valid, the valid one is the only candidate: its 64 KiB are written over the bad
copy. When both are valid but list different regions, nothing in the file says which is
right, so the user chooses; the plan shows both, with what each points at.

A torn write can only leave the copy being rewritten invalid (its CRC covers all 64 KiB), and
the other copy, untouched, is the one the plan trusted: readers that fall back to copy 2
(vhdxray, vhdx-core, libvhdi) still open the file, and running the repair again finishes it.
QEMU reads copy 1 only, so while copy 1 is being rewritten it may refuse the file.
"""

from __future__ import annotations

import os

from vhdxray.core.analysis.reader import Report
from vhdxray.core.format import layout
from vhdxray.core.format.record import record
from vhdxray.core.format.region import RegionEntry, RegionTable, parse_region_table
from vhdxray.core.source import ReadAt
from vhdxray.core.write.outcome import Option, suggest
from vhdxray.core.write.session import (
    PlannedWrite,
    Verify,
    WriteHooks,
    WritePlan,
    WriteResult,
    WriteSession,
)
from vhdxray.core.write.update import Refusal


@record
class RegionTablePlan:
    source: int  # the copy that wins (1 or 2)
    target: int  # the copy that is rewritten
    data: bytes  # the source copy's 64 KiB
    expected: bytes  # what the target holds now
    chosen: bool  # True when both were valid and the user chose
    lines: tuple[str, ...]  # what is written, what stays, consequences

    def write_plan(self, operation: str = "region-table") -> WritePlan:
        offset = layout.REGION_TABLE_OFFSETS[self.target - 1]
        return WritePlan(
            operation,
            (
                PlannedWrite(
                    offset=offset,
                    data=self.data,
                    label=f"region table copy {self.target} (from copy {self.source})",
                    expected=self.expected,
                    verify=_verify_copy(self.target, self.data),
                ),
            ),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "target": self.target,
            "offset": layout.REGION_TABLE_OFFSETS[self.target - 1],
            "chosen": self.chosen,
        }


def _entry_key(entries: tuple[RegionEntry, ...]) -> list[tuple[object, ...]]:
    return sorted((e.guid.int, e.file_offset, e.length, e.required) for e in entries)


def tables_differ(t1: RegionTable, t2: RegionTable) -> bool:
    """Both copies list different regions (the region.copies_differ case)."""
    return _entry_key(t1.entries) != _entry_key(t2.entries)


def _entry_text(e: RegionEntry) -> str:
    name = e.name if e.name != "unknown" else f"unknown region {e.guid}"
    req = "required" if e.is_required else "not required"
    return f"{name} at 0x{e.file_offset:x}, {e.length} bytes, {req}"


def copy_summary(table: RegionTable, read: ReadAt | None, file_size: int) -> list[str]:
    """What one copy lists and, when the file can be read, whether it points at real data."""
    lines = [f"Copy {table.slot}: " + "; ".join(_entry_text(e) for e in table.entries)]
    meta = table.find(layout.METADATA_REGION_GUID)
    if read is not None and meta is not None:
        sig = read(meta.file_offset, len(layout.METADATA_SIGNATURE))
        ok = sig == layout.METADATA_SIGNATURE
        lines.append(
            f"  its metadata region at 0x{meta.file_offset:x} "
            + ("starts with the 'metadata' signature" if ok else "does NOT hold a metadata table")
        )
    for e in table.entries:
        if e.file_offset + e.length > file_size:
            lines.append(f"  its {e.name} region runs past the end of the file ({file_size} bytes)")
    return lines


def plan_region_repair(
    report: Report, *, choose: int | None = None, read: ReadAt | None = None
) -> RegionTablePlan | Refusal | None:
    """Plan the rewrite of one copy, refuse (with why), or None when nothing needs doing.

    ``choose`` names the copy that wins when both are valid but differ; ``read`` lets the plan
    say whether each copy's metadata region holds a metadata table. Pure apart from ``read``.
    """
    if not report.is_vhdx or report.region_tables is None:
        return None
    t1, t2 = report.region_tables
    if choose is not None and choose not in (1, 2):
        return Refusal(
            "bad_copy",
            f"the region table copy must be 1 or 2, not {choose}",
            {"copy": choose},
            suggest=suggest(Option.REGION_TABLE_FROM, 1, 2),
        )
    if not t1.present or not t2.present:
        return Refusal(
            "region.truncated",
            "the file ends inside the region tables: rewriting them would extend the file with "
            "bytes vhdxray would have to invent; nothing is written",
        )
    if not t1.valid and not t2.valid:
        return Refusal(
            "region.none_valid",
            "neither region table copy is valid (copy 1: "
            + "; ".join(t1.problems)
            + "; copy 2: "
            + "; ".join(t2.problems)
            + "): there is no good copy to rebuild from",
        )
    if t1.valid and t2.valid:
        if not tables_differ(t1, t2):
            return None
        if choose is None:
            return Refusal(
                "region.choice_needed",
                "both region table copies are valid but list different regions; nothing in "
                "the file says which is right. Choose the copy that wins.",
                suggest=suggest(Option.REGION_TABLE_FROM, 1, 2),
            )
        source, target, chosen = choose, 3 - choose, True
    else:
        source = 1 if t1.valid else 2
        target = 3 - source
        chosen = False
        if choose is not None and choose != source:
            return Refusal(
                "region.choice_invalid",
                f"copy {choose} is not valid "
                f"({'; '.join(report.region_tables[choose - 1].problems)}): it cannot be the "
                "source",
            )
    src, dst = report.region_tables[source - 1], report.region_tables[target - 1]
    offset = layout.REGION_TABLE_OFFSETS[target - 1]
    lines: list[str] = []
    if chosen:
        lines.append("Both copies are valid but list different regions:")
        for t in (t1, t2):
            lines += copy_summary(t, read, report.file_size)
        lines.append(
            f"You chose copy {source}: copy {target} is overwritten with it"
            + (
                "; QEMU, DiscUtils and VirtualBox read copy 1 only, so they will now use the "
                "regions of copy 2."
                if source == 2
                else "; copy 1 was already what QEMU, DiscUtils and VirtualBox use."
            )
        )
    else:
        lines.append(
            f"Region table copy {target} is damaged ({'; '.join(dst.problems)}); copy {source} "
            "is valid and is what vhdxray reads."
        )
    lines += [
        f"Write copy {source}'s 64 KiB over copy {target} at offset 0x{offset:x}, then fsync, "
        "read back and check it parses as a valid copy listing the same regions.",
        f"Stays: copy {source}, the BAT and metadata regions it points at, and every other "
        "byte of the file.",
    ]
    if target == 1:
        lines.append(
            "Afterwards QEMU, DiscUtils and VirtualBox (which read copy 1 only) read the regions "
            f"of copy {source}. If interrupted, copy 1 may be left invalid: vhdxray still reads "
            "copy 2; run the repair again to finish."
        )
    else:
        lines.append(
            "If interrupted, copy 2 may be left invalid; copy 1, which every reader uses, is "
            "untouched. Run the repair again to finish."
        )
    return RegionTablePlan(
        source=source,
        target=target,
        data=src.raw,
        expected=dst.raw,
        chosen=chosen,
        lines=tuple(lines),
    )


def _verify_copy(slot: int, data: bytes) -> Verify:
    source_entries = _entry_key(parse_region_table(data, 3 - slot).entries)

    def verify(back: bytes) -> str | None:
        table = parse_region_table(back, slot)
        if not table.valid:
            return "reads back invalid: " + "; ".join(table.problems)
        if _entry_key(table.entries) != source_entries:
            return "reads back with different regions than the source copy"
        return None

    return verify


def run_region_repair(
    path: str | os.PathLike[str],
    plan: RegionTablePlan,
    *,
    backup_dir: str | os.PathLike[str] | None = None,
    hooks: WriteHooks | None = None,
    session: WriteSession | None = None,
) -> WriteResult:
    """Write the plan (lock, backup, write, fsync, read back, verify) in ``session`` or in a
    session of its own."""
    if session is not None:
        return session.execute(plan.write_plan())
    with WriteSession(path, backup_dir=backup_dir, hooks=hooks) as own:
        return own.execute(plan.write_plan())
