"""``vhdxray export IMAGE OUT --partition N``: one partition's bytes, found through guest
triage, byte-identical to that range of the disk qemu-img reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.guestimages import MiB, blkid, make_fs, place, require_tool, run, to_vhdx
from tests.imagefiles import virtual_disk_bytes
from vhdxray.tui.cli import main


def _disk(tmp_path: Path) -> Path:
    require_tool("sgdisk", "gdisk")
    raw = tmp_path / "disk.img"
    with open(raw, "wb") as f:
        f.truncate(64 * MiB)
    run("sgdisk", "-n1:2048:+16M", "-t1:0700", "-n2:0:+30M", "-t2:8300", "-c2:data", str(raw))
    place(raw, make_fs(tmp_path / "fat.img", "fat16", 16 * MiB), 1 * MiB)
    place(raw, make_fs(tmp_path / "ext.img", "ext4", 30 * MiB), 17 * MiB)
    return to_vhdx(raw, tmp_path / "disk.vhdx")


def test_export_one_partition(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = _disk(tmp_path)
    out = tmp_path / "p2.raw"
    assert main(["export", str(image), str(out), "--partition", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["partition"] == 2 and doc["complete"] is True
    assert out.stat().st_size == 30 * MiB
    whole = virtual_disk_bytes(image, tmp_path / "whole.raw").read_bytes()
    assert out.read_bytes() == whole[17 * MiB : 47 * MiB]
    assert blkid(out)["TYPE"] == "ext4"
    require_tool("e2fsck", "e2fsprogs")
    run("e2fsck", "-n", "-f", str(out))


def test_export_partition_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = _disk(tmp_path)
    assert main(["export", str(image), str(tmp_path / "x.raw"), "--partition", "7"]) == 4
    assert "no partition 7" in capsys.readouterr().err
    assert not (tmp_path / "x.raw").exists()
    code = main(
        ["export", str(image), str(tmp_path / "y.vhdx"), "--partition", "1", "--format", "vhdx"]
    )
    assert code == 4
    assert not (tmp_path / "y.vhdx").exists()
