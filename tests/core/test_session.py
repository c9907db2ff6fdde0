"""The write session: one open, one lock, held across every step of a multi-step repair.

A second process probes the locks at every phase of a run (the log replay's three steps and a
region-table rewrite, in one session): both the exclusive flock and QEMU's lock bytes must be
held from the first re-read to the last verification, and free once the run ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import damage
from tests import repairimages as ri
from tests.conftest import require
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.write.outcome import RefusalCode, Refused, WriteFailed
from vhdxray.core.write.repair import plan_repairs, run_repairs
from vhdxray.core.write.session import PlannedWrite, WriteHooks, WritePlan, WriteSession

# Run in another process: open read-only, try a shared flock and QEMU's shared read lock on
# byte 100 (as qemu-img does); print which are held by someone else.
PROBE = r"""
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
held = []
try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
except OSError:
    held.append("flock")
try:
    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi4x", fcntl.F_RDLCK, 0, 100, 1, 0))
except OSError:
    held.append("qemu")
print(",".join(held))
"""


def probe(path: Path) -> str:
    return subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def two_step_image(qemu_image: Callable[..., Path]) -> Path:
    require("qemu-io", "qemu-utils")
    pending = ri.make_pending_image(qemu_image)
    damage.break_region_checksum(pending.path, 2)
    return pending.path


def test_the_locks_are_held_from_first_read_to_last_verify(two_step_image: Path) -> None:
    image = two_step_image
    plan = plan_repairs(read_report(image))
    assert [r.id for r in plan.repairs] == ["log.replay", "region.table"]
    seen: list[tuple[str, str]] = []

    def on_step(name: str) -> None:
        seen.append((name, probe(image)))

    run = run_repairs(plan, backup_dir=image.parent, hooks=WriteHooks(on_step=on_step))
    assert run.ok, run.error
    names = [n for n, _ in seen]
    assert names[0] == "locked" and names[-1] == "unlock"
    assert names.count("backup") == 4  # replay: headers, pages, headers; then the region copy
    assert {"read", "write", "verify"} <= set(names)
    # Every phase, from the first re-read to the last verification and the final read, saw
    # both locks held by the session.
    assert all(held == "flock,qemu" for _, held in seen), seen
    assert probe(image) == ""  # released at the end
    assert len(run.backups) == 4
    assert not read_report(image).errors


def test_a_held_image_is_refused_before_anything(two_step_image: Path) -> None:
    holder = os.open(two_step_image, os.O_RDWR)
    try:
        import fcntl

        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(Refused) as exc, WriteSession(two_step_image):
            pass
    finally:
        os.close(holder)
    assert exc.value.code is RefusalCode.IN_USE and exc.value.refused
    assert exc.value.to_json()["code"] == "in_use"


def test_a_plan_on_changed_bytes_is_refused_and_a_failed_write_names_its_backup(
    two_step_image: Path,
) -> None:
    with WriteSession(two_step_image, backup_dir=two_step_image.parent) as s:
        before = s.read_at(0x3000, 16)
        stale = WritePlan("test", (PlannedWrite(0x3000, b"x" * 16, "test range", b"y" * 16),))
        with pytest.raises(Refused) as refused:
            s.execute(stale)
        assert refused.value.code is RefusalCode.CHANGED and s.backups == []

        def bad(_back: bytes) -> str | None:
            return "never right"

        plan = WritePlan("test", (PlannedWrite(0x3000, b"z" * 16, "test range", before, bad),))
        with pytest.raises(WriteFailed) as failed:
            s.execute(plan)
        assert failed.value.backups == tuple(s.backups) and len(s.backups) == 1
        assert failed.value.to_json()["state"] == "partial"


def test_cancel_stops_between_steps_never_inside_one(two_step_image: Path) -> None:
    """A cancel asked during the replay lets the replay finish (its three writes), then the run
    stops before the region-table step: code 'cancelled', the replay's backups listed."""
    from vhdxray.core.progress import Progress

    image = two_step_image
    plan = plan_repairs(read_report(image))
    tracker = Progress()
    run = run_repairs(
        plan,
        backup_dir=image.parent,
        hooks=WriteHooks(after_write=lambda _i: tracker.cancel()),
        tracker=tracker,
    )
    assert not run.ok and run.error is not None and run.error.refused
    assert isinstance(run.error, Refused) and run.error.code is RefusalCode.CANCELLED
    assert run.failed_step == "region.table" and [s.id for s in run.steps] == ["log.replay"]
    assert len(run.backups) == 3 and tracker.done > 0
    after = read_report(image)
    assert after.log is not None and not after.log.replay_needed
    assert after.region_tables is not None and not after.region_tables[1].valid


