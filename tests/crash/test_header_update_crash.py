"""A crash between or during the two header writes must leave a valid current header.

The writer's test hooks stop the update after each durable write, or tear a write (only a
prefix reaches the disk, as after a power cut mid-write). After every interruption the image
must read with a current header describing the same disk, QEMU must accept it and read the
same virtual bytes, and running the update again must finish the job.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import damage, reports
from tests.conftest import require
from tests.imagefiles import qemu_img_check, qemu_io, virtual_disk_bytes
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.write.update import Refusal, plan_header_update, run_header_update
from vhdxray.core.write.writer import PlannedWrite, WriteFailed, WriteHooks


class Crash(Exception):
    pass


def virtual_digest(path: Path) -> str:
    raw = virtual_disk_bytes(path, path.with_suffix(".raw"))
    try:
        return hashlib.sha256(raw.read_bytes()).hexdigest()
    finally:
        raw.unlink()


@pytest.fixture(params=["healthy", "slot1-bad", "slot2-bad", "equal-identical"])
def image(
    request: pytest.FixtureRequest, qemu_image: Callable[..., Path]
) -> tuple[Path, int | None]:
    """A damaged image and the slot to update it from (None: the current one)."""
    require("qemu-io", "qemu-utils")
    path = qemu_image("16M", "block_size=1M")
    qemu_io(path, "write -P 0x77 1M 2M")
    from_slot: int | None = None
    if request.param == "slot1-bad":
        damage.break_header_checksum(path, 1)
    elif request.param == "slot2-bad":
        damage.break_header_checksum(path, 2)
    elif request.param == "equal-identical":
        damage.copy_header(path, 2, 1)
        from_slot = 1
    return path, from_slot


def check_consistent(path: Path, expected_virtual: str, original_dwg: object) -> None:
    report = read_report(path)
    eff = report.effective_header
    assert eff is not None, "no usable header after the interruption"
    assert eff.valid
    assert eff.data_write_guid == original_dwg
    assert not [
        f for f in report.findings if f.severity == "error" and not f.code.startswith("header.slot")
    ], report.findings
    check = qemu_img_check(path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert virtual_digest(path) == expected_virtual


def finish(path: Path, from_slot: int | None) -> None:
    report = read_report(path)
    plan = plan_header_update(
        report, from_slot=from_slot if report.current_header is None else None
    )
    assert not isinstance(plan, Refusal), plan
    after = run_header_update(path, plan, backup_dir=path.parent).report
    assert after.headers is not None and all(h.valid for h in after.headers)
    assert after.current_header == plan.second.slot


@pytest.mark.parametrize("stop_after", [0, 1])
def test_stop_after_each_write(image: tuple[Path, int | None], stop_after: int) -> None:
    path, from_slot = image
    expected = virtual_digest(path)
    dwg = reports.effective_header(path).data_write_guid
    plan = plan_header_update(read_report(path), from_slot=from_slot)
    assert not isinstance(plan, Refusal)

    def after_write(i: int) -> None:
        if i == stop_after:
            raise Crash

    with pytest.raises(Crash):
        run_header_update(
            path, plan, backup_dir=path.parent, hooks=WriteHooks(after_write=after_write)
        )
    report = read_report(path)
    # After the first write, the freshly written slot is current (it has the higher number).
    assert report.current_header == (plan.first.slot if stop_after == 0 else plan.second.slot)
    check_consistent(path, expected, dwg)
    finish(path, from_slot)
    check_consistent(path, expected, dwg)


TEAR_POINTS = [0, 1, 8, 511, 512, 1024, 2048, 3584, 4095]


@pytest.mark.parametrize("write_index", [0, 1])
@pytest.mark.parametrize("kept", TEAR_POINTS)
def test_torn_write(image: tuple[Path, int | None], write_index: int, kept: int) -> None:
    path, from_slot = image
    expected = virtual_digest(path)
    dwg = reports.effective_header(path).data_write_guid
    plan = plan_header_update(read_report(path), from_slot=from_slot)
    assert not isinstance(plan, Refusal)

    def tear(i: int, w: PlannedWrite) -> bytes:
        return w.data[:kept] if i == write_index else w.data

    # A tear past the 80 defined bytes may leave the slot complete when the old reserved
    # bytes were zero too; then the update simply succeeds. Either way the image must hold.
    with contextlib.suppress(WriteFailed):
        run_header_update(path, plan, backup_dir=path.parent, hooks=WriteHooks(tear=tear))
    check_consistent(path, expected, dwg)
    finish(path, from_slot)
    check_consistent(path, expected, dwg)
