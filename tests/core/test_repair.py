"""The repair planner and runner: which repairs apply, their order, each repair on damaged
variants of qemu-img images and on the real images, copies, refusals, truncation maps."""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from tests import damage, reports
from tests import repairimages as ri
from tests.conftest import require
from tests.logwrite import build_log_entry, write_log_entries
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.analysis.repairids import (
    CLEAR_LOG_GUID,
    HEADERS,
    REGION_TABLE,
    REPLAY,
    TRUNCATION,
)
from vhdxray.core.analysis.truncation import LOST, truncation_map
from vhdxray.core.format import layout
from vhdxray.core.format.header import CurrentReason
from vhdxray.core.write.create import CreateOptions, create_image
from vhdxray.core.write.repair import (
    Refused,
    Repair,
    RepairOptions,
    RepairPlan,
    plan_repairs,
    run_repairs,
)

MiB = layout.MiB
UNKNOWN_REGION = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")


def errors(path: Path) -> list[str]:
    return [f.code for f in read_report(path).findings if f.severity == "error"]


def plan_of(path: Path, **options: object) -> tuple[list[str], list[Refused]]:
    plan = plan_repairs(read_report(path), RepairOptions(**options))  # type: ignore[arg-type]
    return [r.id for r in plan.repairs], list(plan.refusals)


@pytest.fixture
def data_image(qemu_image: Callable[..., Path]) -> Path:
    """64 MiB, 1 MiB blocks; data in blocks 1 (0x5a) and 4 (0x11); blocks at 8 and 9 MiB."""
    require("qemu-io", "qemu-utils")
    return ri.make_data_image(qemu_image)


# ---------------------------------------------------------------------------------------------
# Real images


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("discutils-log-replay", [REPLAY]),
        ("qemu-dirtylog", [REPLAY]),
        ("qemu-disk2vhd", [HEADERS]),
        ("qemu-dynamic-1g", []),
        ("dissect-fixed", []),
        ("dissect-dynamic", []),
        ("dissect-differencing", []),
        ("velociraptor", []),
    ],
)
def test_plans_for_the_real_images(
    real_image: Callable[[str], Path], name: str, expected: list[str]
) -> None:
    ids, refusals = plan_of(real_image(name))
    assert ids == expected
    if name == "dissect-differencing":  # copied alone: its parent is missing, relink needs it
        assert [(r.id, r.code) for r in refusals] == [("chain.relink", "parent_missing")]
    else:
        assert refusals == []


def test_disk2vhd_headers_get_a_current_slot(real_image: Callable[[str], Path]) -> None:
    require("qemu-img", "qemu-utils")
    path = real_image("qemu-disk2vhd")
    report = read_report(path)
    assert report.header_choice is not None
    assert report.header_choice.reason is CurrentReason.EQUAL_IDENTICAL
    plan = plan_repairs(report)
    (repair,) = plan.repairs
    text = "\n".join(repair.lines)
    assert "identical bytes" in text and "differing fields will be lost" not in text
    before = ri.virtual_digest(path)
    dwg = reports.effective_header(report).data_write_guid
    run = run_repairs(plan, backup_dir=path.parent)
    assert run.ok and len(run.backups) == 1
    after = read_report(path)
    assert after.current_header == 1 and all(h.valid for h in after.headers or ())
    assert reports.effective_header(after).data_write_guid == dwg
    assert ri.virtual_digest(path) == before
    assert ri.qemu_check_rc(path) == 0
    assert plan_repairs(after).nothing_to_do


# ---------------------------------------------------------------------------------------------
# Region tables


@pytest.mark.parametrize("bad", [1, 2])
def test_one_damaged_region_copy_is_rewritten_from_the_other(data_image: Path, bad: int) -> None:
    before = ri.virtual_digest(data_image)
    good_raw = damage.read_at(
        data_image, layout.REGION_TABLE_OFFSETS[2 - bad], layout.REGION_TABLE_SIZE
    )
    damage.break_region_checksum(data_image, bad)
    assert ri.qemu_check_rc(data_image) == (1 if bad == 1 else 0)  # QEMU reads copy 1 only
    plan = plan_repairs(read_report(data_image))
    assert [r.id for r in plan.repairs] == [REGION_TABLE]
    repair = plan.repairs[0]
    assert repair.title == f"Rewrite region table copy {bad} from copy {3 - bad}"
    assert "First the headers are updated" in repair.lines[0]
    assert f"region.copy{bad}.checksum" in repair.finding_codes
    run = run_repairs(plan, backup_dir=data_image.parent)
    assert run.ok, run.error
    assert len(run.backups) == 2  # header update, then the table
    for off in layout.REGION_TABLE_OFFSETS:
        assert damage.read_at(data_image, off, layout.REGION_TABLE_SIZE) == good_raw
    assert errors(data_image) == []
    assert ri.qemu_check_rc(data_image) == 0
    assert ri.virtual_digest(data_image) == before


