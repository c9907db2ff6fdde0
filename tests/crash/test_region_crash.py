"""A region-table repair (header update, then the 64 KiB copy) stopped after any write, or
with any write torn, leaves an image that is never worse than before, and a rerun finishes.

"Never worse": a header is still current with the same DataWriteGuid; a valid region table is
still used and lists either the regions it listed before or those of the winning copy; no new
error finding except about the header slot or the region copy being written; the virtual disk
reads the same. QEMU reads copy 1 only: when copy 1 is the one being rewritten, a torn write
can make QEMU refuse the file until the rerun (vhdxray still reads copy 2). Everywhere else
qemu-img check must be no worse than before.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import damage, imagefiles
from tests import repairimages as ri
from tests.conftest import require
from tests.crash.interrupt import Crash, Interrupt, count_writes, tear_points
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.write.repair import RepairError, RepairOptions, plan_repairs, run_repairs
from vhdxray.core.write.writer import WriteFailed, WriteHooks

MiB = layout.MiB
UNKNOWN_REGION = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")


@dataclass(frozen=True)
class Case:
    source: Path
    options: RepairOptions
    target: int  # the copy that is rewritten
    winner_raw: bytes  # what both copies hold at the end
    allowed_entries: tuple[object, ...]  # entry sets the used table may list meanwhile
    virtual: tuple[int, str]
    qemu_rank: int
    data_write_guid: object
    writes: list[int]


def entries_of(path: Path) -> object:
    report = read_report(path)
    assert report.region_tables is not None and report.active_region_table is not None
    table = report.region_tables[report.active_region_table - 1]
    return tuple(sorted((e.guid.int, e.file_offset, e.length) for e in table.entries))


def copy_entries(raw: bytes) -> object:
    from vhdxray.core.format.region import parse_region_table

    t = parse_region_table(raw, 1)
    return tuple(sorted((e.guid.int, e.file_offset, e.length) for e in t.entries))


@pytest.fixture(params=["copy1-bad", "copy2-bad", "differ-copy1-wins", "differ-copy2-wins"])
def case(request: pytest.FixtureRequest, qemu_image: Callable[..., Path], tmp_path: Path) -> Case:
    require("qemu-io", "qemu-utils")
    path = qemu_image("64M", "block_size=1M", name="source.vhdx")
    imagefiles.qemu_io(path, "write -P 0x5a 1M 1M", "write -P 0x11 4M 1M")
    options = RepairOptions()
    if request.param.endswith("-bad"):
        bad = int(request.param[4])
        damage.break_region_checksum(path, bad)
        target = bad
    else:
        damage.set_region_count(path, 2, 3, fix_crc=False)
        damage.set_region_entry(
            path, 2, 2, guid=UNKNOWN_REGION, file_offset=4 * MiB, length=MiB, required=0
        )
        winner = 1 if "copy1" in request.param else 2
        options = RepairOptions(region_table_from=winner)
        target = 3 - winner
    winner_raw = damage.read_at(
        path, layout.REGION_TABLE_OFFSETS[2 - target], layout.REGION_TABLE_SIZE
    )
    allowed = (entries_of(path), copy_entries(winner_raw))
    eff = read_report(path).effective_header
    assert eff is not None
    virtual = ri.virtual_digest(path) if ri.qemu_check_rc(path) == 0 else (0, "")
    if virtual == (0, ""):  # copy 1 is bad: QEMU cannot read the disk; use a repaired copy
        probe = imagefiles.copy_sparse(path, tmp_path / "first.vhdx")
        assert run_repairs(plan_repairs(read_report(probe), options), backup_dir=tmp_path).ok
        virtual = ri.virtual_digest(probe)
    probe = imagefiles.copy_sparse(path, tmp_path / "probe.vhdx")

    def full(hooks: WriteHooks) -> None:
        run = run_repairs(
            plan_repairs(read_report(probe), options), backup_dir=tmp_path, hooks=hooks
        )
        assert run.ok, run.error

    writes = count_writes(full)
    assert writes == [4096, 4096, layout.REGION_TABLE_SIZE]  # two header slots, then the table
    return Case(
        path,
        options,
        target,
        winner_raw,
        allowed,
        virtual,
        ri.qemu_check_rank(path),
        eff.data_write_guid,
        writes,
    )


def error_codes(path: Path) -> set[str]:
    return {f.code for f in read_report(path).findings if f.severity == "error"}


def check_never_worse(path: Path, case: Case, before: set[str], context: str) -> None:
    report = read_report(path)
    eff = report.effective_header
    assert report.current_header is not None and eff is not None, context
    assert eff.data_write_guid == case.data_write_guid, context
    assert report.active_region_table is not None, context
    assert entries_of(path) in case.allowed_entries, context
    new = {
        c
        for c in error_codes(path) - before
        if not c.startswith(("header.slot", f"region.copy{case.target}."))
    }
    assert not new, (context, new)
    tables = report.region_tables
    assert tables is not None
    rank = ri.qemu_check_rank(path)
    if rank > case.qemu_rank:
        assert case.target == 1 and not tables[0].valid, (context, rank)
    if rank == 0:
        assert ri.virtual_digest(path) == case.virtual, context


def check_finished(path: Path, case: Case, context: str) -> None:
    for off in layout.REGION_TABLE_OFFSETS:
        assert damage.read_at(path, off, layout.REGION_TABLE_SIZE) == case.winner_raw, context
    assert not error_codes(path), context
    assert ri.qemu_check_rc(path) == 0, context
    assert ri.virtual_digest(path) == case.virtual, context


def interrupt_then_rerun(case: Case, work: Path, interrupt: Interrupt, context: str) -> None:
    path = imagefiles.copy_sparse(case.source, work / "image.vhdx")
    before = error_codes(path)
    plan = plan_repairs(read_report(path), case.options)
    with contextlib.suppress(Crash, WriteFailed):
        run = run_repairs(plan, backup_dir=work, hooks=interrupt.hooks())
        if run.error is not None:  # a torn write surfaces as a failed step
            assert isinstance(run.error, RepairError) and not run.error.refused, context
    assert interrupt.fired, context
    check_never_worse(path, case, before, context)
    rerun = run_repairs(plan_repairs(read_report(path), case.options), backup_dir=work)
    assert rerun.ok, (context, rerun.error)
    check_finished(path, case, context)
    path.unlink()
    for backup in work.glob("*.vhdxray-backup-*"):
        backup.unlink()


def test_stopped_after_each_write(case: Case, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for k in range(len(case.writes)):
        interrupt_then_rerun(case, work, Interrupt(stop_after=k), f"stop after write {k}")


@pytest.mark.slow
def test_each_write_torn(case: Case, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for k, size in enumerate(case.writes):
        points = tear_points(size)
        if size == layout.REGION_TABLE_SIZE:
            points = sorted({*points, 4096, 32 * 1024})
        for kept in points:
            interrupt_then_rerun(
                case, work, Interrupt(tear_at=k, kept=kept), f"write {k} torn at {kept}"
            )
