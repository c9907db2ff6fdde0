"""Cases where a peer reader gets a damaged file wrong and vhdxray follows the spec.

Each test shows the peer's answer next to ours on the same bytes, so a change in either
is noticed. (See docs/PEERS.md.)
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from tests import damage
from tests.conftest import require
from tests.imagefiles import qemu_img_check, qemu_io
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.format.header import CurrentReason
from vhdxray.core.write.update import plan_header_update, run_header_update


def test_qemu_refuses_a_bad_first_region_table_copy(qemu_image: Callable[..., Path]) -> None:
    path = qemu_image("64M", "block_size=1M")
    qemu_io(path, "write -P 0x61 0 1M")
    damage.break_region_checksum(path, 1)
    # QEMU reads only copy 1 and gives up.
    assert qemu_img_check(path).returncode != 0
    # The spec gives the copies no precedence: copy 2 is intact, so the file is readable.
    report = read_report(path)
    assert report.active_region_table == 2
    assert report.bat is not None and report.bat.allocated_blocks == 1
    codes = {f.code for f in report.findings}
    assert {"region.copy1.checksum", "region.using_copy2"} <= codes


def test_libvhdi_uses_a_header_whose_checksum_fails(qemu_image: Callable[..., Path]) -> None:
    require("vhdiinfo", "libvhdi-utils")
    path = qemu_image("64M")
    report = read_report(path)
    current = report.current_header
    assert current is not None
    real = report.headers[current - 1].data_write_guid  # type: ignore[index]
    forged = uuid.UUID("deadbeef-0000-4000-8000-000000000001")
    # Change the current slot's DataWriteGuid without fixing its checksum: the slot is invalid.
    damage.set_header_field(path, current, "data_write_guid", forged, fix_crc=False)
    out = subprocess.run(["vhdiinfo", str(path)], capture_output=True, text=True).stdout
    assert str(forged) in out  # libvhdi never checks the header CRC and trusts the bad slot
    after = read_report(path)
    assert after.current_header == 3 - current
    assert after.effective_header is not None
    assert after.effective_header.data_write_guid == real


def test_identical_equal_headers_are_reported_not_hidden(real_image: Callable[[str], Path]) -> None:
    path = real_image("qemu-disk2vhd")
    # QEMU silently takes header 1 (its Disk2VHD exception)...
    assert qemu_img_check(path).returncode == 0
    # ...we say what the spec says (no current header), as a warning, and offer the fix.
    report = read_report(path)
    assert report.header_choice is not None
    assert report.header_choice.reason is CurrentReason.EQUAL_IDENTICAL
    assert {f.code: f.severity for f in report.findings}["header.equal_sequence_identical"] == (
        "warning"
    )


def test_our_update_fixes_what_qemu_would_copy_from_a_stale_slot(
    qemu_image: Callable[..., Path],
) -> None:
    """QEMU builds the first new header from the slot it overwrites (keeping its stale
    reserved bytes and fields); we build from the current header and zero the reserved area."""
    path = qemu_image("64M")
    report = read_report(path)
    stale = 3 - report.current_header  # type: ignore[operator]
    damage.write_at(path, layout.HEADER_SLOT_OFFSETS[stale - 1] + 2000, b"stale junk")
    damage.set_header_field(path, stale, "log_offset", 7 * layout.MiB, fix_crc=False)
    plan = plan_header_update(read_report(path))
    after = run_header_update(path, plan, backup_dir=path.parent).report  # type: ignore[arg-type]
    assert after.headers is not None
    for h in after.headers:
        assert h.valid and h.reserved_zero and h.log_offset == layout.MiB
    assert qemu_img_check(path).returncode == 0


def test_qemu_cannot_open_4096_byte_sector_images(tmp_path: Path) -> None:
    require("qemu-img", "qemu-utils")
    require("vhdiinfo", "libvhdi-utils")
    from vhdxray.core.write.create import CreateOptions, create_image

    path = create_image(
        tmp_path / "4k.vhdx", CreateOptions(64 * layout.MiB, logical_sector_size=4096)
    )
    assert "Operation not supported" in qemu_img_check(path).stderr
    out = subprocess.run(["vhdiinfo", str(path)], capture_output=True, text=True)
    assert out.returncode == 0 and "4096 bytes" in out.stdout
    assert not read_report(path).errors