def add_unknown_region(path: Path, copy: int) -> None:
    damage.set_region_count(path, copy, 3, fix_crc=False)
    damage.set_region_entry(
        path, copy, 2, guid=UNKNOWN_REGION, file_offset=4 * MiB, length=MiB, required=0
    )


def test_both_valid_but_different_needs_a_choice(data_image: Path) -> None:
    add_unknown_region(data_image, 2)
    report = read_report(data_image)
    assert "region.copies_differ" in {f.code for f in report.findings}
    ids, refusals = plan_of(data_image)
    assert ids == []
    (refused,) = refusals
    assert refused.id == REGION_TABLE and "--" not in refused.reason
    assert [(x.option.value, x.value) for x in refused.suggest] == [
        ("region_table_from", 1),
        ("region_table_from", 2),
    ]
    assert [(c.option, c.value) for c in refused.choices] == [
        ("region_table_from", 1),
        ("region_table_from", 2),
    ]
    text = "\n".join(refused.lines)
    assert "Copy 1:" in text and "Copy 2:" in text and "unknown region" in text
    assert "starts with the 'metadata' signature" in text


@pytest.mark.parametrize("winner", [1, 2])
def test_the_chosen_region_copy_wins(data_image: Path, winner: int) -> None:
    add_unknown_region(data_image, 2)
    before = ri.virtual_digest(data_image)
    winner_raw = damage.read_at(
        data_image, layout.REGION_TABLE_OFFSETS[winner - 1], layout.REGION_TABLE_SIZE
    )
    plan = plan_repairs(read_report(data_image), RepairOptions(region_table_from=winner))
    (repair,) = plan.repairs
    assert f"You chose copy {winner}" in "\n".join(repair.lines)
    run = run_repairs(plan, backup_dir=data_image.parent)
    assert run.ok, run.error
    for off in layout.REGION_TABLE_OFFSETS:
        assert damage.read_at(data_image, off, layout.REGION_TABLE_SIZE) == winner_raw
    report = read_report(data_image)
    assert "region.copies_differ" not in {f.code for f in report.findings}
    assert errors(data_image) == []
    assert ri.qemu_check_rc(data_image) == 0
    assert ri.virtual_digest(data_image) == before


def test_both_region_copies_invalid_is_refused(data_image: Path) -> None:
    damage.break_region_checksum(data_image, 1)
    damage.break_region_checksum(data_image, 2)
    ids, refusals = plan_of(data_image)
    assert ids == []
    assert [r.id for r in refusals] == [REGION_TABLE]
    assert "no good copy" in refusals[0].reason


# ---------------------------------------------------------------------------------------------
# Stale LogGuid


def test_stale_log_guid_is_cleared_without_touching_the_log(data_image: Path) -> None:
    before = ri.virtual_digest(data_image)
    ri.set_log_guid(data_image, ri.GUID)
    assert "log.no_valid_sequence" in errors(data_image)
    dwg = reports.effective_header(data_image).data_write_guid
    log_before = damage.read_at(data_image, MiB, MiB)
    plan = plan_repairs(read_report(data_image))
    (repair,) = plan.repairs
    assert repair.id == CLEAR_LOG_GUID
    text = "\n".join(repair.lines)
    assert "No data is lost" in text and "no entry in the log carries that GUID" in text
    assert plan.for_finding("log.no_valid_sequence") is repair
    run = run_repairs(plan, backup_dir=data_image.parent)
    assert run.ok and len(run.backups) == 1
    eff = read_report(data_image).effective_header
    assert eff is not None and eff.log_guid == layout.ZERO_GUID and eff.data_write_guid == dwg
    assert damage.read_at(data_image, MiB, MiB) == log_before
    assert errors(data_image) == []
    assert ri.qemu_check_rc(data_image) == 0
    assert ri.virtual_digest(data_image) == before


