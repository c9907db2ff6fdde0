"""Partition tables made by sfdisk and sgdisk in the run, with filesystems placed in them;
damage made by editing the table bytes; sizes and names compared with what the tools print."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.guestimages import (
    MiB,
    RawReader,
    blkid,
    make_fs,
    place,
    read_at,
    require_tool,
    run,
    write_at,
)
from vhdxray.core.analysis.guest import triage
from vhdxray.core.analysis.guest.triage import GuestReport


def inspect(path: Path) -> GuestReport:
    reader = RawReader(path)
    try:
        report = triage(reader)
        assert reader.bytes_read < 2 * MiB
        return report
    finally:
        reader.close()


def codes(report: GuestReport) -> set[str]:
    return {f.code for f in report.findings}


def blank(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def sfdisk(path: Path, script: str, *extra: str) -> None:
    require_tool("sfdisk", "fdisk")
    subprocess.run(
        ["sfdisk", "-q", *extra, str(path)],
        input=script,
        text=True,
        check=True,
        capture_output=True,
    )


def sfdisk_json(path: Path) -> list[dict[str, object]]:
    out = json.loads(run("sfdisk", "--json", str(path)))
    parts: list[dict[str, object]] = out["partitiontable"]["partitions"]
    return parts


def test_mbr_with_extended_and_logical_partitions(tmp_path: Path) -> None:
    disk = blank(tmp_path / "mbr.img", 96 * MiB)
    sfdisk(disk, "label: dos\n,20M,83,*\n,20M,7\n,,5\n,20M,83\n,10M,82\n")
    place(disk, make_fs(tmp_path / "e.img", "ext4", 20 * MiB), 1 * MiB)
    place(disk, make_fs(tmp_path / "n.img", "ntfs", 20 * MiB), 21 * MiB)
    report = inspect(disk)
    assert report.partition_table == "mbr"
    theirs = sfdisk_json(disk)
    ours = {p.index: p for p in report.partitions}
    # sfdisk lists the extended container too; triage lists data partitions only
    for entry in theirs:
        index = int(str(entry["node"]).rsplit("img", 1)[1])
        if entry["type"] == "5":
            assert index not in ours
            continue
        p = ours[index]
        assert p.start == int(str(entry["start"])) * 512
        assert p.length == int(str(entry["size"])) * 512
        assert p.type == f"0x{int(str(entry['type']), 16):02x}"
    assert sorted(ours) == [1, 2, 5, 6]
    assert ours[1].bootable and not ours[2].bootable
    assert ours[5].logical and ours[6].logical
    assert ours[1].filesystem is not None and ours[1].filesystem.type == "ext4"
    assert ours[2].filesystem is not None and ours[2].filesystem.type == "ntfs"
    assert ours[5].filesystem is None and ours[6].filesystem is None
    assert codes(report) == {"guest.partition.empty"}


def test_mbr_overlap_and_past_end(tmp_path: Path) -> None:
    disk = blank(tmp_path / "mbr.img", 64 * MiB)
    sfdisk(disk, "label: dos\n,20M,83\n,20M,83\n")
    # partition 2 starts inside partition 1 (as a bad resize leaves it)
    entry2 = 446 + 16
    start1 = int.from_bytes(read_at(disk, 446 + 8, 4), "little")
    write_at(disk, entry2 + 8, (start1 + 2048).to_bytes(4, "little"))
    report = inspect(disk)
    assert report.flags["partition_overlap"] is True
    assert "guest.partition.overlap" in codes(report)
    # the disk is cut short: neither partition fits any more
    with open(disk, "r+b") as f:
        f.truncate(16 * MiB)
    report = inspect(disk)
    assert report.flags["partition_past_end"] is True
    past = [f for f in report.findings if f.code == "guest.partition.past_end"]
    assert sorted(f.params["index"] for f in past) == [1, 2]


def test_gpt_names_types_and_filesystems(tmp_path: Path) -> None:
    require_tool("sgdisk", "gdisk")
    disk = blank(tmp_path / "gpt.img", 96 * MiB)
    run(
        "sgdisk",
        "-n1:2048:+30M",
        "-t1:8300",
        "-c1:linux data",
        "-n2:0:+30M",
        "-t2:0700",
        "-c2:Profile-jdoe",
        "-n3:0:0",
        "-t3:8200",
        "-c3:swap",
        str(disk),
    )
    place(disk, make_fs(tmp_path / "x.img", "ext4", 30 * MiB), 1 * MiB)
    place(disk, make_fs(tmp_path / "n.img", "ntfs", 30 * MiB), 31 * MiB)
    report = inspect(disk)
    assert report.partition_table == "gpt"
    assert report.flags["gpt_primary_bad"] is False
    assert report.flags["gpt_backup_bad"] is False
    assert [p.name for p in report.partitions] == ["linux data", "Profile-jdoe", "swap"]
    assert [p.type_name for p in report.partitions] == [
        "Linux filesystem",
        "Microsoft basic data",
        "Linux swap",
    ]
    info = run("sgdisk", "-i", "2", str(disk))
    assert report.partitions[1].type.upper() in info
    fss = [p.filesystem.type if p.filesystem else None for p in report.partitions]
    assert fss == ["ext4", "ntfs", None]
    assert report.level == "info"  # the swap partition is empty


def _gpt_disk(tmp_path: Path) -> Path:
    require_tool("sgdisk", "gdisk")
    disk = blank(tmp_path / "gpt.img", 64 * MiB)
    run("sgdisk", "-n1:2048:+40M", "-t1:8300", "-c1:data", str(disk))
    place(disk, make_fs(tmp_path / "x.img", "ext4", 40 * MiB), 1 * MiB)
    return disk


def test_gpt_primary_broken_backup_good(tmp_path: Path) -> None:
    disk = _gpt_disk(tmp_path)
    write_at(disk, 512 + 0x38, b"\xff" * 4)  # inside the header: its CRC no longer matches
    report = inspect(disk)
    assert report.flags["gpt_primary_bad"] is True
    assert report.flags["gpt_backup_bad"] is False
    bad = [f for f in report.findings if f.code == "guest.gpt.primary_bad"]
    assert bad and bad[0].params["problem"] == "header_crc"
    assert report.partitions and report.partitions[0].name == "data"  # read from the backup
    assert report.partitions[0].filesystem is not None
    # sgdisk agrees: it finds the primary header damaged
    verify = subprocess.run(["sgdisk", "-v", str(disk)], capture_output=True, text=True)
    assert "main header" in (verify.stdout + verify.stderr).lower()


def test_gpt_primary_entries_broken(tmp_path: Path) -> None:
    disk = _gpt_disk(tmp_path)
    write_at(disk, 1024 + 56, "zz".encode("utf-16-le"))  # entry 1's name: array CRC fails
    report = inspect(disk)
    assert report.flags["gpt_primary_bad"] is True
    assert report.partitions[0].name == "data"
    bad = [f for f in report.findings if f.code == "guest.gpt.primary_bad"]
    assert bad[0].params["problem"] == "entry_array_crc"


def test_gpt_backup_broken_and_both_broken(tmp_path: Path) -> None:
    disk = _gpt_disk(tmp_path)
    size = disk.stat().st_size
    write_at(disk, size - 512, b"\0" * 512)
    report = inspect(disk)
    assert report.flags == {**report.flags, "gpt_primary_bad": False, "gpt_backup_bad": True}
    assert "guest.gpt.backup_bad" in codes(report)
    write_at(disk, 512, b"\0" * 8)
    report = inspect(disk)
    assert report.partition_table == "gpt"  # the protective MBR still says so
    assert report.flags["gpt_primary_bad"] and report.flags["gpt_backup_bad"]
    assert "guest.gpt.both_bad" in codes(report)


def test_gpt_disk_grown_and_entries_past_end(tmp_path: Path) -> None:
    disk = _gpt_disk(tmp_path)
    with open(disk, "r+b") as f:  # the virtual disk was expanded; the table was not moved
        f.truncate(128 * MiB)
    report = inspect(disk)
    assert report.flags["gpt_backup_bad"] is False
    assert "guest.gpt.backup_not_at_end" in codes(report)
    with open(disk, "r+b") as f:  # then shrunk below the partition's end
        f.truncate(20 * MiB)
    report = inspect(disk)
    assert report.flags["partition_past_end"] is True
    assert "guest.partition.past_end" in codes(report)


def test_partition_table_over_a_bare_ext4_disk(tmp_path: Path) -> None:
    """WSL's ext4.vhdx "initialised" by Disk Management: an MBR over the bare ext4."""
    disk = make_fs(tmp_path / "ext4.img", "ext4", 64 * MiB)
    sfdisk(disk, "label: dos\n,,7\n", "--wipe", "never")
    report = inspect(disk)
    assert report.partition_table == "mbr"
    trap = [f for f in report.findings if f.code == "guest.trap.table_over_filesystem"]
    assert trap and trap[0].params["fs"] == "ext4"


