"""Log replay: the real dirty-log images against QEMU's replay, pending-log images of our
own, the page-by-page preview, refusals, idempotence, memory, undo."""

from __future__ import annotations

import errno
import os
import shutil
import struct
import subprocess
import threading
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import damage
from tests import repairimages as ri
from tests.conftest import require
from tests.logwrite import build_log_entry, write_log_entries
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.write.create import CreateOptions, create_image
from vhdxray.core.write.replay import (
    APPLIED,
    PENDING,
    SUPERSEDED,
    ReplayRefused,
    preview_replay,
    run_replay,
)
from vhdxray.core.write.restore import plan_restore, run_restore
from vhdxray.core.write.writer import execute

MiB = layout.MiB
PAGE = 4096
DISCUTILS_RAW_SHA256 = "3ba3b309425b7ff5e8e0199edceed95226250f880c53b24e8eae93865f3fad5e"


def header_guids(path: Path) -> tuple[object, object, object]:
    eff = read_report(path).effective_header
    assert eff is not None
    return eff.file_write_guid, eff.data_write_guid, eff.log_guid


# ---------------------------------------------------------------------------------------------
# Real dirty-log images


@pytest.mark.parametrize("name", ["discutils-log-replay", "qemu-dirtylog"])
def test_real_dirty_logs_replay_like_qemu(
    real_image: Callable[[str], Path], tmp_path: Path, name: str
) -> None:
    require("qemu-img", "qemu-utils")
    ours = real_image(name)
    theirs = tmp_path / "theirs.vhdx"
    shutil.copyfile(ours, theirs)
    fwg, dwg, log_guid = header_guids(ours)
    assert log_guid != layout.ZERO_GUID

    preview = preview_replay(ours)
    assert preview is not None and preview.state == PENDING and not preview.blockers
    outcome = run_replay(ours, backup_dir=tmp_path)
    assert outcome.replayed and len(outcome.backups) == 3
    ri.qemu_repair(theirs)

    after = read_report(ours)
    new_fwg, new_dwg, new_log_guid = header_guids(ours)
    assert new_log_guid == layout.ZERO_GUID
    assert new_dwg == dwg  # children stay linked
    assert new_fwg != fwg
    assert after.headers is not None and all(h.valid for h in after.headers)
    assert not [f for f in after.findings if f.severity == "error"], after.findings
    assert ri.qemu_check_rc(ours) == 0
    assert ri.virtual_digest(ours) == ri.virtual_digest(theirs)
    if name == "discutils-log-replay":
        assert ri.file_sha256(ri.raw_of(ours)) == DISCUTILS_RAW_SHA256