def test_stale_log_guid_with_a_torn_entry_explains_it(data_image: Path) -> None:
    entry = bytearray(
        build_log_entry(
            sequence_number=4,
            log_guid=ri.GUID,
            tail=0,
            flushed_file_offset=MiB,
            last_file_offset=MiB,
            data_pages=[(2 * MiB, bytes(4096))],
        )
    )
    entry[4096 + 100] ^= 0xFF  # the data sector never fully reached the disk
    write_log_entries(data_image, [(0, bytes(entry))])
    ri.set_log_guid(data_image, ri.GUID)
    (repair,) = plan_repairs(read_report(data_image)).repairs
    assert repair.id == CLEAR_LOG_GUID
    assert "carrying it are damaged" in "\n".join(repair.lines)


# ---------------------------------------------------------------------------------------------
# Headers


def test_damaged_header_slot_is_rebuilt(data_image: Path) -> None:
    before = ri.virtual_digest(data_image)
    damage.break_header_checksum(data_image, 1)
    plan = plan_repairs(read_report(data_image))
    assert [r.id for r in plan.repairs] == [HEADERS]
    assert "header.slot1.checksum" in plan.repairs[0].finding_codes
    run = run_repairs(plan, backup_dir=data_image.parent)
    assert run.ok
    assert all(h.valid for h in read_report(data_image).headers or ())
    assert ri.virtual_digest(data_image) == before


def test_equal_sequences_that_differ_need_a_chosen_slot(data_image: Path) -> None:
    damage.copy_header(data_image, 2, 1)
    chosen = uuid.UUID("11111111-2222-4333-8444-555555555555")
    damage.set_header_field(data_image, 1, "data_write_guid", chosen)
    assert read_report(data_image).header_choice.reason is CurrentReason.EQUAL_DIFFERENT  # type: ignore[union-attr]
    ids, refusals = plan_of(data_image)
    assert ids == []
    (refused,) = refusals
    assert refused.id == HEADERS
    assert [c.value for c in refused.choices] == [1, 2]
    assert "They differ in: data_write_guid." in refused.lines
    plan = plan_repairs(read_report(data_image), RepairOptions(from_slot=1))
    assert [r.id for r in plan.repairs] == [HEADERS]
    assert run_repairs(plan, backup_dir=data_image.parent).ok
    eff = read_report(data_image).effective_header
    assert eff is not None and eff.data_write_guid == chosen


def test_unsupported_version_needs_a_slot_chosen(data_image: Path) -> None:
    current = read_report(data_image).current_header
    assert current is not None
    damage.set_header_field(data_image, current, "version", 2)
    ids, refusals = plan_of(data_image)
    assert ids == [] and [r.id for r in refusals] == [HEADERS]
    # Either the current slot (rewritten as Version 1) or the older, valid version-1 slot.
    assert sorted((c.option, c.value) for c in refusals[0].choices) == [
        ("from_slot", 1),
        ("from_slot", 2),
    ]
    plan = plan_repairs(read_report(data_image), RepairOptions(from_slot=current))
    assert "says Version 2; the new headers say Version 1" in "\n".join(plan.repairs[0].lines)
    assert run_repairs(plan, backup_dir=data_image.parent).ok
    assert {h.version for h in read_report(data_image).headers or ()} == {1}
    assert errors(data_image) == []


def test_no_valid_header_is_refused(data_image: Path) -> None:
    damage.break_header_checksum(data_image, 1)
    damage.break_header_checksum(data_image, 2)
    ids, refusals = plan_of(data_image)
    assert ids == []
    assert any(r.id == HEADERS and "no header to rebuild from" in r.reason for r in refusals)


# ---------------------------------------------------------------------------------------------
# Truncation


def blocks_image(tmp_path: Path, blocks: int = 8, virtual: int = 64 * MiB) -> Path:
    data = [(b * MiB, bytes([0x10 + b]) * MiB) for b in range(blocks)]
    return create_image(
        tmp_path / "t.vhdx", CreateOptions(virtual_size=virtual, block_size=MiB), data=data
    )


