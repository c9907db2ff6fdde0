"""Guest triage on filesystems made in the run by the real tools, compared with blkid, with
health flags set by the real tools (debugfs) or by editing the on-disk structures properly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.guestimages import (
    MKFS,
    MiB,
    RawReader,
    blkid,
    make_fs,
    read_at,
    require_tool,
    run,
    set_ntfs_volume_dirty,
    write_at,
)
from vhdxray.core.analysis.guest import triage
from vhdxray.core.analysis.guest.base import VOLUME_BUDGET
from vhdxray.core.analysis.guest.triage import GuestReport

BLKID_TYPE = {"fat12": "vfat", "fat16": "vfat", "fat32": "vfat"}


def inspect(path: Path) -> tuple[GuestReport, RawReader]:
    reader = RawReader(path)
    try:
        return triage(reader), reader
    finally:
        reader.close()


def codes(report: GuestReport) -> set[str]:
    return {f.code for f in report.findings}


@pytest.mark.parametrize("kind", sorted(MKFS))
def test_bare_filesystem_named_like_blkid(tmp_path: Path, kind: str) -> None:
    image = make_fs(tmp_path / f"{kind}.img", kind)
    report, reader = inspect(image)
    assert report.partition_table == "none"
    assert not report.blank
    fs = report.filesystem
    assert fs is not None
    assert fs.type == kind
    theirs = blkid(image)
    assert BLKID_TYPE.get(kind, kind) == theirs["TYPE"]
    assert fs.label == theirs.get("LABEL")
    assert (fs.uuid or "").lower() == theirs.get("UUID", "").lower()
    if kind.startswith("fat"):
        assert theirs["VERSION"] == kind.upper()
    assert fs.size is not None
    assert 0 < fs.size <= image.stat().st_size
    assert not any(fs.flags.values()), fs.flags  # fresh filesystems are healthy
    assert report.level == "ok", report.findings
    # What it costs: bounded, and far below the budget for one filesystem.
    assert reader.bytes_read < 2 * MiB
    assert reader.bytes_read <= VOLUME_BUDGET + MiB


def test_ext4_needs_recovery_and_errors_set_by_debugfs(tmp_path: Path) -> None:
    require_tool("debugfs", "e2fsprogs")
    image = make_fs(tmp_path / "ext4.img", "ext4")
    clean, _ = inspect(image)
    assert clean.filesystem is not None
    assert clean.filesystem.flags["needs_recovery"] is False
    assert clean.filesystem.flags["errors"] is False
    assert clean.filesystem.times["last_check"] is not None
    run("debugfs", "-w", "-R", "feature needs_recovery", str(image))
    report, _ = inspect(image)
    assert report.filesystem is not None
    assert report.filesystem.flags["needs_recovery"] is True
    assert report.filesystem.flags["errors"] is False
    assert report.filesystem.flags["checksum_bad"] is False  # debugfs rewrote the checksum
    assert codes(report) == {"guest.ext.needs_recovery"}
    run("debugfs", "-w", "-R", "ssv state 2", str(image))
    run("debugfs", "-w", "-R", "ssv error_count 5", str(image))
    report, _ = inspect(image)
    assert report.filesystem is not None
    assert report.filesystem.flags["errors"] is True
    assert report.filesystem.details["error_count"] == 5
    assert codes(report) == {"guest.ext.needs_recovery", "guest.ext.errors"}
    assert report.level == "error"
    # dumpe2fs (an independent reader) sees the same state
    require_tool("dumpe2fs", "e2fsprogs")
    header = run("dumpe2fs", "-h", str(image))
    assert "not clean with errors" in header
    assert "needs_recovery" in header


def test_ext4_superblock_checksum(tmp_path: Path) -> None:
    image = make_fs(tmp_path / "ext4.img", "ext4")
    label_at = 1024 + 0x78
    write_at(image, label_at, b"tampered")
    report, _ = inspect(image)
    assert report.filesystem is not None
    assert report.filesystem.flags["checksum_bad"] is True
    assert "guest.ext.checksum_bad" in codes(report)
    require_tool("dumpe2fs", "e2fsprogs")
    probe = subprocess.run(["dumpe2fs", "-h", str(image)], capture_output=True, text=True)
    assert "checksum" in (probe.stderr + probe.stdout).lower()


def test_ext_types(tmp_path: Path) -> None:
    for kind in ("ext2", "ext3", "ext4"):
        report, _ = inspect(make_fs(tmp_path / f"{kind}.img", kind))
        assert report.filesystem is not None and report.filesystem.type == kind


def test_ntfs_dirty_bit_in_mft_and_mirror(tmp_path: Path) -> None:
    require_tool("ntfsinfo", "ntfs-3g")
    image = make_fs(tmp_path / "ntfs.img", "ntfs")
    clean, _ = inspect(image)
    assert clean.filesystem is not None
    assert clean.filesystem.flags["dirty"] is False
    assert clean.filesystem.flags["backup_boot_mismatch"] is False
    set_ntfs_volume_dirty(image)
    # ntfs-3g reads the record through its fix-ups too and sees the flag
    assert "Volume Flags: 0x0001 DIRTY" in run("ntfsinfo", "-f", "-m", str(image))
    report, _ = inspect(image)
    fs = report.filesystem
    assert fs is not None and fs.type == "ntfs"
    assert fs.flags["dirty"] is True
    assert fs.flags["volume_record_bad"] is False
    assert fs.label == "lab-ntfs"
    assert codes(report) == {"guest.ntfs.dirty"}
    # ntfsfix -d clears the bit again: triage follows
    run("ntfsfix", "-d", str(image))
    after, _ = inspect(image)
    assert after.filesystem is not None and after.filesystem.flags["dirty"] is False


def test_ntfs_backup_boot_sector_and_torn_volume_record(tmp_path: Path) -> None:
    image = make_fs(tmp_path / "ntfs.img", "ntfs")
    size = image.stat().st_size
    backup = read_at(image, size - 512, 512)
    assert backup == read_at(image, 0, 512)
    write_at(image, size - 512 + 0x48, b"\xff" * 8)  # the backup's serial number
    report, _ = inspect(image)
    assert report.filesystem is not None
    assert report.filesystem.flags["backup_boot_mismatch"] is True
    assert "guest.ntfs.backup_boot_mismatch" in codes(report)
    boot = read_at(image, 0, 512)
    cluster = int.from_bytes(boot[11:13], "little") * boot[13]
    record = int.from_bytes(boot[0x30:0x38], "little") * cluster + 3 * 1024
    write_at(image, record + 510, b"\x00\x00")  # a torn sector: the fix-up check fails
    report, _ = inspect(image)
    assert report.filesystem is not None
    assert report.filesystem.flags["volume_record_bad"] is True
    assert "guest.ntfs.volume_record_bad" in codes(report)


def test_fat_dirty_bits(tmp_path: Path) -> None:
    for kind, flag_at in (("fat16", 37), ("fat32", 65)):
        image = make_fs(tmp_path / f"{kind}.img", kind)
        write_at(image, flag_at, b"\x01")  # the boot sector's "volume dirty" bit (Windows NT)
        report, _ = inspect(image)
        assert report.filesystem is not None
        assert report.filesystem.flags["dirty"] is True
        assert "guest.fat.dirty" in codes(report)
        require_tool("fsck.fat", "dosfstools")
        check = subprocess.run(["fsck.fat", "-n", str(image)], capture_output=True, text=True)
        assert "dirty" in check.stdout.lower()


def test_exfat_volume_dirty(tmp_path: Path) -> None:
    image = make_fs(tmp_path / "exfat.img", "exfat")
    write_at(image, 106, b"\x02\x00")  # VolumeFlags.VolumeDirty (outside the boot checksum)
    report, _ = inspect(image)
    fs = report.filesystem
    assert fs is not None and fs.flags["dirty"] is True
    assert fs.flags["boot_checksum_bad"] is False
    assert fs.flags["backup_boot_mismatch"] is False
    assert codes(report) == {"guest.exfat.dirty"}
    write_at(image, 120, b"\xff")  # inside the checksummed range
    report, _ = inspect(image)
    assert report.filesystem is not None and report.filesystem.flags["boot_checksum_bad"] is True


@pytest.mark.parametrize(("kind", "at"), [("xfs", 108), ("btrfs", 64 * 1024 + 0x12B)])
def test_superblock_checksums(tmp_path: Path, kind: str, at: int) -> None:
    image = make_fs(tmp_path / f"{kind}.img", kind)
    write_at(image, at, b"X")  # the label's first byte: covered by the checksum
    report, _ = inspect(image)
    assert report.filesystem is not None
    assert report.filesystem.flags["checksum_bad"] is True
    assert f"guest.{kind}.checksum_bad" in codes(report)


def test_ext_backup_superblock_under_ntfs_is_the_reformat_trap(tmp_path: Path) -> None:
    """Disk Management formatted NTFS over an ext4 disk: the ext4 backup superblocks remain."""
    image = make_fs(tmp_path / "disk.img", "ext4", 160 * MiB)
    run("mkfs.ext4", "-q", "-F", "-b", "4096", str(image))  # 4 KiB blocks: group 1 at 128 MiB
    tool, package, cmd = MKFS["ntfs"]
    require_tool(tool, package)
    run(*cmd, str(image))
    report, _ = inspect(image)
    assert report.filesystem is not None and report.filesystem.type == "ntfs"
    assert report.filesystem.flags["ext_backup_superblock"] is True
    trap = [f for f in report.findings if f.code == "guest.trap.ext_under_windows_fs"]
    assert trap and trap[0].params["backup_block"] == 32768
    # e2fsck finds the same backup superblock
    check = subprocess.run(
        ["e2fsck", "-n", "-b", "32768", "-B", "4096", str(image)], capture_output=True, text=True
    )
    assert "Bad magic number" not in check.stdout + check.stderr


def test_blank_disk(tmp_path: Path) -> None:
    image = tmp_path / "blank.img"
    with open(image, "wb") as f:
        f.truncate(64 * MiB)
    report, reader = inspect(image)
    assert report.blank is True
    assert report.filesystem is None and report.partitions == []
    assert codes(report) == {"guest.blank"}
    assert reader.bytes_read <= 2 * MiB
    write_at(image, 5 * 1024, b"something")
    report, _ = inspect(image)
    assert report.blank is False
    assert codes(report) == {"guest.unrecognised"}


def test_small_fat32_is_fat32_not_fat16(tmp_path: Path) -> None:
    # mkfs.fat -F 32 on 20 MiB makes a FAT32 volume of ~40000 clusters (under the spec's
    # 65525): Windows, Linux and fsck.fat read it as FAT32 (16-bit FAT size zero). Read as
    # FAT16 its label and serial were lost and FAT[1] was read at the wrong place, so a clean
    # volume was reported dirty with a "hard disk error".
    image = make_fs(tmp_path / "fat32.img", "fat32", 20 * MiB)
    report, _ = inspect(image)
    fs = report.filesystem
    assert fs is not None
    assert fs.details["clusters"] < 65525
    assert (fs.type, fs.label) == ("fat32", "LABFAT32")
    assert fs.uuid == blkid(image)["UUID"]
    assert fs.flags["dirty"] is False and fs.flags["errors"] is False
    assert not {"guest.fat.dirty", "guest.fat.errors"} & codes(report)


@pytest.mark.parametrize(("kind", "bpb_label_at"), [("fat16", 43), ("fat32", 71)])
def test_fat_label_from_the_root_directory(tmp_path: Path, kind: str, bpb_label_at: int) -> None:
    # Windows (label, Explorer) writes the label as the root directory's volume-label entry
    # and leaves the boot sector's "NO NAME"; blkid and fatlabel read the entry first. Only
    # the boot sector was read, so such a volume showed no label.
    image = make_fs(tmp_path / f"{kind}.img", kind)
    write_at(image, bpb_label_at, b"NO NAME    ")
    report, _ = inspect(image)
    fs = report.filesystem
    assert fs is not None and fs.type == kind
    assert fs.label == blkid(image)["LABEL"] == MKFS[kind][2][-1]


@pytest.mark.parametrize("kind", ["ext2", "ext4"])
def test_ext_not_cleanly_unmounted_without_journal(tmp_path: Path, kind: str) -> None:
    # Without a journal (ext2, ext4 -O ^has_journal) the kernel clears VALID_FS on mount: a
    # crash leaves "not clean", and e2fsck forces a full check. It was reported clean.
    require_tool("debugfs", "e2fsprogs")
    image = make_fs(tmp_path / f"{kind}.img", kind)
    if kind == "ext4":
        run("tune2fs", "-O", "^has_journal", str(image))
    clean, _ = inspect(image)
    assert clean.filesystem is not None and clean.filesystem.flags["not_clean"] is False
    run("debugfs", "-w", "-R", "ssv state 0", str(image))
    report, _ = inspect(image)
    fs = report.filesystem
    assert fs is not None and fs.type == kind
    assert fs.flags["not_clean"] is True
    assert fs.flags["errors"] is False and fs.flags["needs_recovery"] is False
    assert codes(report) == {"guest.ext.not_clean"}
    assert report.level == "warning"
    assert "Filesystem state:         not clean\n" in run("dumpe2fs", "-h", str(image))
    check = subprocess.run(["e2fsck", "-n", str(image)], capture_output=True, text=True)
    assert "was not cleanly unmounted, check forced" in check.stdout


def test_fat32_dirty_in_the_main_boot_sector_only_is_no_backup_mismatch(tmp_path: Path) -> None:
    # Linux (fat_set_state) and Windows NT set the dirty bit in the main boot sector only: a
    # FAT32 left mounted was also reported as "backup boot sector differs".
    image = make_fs(tmp_path / "fat32.img", "fat32")
    write_at(image, 65, b"\x01")
    report, _ = inspect(image)
    fs = report.filesystem
    assert fs is not None and fs.flags["dirty"] is True
    assert fs.flags["backup_boot_mismatch"] is False
    assert codes(report) == {"guest.fat.dirty"}
    write_at(image, 6 * 512 + 71, b"ZZ")  # a real difference (the label) in the backup
    report, _ = inspect(image)
    assert report.filesystem is not None
    assert report.filesystem.flags["backup_boot_mismatch"] is True
    require_tool("fsck.fat", "dosfstools")
    check = subprocess.run(["fsck.fat", "-n", str(image)], capture_output=True, text=True)
    assert "71:" in check.stdout
