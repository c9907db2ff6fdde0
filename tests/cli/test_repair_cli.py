"""``vhdxray repair`` and ``vhdxray check CHILD --parent PARENT``: output, exit codes, JSON.

Run in-process through ``vhdxray.tui.cli.main`` once the commands are wired there, and
through the module's own ``add_parser``/``cmd_*`` functions before that.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import damage
from tests import repairimages as ri
from tests.conftest import require
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.format.metadata import serialise_locator
from vhdxray.core.write.create import create_child
from vhdxray.tui import cli

MiB = layout.MiB


def vhdxray(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data_image(qemu_image: Callable[..., Path]) -> Path:
    require("qemu-io", "qemu-utils")
    path = qemu_image("64M", "block_size=1M")
    subprocess.run(
        ["qemu-io", "-f", "vhdx", "-c", "write -P 0x5a 1M 1M", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def test_nothing_to_repair(capsys: pytest.CaptureFixture[str], data_image: Path) -> None:
    digest = ri.file_sha256(data_image)
    code, out, _ = vhdxray(capsys, "repair", str(data_image), "--yes")
    assert code == 0 and "Nothing to repair" in out
    assert ri.file_sha256(data_image) == digest


def test_an_error_without_a_repair_is_noted_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Two payload blocks at the same file offset: no repair answers it, and the note that
    says so is printed once (it was printed twice: before the plan and in it)."""
    import struct

    from vhdxray.core.write.create import BAT_OFFSET, CreateOptions, create_image

    data = [(0, b"\x11" * 4096), (MiB, b"\x22" * 4096)]
    image = create_image(
        tmp_path / "dup.vhdx", CreateOptions(virtual_size=8 * MiB, block_size=MiB), data=data
    )
    first = damage.read_at(image, BAT_OFFSET, 8)
    assert struct.unpack("<Q", first)[0] & 7 == 6  # PAYLOAD_BLOCK_FULLY_PRESENT
    damage.write_at(image, BAT_OFFSET + 8, first)  # block 1 now points at block 0's data
    for args in ((), ("--dry-run",)):
        code, out, _ = vhdxray(capsys, "repair", str(image), "--yes", *args)
        assert code == 0 and "Nothing to repair" in out
        assert out.count("bat.block.duplicate_offset") == 1, out


def test_dry_run_lists_every_page(
    capsys: pytest.CaptureFixture[str], real_image: Callable[[str], Path]
) -> None:
    path = real_image("discutils-log-replay")
    digest = ri.file_sha256(path)
    code, out, _ = vhdxray(capsys, "repair", str(path), "--dry-run")
    assert code == 0
    assert "1. Replay the pending log [log.replay]" in out
    assert "data page at 0x300000 (4 KiB): superseded" in out
    assert "data page at 0x300000 (4 KiB): pending" in out
    assert "Dry run: nothing was written." in out
    assert ri.file_sha256(path) == digest


def test_repair_prints_every_backup_and_restore_undoes_it(
    capsys: pytest.CaptureFixture[str], real_image: Callable[[str], Path]
) -> None:
    path = real_image("discutils-log-replay")
    digest = ri.file_sha256(path)
    code, out, _ = vhdxray(capsys, "repair", str(path), "--yes")
    assert code == 0, out
    assert "Done: no error finding remains." in out
    restores = [
        line.split("vhdxray restore ", 1)[1]
        for line in out.splitlines()
        if "vhdxray restore " in line
    ]
    assert len(restores) == 3
    assert (
        "replay-clear-log-guid" in restores[0] and "replay-headers" in restores[2]
    )  # newest first
    for backup in restores:
        assert cli.main(["restore", backup, "--yes"]) == 0
    capsys.readouterr()
    assert ri.file_sha256(path) == digest


