"""The installed ``vhdxray`` command: exit codes, the JSON document, create/update/restore."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import damage
from tests.conftest import require
from tests.imagefiles import qemu_img_check, qemu_io
from vhdxray.core.analysis.reader import read_report

SCRIPT = Path(sys.executable).with_name("vhdxray")


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "vhdxray"]
    return subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        env={**os.environ, "VHDXRAY_DEBUG": ""},
    )


HEADER_KEYS = {
    "slot",
    "offset",
    "present",
    "signature_ok",
    "checksum_ok",
    "stored_checksum",
    "computed_checksum",
    "valid",
    "sequence_number",
    "file_write_guid",
    "data_write_guid",
    "log_guid",
    "log_version",
    "version",
    "log_length",
    "log_offset",
}
TOP_KEYS = {
    "path",
    "file_size",
    "is_vhdx",
    "creator",
    "headers",
    "current_header",
    "region_tables",
    "active_region_table",
    "metadata",
    "disk_type",
    "virtual_size",
    "block_size",
    "logical_sector_size",
    "physical_sector_size",
    "log",
    "bat",
    "findings",
}


@pytest.fixture
def image(qemu_image: Callable[..., Path]) -> Path:
    path = qemu_image("64M", "block_size=1M")
    qemu_io(path, "write -P 0x42 0 2M")
    return path


def test_python_dash_m_works(image: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vhdxray", "info", str(image)], capture_output=True, text=True
    )
    assert done.returncode == 0 and "Verdict:" in done.stdout


def test_check_exit_codes(image: Path, tmp_path: Path) -> None:
    assert run("check", str(image)).returncode == 0
    damage.break_header_checksum(image, 1)
    done = run("check", str(image))
    assert done.returncode == 2
    assert "header.slot1.checksum" in done.stdout
    raw = tmp_path / "raw.img"
    raw.write_bytes(b"\0" * 510 + b"\x55\xaa" + bytes(4096))
    done = run("check", str(raw))
    assert done.returncode == 3 and "MBR" in done.stdout
    missing = run("check", str(tmp_path / "nope.vhdx"))
    assert missing.returncode == 3 and "cannot be opened" in missing.stdout
    empty = tmp_path / "empty.vhdx"
    empty.write_bytes(b"")
    assert run("check", str(empty)).returncode == 3
    assert run("info", str(tmp_path)).returncode == 3  # a directory
    for out in (done, missing):
        assert "Traceback" not in out.stdout + out.stderr


def test_json_document(image: Path) -> None:
    damage.break_header_checksum(image, 2)
    done = run("check", "--json", str(image))
    assert done.returncode == 2
    doc = json.loads(done.stdout)
    assert set(doc) >= TOP_KEYS
    assert doc["is_vhdx"] is True and doc["disk_type"] == "dynamic"
    assert doc["virtual_size"] == 64 << 20 and doc["block_size"] == 1 << 20
    assert [h["slot"] for h in doc["headers"]] == [1, 2]
    for h in doc["headers"]:
        assert set(h) >= HEADER_KEYS
        assert h["file_write_guid"] == h["file_write_guid"].lower()
    assert doc["headers"][1]["checksum_ok"] is False
    assert doc["headers"][1]["stored_checksum"] != doc["headers"][1]["computed_checksum"]
    assert doc["current_header"] == 1
    assert {"slot", "offset", "present", "signature_ok", "checksum_ok", "valid", "entries"} <= set(
        doc["region_tables"][0]
    )
    assert doc["active_region_table"] == 1
    assert {"guid", "replay_needed", "active_sequence", "entries"} <= set(doc["log"])
    assert doc["log"]["replay_needed"] is False
    assert doc["bat"] is not None
    assert any(
        f["code"] == "header.slot2.checksum" and f["severity"] == "error" for f in doc["findings"]
    )


def test_json_for_a_non_vhdx(tmp_path: Path) -> None:
    f = tmp_path / "x.qcow2"
    f.write_bytes(b"QFI\xfb" + bytes(1000))
    done = run("info", "--json", str(f))
    assert done.returncode == 3
    doc = json.loads(done.stdout)
    assert doc["is_vhdx"] is False and doc["kind"] == "qcow2" and doc["headers"] is None


def test_update_headers_flow(image: Path, tmp_path: Path) -> None:
    damage.break_header_checksum(image, 2)
    original = image.read_bytes()
    dry = run("update-headers", "--dry-run", str(image))
    assert dry.returncode == 0 and "Dry run" in dry.stdout
    assert "Write header slot 2" in dry.stdout
    no_tty = run("update-headers", str(image), stdin="y\n")  # not a terminal: no silent yes
    assert no_tty.returncode == 2
    assert image.read_bytes() == original
    done = run("update-headers", "--yes", "--backup-dir", str(tmp_path), str(image))
    assert done.returncode == 0, done.stderr
    assert "Backup of the overwritten bytes:" in done.stdout
    report = read_report(image)
    assert report.headers is not None and all(h.valid for h in report.headers)
    assert qemu_img_check(image).returncode == 0
    backup = next(tmp_path.glob("*.vhdxray-backup-*"))
    assert str(backup) in done.stdout
    restored = run("restore", "--yes", "--backup-dir", str(tmp_path), str(backup))
    assert restored.returncode == 0, restored.stderr
    assert image.read_bytes() == original


def test_update_headers_refusals(real_image: Callable[[str], Path], tmp_path: Path) -> None:
    dirty = real_image("discutils-log-replay")
    done = run("update-headers", "--yes", str(dirty))
    assert done.returncode == 2 and "log replay is pending" in done.stderr
    doc = json.loads(run("update-headers", "--yes", "--json", str(dirty)).stdout)
    assert doc == {
        "ok": False,
        "refused": True,
        "code": "log_replay_pending",
        "params": {},
        "reason": doc["reason"],
        "suggest": [],
    }
    twin = real_image("qemu-disk2vhd")  # no current header (Disk2VHD's equal sequences)
    done = run("update-headers", "--yes", str(twin))
    # The CLI renders core's slot suggestion as its flag, once per choice.
    assert done.returncode == 2 and "choose with --from-slot 1: " in done.stderr
    assert "choose with --from-slot 2: " in done.stderr
    assert done.stderr.count("--from-slot 1") == 1
    doc = json.loads(run("update-headers", "--yes", "--json", str(twin)).stdout)
    assert doc["code"] == "no_current_header" and "--" not in doc["reason"]
    assert doc["suggest"] == [
        {"option": "from_slot", "value": 1},
        {"option": "from_slot", "value": 2},
    ]
    done = run(
        "update-headers", "--yes", "--from-slot", "1", "--backup-dir", str(tmp_path), str(twin)
    )
    assert done.returncode == 0, done.stderr
    assert read_report(twin).current_header == 1
    other = tmp_path / "x.img"
    other.write_bytes(bytes(100))
    assert run("update-headers", "--yes", str(other)).returncode == 3


@pytest.mark.parametrize(
    "args",
    [
        ("--size", "64M"),
        ("--size", "64M", "--block-size", "1M"),
        ("--size", "100M", "--block-size", "256M"),
        ("--size", "64M", "--logical-sector", "4096"),
        ("--size", "48M", "--fixed", "--block-size", "8M"),
        ("--size", "40M", "--fixed", "--block-size", "16M", "--logical-sector", "4096"),
        ("--size", "64T"),
    ],
)
def test_create_is_accepted_by_qemu_and_libvhdi(tmp_path: Path, args: tuple[str, ...]) -> None:
    require("qemu-img", "qemu-utils")
    path = tmp_path / "new.vhdx"
    done = run("create", str(path), *args)
    assert done.returncode == 0, done.stderr
    assert run("check", str(path)).returncode == 0
    report = read_report(path)
    assert report.metadata is not None
    check = qemu_img_check(path)
    if "4096" in args:
        # QEMU (7.2 here) opens no VHDX with 4096-byte logical sectors at all: ENOTSUP.
        # vhdiinfo is the independent reader for these.
        assert "Operation not supported" in check.stderr
        require("vhdiinfo", "libvhdi-utils")
    else:
        assert check.returncode == 0, check.stdout + check.stderr
        info = json.loads(
            subprocess.run(
                ["qemu-img", "info", "--output=json", str(path)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        assert info["virtual-size"] == report.metadata.virtual_size
        assert info["cluster-size"] == report.metadata.block_size
    if shutil.which("vhdiinfo"):
        vi = subprocess.run(["vhdiinfo", str(path)], capture_output=True, text=True)
        assert vi.returncode == 0, vi.stderr
        assert f"({report.metadata.virtual_size} bytes)" in vi.stdout
        assert f"Bytes per sector\t: {report.metadata.logical_sector_size} bytes" in vi.stdout
    if "--fixed" in args:
        assert report.disk_type == "fixed"
        if "4096" not in args:
            qemu_io(path, "write -P 0x3c 0 1M")  # a fixed image is writable where it stands
            assert "Pattern verification failed" not in qemu_io(path, "read -P 0x3c 0 1M")


def test_create_refuses_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "a.vhdx"
    assert run("create", str(path), "--size", "64M").returncode == 0
    again = run("create", str(path), "--size", "64M")
    assert again.returncode == 2 and "already exists" in again.stderr
    for bad in (
        ("--size", "1x"),
        ("--size", "64M", "--block-size", "3M"),
        ("--size", "100"),
        ("--size", "65T"),
    ):
        done = run("create", str(tmp_path / "b.vhdx"), *bad)
        assert done.returncode == 2, bad
        assert "Traceback" not in done.stderr


def test_hostile_creator_never_reaches_the_terminal_raw(image: Path) -> None:
    damage.set_creator(image, "evil\x1b]2;PWNED\x07[bold]x[/]\u202etxt.exe")
    done = run("info", str(image))
    assert done.returncode == 0
    assert "\x1b" not in done.stdout and "\u202e" not in done.stdout and "\x07" not in done.stdout
    assert "evil\\x1b]2;PWNED\\x07[bold]x[/]\\u202etxt.exe" in done.stdout


def test_internal_failure_exits_1(
    monkeypatch: pytest.MonkeyPatch, image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vhdxray.tui import cli

    def boom(_: object) -> int:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(cli, "cmd_report", boom)
    monkeypatch.delenv("VHDXRAY_DEBUG", raising=False)
    assert cli.main(["info", str(image)]) == 1
    assert "internal error" in capsys.readouterr().err


def test_plain_report_arguments_are_parsed_by_hand_like_argparse() -> None:
    from vhdxray.core.format.record import fields
    from vhdxray.tui.cli import fast_report_args, parser_for

    for argv in (
        ["check", "x.vhdx"],
        ["info", "--json", "x.vhdx"],
        ["check", "x.vhdx", "--full", "--json"],
        ["info", "--findings", "y"],
        ["check", "--no-guest", "--json", "z"],
    ):
        fast = fast_report_args(argv)
        parsed = parser_for(argv[0]).parse_args(argv[1:])
        assert fast is not None
        assert {n: getattr(fast, n) for n in fields(fast)} == {
            **vars(parsed),
            "parent": getattr(parsed, "parent", None),
        }
    # Anything else goes to argparse (help, errors, --parent, repeated or unknown options).
    for argv in (
        ["check"],
        ["check", "--help"],
        ["check", "a", "b"],
        ["check", "--json", "--json", "x"],
        ["check", "x", "--parent", "p"],
        ["info", "-"],
        ["info", "--jsn", "x"],
        ["repair", "x"],
    ):
        assert fast_report_args(argv) is None
