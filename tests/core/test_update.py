"""The header double update (§2.2.2.1) on real bytes, checked by our reader and by QEMU."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import damage
from tests.conftest import require
from tests.imagefiles import (
    data_segments,
    piece_digest,
    qemu_img_check,
    qemu_io,
    sparse_digest,
    virtual_disk_bytes,
)
from vhdxray.core.analysis.reader import Report, read_report
from vhdxray.core.format import layout
from vhdxray.core.outcome import Option, Suggestion
from vhdxray.core.write.backup import read_backup
from vhdxray.core.write.restore import plan_restore, run_restore
from vhdxray.core.write.update import (
    HeaderUpdatePlan,
    Refusal,
    plan_header_update,
    run_header_update,
)
from vhdxray.core.write.writer import WriteRefused

SLOTS = [(o, layout.HEADER_SIZE) for o in layout.HEADER_SLOT_OFFSETS]


def digest_outside(path: Path, ranges: list[tuple[int, int]]) -> tuple[int, str]:
    """A digest of the file with ``ranges`` zeroed (equal iff those bytes are equal): 'nothing
    else in the file changed'. Holes are skipped (imagefiles.piece_digest), so a sparse
    multi-GiB image costs what its data costs."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        fd = f.fileno()

        def read(at: int, n: int) -> bytes:
            data = bytearray(os.pread(fd, n, at))
            for offset, length in ranges:
                start, end = max(offset, at), min(offset + length, at + len(data))
                if start < end:
                    data[start - at : end - at] = bytes(end - start)
            return bytes(data)

        return piece_digest(size, read, list(data_segments(fd, size)))


def virtual_digest(path: Path) -> tuple[int, str]:
    """The virtual disk as QEMU reads it, digested without reading its holes."""
    raw = virtual_disk_bytes(path, path.with_suffix(".raw"))
    try:
        return sparse_digest(raw)
    finally:
        raw.unlink()


def plan_for(
    path: Path, *, from_slot: int | None = None, new_data_write_guid: bool = False
) -> HeaderUpdatePlan:
    plan = plan_header_update(
        read_report(path), from_slot=from_slot, new_data_write_guid=new_data_write_guid
    )
    assert not isinstance(plan, Refusal), plan
    return plan


def assert_updated(report: Report, plan: HeaderUpdatePlan) -> None:
    assert report.headers is not None
    h1, h2 = report.headers
    assert h1.valid and h2.valid
    assert report.current_header == plan.second.slot
    first, second = report.headers[plan.first.slot - 1], report.headers[plan.second.slot - 1]
    assert (first.sequence_number, second.sequence_number) == (
        plan.first.sequence_number,
        plan.second.sequence_number,
    )
    assert second.sequence_number == first.sequence_number + 1
    for h in (h1, h2):
        assert h.file_write_guid == plan.file_write_guid
        assert h.data_write_guid == plan.data_write_guid
        assert h.log_guid == plan.log_guid
        assert (h.version, h.log_version) == (1, 0)
        assert h.reserved_zero
    assert not [f for f in report.findings if f.code.startswith("header.")], report.findings


@pytest.fixture
def data_image(qemu_image: Callable[..., Path]) -> Path:
    """A qemu-img dynamic image with data in three places (written by qemu-io)."""
    path = qemu_image("64M", "block_size=1M")
    qemu_io(path, "write -P 0xa5 0 3M", "write -P 0x5a 20M 1M", "write -P 0x11 63M 512k")
    return path


def _slot_written(slot: int, offset: int, data: bytes) -> Callable[[Path], int | None]:
    def damage_it(p: Path) -> int | None:
        damage.write_at(p, layout.HEADER_SLOT_OFFSETS[slot - 1] + offset, data)
        return None

    return damage_it


def _checksum_broken(slot: int) -> Callable[[Path], int | None]:
    def damage_it(p: Path) -> int | None:
        damage.break_header_checksum(p, slot)
        return None

    return damage_it


def _equal_identical(p: Path) -> int | None:
    damage.copy_header(p, 2, 1)
    return 1