def _pending(path: Path) -> None:
    """The pending log as made (the replay's first header update keeps LogGuid)."""


def count_whole_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that gets one item per whole read of an image (``read_report_from``) from now
    until ``monkeypatch.undo()``."""
    import vhdxray.core.analysis.reader as reader_module

    whole_reads: list[str] = []
    real = reader_module.read_report_from

    def counted(*args: object, **kwargs: object) -> object:
        whole_reads.append("read")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reader_module, "read_report_from", counted)
    return whole_reads


@pytest.mark.parametrize(
    "damage_it",
    [
        _pending,
        lambda p: damage.break_header_checksum(p, 1),
        lambda p: damage.break_header_checksum(p, 2),
        lambda p: damage.break_region_checksum(p, 2),
        lambda p: damage.set_creator(p, "x" * 40),
    ],
)
def test_after_a_header_update_the_session_rereads_only_the_headers(
    qemu_image: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, damage_it: Callable[..., None]
) -> None:
    """Issue 9: the session knows a header update wrote only the two slots, so it reads the
    header section again and keeps the rest of its report; the result equals a whole read of
    the image (findings and their order included). Clearing LogGuid changes what the log
    analysis depends on: then the whole image is read again."""
    from vhdxray.core.format import layout
    from vhdxray.core.write.update import plan_header_update, run_header_update

    require("qemu-io", "qemu-utils")
    path = ri.make_pending_image(qemu_image).path
    damage_it(path)
    whole_reads = count_whole_reads(monkeypatch)
    with WriteSession(path) as session:
        report = session.read_report()
        assert whole_reads == ["read"]
        plan = plan_header_update(report, allow_pending_log=True, from_slot=None)
        assert not isinstance(plan, Refused)
        outcome = run_header_update(path, plan, session=session)
        assert whole_reads == ["read"]  # only the header section was read again
        monkeypatch.undo()
        assert outcome.report == read_report(path)
        assert outcome.report.current_header == plan.second.slot
        whole_reads = count_whole_reads(monkeypatch)
        clear = plan_header_update(
            outcome.report, log_guid=layout.ZERO_GUID, allow_pending_log=True
        )
        assert not isinstance(clear, Refused)
        cleared = run_header_update(path, clear, session=session)
        assert whole_reads == ["read"]  # the log's GUID changed: a whole read
        monkeypatch.undo()
        assert cleared.report == read_report(path)


def test_a_header_slot_broken_by_a_write_reads_as_a_whole_read_shows_it(
    two_step_image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header findings a re-read of the header section gives take the place a whole read
    gives them among the other findings of their severity (here the region table's error)."""
    from vhdxray.core.format import layout

    whole_reads = count_whole_reads(monkeypatch)
    with WriteSession(two_step_image) as session:
        before = session.read_report()
        slot2 = layout.HEADER_SLOT_OFFSETS[1]
        garbage = PlannedWrite(slot2 + 64, b"\xff" * 64, "header slot 2 (damaged on purpose)")
        session.execute(WritePlan("test-damage", (garbage,)))
        after = session.read_report()
        assert whole_reads == ["read"]
        monkeypatch.undo()
        whole = read_report(two_step_image)
        assert after == whole and after.findings != before.findings
        codes = [f.code for f in whole.findings]
        assert any(c.startswith("header.") for c in codes)
        assert any(c.startswith("region") for c in codes)
