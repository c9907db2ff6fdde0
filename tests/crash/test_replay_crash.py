"""A log replay stopped after any write, or with any write torn, leaves an image that is
never worse than before, and running the replay again finishes the job.

"Never worse": a header is still current and describes the same disk (DataWriteGuid kept);
no new error finding other than the header slot being written (the other slot is current);
and either the log is still pending, intact and the same active sequence (QEMU still asks
for a replay, as before), or LogGuid is zero and the virtual disk already reads as replayed
(QEMU accepts it). The rerun must end with no error finding, qemu-img check clean and the
virtual disk equal to QEMU's own replay of the original.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import imagefiles
from tests import repairimages as ri
from tests.conftest import require
from tests.crash.interrupt import (
    Crash,
    Interrupt,
    count_writes,
    sampled_tear_points,
    tear_points,
)
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.write.replay import preview_replay, run_replay
from vhdxray.core.write.writer import WriteFailed, WriteHooks


@dataclass(frozen=True)
class Dirty:
    source: Path  # never written
    expected: tuple[int, str]  # the virtual disk after QEMU's replay
    head_sequence: int
    writes: list[int]  # sizes of the writes of an uninterrupted replay
    data_write_guid: object
    virtual_size: int


SECTOR = 512
SAMPLED_ABOVE = 1 << 30  # virtual disks larger than this tear at sampled points (QEMU reads all)


def _prepare(source: Path, scratch: Path) -> Dirty:
    require("qemu-img", "qemu-utils")
    theirs = imagefiles.copy_sparse(source, scratch / "theirs.vhdx")
    ri.qemu_repair(theirs)
    expected = ri.virtual_digest(theirs)
    preview = preview_replay(source)
    assert preview is not None
    probe = imagefiles.copy_sparse(source, scratch / "probe.vhdx")

    def full(hooks: WriteHooks) -> None:
        run_replay(probe, backup_dir=scratch, hooks=hooks)

    writes = count_writes(full)
    assert ri.virtual_digest(probe) == expected
    report = read_report(source)
    eff = report.effective_header
    assert eff is not None and report.metadata is not None and report.metadata.virtual_size
    return Dirty(
        source,
        expected,
        preview.head_sequence_number,
        writes,
        eff.data_write_guid,
        report.metadata.virtual_size,
    )


@pytest.fixture(params=["discutils-log-replay", "qemu-dirtylog", "own"])
def dirty(
    request: pytest.FixtureRequest,
    real_image: Callable[[str], Path],
    qemu_image: Callable[..., Path],
    tmp_path: Path,
) -> Dirty:
    if request.param == "own":
        require("qemu-io", "qemu-utils")
        source = ri.make_pending_image(qemu_image).path
    else:
        source = real_image(request.param)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return _prepare(source, scratch)


def error_codes(path: Path) -> set[str]:
    return {f.code for f in read_report(path).findings if f.severity == "error"}


def check_never_worse(path: Path, dirty: Dirty, before: set[str], context: str) -> None:
    report = read_report(path)
    eff = report.effective_header
    assert report.current_header is not None and eff is not None, context
    assert eff.data_write_guid == dirty.data_write_guid, context
    new = {c for c in error_codes(path) - before if not c.startswith("header.slot")}
    assert not new, (context, new)
    if report.log is not None and report.log.replay_needed:
        preview = preview_replay(path, report)
        assert preview is not None and not preview.blockers, context
        assert preview.head_sequence_number == dirty.head_sequence, context
        # As before the replay: QEMU asks for one (qemu-img check cannot open the file).
        assert ri.qemu_check_rank(path) <= ri.QEMU_CHECK_RANK[1], context
    else:
        assert eff.log_guid == layout.ZERO_GUID, context
        assert ri.qemu_check_rc(path) == 0, context
        assert ri.virtual_digest(path) == dirty.expected, context


def check_finished(path: Path, dirty: Dirty, context: str) -> None:
    report = read_report(path)
    assert report.effective_header is not None, context
    assert report.effective_header.log_guid == layout.ZERO_GUID, context
    assert report.headers is not None and all(h.valid for h in report.headers), context
    assert not error_codes(path), (context, error_codes(path))
    assert ri.qemu_check_rc(path) == 0, context
    assert ri.virtual_digest(path) == dirty.expected, context


def interrupt_then_rerun(dirty: Dirty, work: Path, interrupt: Interrupt, context: str) -> None:
    path = imagefiles.copy_sparse(dirty.source, work / "image.vhdx")
    before = error_codes(path)
    with contextlib.suppress(Crash, WriteFailed):
        run_replay(path, backup_dir=work, hooks=interrupt.hooks())
    assert interrupt.fired, context
    check_never_worse(path, dirty, before, context)
    run_replay(path, backup_dir=work)
    check_finished(path, dirty, context)
    path.unlink()
    for backup in work.glob("*.vhdxray-backup-*"):
        backup.unlink()


@pytest.mark.slow
def test_stopped_after_each_write(dirty: Dirty, tmp_path: Path) -> None:
    assert len(dirty.writes) >= 5  # two header writes, the replay, two header writes
    for k in range(len(dirty.writes)):
        interrupt_then_rerun(dirty, tmp_path, Interrupt(stop_after=k), f"stop after write {k}")


def boundary(size: int, kept: int) -> str:
    if kept in (0, SECTOR):
        return "nothing" if kept == 0 else "one sector"
    return "all but one sector" if kept == size - SECTOR else "half"


@pytest.mark.slow
def test_each_write_torn(dirty: Dirty, tmp_path: Path) -> None:
    """Every write torn at every boundary kind; on the 10 GiB qemu-dirtylog image (each check
    reads 10 GiB through QEMU) every write is torn at two kinds and every kind is covered
    (interrupt.sampled_tear_points); the two smaller images keep the whole product."""
    every = [(k, kept) for k, size in enumerate(dirty.writes) for kept in tear_points(size)]
    pairs = every
    if dirty.virtual_size > SAMPLED_ABOVE:
        pairs = sampled_tear_points(dirty.writes)
        assert {boundary(dirty.writes[k], kept) for k, kept in pairs} == {
            boundary(dirty.writes[k], kept) for k, kept in every
        }
        assert {k for k, _ in pairs} == set(range(len(dirty.writes)))
    for k, kept in pairs:
        interrupt_then_rerun(
            dirty, tmp_path, Interrupt(tear_at=k, kept=kept), f"write {k} torn at {kept}"
        )


@pytest.fixture(scope="module")
def own_dirty(tmp_path_factory: pytest.TempPathFactory) -> Dirty:
    require("qemu-io", "qemu-utils")
    folder = tmp_path_factory.mktemp("own-dirty")
    base = imagefiles.qemu_img_create(folder / "base.vhdx", "64M", "block_size=1M")
    imagefiles.qemu_io(base, "write -P 0x5a 1M 1M", "write -P 0x11 4M 1M")
    ri.add_pending_log(base)
    scratch = folder / "scratch"
    scratch.mkdir()
    return _prepare(base, scratch)


@pytest.mark.slow
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    first=st.tuples(st.integers(0, 40), st.integers(0, 8), st.booleans()),
    second=st.tuples(st.integers(0, 40), st.integers(0, 8), st.booleans()),
)
def test_interrupted_reruns_still_finish(
    own_dirty: Dirty,
    tmp_path_factory: pytest.TempPathFactory,
    first: tuple[int, int, bool],
    second: tuple[int, int, bool],
) -> None:
    """Two interruptions in a row (the rerun is interrupted too), then one full run."""
    work = tmp_path_factory.mktemp("twice")
    path = imagefiles.copy_sparse(own_dirty.source, work / "image.vhdx")
    before = error_codes(path)
    for n, (k, eighth, tear) in enumerate((first, second)):
        k %= len(own_dirty.writes)
        size = own_dirty.writes[k]
        kept = (size * eighth // 8) // 512 * 512 if eighth < 8 else size - 512
        interrupt = Interrupt(tear_at=k, kept=kept) if tear else Interrupt(stop_after=k)
        with contextlib.suppress(Crash, WriteFailed):
            run_replay(path, backup_dir=work, hooks=interrupt.hooks())
        check_never_worse(path, own_dirty, before, f"interruption {n}: {k} {kept} {tear}")
    run_replay(path, backup_dir=work)
    check_finished(path, own_dirty, "final run")
    shutil.rmtree(work)