def test_truncation_map_lists_merged_lost_ranges(tmp_path: Path) -> None:
    path = blocks_image(tmp_path)
    size = path.stat().st_size  # blocks 0..7 from 4 MiB
    damage.truncate(path, size - 2 * MiB - 512 * 1024)  # cut blocks 5 (half), 6, 7
    report = read_report(path)
    tmap = truncation_map(report, path)
    assert tmap is not None
    assert tmap.expected_size == size
    assert tmap.missing_bytes == 2 * MiB + 512 * 1024
    assert [(s.virtual_start, s.virtual_end, s.blocks, s.kind) for s in tmap.spans] == [
        (5 * MiB + 512 * 1024, 8 * MiB, 3, LOST)
    ]
    assert tmap.lost_bytes == 2 * MiB + 512 * 1024
    text = "\n".join(tmap.describe())
    assert f"LBA {(5 * MiB + 512 * 1024) // 512}-{8 * MiB // 512 - 1}" in text
    assert "does not extend the file with zeros" in text
    # Without the path, the report's summary gives the same map here.
    assert truncation_map(report) == tmap

    ids, refusals = plan_of(path)
    assert ids == []
    assert [r.id for r in refusals] == [TRUNCATION]
    assert "never invents" in refusals[0].reason
    assert "bat.block.past_eof" in refusals[0].finding_codes


def test_separate_lost_blocks_stay_separate_ranges(tmp_path: Path) -> None:
    path = blocks_image(tmp_path, blocks=4)
    # Move block 2's data to the end: blocks 0,1,3 inside, block 2 far out, then cut it.
    raw = bytearray(damage.read_at(path, 3 * MiB, 4096))
    size = path.stat().st_size
    raw[16:24] = (size + MiB | layout.PAYLOAD_BLOCK_FULLY_PRESENT).to_bytes(8, "little")
    raw[24:32] = (size + 3 * MiB | layout.PAYLOAD_BLOCK_FULLY_PRESENT).to_bytes(8, "little")
    damage.write_at(path, 3 * MiB, bytes(raw))
    tmap = truncation_map(read_report(path), path)
    assert tmap is not None
    assert [(s.virtual_start, s.virtual_end) for s in tmap.spans] == [
        (2 * MiB, 4 * MiB)  # blocks 2 and 3 are consecutive on the virtual disk: merged
    ]
    assert tmap.spans[0].blocks == 2


def test_a_partial_last_block_is_not_a_truncation(tmp_path: Path) -> None:
    virtual = 2 * MiB + 512 * 1024
    path = create_image(
        tmp_path / "p.vhdx",
        CreateOptions(virtual_size=virtual, block_size=MiB),
        data=[(0, b"\x33" * virtual)],
    )
    damage.truncate(path, path.stat().st_size - 512 * 1024)  # the unused half of block 2
    report = read_report(path)
    assert "bat.block.partial_last_block" in {f.code for f in report.findings}
    assert truncation_map(report, path) is None
    assert plan_repairs(report).nothing_to_do


def test_a_pending_log_on_a_cut_file_blocks_every_write(
    qemu_image: Callable[..., Path], tmp_path: Path
) -> None:
    require("qemu-io", "qemu-utils")
    pending = ri.make_pending_image(qemu_image)
    damage.break_header_checksum(pending.path, 1)
    damage.truncate(pending.path, pending.size_before - MiB)
    ids, refusals = plan_of(pending.path)
    assert ids == []
    by_id = {r.id: r for r in refusals}
    assert set(by_id) == {TRUNCATION, REPLAY, HEADERS}
    assert "FlushedFileOffset" in by_id[REPLAY].reason
    assert "log replay is pending" in by_id[HEADERS].reason
    assert any("FlushedFileOffset" in line for line in by_id[TRUNCATION].lines)


# ---------------------------------------------------------------------------------------------
# Order, copies, refusals at run time


def test_replay_comes_first_and_covers_the_headers(
    qemu_image: Callable[..., Path], tmp_path: Path
) -> None:
    require("qemu-io", "qemu-utils")
    pending = ri.make_pending_image(qemu_image)
    damage.break_region_checksum(pending.path, 2)
    plan = plan_repairs(read_report(pending.path))
    assert [r.id for r in plan.repairs] == [REPLAY, REGION_TABLE]
    assert not any("First the headers" in line for line in plan.repairs[1].lines)
    run = run_repairs(plan, backup_dir=tmp_path)
    assert run.ok, run.error
    assert [s.id for s in run.steps] == [REPLAY, REGION_TABLE]
    assert len(run.backups) == 4  # three for the replay, one table; no extra header update
    assert errors(pending.path) == []
    assert ri.qemu_check_rc(pending.path) == 0
    assert damage.read_at(ri.raw_of(pending.path), 0, 6 * MiB) == ri.expected_virtual_start()


