"""Relink a differencing child to its parent at a new place (MS-VHDX §2.6.2.6).

The child names its parent by identity (``parent_linkage``: the parent's DataWriteGuid when
the child was made) and by location (``relative_path``, ``volume_path``,
``absolute_win32_path``). When the parent was *moved*, its identity still matches and only the
paths are stale: rewriting them is safe. When the parent was *modified* (its DataWriteGuid
renewed), the child's blocks were written against other parent data; relinking is refused
unless the user insists (``ignore_id_mismatch``), and then ``parent_linkage`` is set to the
parent's current DataWriteGuid, as Hyper-V's ``Set-VHD -IgnoreIdMismatch`` does.

The new locator is written the way a crash cannot tear: the headers are updated first (new
FileWriteGuid, MS-VHDX 2.2.2.1), the new locator item goes to free space in the metadata
region (never over a listed item), and only then the 8 bytes of its table entry (offset and
length, inside one sector) are switched to it. Until that last write the old locator is
intact; after it the new one is complete. Geometry must always agree (logical sector size,
virtual size): a child read against a parent of another size is garbage, so no flag allows it.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable

from vhdxray.core.analysis.reader import Report, read_report
from vhdxray.core.format import layout
from vhdxray.core.format.metadata import MetadataEntry, parse_metadata, serialise_locator
from vhdxray.core.format.record import record
from vhdxray.core.write.headerplan import Refusal, plan_header_update
from vhdxray.core.write.outcome import RefusalCode, Refused, WriteFailed, WriteState
from vhdxray.core.write.repairs import OptionKind, OptionSpec, RepairKind

TYPE_CHECKING = False
if TYPE_CHECKING:
    import uuid  # annotations only: uuid imports platform
    from pathlib import Path  # imported where a relink runs: the registry reads this module
    from typing import Final


if TYPE_CHECKING:  # the writer is loaded when a relink runs (the registry reads this module)
    from vhdxray.core.write.repair import PlanContext, Repair, RepairSession, StepResult
    from vhdxray.core.write.repair import Refused as RefusedItem
    from vhdxray.core.write.session import WriteHooks, WriteSession

ID: Final = "chain.relink"
TITLE: Final = "Relink the child to its parent"
FINDING_CODES: Final = ("chain.missing", "chain.modified", "chain.not_a_parent")
BACKUP_OPERATIONS: Final = ("relink-headers", "relink-locator")
_ALIGN: Final = 8
_MAX_VALUE_UNITS: Final = 32767  # a locator string's length field counts bytes in a u16


@record
class RelinkPlan:
    child: Path
    parent: Path
    linkage: str  # chain.check_chain's: "current", "linkage2", "stale_slot", "none"
    id_mismatch: bool  # the identity did not match and the user chose to ignore it
    old_entries: tuple[tuple[str, str], ...]
    new_entries: tuple[tuple[str, str], ...]
    item_offset: int  # file offset the new locator item is written to
    item_bytes: bytes
    entry_offset: int  # file offset of the locator's table entry's offset+length fields
    entry_before: bytes  # those 8 bytes now
    entry_after: bytes
    expected_item_area: bytes  # what the free space holds now

    @property
    def changes(self) -> tuple[tuple[str, str | None, str | None], ...]:
        """(key, old value, new value) for every key that changes."""
        old, new = dict(self.old_entries), dict(self.new_entries)
        keys = list(
            dict.fromkeys([k for k, _ in self.old_entries] + [k for k, _ in self.new_entries])
        )
        return tuple((k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k))

    def to_json(self) -> dict[str, object]:
        return {
            "id": ID,
            "child": str(self.child),
            "parent": str(self.parent),
            "linkage": self.linkage,
            "id_mismatch": self.id_mismatch,
            "changes": [{"key": k, "old": o, "new": n} for k, o, n in self.changes],
            "locator": dict(self.new_entries),
            "item_offset": self.item_offset,
            "backup_operations": list(BACKUP_OPERATIONS),
        }


def windows_absolute_path(path: Path) -> str | None:
    """``path`` as Hyper-V writes absolute_win32_path (``C:\\dir\\file``), where a Windows form
    is known: on Windows itself, or a WSL mount (``/mnt/c/...``). None elsewhere."""
    from pathlib import PurePosixPath, PureWindowsPath

    if os.name == "nt":  # pragma: no cover
        return str(path)
    parts = PurePosixPath(path).parts
    if len(parts) >= 3 and parts[1] == "mnt" and len(parts[2]) == 1 and parts[2].isalpha():
        return str(PureWindowsPath(parts[2].upper() + ":\\", *parts[3:]))
    return None


def new_locator(
    old: tuple[tuple[str, str], ...], child: Path, parent: Path, linkage: uuid.UUID | None
) -> tuple[tuple[str, str], ...]:
    """The locator after relinking: existing keys keep their order (Hyper-V's), relative_path
    is rewritten, absolute_win32_path set where a Windows form is known and dropped where not
    (it would lead to the old place), volume_path dropped (a volume GUID cannot be known off
    Windows); ``linkage`` (when given) replaces parent_linkage; other keys stay."""
    from vhdxray.core.analysis.chain import windows_relative_path

    values: dict[str, str | None] = {
        "relative_path": windows_relative_path(child, parent),
        "absolute_win32_path": windows_absolute_path(parent.resolve()),
        "volume_path": None,
    }
    if linkage is not None:
        values["parent_linkage"] = "{" + str(linkage) + "}"
    out: list[tuple[str, str]] = []
    for key, value in old:
        if key in values:
            new = values.pop(key)
            if new is not None:
                out.append((key, new))
        else:
            out.append((key, value))
    for key in ("parent_linkage", "absolute_win32_path", "relative_path"):
        new = values.pop(key, None)
        if new is not None:
            out.append((key, new))
    return tuple(out)


def _free_place(entries: tuple[MetadataEntry, ...], region_length: int, size: int) -> int | None:
    """An offset in the metadata region where ``size`` bytes overlap no listed item: after the
    last item first (so repeated relinks walk forward), else the first gap that fits."""
    used = sorted((e.offset, e.offset + e.length) for e in entries if e.length)
    start = layout.METADATA_MIN_ITEM_OFFSET
    end_of_last = max([start, *(b for _, b in used)])
    candidate = -(-end_of_last // _ALIGN) * _ALIGN
    if candidate + size <= region_length:
        return candidate
    pos = start
    for a, b in used:
        if a - pos >= size:
            return pos
        pos = max(pos, -(-b // _ALIGN) * _ALIGN)
    return None


def plan_relink(
    child: Report,
    parent_path: str | os.PathLike[str],
    *,
    ignore_id_mismatch: bool = False,
    parent: Report | None = None,
) -> RelinkPlan | Refused:
    """Plan the relink of ``child`` to the parent at ``parent_path``, or say why not. Reads
    the parent (the user named it) and the few child bytes it replaces."""
    from pathlib import Path

    from vhdxray.core.analysis.chain import check_chain

    cpath, ppath = Path(child.path), Path(parent_path)
    meta = child.metadata
    if not child.is_vhdx:
        return Refused(RefusalCode.NOT_VHDX, f"{cpath} is not a VHDX image: {child.description}")
    if meta is None or not meta.has_parent:
        return Refused(RefusalCode.NOT_DIFFERENCING, f"{cpath} is not a differencing disk")
    locator = meta.parent_locator
    entry_index = next(
        (i for i, e in enumerate(meta.entries) if e.item_id == layout.PARENT_LOCATOR_GUID), None
    )
    if locator is None or entry_index is None:
        return Refused(RefusalCode.NO_LOCATOR, f"{cpath} has no readable parent locator")
    if child.log is not None and child.log.replay_needed:
        return Refused(
            RefusalCode.LOG_REPLAY_PENDING,
            "the child has a pending log: replay it first, or the replay would undo the relink",
        )
    parent = read_report(ppath) if parent is None else parent
    if not parent.is_vhdx or parent.metadata is None or parent.effective_header is None:
        return Refused(
            RefusalCode.PARENT_UNREADABLE,
            f"{ppath} is not a readable VHDX: {parent.description}",
            {"parent": str(ppath)},
        )
    check = check_chain(child, parent, child_path=cpath, parent_path=ppath)
    bad = {i.name: i.message for i in check.items if i.status == "mismatch"}
    geometry = [n for n in ("logical_sector_size", "virtual_size") if n in bad]
    if geometry:
        return Refused(
            RefusalCode.PARENT_GEOMETRY_MISMATCH,
            "the parent's geometry does not match the child's ("
            + "; ".join(f"{n}: {bad[n]}" for n in geometry)
            + "): the child cannot be read against it",
            {"fields": ",".join(geometry)},
        )
    identity_ok = check.linkage in ("current", "linkage2")
    current = parent.effective_header.data_write_guid
    if not identity_ok and not ignore_id_mismatch:
        expected = locator.parent_linkage
        return Refused(
            RefusalCode.PARENT_ID_MISMATCH,
            (
                "the parent was modified after the child was linked to it (its DataWriteGuid "
                "changed; the child's linkage matches only its stale header slot)"
                if check.linkage == "stale_slot"
                else "this is not the child's parent, or it was modified since the child was made"
            )
            + f": the child expects DataWriteGuid {expected}, the parent has {current}",
            {"expected": str(expected), "actual": str(current), "linkage": check.linkage},
        )
    old = locator.entries
    entries = new_locator(old, cpath, ppath, None if identity_ok else current)
    if any(len(v) > _MAX_VALUE_UNITS for _, v in entries):
        return Refused(RefusalCode.LOCATOR_TOO_LARGE, "a path is too long for a parent locator")
    item = serialise_locator(entries)
    place = _free_place(meta.entries, meta.length, len(item))
    if place is None:
        return Refused(
            RefusalCode.LOCATOR_TOO_LARGE,
            f"the metadata region has no free {len(item)} bytes for the new parent locator",
        )
    table_entry = (
        meta.offset + layout.METADATA_HEADER_SIZE + entry_index * layout.METADATA_ENTRY_SIZE
    )
    with open(cpath, "rb") as f:
        f.seek(table_entry + 16)
        before = f.read(8)
        f.seek(meta.offset + place)
        area = f.read(len(item))
    if len(before) != 8 or len(area) != len(item):
        return Refused(RefusalCode.TRUNCATED, "the child's metadata region is cut short")
    return RelinkPlan(
        child=cpath,
        parent=ppath,
        linkage=check.linkage,
        id_mismatch=not identity_ok,
        old_entries=old,
        new_entries=entries,
        item_offset=meta.offset + place,
        item_bytes=item,
        entry_offset=table_entry + 16,
        entry_before=before,
        entry_after=struct.pack("<II", place, len(item)),
        expected_item_area=area,
    )


def _verify_entry(plan: RelinkPlan, session: WriteSession) -> str | None:
    report = session.read_report()
    meta = report.metadata
    if meta is None or meta.parent_locator is None:
        return "the child's parent locator no longer reads"
    if meta.parent_locator.entries != plan.new_entries:
        return "the parent locator reads back differently from what was written"
    again, _ = parse_metadata(meta.offset, meta.length, session.read_at)
    if again.parent_locator is None:  # pragma: no cover - same read as above
        return "the parent locator does not parse"
    return None


@record
class RelinkOutcome:
    plan: RelinkPlan
    backups: tuple[str, ...]  # oldest first
    report: Report  # the child as read at the end


def run_relink(
    plan: RelinkPlan,
    *,
    backup_dir: str | os.PathLike[str] | None = None,
    hooks: WriteHooks | None = None,
) -> RelinkOutcome:
    """Carry out ``plan`` in one write session (see the module docstring). Raises
    :class:`Refused` before anything is written, :class:`WriteFailed` after."""
    from vhdxray.core.write.session import WriteSession

    with WriteSession(plan.child, backup_dir=backup_dir, hooks=hooks) as session:
        return _run_in(plan, session)


def _run_in(plan: RelinkPlan, session: WriteSession) -> RelinkOutcome:
    """The relink inside ``session`` (its own, or a repair run's: the run's FileWriteGuid is
    reused)."""
    from vhdxray.core.write.session import PlannedWrite, WritePlan
    from vhdxray.core.write.update import run_header_update

    report = session.read_report()
    again = plan_relink(report, plan.parent, ignore_id_mismatch=plan.id_mismatch)
    if isinstance(again, Refused):
        raise again
    if again.new_entries != plan.new_entries or again.item_offset != plan.item_offset:
        raise Refused(RefusalCode.CHANGED, "the child changed since the plan; plan again")
    hplan = plan_header_update(report, file_write_guid=session.file_write_guid)
    if isinstance(hplan, Refusal):
        raise hplan
    run_header_update(plan.child, hplan, operation=BACKUP_OPERATIONS[0], session=session)
    session.file_write_guid = hplan.file_write_guid
    session.execute(
        WritePlan(
            BACKUP_OPERATIONS[1],
            (
                PlannedWrite(
                    plan.item_offset,
                    plan.item_bytes,
                    "new parent locator item (free space in the metadata region)",
                    expected=plan.expected_item_area,
                ),
                PlannedWrite(
                    plan.entry_offset,
                    plan.entry_after,
                    "parent locator table entry (offset and length)",
                    expected=plan.entry_before,
                ),
            ),
        )
    )
    problem = _verify_entry(plan, session)
    if problem is not None:
        raise WriteFailed(problem, tuple(session.backups), WriteState.UNVERIFIED)
    final = session.read_report()
    return RelinkOutcome(plan, tuple(session.backups), final)


# --- the registry's relink repair (``repair CHILD --parent PATH``, the app's menu and Chain view)

PARENT: Final = OptionSpec(
    "parent", OptionKind.PATH, "the parent at its new place (relink a child whose parent moved)"
)
IGNORE_ID_MISMATCH: Final = OptionSpec(
    "ignore_id_mismatch",
    OptionKind.FLAG,
    "relink even when the parent's DataWriteGuid is not the one the child was linked to "
    "(the parent was modified; expert)",
    risk=(
        "the parent's DataWriteGuid differs from the one the child was linked to, so its data "
        "changed after the child was made (or it is another disk). The child stores only the "
        "blocks written to it; every other block is read from the parent, so the guest may see "
        "a mix of old and new data: a corrupt file system. Only go on when the parent's data "
        "did not change (e.g. only its headers were rewritten by a tool that renewed "
        "DataWriteGuid)."
    ),
)

KIND: Final = RepairKind(
    id=ID,
    title=TITLE,
    label="Relink to the parent",
    help="Point a differencing child at its moved parent (the parent's identity is checked)",
    question="Rewrite the child's parent locator now?",
    finding_codes=FINDING_CODES,
    options=(PARENT, IGNORE_ID_MISMATCH),
    backup_operations=BACKUP_OPERATIONS,
    order=50,
    module=__name__,
    action="relink",
    updates_headers=True,
)


def describe(plan: RelinkPlan) -> list[str]:
    """The relink plan in words (the CLI and the app's confirmation)."""
    lines = [f"Point the child at the parent {plan.parent}."]
    if plan.id_mismatch:
        lines.append("RISK: " + IGNORE_ID_MISMATCH.risk)
        lines.append("parent_linkage is set to the parent's current DataWriteGuid.")
    else:
        lines.append(
            "The parent has the DataWriteGuid the child was linked to: it was moved, not "
            "modified, so relinking is safe."
        )
    for key, old, new in plan.changes:
        lines.append(
            f"{key}: {old if old is not None else '(none)'} -> "
            f"{new if new is not None else '(removed)'}"
        )
    lines.append(
        "Steps: update both headers (new FileWriteGuid), write the new locator into free space "
        "of the metadata region, then switch its table entry to it; each write is backed up, "
        "fsynced and read back. Until the last 8 bytes are written the old locator is intact."
    )
    return lines


def plan(ctx: PlanContext) -> Iterable[Repair | RefusedItem]:
    """Relink when the user names the parent (option ``parent``), or when the locator finds
    the parent but some of its paths are out of date (it moved); say what is needed when the
    parent is missing or modified."""
    report = ctx.report
    meta = report.metadata
    if meta is None or not meta.has_parent:
        return ()
    from vhdxray.core.analysis import chain
    from vhdxray.core.format.metadata import PATH_KEYS
    from vhdxray.core.write.repair import Choice, Repair
    from vhdxray.core.write.repair import Refused as RefusedItem

    ignore = bool(ctx.options.get(IGNORE_ID_MISMATCH.name))
    given = ctx.options.get(PARENT.name)
    ask = Choice(PARENT.name, None, "name the parent's file at its new place")
    codes = ctx.codes(FINDING_CODES)
    if isinstance(given, str):
        from pathlib import Path

        parent_path = Path(given)
    else:
        lookup = chain.locate_parent(report.path, report)
        status = lookup.status
        if status in (chain.NOT_DIFFERENCING, chain.NO_LOCATOR):
            return ()
        if status != chain.FOUND:
            codes = codes or (f"chain.{status}",)
        if status == chain.MISSING or lookup.path is None:
            reason = (
                "no path of the parent locator leads to a file from here: the parent was "
                "moved, renamed or deleted; name it at its new place to relink"
            )
            refused = Refused(RefusalCode.PARENT_MISSING, reason)
            return (RefusedItem.of(ID, TITLE, refused, (), (ask,), codes),)
        check = lookup.check
        stale = check is not None and any(
            i.status == chain.WARNING and i.name in PATH_KEYS for i in check.items
        )
        if status == chain.FOUND and not stale:
            return ()
        parent_path = lookup.path
    result = plan_relink(report, parent_path, ignore_id_mismatch=ignore)
    if isinstance(result, Refused):
        choices = [ask]
        if result.code is RefusalCode.PARENT_ID_MISMATCH:
            choices.append(
                Choice(
                    IGNORE_ID_MISMATCH.name,
                    1,
                    "relink anyway, at a risk: " + IGNORE_ID_MISMATCH.risk,
                )
            )
        return (RefusedItem.of(ID, TITLE, result, (), choices, codes),)
    if not result.changes:
        return ()
    options = ctx.options.with_values(parent=str(parent_path))
    return (Repair(ID, TITLE, tuple(describe(result)), codes, options, KIND, result),)


def run(session: RepairSession, repair: Repair) -> StepResult:
    """The relink inside the run's write session (after the steps before it)."""
    from vhdxray.core.write.repair import StepResult

    planned = repair.carry
    assert isinstance(planned, RelinkPlan)
    start = len(session.backups)
    _run_in(planned, session.write)
    lines = (f"The child now points at {planned.parent}.",)
    return StepResult(ID, True, lines, tuple(session.backups[start:]))


__all__ = [
    "BACKUP_OPERATIONS",
    "FINDING_CODES",
    "ID",
    "IGNORE_ID_MISMATCH",
    "KIND",
    "PARENT",
    "TITLE",
    "RelinkOutcome",
    "RelinkPlan",
    "describe",
    "new_locator",
    "plan_relink",
    "run_relink",
    "windows_absolute_path",
]