def test_json_document(
    capsys: pytest.CaptureFixture[str], real_image: Callable[[str], Path]
) -> None:
    path = real_image("qemu-dirtylog")
    code, out, _ = vhdxray(capsys, "repair", str(path), "--json")
    doc = json.loads(out)
    assert code == 2 and doc["ok"] is False and "--yes" in doc["reason"]
    code, out, _ = vhdxray(capsys, "repair", str(path), "--json", "--yes")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] is True and doc["exit_code"] == 0
    assert [r["id"] for r in doc["plan"]["repairs"]] == ["log.replay"]
    assert doc["plan"]["replay"]["pages"][0]["status"] == "pending"
    assert [s["id"] for s in doc["run"]["steps"]] == ["log.replay"]
    assert len(doc["run"]["backups"]) == 3
    assert doc["remaining_errors"] == []


def test_without_yes_and_no_terminal_nothing_is_written(
    capsys: pytest.CaptureFixture[str], real_image: Callable[[str], Path]
) -> None:
    path = real_image("qemu-dirtylog")
    digest = ri.file_sha256(path)
    code, out, err = vhdxray(capsys, "repair", str(path))
    assert code == 2 and "Cancelled: nothing was written." in out and "--yes" in err
    assert ri.file_sha256(path) == digest


def test_output_copy_leaves_the_original(
    capsys: pytest.CaptureFixture[str], real_image: Callable[[str], Path], tmp_path: Path
) -> None:
    require("qemu-img", "qemu-utils")
    path = real_image("discutils-log-replay")
    digest = ri.file_sha256(path)
    copy = tmp_path / "fixed.vhdx"
    code, out, _ = vhdxray(capsys, "repair", str(path), "--output", str(copy), "--yes")
    assert code == 0, out
    assert f"{path} is unchanged" in out
    assert ri.file_sha256(path) == digest
    assert ri.qemu_check_rc(copy) == 0
    code, out, err = vhdxray(capsys, "repair", str(path), "--output", str(copy), "--yes")
    assert code == 2 and "already exists" in err


def test_paths_are_written_as_pathlib_writes_them(
    capsys: pytest.CaptureFixture[str], real_image: Callable[[str], Path], tmp_path: Path
) -> None:
    """The write path names files by str (no pathlib at start-up, issue 9): the copy, the
    original and the backups are still named as ``str(Path(...))`` names them, in the text
    and in JSON, when the user's paths have repeated separators and ``.`` parts."""
    path = real_image("qemu-dirtylog")
    (tmp_path / "backups").mkdir()
    image = f"{path.parent}//./{path.name}"
    copy = f"{tmp_path}/./fixed.vhdx"
    backups = f"{tmp_path}//backups/"
    argv = ["repair", image, "--output", copy, "--backup-dir", backups, "--yes"]
    code, out, _ = vhdxray(capsys, *argv)
    assert code == 0, out
    assert f"The repairs were made on the copy {Path(copy)}; {Path(image)} is unchanged." in out
    restore = [line.split()[-1] for line in out.splitlines() if "vhdxray restore" in line]
    assert len(restore) == 3
    assert all(Path(b).parent == Path(backups) and str(Path(b)) == b for b in restore)
    assert all(
        json.loads(Path(b).read_text())["image"] == str(Path(copy).resolve()) for b in restore
    )
    Path(copy).unlink()
    code, out, _ = vhdxray(capsys, *argv, "--json")
    run = json.loads(out)["run"]
    assert code == 0 and run["target"] == str(Path(copy)) and run["copied_from"] == str(Path(image))
    assert all(str(Path(b)) == b and Path(b).parent == Path(backups) for b in run["backups"])
    assert [str(Path(b)) for b in run["backups"]] == run["steps"][0]["backups"]


def test_truncated_file_is_refused_with_its_map(
    capsys: pytest.CaptureFixture[str], data_image: Path
) -> None:
    damage.truncate(data_image, data_image.stat().st_size - 512 * 1024)
    code, out, _ = vhdxray(capsys, "repair", str(data_image), "--yes")
    assert code == 2
    assert "Not repaired:" in out and "The file is truncated [truncation]" in out
    assert "virtual bytes" in out and "does not extend the file with zeros" in out
    assert "Nothing can be repaired" in out


def test_not_a_vhdx(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"\x00" * 4096)
    code, _, err = vhdxray(capsys, "repair", str(path), "--yes")
    assert code == 3 and err


