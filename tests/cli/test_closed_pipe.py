"""A closed output pipe (`vhdxray ... | head`) is not success: the command stops quietly with
141 (as a process stopped by SIGPIPE), no traceback, and a write whose plan could not be
printed is not made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests import damage
from vhdxray.core.format import layout
from vhdxray.core.write.create import CreateOptions, create_image


def run_with_closed_stdout(*argv: str) -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vhdxray", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before vhdxray writes a byte
    err = proc.stderr.read()
    return proc.wait(timeout=120), err


def test_a_report_into_a_closed_pipe_exits_141_quietly(tmp_path: Path) -> None:
    image = create_image(tmp_path / "disk.vhdx", CreateOptions(8 * layout.MiB))
    code, err = run_with_closed_stdout("check", str(image))
    assert code == 141
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_a_repair_whose_plan_cannot_be_printed_is_not_made(tmp_path: Path) -> None:
    image = create_image(tmp_path / "disk.vhdx", CreateOptions(8 * layout.MiB))
    damage.break_region_checksum(image, 1)
    before = image.read_bytes()
    code, err = run_with_closed_stdout("repair", str(image), "--yes")
    assert code == 141
    assert "Traceback" not in err
    assert image.read_bytes() == before
    assert not list(tmp_path.glob("*.vhdxray-backup-*"))