def test_repairs_into_a_copy_leave_the_original_alone(
    qemu_image: Callable[..., Path], tmp_path: Path
) -> None:
    require("qemu-io", "qemu-utils")
    pending = ri.make_pending_image(qemu_image)
    original = ri.file_sha256(pending.path)
    copy = tmp_path / "copy.vhdx"
    plan = plan_repairs(read_report(pending.path), RepairOptions(into_copy=True))
    run = run_repairs(plan, output=copy, backup_dir=tmp_path)
    assert run.ok and run.target == str(copy) and run.copied_from == str(pending.path)
    assert ri.file_sha256(pending.path) == original
    assert all(b.startswith(str(tmp_path)) and "copy.vhdx" in Path(b).name for b in run.backups)
    assert ri.qemu_check_rc(copy) == 0
    assert damage.read_at(ri.raw_of(copy), 0, 6 * MiB) == ri.expected_virtual_start()
    assert copy.stat().st_blocks * 512 < copy.stat().st_size  # sparse
    again = run_repairs(plan, output=copy)
    assert not again.ok and again.error is not None and again.error.refused
    assert "already exists" in str(again.error)


class IntoCopy(NamedTuple):
    pending: ri.PendingImage
    original: str  # the pending image's sha256 before the run
    plan: RepairPlan


@pytest.fixture
def into_copy(qemu_image: Callable[..., Path]) -> IntoCopy:
    """A qemu-made image with a pending log, its digest, and its repair plan into a copy."""
    require("qemu-io", "qemu-utils")
    pending = ri.make_pending_image(qemu_image)
    plan = plan_repairs(read_report(pending.path), RepairOptions(into_copy=True))
    return IntoCopy(pending, ri.file_sha256(pending.path), plan)


def test_a_copy_has_its_name_only_once_it_is_repaired(into_copy: IntoCopy, tmp_path: Path) -> None:
    """The copy is repaired under a hidden name and published when done: while any step
    writes, no file has the copy's name (a kill then leaves nothing that looks finished)."""
    from vhdxray.core.write.session import WriteHooks

    plan = into_copy.plan
    folder = tmp_path / "out"
    folder.mkdir()
    copy = folder / "copy.vhdx"
    seen: list[tuple[bool, list[str]]] = []

    def after_write(_i: int) -> None:
        seen.append((copy.exists(), sorted(p.name for p in folder.iterdir())))

    run = run_repairs(
        plan, output=copy, backup_dir=tmp_path, hooks=WriteHooks(after_write=after_write)
    )
    assert run.ok and run.target == str(copy) and copy.exists()
    assert seen and not any(named for named, _ in seen)
    assert all(
        len(names) == 1 and names[0].startswith(".copy.vhdx.vhdxray-partial-") for _, names in seen
    )
    assert sorted(p.name for p in folder.iterdir()) == ["copy.vhdx"]
    assert ri.qemu_check_rc(copy) == 0


def test_a_run_that_dies_into_a_copy_leaves_no_copy(into_copy: IntoCopy, tmp_path: Path) -> None:
    from vhdxray.core.write.session import WriteHooks

    pending, original, plan = into_copy
    folder = tmp_path / "out"
    folder.mkdir()

    def crash(i: int) -> None:
        if i == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_repairs(
            plan,
            output=folder / "copy.vhdx",
            backup_dir=tmp_path,
            hooks=WriteHooks(after_write=crash),
        )
    assert list(folder.iterdir()) == []
    assert ri.file_sha256(pending.path) == original


