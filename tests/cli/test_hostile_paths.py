"""Paths as an administrator meets them, in what the commands print.

A newline, ESC or BEL in a name reaches the terminal escaped, never raw (``update-headers``,
``restore``, ``create``); a space or quote in a path is quoted in every command printed for
the user to run; a name too long for its backup's name, and an image moved since its backup,
are refused with what to do.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests import damage
from tests.cli.test_cli import run
from vhdxray.core.format.text import printable
from vhdxray.core.write.create import CreateOptions, create_image
from vhdxray.tui.outcome import shell_word

MiB = 1 << 20
HOSTILE = "evil\n\x1b[31mRED\x1b]2;PWNED\x07.vhdx"


def _raw_controls(text: str) -> list[str]:
    """Control characters other than the line ends the command itself prints."""
    return [c for c in text if (ord(c) < 0x20 and c != "\n") or c == "\x7f"]


def _lines_without_hostile_break(text: str) -> bool:
    """No printed line ends inside the hostile name (its newline was escaped)."""
    return not any(line.endswith("evil") for line in text.splitlines())


@pytest.fixture
def hostile_image(tmp_path: Path) -> Path:
    return create_image(tmp_path / HOSTILE, CreateOptions(virtual_size=8 * MiB))


def test_update_headers_and_restore_print_hostile_paths_escaped(hostile_image: Path) -> None:
    done = run("update-headers", "--yes", str(hostile_image))
    assert done.returncode == 0, done.stderr
    assert _raw_controls(done.stdout) == [] and _lines_without_hostile_break(done.stdout)
    backup = next(hostile_image.parent.glob("*.vhdxray-backup-update-headers-*"))
    assert f"Undo with: vhdxray restore {printable(shell_word(str(backup)))}" in done.stdout

    for args in (("--dry-run",), ("--yes",)):
        restored = run("restore", *args, str(backup))
        assert restored.returncode == 0, restored.stderr
        assert _raw_controls(restored.stdout) == [], args
        assert _lines_without_hostile_break(restored.stdout), args
        assert f"Image: {printable(str(hostile_image))}" in restored.stdout
    assert "saved in" in restored.stdout


def test_create_prints_a_hostile_path_escaped(tmp_path: Path) -> None:
    done = run("create", str(tmp_path / HOSTILE), "--size", "8M")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / HOSTILE).is_file()
    assert _raw_controls(done.stdout) == [] and _lines_without_hostile_break(done.stdout)
    assert printable(str(tmp_path / HOSTILE)) in done.stdout


@pytest.mark.parametrize(
    "name", ["plain.vhdx", "my disk.vhdx", "it's here.vhdx", 'a "b" $HOME `x` ;&|.vhdx']
)
def test_shell_word_is_one_word_to_a_posix_shell(name: str) -> None:
    word = shell_word(f"/mnt/c/Virtual Hard Disks/{name}")
    assert shlex.split(f"vhdxray restore {word}") == [
        "vhdxray",
        "restore",
        f"/mnt/c/Virtual Hard Disks/{name}",
    ]
    assert shell_word("/tmp/plain-1_2.vhdx") == "/tmp/plain-1_2.vhdx"  # nothing to quote


def test_printed_commands_run_as_printed_with_spaces_in_the_path(tmp_path: Path) -> None:
    """Hyper-V's "Virtual Hard Disks" folder, WSL's /mnt/c/Users/John Smith: the ``Repair:``
    line, every ``vhdxray restore`` line and export's next step quote the path."""
    folder = tmp_path / "Virtual Hard Disks"
    folder.mkdir()
    image = create_image(folder / "John's disk.vhdx", CreateOptions(virtual_size=8 * MiB))
    damage.break_header_checksum(image, 1)
    check = run("check", str(image))
    repair_line = next(x for x in check.stdout.splitlines() if x.startswith("Repair:"))
    assert shlex.split(repair_line.split(":", 1)[1]) == ["vhdxray", "repair", str(image)]

    done = run("repair", "--yes", str(image))
    assert done.returncode == 0, done.stderr
    restore = next(x for x in done.stdout.splitlines() if "vhdxray restore " in x)
    argv = shlex.split(restore)
    assert argv[:2] == ["vhdxray", "restore"] and len(argv) == 3
    undone = run(*argv[1:], "--yes")
    assert undone.returncode == 0, undone.stderr

    update = run("update-headers", "--yes", str(image))
    undo = next(x for x in update.stdout.splitlines() if x.startswith("Undo with: "))
    assert shlex.split(undo.removeprefix("Undo with: "))[2:] == [
        str(next(folder.glob("*update-headers*.json")))
    ]

    out = folder / "out put.raw"
    export = run("export", str(image), str(out))
    assert export.returncode == 0, export.stderr
    assert f"e2fsck -f {shlex.quote(str(out))}`" in export.stdout


def test_an_image_name_too_long_for_its_backup_name_is_said_so(tmp_path: Path) -> None:
    """A 240-byte image name (legal) leaves no room for ``.vhdxray-backup-...json``: the
    refusal says to shorten the name, and no longer suggests another backup folder, where the
    same name is just as long."""
    image = create_image(tmp_path / ("a" * 235 + ".vhdx"), CreateOptions(virtual_size=8 * MiB))
    digest = image.read_bytes()
    done = run("update-headers", "--yes", "--json", str(image))
    doc = json.loads(done.stdout)
    assert done.returncode == 2 and doc["code"] == "backup_failed", doc
    assert doc["suggest"] == [] and "shorter name" in doc["reason"]
    text = run("update-headers", "--yes", "--backup-dir", str(tmp_path), str(image))
    assert text.returncode == 2 and "--backup-dir" not in text.stderr
    assert image.read_bytes() == digest


def test_restore_of_a_moved_image_names_image_option(tmp_path: Path) -> None:
    """The backup records the image's path; when the image was moved since, the refusal
    says how to name its new place."""
    image = create_image(tmp_path / "disk.vhdx", CreateOptions(virtual_size=8 * MiB))
    assert run("update-headers", "--yes", str(image)).returncode == 0
    backup = next(tmp_path.glob("*.vhdxray-backup-*.json"))
    moved = image.rename(tmp_path / "moved.vhdx")
    done = run("restore", "--dry-run", str(backup))
    assert done.returncode == 2 and "--image PATH" in done.stderr
    again = run("restore", "--dry-run", str(backup), "--image", str(moved))
    assert again.returncode == 0, again.stderr


def test_restore_names_a_missing_backup_folder(tmp_path: Path) -> None:
    """It said "cannot create the backup file nowhere/...; the backups can go to another
    folder" for the folder the user had just named."""
    image = create_image(tmp_path / "disk.vhdx", CreateOptions(virtual_size=8 * MiB))
    assert run("update-headers", "--yes", str(image)).returncode == 0
    backup = next(tmp_path.glob("*.vhdxray-backup-*.json"))
    changed = image.read_bytes()
    missing = tmp_path / "nowhere"
    done = run("restore", "--yes", "--backup-dir", str(missing), str(backup))
    assert done.returncode == 2
    assert f"the backup folder {missing} does not exist" in done.stderr
    assert image.read_bytes() == changed