def test_discutils_partition_table_reads_through_qemu_io_and_libvhdi(
    real_image: Callable[[str], Path], tmp_path: Path
) -> None:
    """The MBR exists only in the DiscUtils log: after our replay, independent readers see it."""
    require("qemu-io", "qemu-utils")
    path = real_image("discutils-log-replay")
    run_replay(path, backup_dir=tmp_path)
    dump = subprocess.run(
        ["qemu-io", "-f", "vhdx", "-r", "-c", "read -v 0 512", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "000001f0:" in dump and "55 aa" in dump.split("000001f0:")[1].splitlines()[0]
    mbr = damage.read_at(ri.raw_of(path), 0, 512)
    assert mbr[510:512] == b"\x55\xaa"
    assert [mbr[446 + 16 * i + 4] for i in range(2)] == [0x83, 0x83]

    require("vhdiinfo", "libvhdi-utils")
    info = subprocess.run(["vhdiinfo", str(path)], capture_output=True, text=True)
    assert info.returncode == 0 and "1073741824 bytes" in info.stdout
    if shutil.which("vhdimount") is None or not Path("/dev/fuse").exists():
        pytest.skip("vhdimount or FUSE is not available to read sectors through libvhdi")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = subprocess.run(["vhdimount", str(path), str(mnt)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"vhdimount cannot mount here: {mounted.stderr.strip()}")
    try:
        disk = next(mnt.iterdir())
        with open(disk, "rb") as f:
            sector0 = f.read(512)
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
    assert sector0 == mbr


def test_restoring_the_three_backups_gives_back_the_original(
    real_image: Callable[[str], Path], tmp_path: Path
) -> None:
    path = real_image("discutils-log-replay")
    before = ri.file_sha256(path)
    outcome = run_replay(path, backup_dir=tmp_path)
    assert ri.file_sha256(path) != before
    for backup in reversed(outcome.backups):
        run_restore(plan_restore(backup, path), backup_dir=tmp_path)
    assert ri.file_sha256(path) == before


# ---------------------------------------------------------------------------------------------
# Our own pending logs


@pytest.fixture
def pending(qemu_image: Callable[..., Path], tmp_path: Path) -> ri.PendingImage:
    require("qemu-io", "qemu-utils")
    (tmp_path / "undo").mkdir()
    return ri.make_pending_image(qemu_image)


def test_own_pending_log_preview_lists_every_page(pending: ri.PendingImage) -> None:
    preview = preview_replay(pending.path)
    assert preview is not None
    assert preview.entry_count == 2
    assert (preview.first_sequence_number, preview.head_sequence_number) == (10, 11)
    kinds = [(p.entry_sequence_number, p.kind, p.status) for p in preview.pages]
    # Zero descriptors come first in each entry (logwrite's order).
    assert kinds == [
        (10, "zero", PENDING),
        (10, "data", SUPERSEDED),
        (11, "zero", PENDING),
        (11, "data", PENDING),
    ]
    assert preview.pages[2].note == "past the end of the file"
    assert preview.extend_to == pending.last_file_offset
    assert preview.required_file_size == pending.last_file_offset
    # The zero range beyond the end of the file is done by the extension, not by writes.
    assert preview.zeroed_data_bytes == 128 * 1024
    assert sum(len(w.data) for w in preview.writes) == 128 * 1024 + PAGE
    doc = preview.to_json()
    assert doc["state"] == PENDING and doc["pending"] == 3 and doc["superseded"] == 1
    assert len(doc["pages"]) == 4  # type: ignore[arg-type]


def test_own_pending_log_replays_like_qemu(pending: ri.PendingImage, tmp_path: Path) -> None:
    theirs = tmp_path / "theirs.vhdx"
    shutil.copyfile(pending.path, theirs)
    outcome = run_replay(pending.path, backup_dir=tmp_path)
    assert outcome.replayed and outcome.extended_to == pending.last_file_offset
    assert pending.path.stat().st_size == pending.last_file_offset
    ri.qemu_repair(theirs)
    assert ri.qemu_check_rc(pending.path) == 0
    assert ri.virtual_digest(pending.path) == ri.virtual_digest(theirs)
    raw = ri.raw_of(pending.path)
    assert damage.read_at(raw, 0, 6 * MiB) == ri.expected_virtual_start()
    report = read_report(pending.path)
    assert report.log is not None and not report.log.replay_needed
    assert not [f for f in report.findings if f.severity == "error"]


def test_replaying_twice_changes_nothing_the_second_time(
    pending: ri.PendingImage, tmp_path: Path
) -> None:
    run_replay(pending.path, backup_dir=tmp_path)
    digest = ri.file_sha256(pending.path)
    again = run_replay(pending.path, backup_dir=tmp_path)
    assert not again.replayed and again.backups == ()
    assert ri.file_sha256(pending.path) == digest
    assert preview_replay(pending.path) is None


def test_interrupted_before_clearing_log_guid_reads_as_applied(
    pending: ri.PendingImage, tmp_path: Path
) -> None:
    """The pages written but LogGuid still set: the preview says 'applied' and a rerun only
    updates the headers."""
    preview = preview_replay(pending.path)
    assert preview is not None
    execute(pending.path, preview.write_plan(), backup_dir=tmp_path)
    again = preview_replay(pending.path)
    assert again is not None
    assert again.state == APPLIED and again.writes == () and again.extend_to is None
    assert [p.status for p in again.pages] == [APPLIED, SUPERSEDED, APPLIED, APPLIED]
    assert any("already holds" in line for line in again.describe())
    assert ri.qemu_check_rc(pending.path) == 1  # QEMU still refuses: LogGuid is set
    outcome = run_replay(pending.path, backup_dir=tmp_path)
    assert outcome.replayed and outcome.bytes_written == 0 and len(outcome.backups) == 2
    assert "nothing to write" in " ".join(outcome.lines)
    assert ri.qemu_check_rc(pending.path) == 0
    raw = ri.raw_of(pending.path)
    assert damage.read_at(raw, 0, 6 * MiB) == ri.expected_virtual_start()


def test_refuses_a_file_shorter_than_flushed_file_offset(
    pending: ri.PendingImage, tmp_path: Path
) -> None:
    with open(pending.path, "r+b") as f:
        f.truncate(pending.size_before - MiB)  # cut the block the log says was flushed
    digest = ri.file_sha256(pending.path)
    preview = preview_replay(pending.path)
    assert preview is not None and any("FlushedFileOffset" in b for b in preview.blockers)
    with pytest.raises(ReplayRefused) as exc:
        run_replay(pending.path, backup_dir=tmp_path)
    assert "FlushedFileOffset" in str(exc.value)
    assert ri.file_sha256(pending.path) == digest
    assert not list(tmp_path.glob("*.vhdxray-backup-*"))


@pytest.mark.parametrize(
    ("target", "why"),
    [(64 * 1024, "headers"), (0, "file identifier"), (MiB + 8 * PAGE, "log itself")],
)
def test_refuses_descriptors_that_would_hit_headers_or_the_log(
    qemu_image: Callable[..., Path], tmp_path: Path, target: int, why: str
) -> None:
    path = qemu_image("16M", "block_size=1M")
    entry = build_log_entry(
        sequence_number=3,
        log_guid=ri.GUID,
        tail=0,
        flushed_file_offset=path.stat().st_size,
        last_file_offset=path.stat().st_size,
        data_pages=[(target, bytes(PAGE))],
    )
    write_log_entries(path, [(0, entry)])
    ri.set_log_guid(path, ri.GUID)
    digest = ri.file_sha256(path)
    with pytest.raises(ReplayRefused) as exc:
        run_replay(path, backup_dir=tmp_path)
    assert why in str(exc.value)
    assert ri.file_sha256(path) == digest


def test_stale_entries_of_another_guid_are_never_applied(
    pending: ri.PendingImage, tmp_path: Path
) -> None:
    """A complete, CRC-valid entry with another LogGuid (an earlier session) that would
    clobber block 4's mapping sits in the log; only the active sequence is applied."""
    bat = ri.bat_offset(pending.path)
    stale_page = bytes(PAGE)  # every BAT entry NOT_PRESENT
    stale = build_log_entry(
        sequence_number=12,
        log_guid=uuid.UUID(int=7),
        tail=20 * PAGE,
        flushed_file_offset=MiB,
        last_file_offset=MiB,
        data_pages=[(bat, stale_page)],
    )
    write_log_entries(pending.path, [(20 * PAGE, stale)])
    run_replay(pending.path, backup_dir=tmp_path)
    raw = ri.raw_of(pending.path)
    assert damage.read_at(raw, 0, 6 * MiB) == ri.expected_virtual_start()


def test_clean_images_have_nothing_to_replay(real_image: Callable[[str], Path]) -> None:
    for name in ("qemu-dynamic-1g", "qemu-disk2vhd", "dissect-fixed"):
        path = real_image(name)
        assert preview_replay(path) is None
        assert not run_replay(path).replayed


def test_large_zero_ranges_do_not_allocate_their_size(tmp_path: Path) -> None:
    """A 1 GiB zero range past the end of the file and a 64 MiB one over holes: the replay
    grows the file sparsely and writes nothing for them."""
    path = create_image(
        tmp_path / "big.vhdx",
        CreateOptions(virtual_size=8 * layout.GiB, block_size=32 * MiB),
        data=[(0, b"\x42" * MiB)],
    )
    size = path.stat().st_size
    end = size + layout.GiB + 64 * MiB
    entry = build_log_entry(
        sequence_number=1,
        log_guid=ri.GUID,
        tail=0,
        flushed_file_offset=size,
        last_file_offset=end,
        zero_ranges=[(size, layout.GiB), (16 * MiB, 64 * MiB)],
    )
    write_log_entries(path, [(0, entry)])
    ri.set_log_guid(path, ri.GUID)
    tracemalloc.start()
    try:
        outcome = run_replay(path, backup_dir=tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.replayed and outcome.extended_to == end
    assert outcome.bytes_written < 2 * MiB  # the zero range over data inside the file only
    assert peak < 48 * MiB, peak
    assert path.stat().st_size == end
    assert path.stat().st_blocks * 512 < 256 * MiB  # still sparse


def test_a_zero_range_over_data_is_written_in_pieces_and_backed_up(tmp_path: Path) -> None:
    path = create_image(
        tmp_path / "z.vhdx",
        CreateOptions(virtual_size=256 * MiB, block_size=8 * MiB),
        data=[(0, b"\x99" * (16 * MiB))],
    )
    block0 = struct.unpack("<Q", damage.read_at(path, 3 * MiB, 8))[0] & layout.BAT_OFFSET_MASK
    assert block0 >= 4 * MiB  # core.create puts the BAT at 3 MiB and blocks after it
    entry = build_log_entry(
        sequence_number=5,
        log_guid=ri.GUID,
        tail=0,
        flushed_file_offset=path.stat().st_size,
        last_file_offset=path.stat().st_size,
        zero_ranges=[(block0 + PAGE, 3 * MiB)],
    )
    write_log_entries(path, [(0, entry)])
    ri.set_log_guid(path, ri.GUID)
    before = ri.file_sha256(path)
    preview = preview_replay(path)
    assert preview is not None
    assert preview.zeroed_data_bytes == 3 * MiB
    assert [len(w.data) for w in preview.writes] == [MiB - PAGE, MiB, MiB, PAGE]
    outcome = run_replay(path, backup_dir=tmp_path)
    assert damage.read_at(path, block0, PAGE) == b"\x99" * PAGE
    assert damage.read_at(path, block0 + PAGE, 3 * MiB) == bytes(3 * MiB)
    assert damage.read_at(path, block0 + PAGE + 3 * MiB, PAGE) == b"\x99" * PAGE
    for backup in reversed(outcome.backups):
        run_restore(plan_restore(backup, path), backup_dir=tmp_path)
    assert ri.file_sha256(path) == before


# ---------------------------------------------------------------------------------------------
# Property: the replay equals applying every descriptor in order


_PAGE_SLOTS = 24  # 4 KiB pages inside one data block


@st.composite
def sequences(draw: st.DrawFn) -> list[list[tuple[str, int, int]]]:
    """1-3 entries, each with 0-4 data pages and 0-2 zero ranges over a 96 KiB area."""
    entries = []
    for _ in range(draw(st.integers(1, 3))):
        ops: list[tuple[str, int, int]] = []
        for _ in range(draw(st.integers(0, 2))):
            start = draw(st.integers(0, _PAGE_SLOTS - 1))
            length = draw(st.integers(1, _PAGE_SLOTS - start))
            ops.append(("zero", start, length))
        for _ in range(draw(st.integers(0, 4))):
            ops.append(("data", draw(st.integers(0, _PAGE_SLOTS - 1)), draw(st.integers(1, 255))))
        entries.append(ops)
    return entries


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=sequences())
def test_replay_equals_sequential_application(
    tmp_path_factory: pytest.TempPathFactory, spec: list[list[tuple[str, int, int]]]
) -> None:
    folder = tmp_path_factory.mktemp("prop")
    path = create_image(
        folder / "p.vhdx",
        CreateOptions(virtual_size=64 * MiB, block_size=MiB),
        data=[(0, bytes(range(256)) * 4096)],
    )
    base = struct.unpack("<Q", damage.read_at(path, 3 * MiB, 8))[0] & layout.BAT_OFFSET_MASK
    size = path.stat().st_size
    naive: list[tuple[int, bytes | int]] = []
    entries: list[tuple[int, bytes]] = []
    position = 0
    for n, ops in enumerate(spec):
        pages = [(base + s * PAGE, bytes([v]) * PAGE) for kind, s, v in ops if kind == "data"]
        zeros = [(base + s * PAGE, ln * PAGE) for kind, s, ln in ops if kind == "zero"]
        entry = build_log_entry(
            sequence_number=100 + n,
            log_guid=ri.GUID,
            tail=0,
            flushed_file_offset=size,
            last_file_offset=size,
            data_pages=pages,
            zero_ranges=zeros,
        )
        entries.append((position, entry))
        position += len(entry)
        naive += [(o, ln) for o, ln in zeros] + [(o, p) for o, p in pages]  # logwrite's order
    write_log_entries(path, entries)
    ri.set_log_guid(path, ri.GUID)
    expected = folder / "expected.vhdx"
    shutil.copyfile(path, expected)
    ri.apply_sequentially(expected, naive, size)
    outcome = run_replay(path, backup_dir=folder)
    assert outcome.replayed
    area = (base, base + _PAGE_SLOTS * PAGE)
    assert damage.read_at(path, area[0], area[1] - area[0]) == damage.read_at(
        expected, area[0], area[1] - area[0]
    )
    # Everything outside the headers is identical to the naive replay.
    assert damage.read_at(path, 192 * 1024, size) == damage.read_at(expected, 192 * 1024, size)
    again = run_replay(path, backup_dir=folder)
    assert not again.replayed


def _count_flushes_and_reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count every fsync (image, backups, folders) and every whole-image read from now on."""
    import vhdxray.core.analysis.reader as reader_module

    counts = {"fsync": 0, "reads": 0}
    real_fsync, real_read = os.fsync, reader_module.read_report_from

    def fsync(fd: int) -> None:
        # A copy's bytes flushed behind the copy, from its own thread, count apart.
        key = "behind" if threading.current_thread() is not threading.main_thread() else "fsync"
        counts[key] = counts.get(key, 0) + 1
        real_fsync(fd)

    def read_report_from(*args: Any, **kwargs: Any) -> Any:
        counts["reads"] += 1
        return real_read(*args, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    if hasattr(os, "fdatasync"):
        monkeypatch.setattr(os, "fdatasync", fsync)
    monkeypatch.setattr(reader_module, "read_report_from", read_report_from)
    return counts


def test_in_place_replay_flushes_once_per_step_boundary(
    pending: ri.PendingImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9: 3 backups (file + folder each), 2 + 2 header slots, the extension, and ONE
    flush for all the replayed pages (there are two writes here); 2 whole-image reads (before,
    and after the last header update), not one per step and re-check: after the first header
    update only the header section is read again (the session knows it wrote nothing else)."""
    preview = preview_replay(pending.path)
    assert preview is not None and len(preview.writes) == 2 and preview.extend_to is not None
    theirs = tmp_path / "theirs.vhdx"
    shutil.copyfile(pending.path, theirs)
    counts = _count_flushes_and_reads(monkeypatch)
    outcome = run_replay(pending.path, backup_dir=tmp_path)
    assert outcome.replayed
    assert counts == {"fsync": 3 * 2 + 2 + 1 + 1 + 2, "reads": 2}
    monkeypatch.undo()
    ri.qemu_repair(theirs)
    assert ri.virtual_digest(pending.path) == ri.virtual_digest(theirs)


def test_replay_into_a_copy_keeps_only_the_spec_flushes(
    pending: ri.PendingImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Into a copy nothing is flushed while it is repaired under its hidden name (the original
    is untouched, and no file has the copy's name yet): the finished copy once, then its
    folder when it gets its name. The copied bytes are flushed behind the copy by its own
    thread, which the repair waits for only when it publishes the copy."""
    from vhdxray.core.write.repair import plan_repairs, run_repairs

    plan = plan_repairs(read_report(pending.path))
    copy = tmp_path / "copy.vhdx"
    counts = _count_flushes_and_reads(monkeypatch)
    run = run_repairs(plan, output=copy, backup_dir=tmp_path)
    assert run.ok and len(run.backups) == 3
    assert counts["fsync"] == 1 + 1
    assert counts["behind"] >= 1
    monkeypatch.undo()
    theirs = tmp_path / "theirs.vhdx"
    shutil.copyfile(pending.path, theirs)
    ri.qemu_repair(theirs)
    assert ri.qemu_check_rc(copy) == 0
    assert ri.virtual_digest(copy) == ri.virtual_digest(theirs)


def test_the_copys_final_fsync_overlaps_the_flush_behind_it(
    pending: ri.PendingImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publishing the copy fsyncs it while the flusher's last sync may still run (one fsync
    flushes every dirty page of the file, the repair's writes and the copied bytes alike), and
    only then waits for the flusher's result: the two syncs overlap instead of adding up. Here
    the flusher's syncs wait for the main thread's fsync; had publishing waited for the
    flusher first, they would time out."""
    from vhdxray.core.write.repair import plan_repairs, run_repairs

    if not hasattr(os, "fdatasync"):
        pytest.skip("the flusher's syncs are told apart by fdatasync here")
    plan = plan_repairs(read_report(pending.path))
    real_fsync, real_fdatasync = os.fsync, os.fdatasync
    fsynced = threading.Event()
    timed_out: list[bool] = []

    def fsync(fd: int) -> None:
        if threading.current_thread() is threading.main_thread():
            fsynced.set()
        real_fsync(fd)

    def fdatasync(fd: int) -> None:
        if threading.current_thread() is not threading.main_thread():
            timed_out.append(not fsynced.wait(5))
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    copy = tmp_path / "copy.vhdx"
    run = run_repairs(plan, output=copy, backup_dir=tmp_path)
    assert run.ok and copy.exists()
    assert timed_out and not any(timed_out)


def test_a_failed_flush_behind_the_copy_fails_the_run_and_leaves_no_copy(
    pending: ri.PendingImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy's bytes are flushed by their own thread: a write error it meets is reported
    when the copy is published (a descriptor opened later may never be told of it), and no
    copy (named or hidden) is left; the original is untouched."""
    from vhdxray.core.outcome import RefusalCode, Refused
    from vhdxray.core.write.repair import plan_repairs, run_repairs

    digest = ri.file_sha256(pending.path)
    plan = plan_repairs(read_report(pending.path))
    real = {"fsync": os.fsync, "fdatasync": getattr(os, "fdatasync", os.fsync)}

    def failing(name: str) -> Callable[[int], None]:
        def sync(fd: int) -> None:
            if threading.current_thread() is not threading.main_thread():
                raise OSError(errno.EIO, "Input/output error")
            real[name](fd)

        return sync

    monkeypatch.setattr(os, "fsync", failing("fsync"))
    if hasattr(os, "fdatasync"):
        monkeypatch.setattr(os, "fdatasync", failing("fdatasync"))
    copy = tmp_path / "copy.vhdx"
    run = run_repairs(plan, output=copy, backup_dir=tmp_path)
    assert isinstance(run.error, Refused) and run.error.code is RefusalCode.COPY_FAILED
    assert "Input/output error" in str(run.error) and run.failed_step == "copy"
    assert not copy.exists()
    assert not [p for p in tmp_path.iterdir() if "vhdxray-partial" in p.name]
    assert ri.file_sha256(pending.path) == digest