def test_a_locked_image_is_refused_at_run_time(data_image: Path) -> None:
    damage.break_header_checksum(data_image, 2)
    digest = ri.file_sha256(data_image)
    plan = plan_repairs(read_report(data_image))
    holder = os.open(data_image, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        run = run_repairs(plan, backup_dir=data_image.parent)
    finally:
        os.close(holder)
    assert not run.ok and run.error is not None and run.error.refused
    assert run.failed_step == HEADERS and run.backups == ()
    assert ri.file_sha256(data_image) == digest


def test_a_single_repair_runs_on_its_own(data_image: Path) -> None:
    damage.break_region_checksum(data_image, 2)
    (repair,) = plan_repairs(read_report(data_image)).repairs
    assert isinstance(repair, Repair)
    result = repair.execute(data_image, backup_dir=data_image.parent)
    assert result.done and len(result.backups) == 2
    again = repair.execute(data_image, backup_dir=data_image.parent)
    assert not again.done and again.backups == ()
    assert errors(data_image) == []


def test_not_a_vhdx(tmp_path: Path) -> None:
    path = tmp_path / "x.img"
    path.write_bytes(bytes(2 * MiB))
    plan = plan_repairs(read_report(path))
    assert plan.repairs == () and [r.id for r in plan.refusals] == ["not_vhdx"]


def test_plan_json_is_plain_data(data_image: Path) -> None:
    damage.break_header_checksum(data_image, 1)
    doc = plan_repairs(read_report(data_image)).to_json()
    assert doc["repairs"][0]["id"] == HEADERS  # type: ignore[index]
    assert doc["refusals"] == [] and doc["replay"] is None and doc["truncation"] is None
    assert json.loads(json.dumps(doc)) == doc


def test_more_than_a_thousand_lost_blocks_are_all_mapped(tmp_path: Path) -> None:
    path = create_image(
        tmp_path / "many.vhdx", CreateOptions(virtual_size=2 * layout.GiB, block_size=MiB)
    )
    size = path.stat().st_size
    bat = bytearray(damage.read_at(path, 3 * MiB, 1100 * 8))
    for block in range(1100):
        if block != 500:  # one hole splits the map in two
            entry = (size + block * MiB) | layout.PAYLOAD_BLOCK_FULLY_PRESENT
            bat[block * 8 : block * 8 + 8] = entry.to_bytes(8, "little")
    damage.write_at(path, 3 * MiB, bytes(bat))
    report = read_report(path)
    assert report.bat is not None and report.bat.lost_ranges_truncated
    tmap = truncation_map(report, path)
    assert tmap is not None
    assert [(s.virtual_start, s.virtual_end, s.blocks) for s in tmap.spans] == [
        (0, 500 * MiB, 500),
        (501 * MiB, 1100 * MiB, 599),
    ]
    assert tmap.lost_bytes == 1099 * MiB and tmap.expected_size == size + 1100 * MiB
    partial = truncation_map(report)  # without the file: the summary's first 1000 blocks
    assert partial is not None
    assert any("Only the first 1000 of 1099 lost blocks" in n for n in partial.notes)


def test_partially_present_blocks_and_lost_sector_bitmaps(data_image: Path, tmp_path: Path) -> None:
    from vhdxray.core.analysis.truncation import PARTIAL, SB_PAST_EOF, UNKNOWN
    from vhdxray.core.write.create import create_child

    child = create_child(tmp_path / "child.vhdx", data_image)
    size = child.stat().st_size
    ratio = 4096  # 1 MiB blocks, 512-byte sectors
    sb0 = size | layout.SB_BLOCK_PRESENT  # the bitmap in the file, block 0's data past its end
    block0 = (size + MiB) | layout.PAYLOAD_BLOCK_PARTIALLY_PRESENT
    damage.write_at(child, size, bytes(MiB))
    damage.write_at(child, 3 * MiB, block0.to_bytes(8, "little"))
    damage.write_at(child, 3 * MiB + ratio * 8, sb0.to_bytes(8, "little"))
    tmap = truncation_map(read_report(child), child)
    assert tmap is not None
    assert [(s.virtual_start, s.virtual_end, s.kind) for s in tmap.spans] == [(0, MiB, PARTIAL)]
    assert tmap.uncertain == ()
    assert "the others still come from the parent" in "\n".join(tmap.describe())
    # The bitmap cut too: which sectors were this file's can no longer be known.
    damage.truncate(child, size + 100)
    tmap = truncation_map(read_report(child), child)
    assert tmap is not None
    assert [(s.virtual_start, s.virtual_end, s.kind, s.reason) for s in tmap.spans] == [
        (0, MiB, UNKNOWN, SB_PAST_EOF)
    ]
    assert tmap.uncertain == ((0, MiB),) and tmap.lost_bytes == MiB
    text = "\n".join(tmap.describe())
    assert "can no longer be known" in text and "still come from the parent" not in text


def test_a_cancelled_copy_is_removed_and_the_original_untouched(
    into_copy: IntoCopy, tmp_path: Path
) -> None:
    from vhdxray.core.progress import Progress

    pending, original, plan = into_copy
    copy = tmp_path / "copy.vhdx"

    def cancel_while_copying(p: Progress) -> None:
        if p.label == "copying the image" and p.done > 0:
            p.cancel()

    tracker = Progress(on_update=cancel_while_copying)
    run = run_repairs(plan, output=copy, backup_dir=tmp_path, tracker=tracker)
    assert not run.ok and run.error is not None and run.error.refused
    assert run.failed_step == "copy" and "cancelled" in str(run.error)
    assert 0 < tracker.done < tracker.total
    assert not copy.exists()
    assert ri.file_sha256(pending.path) == original