def test_region_choice_then_repair(capsys: pytest.CaptureFixture[str], data_image: Path) -> None:
    damage.set_region_count(data_image, 2, 3, fix_crc=False)
    damage.set_region_entry(
        data_image,
        2,
        2,
        guid=uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
        file_offset=4 * MiB,
        length=MiB,
        required=0,
    )
    code, out, _ = vhdxray(capsys, "repair", str(data_image), "--yes")
    assert code == 2
    assert "choose with --region-table-from 1" in out and "choose with --region-table-from 2" in out
    code, out, _ = vhdxray(capsys, "repair", str(data_image), "--yes", "--region-table-from", "1")
    assert code == 0, out
    assert "Rewrite region table copy 2 from copy 1" in out
    assert len([line for line in out.splitlines() if "vhdxray restore" in line]) == 2


def test_disk2vhd_headers(
    capsys: pytest.CaptureFixture[str], real_image: Callable[[str], Path]
) -> None:
    path = real_image("qemu-disk2vhd")
    code, out, _ = vhdxray(capsys, "repair", str(path), "--yes")
    assert code == 0 and "Rewrite both headers [header.update]" in out
    assert read_report(path).current_header == 1


def test_a_locked_image_is_refused(capsys: pytest.CaptureFixture[str], data_image: Path) -> None:
    damage.break_header_checksum(data_image, 1)
    holder = os.open(data_image, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, _, err = vhdxray(capsys, "repair", str(data_image), "--yes")
    finally:
        os.close(holder)
    assert code == 2 and "refused" in err


def test_a_failed_write_exits_1_with_the_backup(
    capsys: pytest.CaptureFixture[str], data_image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vhdxray.core.fileio import pwrite_all as real

    damage.break_header_checksum(data_image, 1)

    def flaky(fd: int, offset: int, data: bytes) -> None:
        real(fd, offset, bytes(len(data)))  # the disk stores something else

    monkeypatch.setattr("vhdxray.core.write.session.pwrite_all", flaky)
    code, out, err = vhdxray(capsys, "repair", str(data_image), "--yes")
    assert code == 1
    assert "FAILED at header.update" in err and "restore the backups" in err
    assert "vhdxray restore" in out


# --- check --parent ----------------------------------------------------------------------------


def test_check_parent(capsys: pytest.CaptureFixture[str], data_image: Path, tmp_path: Path) -> None:
    child = create_child(tmp_path / "child.vhdx", data_image)
    code, out, _ = vhdxray(capsys, "check", str(child), "--parent", str(data_image))
    assert code == 0, out
    assert "The chain is consistent" in out and "[ok] parent_linkage" in out
    code, out, _ = vhdxray(capsys, "check", str(child), "--parent", str(data_image), "--json")
    doc = json.loads(out)
    assert doc["consistent"] is True and doc["linkage"] == "current"
    assert any("parent_linkage" in line for line in doc["locator"])

    other = tmp_path / "other.vhdx"
    shutil.copyfile(data_image, other)
    damage.set_header_field(other, 1, "data_write_guid", uuid.uuid4())
    damage.set_header_field(other, 2, "data_write_guid", uuid.uuid4())
    code, out, _ = vhdxray(capsys, "check", str(child), "--parent", str(other))
    assert code == 2 and "The chain is NOT consistent" in out and "[MISMATCH]" in out

    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(8192))
    code, _, _ = vhdxray(capsys, "check", str(child), "--parent", str(junk))
    assert code == 3


def test_check_parent_escapes_hostile_locator_strings(
    capsys: pytest.CaptureFixture[str], data_image: Path, tmp_path: Path
) -> None:
    child = create_child(tmp_path / "child.vhdx", data_image)
    meta = read_report(child).metadata
    assert meta is not None
    index, entry = next(
        (i, e) for i, e in enumerate(meta.entries) if e.item_id == layout.PARENT_LOCATOR_GUID
    )
    link = meta.parent_locator.get("parent_linkage")  # type: ignore[union-attr]
    assert link is not None
    value = serialise_locator(
        [("parent_linkage", link), ("relative_path", ".\\\x1b[2Jevil\u202eexe.vhdx")]
    )
    damage.write_at(child, meta.offset + entry.offset, value)
    damage.write_at(child, meta.offset + 32 + 32 * index + 20, len(value).to_bytes(4, "little"))
    code, out, _ = vhdxray(capsys, "check", str(child), "--parent", str(data_image))
    assert code == 0  # the identity matches; the path is only a warning
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\x1b[2Jevil\\u202eexe.vhdx" in out


def test_check_child_finds_its_parent_or_fails(
    capsys: pytest.CaptureFixture[str], data_image: Path, tmp_path: Path
) -> None:
    """``check CHILD`` without --parent follows the locator: a missing parent is an error."""
    child = create_child(tmp_path / "child.vhdx", data_image)
    code, out, _ = vhdxray(capsys, "check", str(child))
    assert code == 0, out
    assert "the chain is consistent" in out
    code, out, _ = vhdxray(capsys, "check", str(child), "--json")
    assert json.loads(out)["parent_lookup"]["status"] == "found"
    data_image.rename(tmp_path / "moved.vhdx")
    code, out, _ = vhdxray(capsys, "check", str(child))
    assert code == 2 and "chain.missing" in out and "vhdxray relink" in out
    # The child file is sound: its layer is not "damaged", its chain is broken.
    assert "Layers:    container OK, parent chain broken" in out
    assert "container damaged" not in out
    code, out, _ = vhdxray(capsys, "check", str(child), "--json")
    doc = json.loads(out)
    assert code == 2 and doc["parent_lookup"]["status"] == "missing"
    assert "chain.missing" in [f["code"] for f in doc["findings"]]
    # info does not follow the locator.
    code, out, _ = vhdxray(capsys, "info", str(child))
    assert code == 0


# --- refusals before copying, and results that must reach the user -----------------------------


def test_a_refused_repair_into_a_copy_leaves_no_copy(
    capsys: pytest.CaptureFixture[str], data_image: Path, tmp_path: Path
) -> None:
    damage.break_header_checksum(data_image, 2)
    copy = tmp_path / "copy.vhdx"
    missing = tmp_path / "no-such-folder"
    code, out, err = vhdxray(
        capsys,
        "repair",
        str(data_image),
        "--output",
        str(copy),
        "--backup-dir",
        str(missing),
        "--yes",
    )
    assert code == 2, (out, err)
    assert not copy.exists()
    assert "does not exist" in err and "made on the copy" not in out
    code, out, _ = vhdxray(
        capsys,
        "repair",
        str(data_image),
        "--output",
        str(copy),
        "--backup-dir",
        str(missing),
        "--yes",
        "--json",
    )
    doc = json.loads(out)
    assert code == 2 and not copy.exists()
    assert doc["run"]["error"]["code"] == "backup_failed" and doc["run"]["copied_from"] is None
    # An existing target is refused before anything, too (and left alone).
    copy.write_bytes(b"keep me")
    code, _, err = vhdxray(capsys, "repair", str(data_image), "--output", str(copy), "--yes")
    assert code == 2 and "already exists" in err and copy.read_bytes() == b"keep me"


def _on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)


def test_the_copy_shows_progress_on_a_terminal(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    data_image: Path,
    tmp_path: Path,
) -> None:
    """Copying a WSL disk of hundreds of GiB is most of ``repair --output``: it says so."""
    damage.break_header_checksum(data_image, 2)
    _on_a_terminal(monkeypatch)
    copy = tmp_path / "copy.vhdx"
    code, out, err = vhdxray(capsys, "repair", str(data_image), "--output", str(copy), "--yes")
    assert code == 0, (out, err)
    assert f"Copying {data_image} to {copy}" in out
    last = err.split("\n")[0].split("\r")[-1]
    assert "100.0%" in last and "MB/s" in last
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    assert ri.qemu_check_rc(copy) == 0


def test_ctrl_c_while_copying_cancels_and_removes_the_copy(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    data_image: Path,
    tmp_path: Path,
) -> None:
    """On a terminal ctrl+c stops at the next safe step and says what is left: exit 130, no
    copy, no hidden partial file, the original untouched."""
    from vhdxray.core import fileio
    from vhdxray.core.write import imagecopy

    damage.break_header_checksum(data_image, 2)
    digest = ri.file_sha256(data_image)
    real_read = fileio.pread_exact

    def read_then_ctrl_c(fd: int, offset: int, size: int) -> bytes:
        signal.raise_signal(signal.SIGINT)
        return real_read(fd, offset, size)

    monkeypatch.setattr(imagecopy, "pread_exact", read_then_ctrl_c)
    _on_a_terminal(monkeypatch)
    copy = tmp_path / "copy.vhdx"
    code, out, err = vhdxray(capsys, "repair", str(data_image), "--output", str(copy), "--yes")
    assert code == 130, (out, err)
    assert "stopping at the next safe step" in err
    assert "cancelled at copy" in err and "no copy is left" in err
    assert not copy.exists() and [p.name for p in tmp_path.iterdir() if "copy" in p.name] == []
    assert ri.file_sha256(data_image) == digest
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_result_reaches_stderr_when_stdout_fails(data_image: Path) -> None:
    """stdout on a full disk (/dev/full): with --json nothing is printed before the write, so
    the write is done and its result, with the backup path, goes to stderr; the exit code
    stays the write's (0). Without --json the plan cannot be shown, so nothing is written."""
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is not available here")
    damage.break_header_checksum(data_image, 1)

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        with open("/dev/full", "w") as full:
            return subprocess.run(
                [sys.executable, "-m", "vhdxray", *argv],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
            )

    digest = ri.file_sha256(data_image)
    proc = run("update-headers", str(data_image), "--yes")
    assert proc.returncode == 1 and "No space left" in proc.stderr
    assert ri.file_sha256(data_image) == digest  # the plan was never shown: nothing written
    proc = run("update-headers", str(data_image), "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stderr)
    assert doc["ok"] and Path(doc["backup"]).exists()
    assert not read_report(data_image).errors
    damage.break_header_checksum(data_image, 2)
    proc = run("repair", str(data_image), "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stderr)["run"]["backups"]


FAST_FORMS = [
    ["img.vhdx"],
    ["img.vhdx", "--yes"],
    ["img.vhdx", "--output", "copy.vhdx", "--yes"],
    ["--output", "copy.vhdx", "img.vhdx", "--yes", "--json"],
    ["img.vhdx", "--dry-run", "--from-slot", "2"],
    ["img.vhdx", "--region-table-from", "1", "--backup-dir", "backups"],
    ["img.vhdx", "--parent", "base.vhdx", "--ignore-id-mismatch"],
    ["img.vhdx", "--new-data-write-guid", "--yes"],
]
ARGPARSE_FORMS = [
    [],
    ["--help"],
    ["-h"],
    ["img.vhdx", "--output=copy.vhdx"],
    ["img.vhdx", "--out", "copy.vhdx"],
    ["img.vhdx", "--yes", "--yes"],
    ["img.vhdx", "--from-slot", "3"],
    ["img.vhdx", "--from-slot", "x"],
    ["img.vhdx", "--from-slot", "¹"],
    ["img.vhdx", "--from-slot"],
    ["img.vhdx", "--output", "-copy"],
    ["img.vhdx", "--", "other.vhdx"],
    ["a.vhdx", "b.vhdx"],
    ["img.vhdx", "--no-such-flag"],
    ["img.vhdx", "--from_slot", "1"],
]


@pytest.mark.parametrize("argv", FAST_FORMS)
def test_repair_plain_forms_parse_by_hand_as_argparse_does(argv: list[str]) -> None:
    """``repair``'s hand parser (no argparse at start-up) gives exactly argparse's values."""
    from vhdxray.tui.cli_repair import fast_args

    fast = fast_args(["repair", *argv])
    assert fast is not None
    assert vars(fast) == vars(cli.parser_for("repair").parse_args(argv))


@pytest.mark.parametrize("argv", ARGPARSE_FORMS)
def test_repair_other_forms_go_to_argparse(argv: list[str]) -> None:
    """Help, abbreviations, ``=`` values, repeats, bad values: argparse's own handling."""
    from vhdxray.tui.cli_repair import fast_args

    assert fast_args(["repair", *argv]) is None