def _rewrite_gpt_array(disk: Path, array: bytes) -> None:
    """Put ``array`` in both GPT copies (primary at LBA 2, backup just before the backup
    header) with the entry count and both CRC-32s updated: a table every tool accepts."""
    import zlib

    size = disk.stat().st_size
    last = size // 512 - 1
    sectors = len(array) // 512
    for header_lba, array_lba in ((1, 2), (last, last - sectors)):
        header = bytearray(read_at(disk, header_lba * 512, 92))
        header[72:80] = array_lba.to_bytes(8, "little")
        header[80:84] = (len(array) // 128).to_bytes(4, "little")
        header[88:92] = zlib.crc32(array).to_bytes(4, "little")
        header[40:56] = (2 + sectors).to_bytes(8, "little") + (last - 1 - sectors).to_bytes(
            8, "little"
        )
        header[16:20] = bytes(4)
        header[16:20] = zlib.crc32(bytes(header)).to_bytes(4, "little")
        write_at(disk, header_lba * 512, bytes(header))
        write_at(disk, array_lba * 512, array)


def test_gpt_with_thousands_of_entries_reads_a_bounded_amount(tmp_path: Path) -> None:
    # A hostile (or corrupted-but-CRC-valid) GPT: 2048 entries, all at the same 8 MiB
    # partition. Each probe reads 68 KiB or more: unbounded, triage read ~140 MiB for a 16 MiB
    # disk. The probes stop at the disk budget; every partition is still listed.
    from vhdxray.core.analysis.guest.base import VOLUME_BUDGET
    from vhdxray.core.analysis.guest.triage import DISK_BUDGET

    require_tool("sgdisk", "gdisk")
    disk = blank(tmp_path / "many.img", 16 * MiB)
    run("sgdisk", "-n1:2048:+8M", str(disk))
    write_at(disk, 2048 * 512, b"\xa5" * MiB)  # data there, so nothing reads as blank
    entry = read_at(disk, 1024, 128)
    _rewrite_gpt_array(disk, entry * 2048)
    listed = sfdisk_json(disk)  # sfdisk (independent) accepts the table and lists them all
    assert len(listed) == 2048
    reader = RawReader(disk)
    try:
        report = triage(reader)
    finally:
        reader.close()
    assert len(report.partitions) == 2048
    assert reader.bytes_read <= DISK_BUDGET + VOLUME_BUDGET + MiB
    skipped = [f for f in report.findings if f.code == "guest.partition.not_probed"]
    assert len(skipped) == 1
    probed = skipped[0].params["first"] - 1
    assert probed > 0 and skipped[0].params["count"] == 2048 - probed
    assert report.partitions[probed - 1].filesystem is None  # probed: unrecognised data
    assert "guest.partition.unrecognised" in codes(report)


def test_disk_management_over_a_whole_disk_ext4_is_the_reformat_trap(tmp_path: Path) -> None:
    # WSL's ext4.vhdx (ext4 on the whole disk) attached on Windows: Disk Management's prompt
    # writes a GPT (over the primary superblock), a 16 MiB MSR and an NTFS partition. The
    # ext4 backup superblocks are still at their disk offsets, inside the NTFS partition;
    # they were looked for only at offsets from the partition's start, so nothing warned
    # (and a dirty NTFS got "chkdsk /f").
    from tests.guestimages import set_ntfs_volume_dirty
    from vhdxray.tui.guestwords import words

    require_tool("sgdisk", "gdisk")
    disk = make_fs(tmp_path / "ext4.vhdx.raw", "ext4", 192 * MiB)
    run("mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "wsl", str(disk))  # group 1 at 128 MiB
    run("sgdisk", "-o", "-n1:2048:32767", "-t1:0c01", "-n2:32768:0", "-t2:0700", str(disk))
    start = 32768 * 512
    end = int(run("sgdisk", "-i", "2", str(disk)).split("Last sector: ")[1].split()[0])
    ntfs = make_fs(tmp_path / "ntfs.img", "ntfs", (end + 1) * 512 - start)
    place(disk, ntfs, start)
    set_ntfs_volume_dirty(disk, start)
    report = inspect(disk)
    fs = report.partitions[1].filesystem
    assert fs is not None and fs.type == "ntfs" and fs.flags["dirty"] is True
    assert fs.flags["ext_backup_superblock"] is True
    trap = [f for f in report.findings if f.code == "guest.trap.ext_disk"]
    assert len(trap) == 1 and trap[0].where == "partition 2"
    assert (trap[0].params["backup_block"], trap[0].params["block_size"]) == (32768, 4096)
    assert "disk.raw" in words(trap[0]).next_step
    # e2fsck finds that backup superblock on the whole disk, as the next step says
    require_tool("e2fsck", "e2fsprogs")
    check = subprocess.run(
        ["e2fsck", "-n", "-b", "32768", "-B", "4096", str(disk)], capture_output=True, text=True
    )
    assert "Bad magic number" not in check.stdout + check.stderr
    assert "wsl" in check.stdout + check.stderr
    # and no finding about that NTFS tells to run chkdsk
    dirty = [f for f in report.findings if f.code == "guest.ntfs.dirty"]
    assert dirty and dirty[0].params["reformatted"] == "guest.trap.ext_disk"
    for f in report.findings:
        step = words(f).next_step
        assert "chkdsk /f" not in step and "chkdsk /r" not in step, (f.code, step)


def test_mbr_partitions_listed_in_sfdisk_order(tmp_path: Path) -> None:
    # The extended partition is entry 3 and a primary follows it as entry 4: the logical
    # partitions were listed between them (1, 2, 5, 6, 4), unlike sfdisk, fdisk and the app.
    disk = blank(tmp_path / "mbr.img", 200 * MiB)
    sfdisk(disk, "label: dos\n2048,20M,83\n,20M,c\n,120M,5\n,20M,83\n,20M,1\n,40M,83\n")
    theirs = [int(str(e["node"]).rsplit("img", 1)[1]) for e in sfdisk_json(disk)]
    assert theirs == [1, 2, 3, 4, 5, 6]
    report = inspect(disk)
    assert [p.index for p in report.partitions] == [i for i in theirs if i != 3]


def test_gpt_initialised_over_a_whole_disk_ext4(tmp_path: Path) -> None:
    # WSL's ext4.vhdx attached on Windows, "Initialize disk" clicked: a GPT (and an empty MSR)
    # over the ext4's first blocks. The table looked healthy and empty and nothing was
    # reported, while the ext4 is whole but for its primary superblock.
    from vhdxray.tui.guestwords import words

    require_tool("sgdisk", "gdisk")
    require_tool("wipefs", "util-linux")
    disk = make_fs(tmp_path / "ext4.raw", "ext4", 192 * MiB)
    run("mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "wsl", str(disk))  # group 1 at 128 MiB
    run("sgdisk", "-o", "-n1:34:32767", "-t1:0c01", str(disk))
    report = inspect(disk)
    assert report.partition_table == "gpt" and report.partitions[0].filesystem is None
    assert codes(report) == {"guest.trap.table_over_ext"}
    (trap,) = report.findings
    assert (trap.params["backup_block"], trap.params["block_size"]) == (32768, 4096)
    assert report.level == "error"
    # the next step, run as printed on the copy (e2fsck answering yes), brings the ext4 back
    step = words(trap, str(disk)).next_step
    for command in step.split("), ", 1)[1].split(" (or")[0].split(", then "):
        argv = command.replace("disk.raw", str(disk)).replace("e2fsck -f", "e2fsck -f -y")
        subprocess.run(argv.split(), capture_output=True)
    assert blkid(disk)["TYPE"] == "ext4" and blkid(disk)["LABEL"] == "wsl"
    check = subprocess.run(["e2fsck", "-fn", str(disk)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_ext4_partition_whose_group_1_lies_where_a_whole_disk_one_would(tmp_path: Path) -> None:
    # 16384 blocks per group in a partition at 64 MiB: its group-1 backup superblock is at
    # the disk's 128 MiB, where a whole-disk ext4's would be. Not a reformatted disk.
    require_tool("sgdisk", "gdisk")
    disk = blank(tmp_path / "gpt.img", 192 * MiB)
    run("sgdisk", "-n1:131072:0", str(disk))
    fs = make_fs(tmp_path / "p1.img", "ext4", 120 * MiB)
    run("mkfs.ext4", "-q", "-F", "-b", "4096", "-g", "16384", str(fs))
    place(disk, fs, 64 * MiB)
    assert read_at(disk, 128 * MiB + 0x38, 2) == b"\x53\xef"
    report = inspect(disk)
    assert report.partitions[0].filesystem is not None
    assert not any(f.code.startswith("guest.trap.") for f in report.findings)


def test_gpt_without_its_protective_mbr(tmp_path: Path) -> None:
    # Sector 0 wiped: sgdisk still reads the GPT, but sfdisk, blkid and the kernel
    # (is_pmbr_valid) find no table and Windows offers to initialise the disk. It was
    # reported as a healthy GPT.
    require_tool("sgdisk", "gdisk")
    disk = blank(tmp_path / "gpt.img", 64 * MiB)
    run("sgdisk", "-n1:2048:+10M", str(disk))
    write_at(disk, 0, bytes(512))
    listed = subprocess.run(["sfdisk", "-d", str(disk)], capture_output=True, text=True)
    assert "does not contain a recognized partition table" in listed.stderr
    report = inspect(disk)
    assert report.partition_table == "gpt" and len(report.partitions) == 1
    assert "guest.gpt.no_protective_mbr" in codes(report)
    assert report.level == "error"
    run("sgdisk", "-e", str(disk))  # the next step: a new protective MBR, same partitions
    assert "guest.gpt.no_protective_mbr" not in codes(inspect(disk))
    assert len(sfdisk_json(disk)) == 1


def test_mbr_over_an_old_gpt_is_the_mbr(tmp_path: Path) -> None:
    # A DOS table written without wiping the old GPT: Linux and Windows use the MBR (no
    # protective entry); the old GPT's partitions were listed instead.
    require_tool("sgdisk", "gdisk")
    disk = blank(tmp_path / "disk.img", 64 * MiB)
    run("sgdisk", "-n1:2048:+10M", str(disk))
    sfdisk(disk, "label: dos\n4096,20M,83\n", "--wipe", "never")
    assert read_at(disk, 512, 8) == b"EFI PART"
    assert blkid(disk)["PTTYPE"] == "dos"
    report = inspect(disk)
    assert report.partition_table == "mbr"
    assert [(p.index, p.start) for p in report.partitions] == [(1, 4096 * 512)]
    assert "guest.gpt.ignored" in codes(report)


def test_gpt_entries_outside_the_usable_sectors(tmp_path: Path) -> None:
    # CRC-valid entries over the GPT's own sectors, or ending before they begin: sgdisk -v
    # names both; they were listed as ordinary (a 0-byte) partitions.
    require_tool("sgdisk", "gdisk")
    disk = blank(tmp_path / "gpt.img", 64 * MiB)
    run("sgdisk", "-n1:2048:+1M", "-n2:8192:+1M", "-n3:16384:+1M", str(disk))
    array = bytearray(read_at(disk, 1024, 128 * 128))
    array[32:40] = (10).to_bytes(8, "little")  # partition 1 starts inside the entry array
    array[128 + 40 : 128 + 48] = (4000).to_bytes(8, "little")  # partition 2 ends at 4000
    _rewrite_gpt_array(disk, bytes(array))
    verify = subprocess.run(["sgdisk", "-v", str(disk)], capture_output=True, text=True)
    assert "partition 2 ends before it begins" in verify.stdout
    assert "overlaps the first partition" in verify.stdout
    report = inspect(disk)
    assert not report.flags["gpt_primary_bad"] and not report.flags["gpt_backup_bad"]
    bounds = [f for f in report.findings if f.code == "guest.gpt.entry_bounds"]
    assert sorted(f.params["index"] for f in bounds) == [1, 2]
    assert bounds[0].params["first_usable"] == 34
