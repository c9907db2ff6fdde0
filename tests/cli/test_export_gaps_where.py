"""Export's gaps name the partition (number, type, name) and filesystem (type, label) they fall
in: a GPT disk with an ext4 and a FAT partition (sfdisk, mkfs.ext4, mkfs.fat), converted to
VHDX by qemu-img, then cut short. The partitions each gap overlaps are computed from the layout
given to sfdisk, and the ext4 label is read back from the output by blkid."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests import damage
from tests.conftest import require
from vhdxray.tui import cli

MiB = 1 << 20
SECTOR = 512
# (number, first sector, sectors, GPT type name as triage names it, GPT name)
LAYOUT = (
    (1, 2048, 65536, "Linux filesystem", "data"),
    (2, 67584, 61440, "Microsoft basic data", "win"),
)


def make_disk(folder: Path) -> Path:
    raw = folder / "disk.raw"
    subprocess.run(["truncate", "-s", "64M", str(raw)], check=True)
    table = "label: gpt\n" + "".join(
        f'start={start}, size={size}, type={guid}, name="{name}"\n'
        for (_, start, size, _, name), guid in zip(
            LAYOUT,
            ("0FC63DAF-8483-4772-8E79-3D69D8477DE4", "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"),
            strict=True,
        )
    )
    subprocess.run(["sfdisk", "-q", str(raw)], input=table, text=True, check=True)
    subprocess.run(
        ["mkfs.ext4", "-q", "-L", "extpart", "-E", f"offset={2048 * SECTOR}", str(raw), "32M"],
        check=True,
    )
    subprocess.run(
        ["mkfs.fat", "-n", "FATPART", "--offset", "67584", str(raw), "30720"],
        check=True,
        capture_output=True,
    )
    image = folder / "disk.vhdx"
    subprocess.run(
        ["qemu-img", "convert", "-O", "vhdx", "-o", "block_size=1M", str(raw), str(image)],
        check=True,
    )
    return image


def overlapping(start: int, end: int) -> list[int]:
    """The partitions of LAYOUT that [start, end) overlaps, in order."""
    out = []
    for n, first, count, _, _ in LAYOUT:
        if start < (first + count) * SECTOR and first * SECTOR < end:
            out.append(n)
    return out


def blkid(path: Path, offset: int) -> dict[str, str]:
    done = subprocess.run(
        ["blkid", "-p", "-O", str(offset), "-o", "export", str(path)],
        capture_output=True,
        text=True,
    )
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def test_gaps_name_their_partition_and_filesystem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for tool, package in (
        ("qemu-img", "qemu-utils"),
        ("sfdisk", "fdisk"),
        ("mkfs.ext4", "e2fsprogs"),
        ("mkfs.fat", "dosfstools"),
        ("blkid", "util-linux"),
    ):
        require(tool, package)
    image = make_disk(tmp_path)
    # qemu-img convert stores blocks in virtual order: the cut loses the highest ones (the
    # backup GPT at the end, then blocks of the partitions)
    damage.truncate(image, image.stat().st_size - 3 * MiB - MiB // 2)
    out, gaps_file = tmp_path / "out.raw", tmp_path / "gaps.json"
    code = cli.main(["export", str(image), str(out), "--json", "--gaps", str(gaps_file)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2
    gaps = doc["gaps"]
    assert json.loads(gaps_file.read_text())["gaps"] == gaps
    assert len(gaps) >= 2
    ext4 = blkid(out, 2048 * SECTOR)
    assert (ext4.get("TYPE"), ext4.get("LABEL")) == ("ext4", "extpart")
    in_ext4 = 0
    for gap in gaps:
        start, end = gap["virtual_start"], gap["virtual_end"]
        assert [w["partition"] for w in gap["where"]] == overlapping(start, end), gap
        for where in gap["where"]:
            _, _, _, type_name, name = LAYOUT[where["partition"] - 1]
            assert (where["partition_type"], where["partition_name"]) == (type_name, name)
            if where["partition"] == 1:
                in_ext4 += 1
                assert (where["filesystem"], where["filesystem_label"]) == ("ext4", "extpart")
    assert in_ext4 >= 1
    last = gaps[-1]
    assert last["virtual_end"] == 64 * MiB and last["where"] == []  # the backup GPT's block
    # the human summary says it too
    out.unlink()
    assert cli.main(["export", str(image), str(out)]) == 2
    text = capsys.readouterr().out
    assert "in partition 1 (Linux filesystem 'data'; ext4 'extpart')" in text
