"""Guest disks made in the test run with the real tools (mkfs.*, mkntfs, mkswap, sfdisk,
sgdisk, debugfs), a raw-file reader that counts what triage reads, and byte edits that set the
health flags the tools cannot (the NTFS volume-dirty bit, done the way Windows does it: in
$Volume's $VOLUME_INFORMATION, in both $MFT and $MFTMirr, with the fix-ups rewritten)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests import imagefiles

MiB = 1 << 20

# kind -> (tool, Debian package, command before the path)
MKFS: dict[str, tuple[str, str, list[str]]] = {
    "ext2": ("mkfs.ext2", "e2fsprogs", ["mkfs.ext2", "-q", "-F", "-L", "lab-ext2"]),
    "ext3": ("mkfs.ext3", "e2fsprogs", ["mkfs.ext3", "-q", "-F", "-L", "lab-ext3"]),
    "ext4": ("mkfs.ext4", "e2fsprogs", ["mkfs.ext4", "-q", "-F", "-L", "lab-ext4"]),
    "ntfs": ("mkntfs", "ntfs-3g", ["mkntfs", "-q", "-F", "-Q", "-L", "lab-ntfs"]),
    "fat12": ("mkfs.vfat", "dosfstools", ["mkfs.vfat", "-F", "12", "-n", "LABFAT12"]),
    "fat16": ("mkfs.vfat", "dosfstools", ["mkfs.vfat", "-F", "16", "-n", "LABFAT16"]),
    "fat32": ("mkfs.vfat", "dosfstools", ["mkfs.vfat", "-F", "32", "-n", "LABFAT32"]),
    "exfat": ("mkfs.exfat", "exfatprogs", ["mkfs.exfat", "-L", "lab-exfat"]),
    "xfs": ("mkfs.xfs", "xfsprogs", ["mkfs.xfs", "-q", "-f", "-L", "lab-xfs"]),
    "btrfs": ("mkfs.btrfs", "btrfs-progs", ["mkfs.btrfs", "-q", "-f", "-L", "lab-btrfs"]),
    "swap": ("mkswap", "util-linux", ["mkswap", "-L", "lab-swap"]),
}
# XFS needs 300 MiB at least; the rest fit in tens of MiB (all sparse).
SIZES: dict[str, int] = {"xfs": 320 * MiB, "btrfs": 128 * MiB, "fat32": 64 * MiB}


def require_tool(tool: str, package: str) -> None:
    if not imagefiles.have(tool):
        pytest.skip(f"{tool} is not installed (apt-get install {package})")


def run(*cmd: str) -> str:
    done = subprocess.run(list(cmd), check=True, capture_output=True, text=True)
    return done.stdout


def make_fs(path: Path, kind: str, size: int | None = None) -> Path:
    """A sparse raw file of ``size`` bytes holding a fresh ``kind`` filesystem."""
    tool, package, cmd = MKFS[kind]
    require_tool(tool, package)
    with open(path, "wb") as f:
        f.truncate(size or SIZES.get(kind, 64 * MiB))
    run(*cmd, str(path))
    return path


def blkid(path: Path, offset: int = 0) -> dict[str, str]:
    """What util-linux's blkid (an independent reader) says is at ``offset``."""
    require_tool("blkid", "util-linux")
    cmd = ["blkid", "-p", "-o", "export", "-O", str(offset), str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    out = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition("=")
        out[key] = value
    return out


class RawReader:
    """A raw disk image as a VirtualReader that counts every byte it hands out."""

    def __init__(self, path: Path) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self.size = os.fstat(self._f.fileno()).st_size
        self.bytes_read = 0
        self.calls = 0

    def read(self, offset: int, length: int) -> bytes:
        assert offset >= 0 and length >= 0, (offset, length)
        assert offset + length <= self.size, "triage must not read past the disk"
        self._f.seek(offset)
        data = self._f.read(length)
        self.bytes_read += len(data)
        self.calls += 1
        return data

    def close(self) -> None:
        self._f.close()


def write_at(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def read_at(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def place(disk: Path, fs_image: Path, offset: int) -> None:
    """Copy a filesystem image into a disk image at ``offset`` (sparsely)."""
    with open(fs_image, "rb") as src, open(disk, "r+b") as dst:
        pos = 0
        while chunk := src.read(MiB):
            if any(chunk):
                dst.seek(offset + pos)
                dst.write(chunk)
            pos += len(chunk)


def set_ntfs_volume_dirty(path: Path, volume_offset: int = 0) -> None:
    """Set VOLUME_IS_DIRTY in $Volume's $VOLUME_INFORMATION in $MFT and $MFTMirr.

    The record is read, its update sequence undone, the flag set, and the update sequence
    applied again with a new sequence number, as NTFS itself writes a record."""
    boot = read_at(path, volume_offset, 512)
    bps = int.from_bytes(boot[11:13], "little")
    cluster = bps * boot[13]
    cpr = int.from_bytes(boot[0x40:0x41], "little", signed=True)
    record_size = 1 << -cpr if cpr < 0 else cpr * cluster
    for lcn_at in (0x30, 0x38):
        lcn = int.from_bytes(boot[lcn_at : lcn_at + 8], "little")
        at = volume_offset + lcn * cluster + 3 * record_size
        rec = bytearray(read_at(path, at, record_size))
        assert rec[:4] == b"FILE"
        usa = int.from_bytes(rec[4:6], "little")
        count = int.from_bytes(rec[6:8], "little")
        for i in range(1, count):  # undo the fix-ups
            rec[i * 512 - 2 : i * 512] = rec[usa + 2 * i : usa + 2 * i + 2]
        attr = int.from_bytes(rec[0x14:0x16], "little")
        while int.from_bytes(rec[attr : attr + 4], "little") != 0x70:
            attr += int.from_bytes(rec[attr + 4 : attr + 8], "little")
        value = attr + int.from_bytes(rec[attr + 0x14 : attr + 0x16], "little")
        flags = int.from_bytes(rec[value + 10 : value + 12], "little") | 0x0001
        rec[value + 10 : value + 12] = flags.to_bytes(2, "little")
        check = (int.from_bytes(rec[usa : usa + 2], "little") + 1) & 0xFFFF or 1
        rec[usa : usa + 2] = check.to_bytes(2, "little")
        for i in range(1, count):  # apply them again
            rec[usa + 2 * i : usa + 2 * i + 2] = rec[i * 512 - 2 : i * 512]
            rec[i * 512 - 2 : i * 512] = check.to_bytes(2, "little")
        write_at(path, at, bytes(rec))


def to_vhdx(raw: Path, out: Path) -> Path:
    """``qemu-img convert -O vhdx``: the guest disk inside a real VHDX container."""
    require_tool("qemu-img", "qemu-utils")
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "vhdx", str(raw), str(out)],
        check=True,
        capture_output=True,
    )
    return out
