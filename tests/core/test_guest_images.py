"""Guest triage through the real virtual-disk reader: every real image in ../shared named
correctly, VHDX containers made by qemu-img convert from guest disks made in the run, a dirty-log
image whose partition table exists only in the log, and the CLI's Inside block and JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.guestimages import MKFS, MiB, RawReader, make_fs, require_tool, run, to_vhdx
from tests.imagefiles import virtual_disk_bytes
from vhdxray.core.analysis.guest import triage
from vhdxray.core.analysis.guest.base import VirtualReader
from vhdxray.core.analysis.guest.image import inspect_image
from vhdxray.core.analysis.guest.triage import GuestReport
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.analysis.virtual import open_virtual_disk
from vhdxray.tui.cli import main

# image -> (partition table, the filesystem of each partition, or of the bare disk)
REAL: dict[str, tuple[str, list[str | None]]] = {
    "dissect-fixed": ("mbr", ["ntfs"]),
    "dissect-dynamic": ("mbr", ["ntfs"]),
    "velociraptor": ("gpt", ["ntfs"]),
    "discutils-btrfs": ("mbr", ["btrfs"]),
    "discutils-lvm2": ("gpt", ["lvm2"]),
    "discutils-swap": ("none", ["swap"]),
    "discutils-xfs": ("gpt", ["xfs"]),
    "discutils-xfs5": ("mbr", ["xfs"]),
    "coreos-config2": ("mbr", ["fat32"]),
    "qemu-disk2vhd": ("mbr", [None]),
    "discutils-log-replay": ("mbr", [None, None]),
}


class Counting:
    """Wraps a reader and counts the bytes triage asks for."""

    def __init__(self, inner: VirtualReader) -> None:
        self.inner = inner
        self.size = inner.size
        self.bytes_read = 0

    def read(self, offset: int, length: int) -> bytes:
        self.bytes_read += length
        return self.inner.read(offset, length)


def layout(report: GuestReport) -> tuple[str, list[str | None]]:
    if report.partition_table == "none":
        return "none", [report.filesystem.type if report.filesystem else None]
    return report.partition_table, [
        p.filesystem.type if p.filesystem else None for p in report.partitions
    ]


def triage_counted(path: Path) -> tuple[GuestReport, int]:
    with open_virtual_disk(path) as disk:
        counter = Counting(disk)
        report = triage(counter, sector_size=disk.logical_sector_size)
        return report, counter.bytes_read


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_images_named_correctly(real_image: Callable[[str], Path], name: str) -> None:
    image = real_image(name)
    report, read = triage_counted(image)
    assert layout(report) == REAL[name]
    assert read < 2 * MiB  # "typically under 2 MiB per image"
    assert not report.flags["gpt_primary_bad"] and not report.flags["gpt_backup_bad"]


def test_real_images_agree_with_qemu(real_image: Callable[[str], Path], tmp_path: Path) -> None:
    """The same triage on the raw disk qemu-img writes gives the same answer."""
    require_tool("qemu-img", "qemu-utils")
    for name in ("velociraptor", "discutils-btrfs", "discutils-lvm2", "discutils-xfs5"):
        image = real_image(name)
        raw = virtual_disk_bytes(image, tmp_path / f"{name}.raw")
        reader = RawReader(raw)
        try:
            from_raw = triage(reader)
        finally:
            reader.close()
        ours, _ = triage_counted(image)
        assert from_raw.to_json() | {"bytes_read": 0} == ours.to_json() | {"bytes_read": 0}
        os.unlink(raw)


def test_real_lvm2_names_its_volume_group(real_image: Callable[[str], Path]) -> None:
    report, _ = triage_counted(real_image("discutils-lvm2"))
    fs = report.partitions[0].filesystem
    assert fs is not None and fs.type == "lvm2"
    assert fs.label and fs.details["logical_volumes"]
    assert fs.flags["label_checksum_bad"] is False


def test_dirty_log_image_partition_table_only_in_the_log(
    real_image: Callable[[str], Path],
) -> None:
    """DiscUtils' Windows-made image: its BAT maps nothing until the log is replayed; the MBR
    with two Linux partitions exists only in the log. Triage sees it (log applied in memory)
    and leaves the file untouched."""
    image = real_image("discutils-log-replay")
    before = image.read_bytes()
    report = read_report(image)
    assert report.log is not None and report.log.replay_needed
    assert report.bat is not None and report.bat.allocated_blocks == 0
    outcome = inspect_image(image, report)
    assert outcome.guest is not None
    assert outcome.guest.partition_table == "mbr"
    assert [p.type for p in outcome.guest.partitions] == ["0x83", "0x83"]
    assert image.read_bytes() == before


@pytest.mark.parametrize("kind", sorted(MKFS))
def test_vhdx_made_by_qemu_img(tmp_path: Path, kind: str) -> None:
    raw = make_fs(tmp_path / f"{kind}.img", kind)
    reader = RawReader(raw)
    try:
        expected = triage(reader)
    finally:
        reader.close()
    image = to_vhdx(raw, tmp_path / f"{kind}.vhdx")
    report, read = triage_counted(image)
    assert report.filesystem is not None and report.filesystem.type == kind
    assert report.to_json() | {"bytes_read": 0} == expected.to_json() | {"bytes_read": 0}
    assert read < 2 * MiB


def test_differencing_without_parent_says_why(real_image: Callable[[str], Path]) -> None:
    outcome = inspect_image(real_image("dissect-differencing"))
    assert outcome.guest is None
    assert outcome.error_code == "parent_missing"


def _ext4_needing_recovery(tmp_path: Path) -> Path:
    require_tool("debugfs", "e2fsprogs")
    raw = make_fs(tmp_path / "ext4.img", "ext4")
    run("debugfs", "-w", "-R", "feature needs_recovery", str(raw))
    return to_vhdx(raw, tmp_path / "ext4.vhdx")


def test_check_json_carries_guest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = _ext4_needing_recovery(tmp_path)
    code = main(["check", str(image), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0  # the container is fine: guest findings do not change the exit code
    guest = doc["guest"]
    assert doc["guest_error"] is None
    assert set(guest) >= {"partition_table", "blank", "filesystem", "partitions", "flags"}
    assert guest["partition_table"] == "none" and guest["blank"] is False
    fs = guest["filesystem"]
    assert set(fs) >= {"type", "label", "uuid", "size", "flags"}
    assert fs["type"] == "ext4" and fs["label"] == "lab-ext4"
    assert fs["flags"]["needs_recovery"] is True
    assert guest["flags"]["gpt_primary_bad"] is False
    (finding,) = guest["findings"]
    assert finding["code"] == "guest.ext.needs_recovery"
    assert "e2fsck -f" in finding["next_step"]
    assert guest["headline"] == "container OK; ext4 needs recovery"


def test_info_text_has_the_inside_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = _ext4_needing_recovery(tmp_path)
    assert main(["info", str(image)]) == 0
    out = capsys.readouterr().out
    assert "Layers:    container OK; ext4 needs recovery" in out
    assert "Inside:    no partition table; ext4 'lab-ext4'" in out
    assert "needs_recovery=yes" in out
    assert f"wsl --mount --vhd {image} --bare" in out
    assert main(["info", str(image), "--no-guest"]) == 0
    assert "Inside:" not in capsys.readouterr().out


def test_gpt_primary_bad_through_vhdx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("sgdisk", "gdisk")
    raw = tmp_path / "gpt.img"
    with open(raw, "wb") as f:
        f.truncate(64 * MiB)
    run("sgdisk", "-n1:2048:0", "-t1:0700", "-c1:Profile-jdoe", str(raw))
    with open(raw, "r+b") as f:
        f.seek(512 + 0x38)
        f.write(b"\xff\xff")
    image = to_vhdx(raw, tmp_path / "gpt.vhdx")
    assert main(["check", str(image), "--json"]) == 0
    guest = json.loads(capsys.readouterr().out)["guest"]
    assert guest["flags"]["gpt_primary_bad"] is True
    assert guest["flags"]["gpt_backup_bad"] is False
    assert guest["partitions"][0]["name"] == "Profile-jdoe"
    assert "sgdisk" in guest["findings"][0]["next_step"]


def test_check_chain_looks_inside_through_the_parent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh differencing child holds nothing itself: its guest is the parent's ext4."""
    parent = _ext4_needing_recovery(tmp_path)
    child = tmp_path / "child.avhdx"
    assert main(["create", str(child), "--parent", str(parent)]) == 0
    capsys.readouterr()
    assert main(["check", str(child), "--parent", str(parent), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["guest"]["filesystem"]["type"] == "ext4"
    assert doc["guest"]["filesystem"]["flags"]["needs_recovery"] is True
    assert main(["check", str(child), "--parent", str(parent)]) == 0
    assert "Inside:    no partition table; ext4" in capsys.readouterr().out


def test_summary_for_tables(tmp_path: Path) -> None:
    """GuestReport.summary(): the compact, word-free line for fleet tables (scan's Inside)."""
    outcome = inspect_image(_ext4_needing_recovery(tmp_path))
    assert outcome.guest is not None
    assert outcome.guest.summary() == "none: ext4[needs_recovery]"
