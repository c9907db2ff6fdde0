"""What guest triage reads in a scan: a blank VHDX is known blank from its BAT (no payload
read), a disk whose head holds data is not read past what the probes need, and ``scan_one``
opens each file once for the check and the look inside."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require
from vhdxray.core import source as source_module
from vhdxray.core.analysis.guest.base import HEAD_SIZE
from vhdxray.core.analysis.guest.image import inspect_image
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.analysis.scan import scan_one
from vhdxray.core.format import layout
from vhdxray.core.write.create import CreateOptions, create_image

MiB = layout.MiB


def _create(path: Path, data: list[tuple[int, bytes]]) -> Path:
    opts = CreateOptions(virtual_size=64 * MiB, block_size=MiB)
    return create_image(path, opts, data=data)


def test_a_blank_vhdx_is_known_blank_without_reading(tmp_path: Path) -> None:
    image = _create(tmp_path / "blank.vhdx", [])
    outcome = inspect_image(image, read_report(image))
    assert outcome.guest is not None
    assert outcome.guest.blank and outcome.guest.bytes_read == 0
    assert [f.code for f in outcome.guest.findings] == ["guest.blank"]


def test_data_away_from_head_and_tail_is_still_blank_and_unread(tmp_path: Path) -> None:
    """As before: triage looks at the first MiB and the last 64 KiB only."""
    image = _create(tmp_path / "middle.vhdx", [(32 * MiB, b"x" * 4096)])
    outcome = inspect_image(image, read_report(image))
    assert outcome.guest is not None and outcome.guest.blank
    assert outcome.guest.bytes_read == 0


def test_zeros_stored_in_the_head_are_read_and_found_blank(tmp_path: Path) -> None:
    """An allocated block of zeros: the BAT says data may be there, so it is read."""
    image = _create(tmp_path / "zeros.vhdx", [(0, bytes(4096))])
    outcome = inspect_image(image, read_report(image))
    assert outcome.guest is not None and outcome.guest.blank
    assert outcome.guest.bytes_read > 0


def test_a_head_with_data_is_not_read_to_the_end_of_the_first_mib(tmp_path: Path) -> None:
    image = _create(tmp_path / "data.vhdx", [(0, b"profile data\n".ljust(4096, b"\0"))])
    outcome = inspect_image(image, read_report(image))
    assert outcome.guest is not None and not outcome.guest.blank
    assert [f.code for f in outcome.guest.findings] == ["guest.unrecognised"]
    # sector 0, the GPT probes and the 68 KiB volume head; not the 1 MiB blank window
    assert outcome.guest.bytes_read < HEAD_SIZE + 64 * 1024


def test_a_qemu_image_with_a_filesystem_is_named_through_the_shared_source(
    tmp_path: Path,
) -> None:
    require("qemu-img", "qemu-utils")
    require("mkfs.ext4", "e2fsprogs")
    raw = tmp_path / "fs.raw"
    raw.write_bytes(b"")
    subprocess.run(["truncate", "-s", "64M", str(raw)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-L", "scanme", str(raw)], check=True)
    image = tmp_path / "fs.vhdx"
    subprocess.run(["qemu-img", "convert", "-O", "vhdx", str(raw), str(image)], check=True)
    line = scan_one(str(image))
    assert line["guest"]["filesystems"] == ["ext4"]
    done = subprocess.run(
        [sys.executable, "-m", "vhdxray", "check", "--json", str(image)],
        capture_output=True,
        text=True,
    )
    doc = json.loads(done.stdout)  # check opens the file twice; the answer is the same
    assert doc["guest"]["filesystem"]["type"] == "ext4"
    assert doc["guest"]["filesystem"]["label"] == "scanme"


def test_scan_one_opens_the_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = _create(tmp_path / "one.vhdx", [(0, b"profile data\n".ljust(4096, b"\0"))])
    opened: list[str] = []
    real = source_module.open_regular  # type: ignore[attr-defined]

    def counting(path: str, *args: int) -> int:
        opened.append(str(path))
        return real(path, *args)

    monkeypatch.setattr(source_module, "open_regular", counting)
    line = scan_one(str(image), guest=True)
    assert line["guest"] is not None and line["guest"]["error"] is None
    assert opened == [str(image)]