def _equal_different(p: Path) -> int | None:
    damage.copy_header(p, 2, 1)
    damage.set_header_field(p, 1, "data_write_guid", uuid.UUID(int=7))
    return 2


def _version_2(p: Path) -> int | None:
    damage.set_header_field(p, 2, "version", 2)
    return 2


def _healthy(p: Path) -> int | None:
    return None


DAMAGES: dict[str, Callable[[Path], int | None]] = {
    "slot1-checksum": _checksum_broken(1),
    "slot2-checksum": _checksum_broken(2),
    "slot1-signature": _slot_written(1, 0, b"HEAD"),
    "slot2-zeroed": _slot_written(2, 0, bytes(layout.HEADER_SIZE)),
    "slot1-reserved-garbage": _slot_written(1, 3000, b"garbage"),
    "equal-identical": _equal_identical,
    "equal-different": _equal_different,
    "version-2": _version_2,
    "healthy": _healthy,
}
"""Each damages the image and returns the slot to update from (None: the current one)."""


@pytest.mark.parametrize("case", list(DAMAGES))
def test_update_repairs_and_keeps_virtual_disk(data_image: Path, case: str) -> None:
    require("qemu-io", "qemu-utils")
    before_virtual = virtual_digest(data_image)
    from_slot = DAMAGES[case](data_image)
    before_rest = digest_outside(data_image, SLOTS)
    report = read_report(data_image)
    plan = plan_for(data_image, from_slot=from_slot)
    assert report.headers is not None
    expected_base = report.headers[plan.base_slot - 1]
    outcome = run_header_update(data_image, plan, backup_dir=data_image.parent)
    after = outcome.report
    assert_updated(after, plan)
    assert plan.data_write_guid == expected_base.data_write_guid
    assert plan.log_guid == expected_base.log_guid
    assert plan.first.sequence_number == expected_base.sequence_number + 1
    # Nothing outside the two 4 KiB header structures changed...
    assert digest_outside(data_image, SLOTS) == before_rest
    # ...and the independent reader agrees: the image checks clean, the disk reads the same.
    check = qemu_img_check(data_image)
    assert check.returncode == 0, check.stdout + check.stderr
    assert virtual_digest(data_image) == before_virtual
    reads = qemu_io(
        data_image,
        "read -P 0xa5 0 3M",
        "read -P 0x5a 20M 1M",
        "read -P 0x11 63M 512k",
        "read -P 0 3M 17M",
    )
    assert "Pattern verification failed" not in reads and reads.count("read ") == 4
    backup = read_backup(outcome.result.backup_path)
    assert sorted((o, len(b)) for o, b, _ in backup.ranges) == SLOTS


def test_slot_order_follows_the_current_header(data_image: Path) -> None:
    report = read_report(data_image)
    current = report.current_header
    assert current is not None
    plan = plan_for(data_image)
    assert (plan.first.slot, plan.second.slot) == (3 - current, current)
    damage.break_header_checksum(data_image, current)
    plan = plan_for(data_image)
    assert (plan.first.slot, plan.second.slot) == (current, 3 - current)


def test_new_data_write_guid_is_the_same_in_both_slots(data_image: Path) -> None:
    old = read_report(data_image).effective_header
    assert old is not None
    plan = plan_for(data_image, new_data_write_guid=True)
    after = run_header_update(data_image, plan, backup_dir=data_image.parent).report
    assert after.headers is not None
    dwgs = {h.data_write_guid for h in after.headers}
    assert dwgs == {plan.data_write_guid} and old.data_write_guid not in dwgs


