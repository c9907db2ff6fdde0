"""A directory, FIFO, socket or character device named as IMAGE, PARENT or BACKUP.

Every command stats the path before opening it (core.fileio.open_regular) and answers "not a
regular file": exit 3 for ``info``/``check``, 2 for the writes (``update-headers``, ``repair``,
``restore``, ``create --parent``, ``relink``). The commands of one kind run in one subprocess
whose timeout is the hang guard: a FIFO opened for reading would block it forever.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.isolated import run_main
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.write.create import CreateOptions, create_child, create_image
from vhdxray.core.write.update import HeaderUpdatePlan, plan_header_update, run_header_update

KINDS = ("fifo", "socket", "chardev", "directory")


@pytest.fixture
def special(request: pytest.FixtureRequest) -> Iterator[Path]:
    kind = request.param
    # A short folder: a socket path must fit in sun_path (108 bytes).
    with tempfile.TemporaryDirectory(prefix="vx-") as folder:
        path = Path(folder) / kind
        sock = None
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "socket":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(str(path))
            sock.listen(1)
        elif kind == "chardev":
            path = Path("/dev/null")
        else:
            path.mkdir()
        try:
            yield path
        finally:
            if sock is not None:
                sock.close()


@pytest.fixture
def image_and_backup(tmp_path: Path) -> tuple[Path, Path]:
    image = create_image(tmp_path / "good.vhdx", CreateOptions(virtual_size=8 * layout.MiB))
    plan = plan_header_update(read_report(image))
    assert isinstance(plan, HeaderUpdatePlan)
    outcome = run_header_update(image, plan, backup_dir=tmp_path)
    return image, Path(outcome.result.backup_path)


def run_all(commands: list[list[str]]) -> list[tuple[int, str]]:
    return run_main(commands, timeout=60).results


@pytest.mark.skipif(os.name != "posix", reason="FIFOs, sockets and /dev/null are POSIX")
@pytest.mark.parametrize("special", KINDS, indirect=True)
def test_every_command_refuses_a_special_file(
    special: Path, image_and_backup: tuple[Path, Path], tmp_path: Path
) -> None:
    image, backup = image_and_backup
    kid = create_child(tmp_path / "kid.avhdx", image)
    s = str(special)
    cases: list[tuple[list[str], int]] = [
        (["info", s], 3),
        (["info", "--json", s], 3),
        (["check", s], 3),
        (["check", str(image), "--parent", s], 3),
        (["check", s, "--parent", str(image)], 3),
        (["update-headers", "--yes", s], 2),
        (["update-headers", "--dry-run", "--json", s], 2),
        (["repair", "--yes", s], 2),
        (["repair", "--dry-run", "--json", s], 2),
        (["restore", "--yes", s], 2),
        (["restore", "--yes", "--dry-run", str(backup), "--image", s], 2),
        (["create", str(tmp_path / "child.vhdx"), "--parent", s], 2),
        (["relink", "--yes", s, str(image)], 2),
        (["relink", "--dry-run", "--json", s, str(image)], 2),
        (["relink", "--yes", str(kid), s], 2),
    ]
    results = run_all([argv for argv, _ in cases])
    for (argv, expected), (code, err) in zip(cases, results, strict=True):
        assert code == expected, (argv, code, err)
        assert "not a regular file" in err, (argv, err)
        assert "internal error" not in err and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "child.vhdx").exists()


@pytest.mark.skipif(os.name != "posix", reason="FIFOs are POSIX")
def test_json_says_not_regular(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "vhdxray", "info", "--json", str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    doc = json.loads(done.stdout)
    assert doc["kind"] == "not_regular"
    assert doc["is_vhdx"] is False
    assert any(f["code"] == "file.not_regular" for f in doc["findings"])
