"""LUKS (cryptsetup) and ISO 9660 (genisoimage) made in the run and compared with blkid;
BitLocker and ReFS, which no Linux tool writes, from boot sectors laid out as their documented
formats say (and the near misses a probe must refuse); hostile bytes never crash triage."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.guestimages import MiB, RawReader, blkid, require_tool, write_at
from vhdxray.core.analysis.guest import triage
from vhdxray.core.analysis.guest.base import VOLUME_BUDGET
from vhdxray.core.analysis.guest.triage import GuestReport


def inspect(path: Path) -> GuestReport:
    reader = RawReader(path)
    try:
        report = triage(reader)
        assert reader.bytes_read < 2 * MiB
        return report
    finally:
        reader.close()


def blank(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
    return path


@pytest.mark.parametrize("version", ["luks1", "luks2"])
def test_luks(tmp_path: Path, version: str) -> None:
    require_tool("cryptsetup", "cryptsetup-bin")
    image = blank(tmp_path / f"{version}.img", 32 * MiB)
    extra = ["--label", "lab-luks"] if version == "luks2" else []
    subprocess.run(
        ["cryptsetup", "luksFormat", "-q", "--type", version, "--pbkdf-force-iterations", "1000"]
        + (["--pbkdf", "pbkdf2"] if version == "luks2" else [])
        + [*extra, str(image), "-d", "-"],
        input=b"passphrase",
        check=True,
        capture_output=True,
    )
    report = inspect(image)
    fs = report.filesystem
    assert fs is not None and fs.type == "luks"
    theirs = blkid(image)
    assert theirs["TYPE"] == "crypto_LUKS"
    assert fs.uuid == theirs["UUID"]
    assert fs.label == theirs.get("LABEL")
    assert fs.details["version"] == int(theirs["VERSION"])
    assert {f.code for f in report.findings} == {"guest.luks.encrypted"}
    if version == "luks2":
        assert fs.flags["checksum_bad"] is False
        write_at(image, 24, b"X")  # the label: covered by the header checksum
        report = inspect(image)
        assert report.filesystem is not None
        assert report.filesystem.flags["checksum_bad"] is True


def test_iso9660(tmp_path: Path) -> None:
    require_tool("genisoimage", "genisoimage")
    folder = tmp_path / "content"
    folder.mkdir()
    (folder / "readme.txt").write_text("inside\n")
    image = tmp_path / "disc.iso"
    subprocess.run(
        ["genisoimage", "-quiet", "-V", "LAB_ISO", "-o", str(image), str(folder)], check=True
    )
    report = inspect(image)
    fs = report.filesystem
    assert fs is not None and fs.type == "iso9660"
    theirs = blkid(image)
    assert fs.label == theirs["LABEL"] and fs.uuid == theirs["UUID"]
    assert fs.size == image.stat().st_size


def _bitlocker_boot_sector() -> bytearray:
    """A Windows 7+ BitLocker boot sector as [MS-FVE]/libbde document it: "-FVE-FS-" as the
    OEM name, the BitLocker volume GUID at 0xA0 and three FVE metadata offsets at 0xB0."""
    boot = bytearray(512)
    boot[0:3] = b"\xeb\x58\x90"
    boot[3:11] = b"-FVE-FS-"
    boot[0x0B:0x0D] = (512).to_bytes(2, "little")
    boot[0x0D] = 8
    guid = bytes.fromhex("3bd66749292ed84a8399f6a339e3d001")
    boot[0xA0:0xB0] = guid
    for i, at in enumerate((0x100000, 0x200000, 0x300000)):
        boot[0xB0 + 8 * i : 0xB8 + 8 * i] = at.to_bytes(8, "little")
    boot[510:512] = b"\x55\xaa"
    return boot


def test_bitlocker(tmp_path: Path) -> None:
    image = blank(tmp_path / "bitlocker.img", 16 * MiB)
    write_at(image, 0, bytes(_bitlocker_boot_sector()))
    report = inspect(image)
    fs = report.filesystem
    assert fs is not None and fs.type == "bitlocker"
    assert fs.uuid == "4967d63b-2e29-4ad8-8399-f6a339e3d001"  # the FVE volume identifier
    assert fs.flags["metadata_bad"] is True  # no metadata block was written
    codes = {f.code for f in report.findings}
    assert codes == {"guest.bitlocker.encrypted", "guest.bitlocker.metadata_bad"}
    for at in (0x100000, 0x200000, 0x300000):
        write_at(image, at, b"-FVE-FS-")
    report = inspect(image)
    assert report.filesystem is not None
    assert report.filesystem.flags["metadata_bad"] is False
    assert report.filesystem.details["metadata_blocks_ok"] == 3


def test_refs(tmp_path: Path) -> None:
    image = blank(tmp_path / "refs.img", 64 * MiB)
    boot = bytearray(512)
    boot[3:11] = b"ReFS\0\0\0\0"
    boot[0x10:0x14] = b"FSRS"
    boot[0x18:0x20] = (64 * MiB // 512).to_bytes(8, "little")
    boot[0x20:0x24] = (512).to_bytes(4, "little")
    boot[0x24:0x28] = (128).to_bytes(4, "little")
    boot[0x28], boot[0x29] = 3, 4
    boot[0x38:0x40] = (0x1234_5678_9ABC_DEF0).to_bytes(8, "little")
    write_at(image, 0, bytes(boot))
    report = inspect(image)
    fs = report.filesystem
    assert fs is not None and fs.type == "refs"
    assert fs.size == 64 * MiB and fs.uuid == "123456789ABCDEF0"
    assert fs.details == {"version": "3.4", "cluster_size": 64 * 1024}
    write_at(image, 0x10, b"XXXX")  # without the FSRS identifier it is not ReFS
    assert inspect(image).filesystem is None


@settings(max_examples=150, deadline=None)
@given(
    head=st.binary(min_size=0, max_size=4096),
    where=st.sampled_from([0, 446, 512, 1024, 32768, 65536]),
    size=st.integers(min_value=0, max_value=4 * MiB),
)
def test_hostile_bytes_never_crash(head: bytes, where: int, size: int) -> None:
    class Memory:
        def __init__(self) -> None:
            self.data = bytearray(min(size, 128 * 1024))
            self.data[where : where + len(head)] = head
            self.size = size
            self.read_bytes = 0

        def read(self, offset: int, length: int) -> bytes:
            assert offset >= 0 and offset + length <= self.size
            self.read_bytes += length
            chunk = bytes(self.data[offset : offset + length])
            return chunk + bytes(length - len(chunk))

    memory = Memory()
    report = triage(memory)
    report.to_json()
    assert memory.read_bytes <= 3 * VOLUME_BUDGET


@pytest.mark.parametrize("signature", [b"EFI PART", b"LABELONE", b"XFSB", b"_BHRfS_M"])
def test_signatures_on_garbage(tmp_path: Path, signature: bytes) -> None:
    """A signature with nonsense around it gives a finding or nothing, never a crash."""
    image = blank(tmp_path / "g.img", 8 * MiB)
    offsets = {b"EFI PART": 512, b"LABELONE": 512, b"XFSB": 0, b"_BHRfS_M": 65536 + 0x40}
    write_at(image, offsets[signature], signature + bytes(range(256)) * 4)
    write_at(image, 510, b"\x55\xaa")
    report = inspect(image)
    assert report.to_json()["partition_table"] in ("gpt", "mbr", "none")


def two_partitions(tmp_path: Path, first: str) -> Path:
    """A 64 MiB MBR disk: partition 1 (20 MiB at 1 MiB) holds ``first`` (ext4 or ntfs),
    partition 2 (20 MiB at 21 MiB) an ext4."""
    require_tool("sfdisk", "fdisk")
    from tests.guestimages import make_fs, place

    disk = blank(tmp_path / "disk.img", 64 * MiB)
    subprocess.run(
        ["sfdisk", "-q", str(disk)],
        input=f"label: dos\n,20M,{'7' if first == 'ntfs' else '83'}\n,20M,83\n",
        text=True,
        check=True,
        capture_output=True,
    )
    place(disk, make_fs(tmp_path / "a.img", first, 20 * MiB), 1 * MiB)
    place(disk, make_fs(tmp_path / "b.img", "ext4", 20 * MiB), 21 * MiB)
    return disk


def test_unreadable_partition_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    """A read error inside one partition (bad media under the image) names that partition;
    the other partitions are still inspected."""
    disk = two_partitions(tmp_path, "ext4")

    class Failing(RawReader):
        def read(self, offset: int, length: int) -> bytes:
            if offset < 40 * MiB and offset + length > 21 * MiB:
                raise OSError(5, "Input/output error")
            return super().read(offset, length)

    reader = Failing(disk)
    try:
        report = triage(reader)
    finally:
        reader.close()
    first, second = report.partitions
    assert first.filesystem is not None and first.filesystem.type == "ext4"
    assert second.filesystem is None
    failed = [f for f in report.findings if f.code == "guest.read_failed"]
    assert [f.where for f in failed] == ["partition 2"]
    assert failed[0].params["reason"] == "Input/output error"


def test_unreadable_ext_backup_spot_under_ntfs_stops_nothing(tmp_path: Path) -> None:
    """A read error where an ext backup superblock would lie under an NTFS partition: the
    trap check raised it out of triage, so the partitions after it were never looked at."""
    disk = two_partitions(tmp_path, "ntfs")
    bad = 1 * MiB + 8193 * 1024  # group 1 of a 1 KiB-block ext under partition 1

    class Failing(RawReader):
        def read(self, offset: int, length: int) -> bytes:
            if offset < bad + 1024 and offset + length > bad:
                raise OSError(5, "Input/output error")
            return super().read(offset, length)

    reader = Failing(disk)
    try:
        report = triage(reader)
    finally:
        reader.close()
    first, second = report.partitions
    assert first.filesystem is not None and first.filesystem.type == "ntfs"
    assert second.filesystem is not None and second.filesystem.type == "ext4"