def test_vhdiinfo_reads_the_updated_image(data_image: Path) -> None:
    require("vhdiinfo", "libvhdi-utils")
    damage.break_header_checksum(data_image, 1)
    plan = plan_for(data_image)
    run_header_update(data_image, plan, backup_dir=data_image.parent)
    done = subprocess.run(["vhdiinfo", str(data_image)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "67108864 bytes" in done.stdout


@pytest.mark.parametrize(
    ("name", "from_slot"),
    [
        ("qemu-disk2vhd", 1),
        ("dissect-fixed", None),
        ("dissect-dynamic", None),
        ("velociraptor", None),
        ("qemu-dynamic-1g", None),
    ],
)
def test_update_on_real_images(
    real_image: Callable[[str], Path], name: str, from_slot: int | None
) -> None:
    require("qemu-img", "qemu-utils")
    path = real_image(name)
    before_virtual = virtual_digest(path)
    before_rest = digest_outside(path, SLOTS)
    plan = plan_for(path, from_slot=from_slot)
    after = run_header_update(path, plan, backup_dir=path.parent).report
    assert_updated(after, plan)
    assert digest_outside(path, SLOTS) == before_rest
    assert qemu_img_check(path).returncode == 0
    assert virtual_digest(path) == before_virtual


# --- refusals: nothing written --------------------------------------------------------------


def refusal(path: Path, *, from_slot: int | None = None) -> Refusal:
    result = plan_header_update(read_report(path), from_slot=from_slot)
    assert isinstance(result, Refusal)
    return result


def test_refuses_pending_log(real_image: Callable[[str], Path]) -> None:
    assert refusal(real_image("discutils-log-replay")).code == "log_replay_pending"


def test_refuses_without_current_header_unless_slot_chosen(data_image: Path) -> None:
    damage.copy_header(data_image, 2, 1)
    refused = refusal(data_image)
    assert refused.code == "no_current_header"
    # Core names the choice as data (the CLI renders the flag, the app its key), not a flag.
    assert refused.suggest == (Suggestion(Option.FROM_SLOT, 1), Suggestion(Option.FROM_SLOT, 2))
    assert "--" not in refused.reason


def test_refuses_a_damaged_source_slot(data_image: Path) -> None:
    damage.break_header_checksum(data_image, 1)
    damage.break_header_checksum(data_image, 2)
    assert refusal(data_image).code == "no_current_header"
    assert refusal(data_image, from_slot=1).code == "from_slot_invalid"


def test_refuses_from_slot_when_another_is_current(data_image: Path) -> None:
    current = read_report(data_image).current_header
    assert current is not None
    assert refusal(data_image, from_slot=3 - current).code == "from_slot_not_current"


def test_refuses_unsupported_version_by_default(data_image: Path) -> None:
    damage.set_header_field(data_image, 2, "version", 2)
    damage.set_header_field(data_image, 1, "version", 2)
    assert refusal(data_image).code == "unsupported_version"


def test_refuses_sequence_overflow(data_image: Path) -> None:
    damage.set_header_field(data_image, 1, "sequence_number", (1 << 64) - 2)
    damage.break_header_checksum(data_image, 2)
    assert refusal(data_image).code == "sequence_overflow"


def test_refuses_non_vhdx_and_truncated(tmp_path: Path, data_image: Path) -> None:
    other = tmp_path / "raw.img"
    other.write_bytes(bytes(4096))
    assert refusal(other).code == "not_vhdx"
    damage.truncate(data_image, 100 * 1024)
    assert refusal(data_image).code == "truncated"


def test_refuses_when_the_image_changed_after_planning(data_image: Path) -> None:
    plan = plan_for(data_image)
    damage.set_header_field(data_image, plan.first.slot, "sequence_number", 99)
    before = data_image.read_bytes()
    with pytest.raises(WriteRefused, match="changed since"):
        run_header_update(data_image, plan, backup_dir=data_image.parent)
    assert data_image.read_bytes() == before
    assert not list(data_image.parent.glob("*.vhdxray-backup-*"))


def test_refuses_while_qemu_nbd_holds_the_image(data_image: Path, tmp_path: Path) -> None:
    require("qemu-nbd", "qemu-utils")
    sock = tmp_path / "nbd.sock"
    server = subprocess.Popen(
        ["qemu-nbd", "-k", str(sock), "-f", "vhdx", str(data_image)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sock.exists(), "qemu-nbd did not start"
        plan = plan_for(data_image)
        before = data_image.read_bytes()
        with pytest.raises(WriteRefused, match="in use by QEMU"):
            run_header_update(data_image, plan, backup_dir=tmp_path)
        assert data_image.read_bytes() == before
    finally:
        server.terminate()
        server.wait(timeout=10)
    run_header_update(data_image, plan_for(data_image), backup_dir=tmp_path)  # free again


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file modes")
def test_refuses_a_read_only_file(data_image: Path) -> None:
    data_image.chmod(0o444)
    with pytest.raises(WriteRefused, match="for writing"):
        run_header_update(data_image, plan_for(data_image), backup_dir=data_image.parent)


def test_refuses_when_the_backup_cannot_be_written(data_image: Path, tmp_path: Path) -> None:
    before = data_image.read_bytes()
    with pytest.raises(WriteRefused, match="backup"):
        run_header_update(data_image, plan_for(data_image), backup_dir=tmp_path / "missing")
    assert data_image.read_bytes() == before


# --- restore --------------------------------------------------------------------------------


def test_restore_puts_every_byte_back(data_image: Path) -> None:
    damage.break_header_checksum(data_image, 2)
    original = data_image.read_bytes()
    outcome = run_header_update(data_image, plan_for(data_image), backup_dir=data_image.parent)
    assert data_image.read_bytes() != original
    plan = plan_restore(outcome.result.backup_path)
    assert plan.ranges_to_restore == 2
    result = run_restore(plan, backup_dir=data_image.parent)
    assert result is not None
    assert data_image.read_bytes() == original
    # Restoring again finds nothing to do; the restore itself has a backup (undo the undo).
    assert plan_restore(outcome.result.backup_path).ranges_to_restore == 0
    run_restore(plan_restore(result.backup_path), backup_dir=data_image.parent)
    assert read_report(data_image).current_header == outcome.plan.second.slot


def test_restore_refuses_an_image_that_changed(data_image: Path, tmp_path: Path) -> None:
    outcome = run_header_update(data_image, plan_for(data_image), backup_dir=data_image.parent)
    run_header_update(data_image, plan_for(data_image), backup_dir=data_image.parent)
    with pytest.raises(WriteRefused, match="changed since"):
        plan_restore(outcome.result.backup_path)
    other = tmp_path / "other.vhdx"
    shutil.copyfile(data_image, other)
    damage.truncate(other, 5 * layout.MiB)
    with pytest.raises(WriteRefused, match="bytes"):
        plan_restore(outcome.result.backup_path, other)


def test_unsupported_version_can_be_rebuilt_from_the_older_slot(data_image: Path) -> None:
    """Issue 4: a current header with an unsupported Version: update from a chosen slot."""
    current = read_report(data_image).current_header
    assert current is not None
    older = 3 - current
    damage.set_header_field(data_image, current, "version", 2)
    refused = refusal(data_image)
    assert refused.code == "unsupported_version" and "--" not in refused.reason
    assert refused.suggest == (
        Suggestion(Option.FROM_SLOT, older),
        Suggestion(Option.FROM_SLOT, current),
    )
    before_virtual = virtual_digest(data_image)
    plan = plan_for(data_image, from_slot=older)
    assert (plan.first.slot, plan.second.slot) == (current, older)
    assert any("declares Version 2" in n for n in plan.notes)
    after = run_header_update(data_image, plan, backup_dir=data_image.parent).report
    assert_updated(after, plan)
    assert qemu_img_check(data_image).returncode == 0
    assert virtual_digest(data_image) == before_virtual


def test_log_version_with_a_log_guid_is_refused_by_default(data_image: Path) -> None:
    for slot in (1, 2):
        damage.set_header_field(data_image, slot, "log_version", 1)
        damage.set_header_field(data_image, slot, "log_guid", uuid.UUID(int=5))
    assert refusal(data_image).code == "unsupported_log_version"
    current = read_report(data_image).current_header
    plan = plan_for(data_image, from_slot=current)
    assert any("LogVersion 1 will be written as 0" in n for n in plan.notes)
