"""``vhdxray scan``: a tree of real files, one JSON line each agreeing with ``check --json``,
exit codes, links never followed out of the tree, and an image qemu-nbd serves shows in use."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import run
from tests.conftest import require
from tests.scantree import CONTROL_NAME, Tree, build_tree
from tests.tui.helpers import make_image
from vhdxray.tui import cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return build_tree(tmp_path_factory.mktemp("scan"))


def scan_lines(*args: str) -> tuple[list[dict[str, Any]], subprocess.CompletedProcess[str]]:
    done = run("scan", "--json", *args)
    assert done.returncode in (0, 2), done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()], done


def check_json(path: str) -> dict[str, Any]:
    done = run("check", "--json", path)
    assert done.returncode in (0, 2, 3), done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def expected_from_check(doc: dict[str, Any]) -> dict[str, Any]:
    """The scan line's fields as ``check --json`` states them for the same file."""
    findings = doc["findings"]
    lookup = doc.get("parent_lookup")
    level = doc["verdict"]["level"]
    if doc["kind"] in ("unreadable", "not_regular"):
        level = "unreadable"
    return {
        "path": doc["path"],
        "kind": doc["kind"],
        "is_vhdx": doc["is_vhdx"],
        "file_size": doc["file_size"],
        "disk_type": doc["disk_type"],
        "virtual_size": doc["virtual_size"],
        "current_header": doc["current_header"],
        "replay_needed": None if doc["log"] is None else doc["log"]["replay_needed"],
        "verdict": level,
        "headline": doc["verdict"]["headline"],
        "next_step": doc["verdict"]["next_step"],
        "suggest": doc["verdict"]["suggest"],
        "errors": [f["code"] for f in findings if f["severity"] == "error"],
        "warnings": [f["code"] for f in findings if f["severity"] == "warning"],
        "parent": None
        if lookup is None
        else {k: lookup[k] for k in ("status", "reason", "path", "via")},
        "guest": guest_from_check(doc),
    }


def guest_from_check(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The compact guest the scan gives, from ``check --json``'s ``guest``/``guest_error``."""
    guest, error = doc.get("guest"), doc.get("guest_error")
    if guest is None and error is None:
        return None
    if guest is None:
        assert error is not None
        return {
            "level": None, "partition_table": None, "filesystems": [], "findings": [],
            "error": error["code"],
        }  # fmt: skip
    filesystems = [guest["filesystem"]["type"]] if guest["filesystem"] else []
    filesystems += [p["filesystem"]["type"] for p in guest["partitions"] if p["filesystem"]]
    return {
        "level": guest["level"],
        "partition_table": guest["partition_table"],
        "filesystems": filesystems,
        "findings": [f["code"] for f in guest["findings"] if f["severity"] in ("error", "warning")],
        "error": None,
    }


def test_one_line_per_file_agreeing_with_check(tree: Tree) -> None:
    lines, done = scan_lines("--include", "*.vhd", str(tree.root))
    assert done.returncode == 2  # damaged images are in the tree
    by_path = {line["path"]: line for line in lines}
    assert len(by_path) == len(lines), "a file was reported twice"
    assert set(by_path) == set(tree.expected), "wrong set of files (links followed?)"
    for outside in tree.outside:
        assert outside not in by_path
    for path, line in by_path.items():
        assert list(line) == [
            "path", "kind", "is_vhdx", "file_size", "disk_type", "virtual_size",
            "current_header", "replay_needed", "in_use", "verdict", "headline", "next_step",
            "suggest", "errors", "warnings", "parent", "guest", "seconds",
        ]  # fmt: skip
        want = expected_from_check(check_json(path))
        got = {k: line[k] for k in want}
        assert got == want, f"{tree.expected[path]}: {path}"


def test_verdicts_and_chain_status(tree: Tree) -> None:
    lines, _ = scan_lines("--include", "*.vhd", str(tree.root))
    tag = {tree.expected[line["path"]]: line for line in lines}
    assert tag["clean"]["verdict"] == "ok" and tag["clean"]["errors"] == []
    assert tag["clean"]["in_use"] is False
    assert tag["damaged-header"]["verdict"] == "error"
    assert "header.slot2.checksum" in tag["damaged-header"]["errors"]
    assert tag["damaged-region"]["verdict"] == "error"
    assert tag["truncated"]["verdict"] == "error"
    assert "file.truncated" in tag["truncated"]["errors"]
    assert tag["no-valid-header"]["current_header"] is None
    # No slot is valid: no slot to suggest (a valid one would be data here, never a flag).
    assert tag["no-valid-header"]["suggest"] == []
    assert "--" not in tag["no-valid-header"]["next_step"]
    assert tag["not-vhdx"]["verdict"] == "not_vhdx" and tag["not-vhdx"]["kind"] == "unknown"
    assert tag["empty"]["kind"] == "empty"
    assert tag["zeros"]["kind"] == "zeros"
    assert tag["link-loop"]["verdict"] == "unreadable"
    assert tag["link-loop"]["errors"] == ["file.unreadable"]
    assert tag["dangling"]["verdict"] == "unreadable"
    assert tag["fifo"]["verdict"] == "unreadable" and tag["fifo"]["in_use"] is None
    assert tag["child-found"]["parent"]["status"] == "found"
    assert tag["child-found"]["parent"]["path"] == str(tree.root / "chains" / "base.vhdx")
    assert tag["child-missing"]["parent"]["status"] == "missing"
    assert tag["child-found"]["parent"]["reason"] == "found"
    assert tag["child-missing"]["parent"]["reason"] == "missing"
    assert tag["child-mismatch"]["parent"]["status"] == "mismatch"
    assert tag["child-mismatch"]["parent"]["reason"] == "modified"
    assert "chain.modified" in tag["child-mismatch"]["errors"]
    assert "chain.missing" in tag["child-missing"]["errors"]
    assert tag["child-missing"]["verdict"] == "error"
    assert tag["parent"]["parent"] is None
    if "vhd" in tag:
        assert tag["vhd"]["kind"] == "vhd" and tag["vhd"]["verdict"] == "not_vhdx"
        assert tag["qemu-clean"]["verdict"] == "ok"  # only writer habits
    for line in lines:
        assert (line["guest"] is not None) == line["is_vhdx"]
        assert line["seconds"] >= 0
    assert tag["child-missing"]["guest"]["error"] == "parent_missing"
    no_guest, _ = scan_lines("--no-guest", str(tree.root))
    assert all(line["guest"] is None for line in no_guest)


def test_default_patterns_skip_other_names(tree: Tree) -> None:
    lines, _ = scan_lines(str(tree.root))
    paths = {line["path"] for line in lines}
    assert not any(p.endswith(".vhd") for p in paths)
    assert str(tree.root / "users" / "bob" / "Profile_bob.VHDX") in paths  # any case


def test_exclude_prunes_folders_and_files(tree: Tree) -> None:
    lines, _ = scan_lines("--exclude", "broken", "--exclude", "*.avhdx", str(tree.root))
    paths = {line["path"] for line in lines}
    assert paths
    assert not any("/broken/" in p or p.endswith(".avhdx") for p in paths)


def test_control_characters_escaped(tree: Tree) -> None:
    lines, done = scan_lines(str(tree.root))
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert str(tree.root / CONTROL_NAME) in {line["path"] for line in lines}
    human = run("scan", str(tree.root))
    assert "\x1b" not in human.stdout and "\x07" not in human.stdout


def test_exit_codes(tmp_path: Path, tree: Tree) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    make_image(clean / "a.vhdx")
    make_image(clean / "b.avhdx")
    done = run("scan", str(clean))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok" in done.stdout and "No image needs attention." in done.stdout
    assert run("scan", str(tree.root)).returncode == 2
    assert run("scan", str(tmp_path / "nothing-here")).returncode == 2  # cannot be read
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run("scan", str(empty))
    assert done.returncode == 0 and "No image files found." in done.stdout
    # A VHD included on purpose is identified, not an error of the scan.
    if shutil.which("qemu-img"):
        vhd = tmp_path / "vhd"
        vhd.mkdir()
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "vpc", str(vhd / "x.vhd"), "16M"], check=True
        )
        lines, done = scan_lines("--include", "*.vhd", str(vhd))
        assert done.returncode == 0 and lines[0]["kind"] == "vhd"


@pytest.mark.parametrize("jobs", ["0", "-3", "two"])
def test_a_jobs_count_below_one_is_a_bad_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str
) -> None:
    """It was taken silently as 1."""
    make_image(tmp_path / "a.vhdx")
    with pytest.raises(SystemExit) as stop:
        cli.main(["scan", "--jobs", jobs, str(tmp_path)])
    assert stop.value.code == 2
    assert "--jobs" in capsys.readouterr().err
    assert cli.main(["scan", "--jobs", "1", str(tmp_path)]) == 0


def test_errors_only(tree: Tree) -> None:
    lines, done = scan_lines("--errors-only", str(tree.root))
    assert done.returncode == 2
    assert lines and all(line["verdict"] in ("error", "unreadable", "not_vhdx") for line in lines)
    assert not any(tree.expected[line["path"]] == "clean" for line in lines)


def test_own_failure_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_image(tmp_path / "a.vhdx")

    def boom(path: str, guest: bool = True) -> dict[str, Any]:
        raise RuntimeError("reader bug")

    monkeypatch.setattr("vhdxray.core.analysis.scan.scan_one", boom)
    monkeypatch.delenv("VHDXRAY_DEBUG", raising=False)
    assert cli.main(["scan", str(tmp_path)]) == 1
    assert "reader bug" in capsys.readouterr().err


def test_human_summary(tree: Tree) -> None:
    done = run("scan", "--include", "*.vhd", str(tree.root))
    out = done.stdout
    assert done.returncode == 2
    assert f"Scanned {len(tree.expected)} files" in out
    for level in ("error", "unreadable", "not_vhdx", "ok"):
        assert f"  {level}" in out
    table = out.split("Needs attention (worst first):\n", 1)[1]
    order = [line.split()[0] for line in table.splitlines() if line and not line[0].isspace()]
    ranks = {"error": 0, "unreadable": 1, "not_vhdx": 2, "warning": 3, "ok": 4}
    assert order == sorted(order, key=ranks.__getitem__), "worst first"
    assert "Profile_bob.VHDX" in table and "Safe to update headers." in table
    assert "parent missing" in table and "parent mismatch: modified" in table
    assert "Profile_alice" not in table  # a clean image needs no attention
    assert "\\x1b" not in table  # the control-name image is clean: not listed


NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Path]:
    """An image served read-write by qemu-nbd (a real QEMU holding its image locks)."""
    require("qemu-nbd", "qemu-utils")
    image = make_image(tmp_path / "served.vhdx")
    sock = tmp_path / "nbd.sock"
    pid_file = tmp_path / "nbd.pid"
    subprocess.run(
        ["qemu-nbd", "--fork", "-f", "vhdx", "-k", str(sock), "--pid-file", str(pid_file),
         str(image)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    try:
        yield image
    finally:
        os.kill(pid, 15)
        while time.monotonic() < deadline + 10:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)


def test_qemu_nbd_image_in_use(served: Path) -> None:
    idle = make_image(served.parent / "idle.vhdx")
    before = served.read_bytes()
    lines, _ = scan_lines(str(served.parent))
    by_path = {line["path"]: line for line in lines}
    assert by_path[str(served)]["in_use"] is True
    assert by_path[str(idle)]["in_use"] is False
    assert served.read_bytes() == before  # nothing written


def test_unreadable_file_and_folder_as_another_user(tmp_path: Path) -> None:
    """Permission errors are lines of their own. Root reads everything, so the scan runs as
    ``nobody`` (and the test skips when it cannot switch user)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the scan as another user (as non-root, chmod 000 works)")
    base = Path(
        subprocess.check_output(["mktemp", "-d", "/tmp/vhdxray-perm-XXXXXX"], text=True).strip()
    )
    try:
        base.chmod(0o755)
        make_image(base / "readable.vhdx").chmod(0o644)
        secret = make_image(base / "secret.vhdx")
        secret.chmod(0o000)
        closed = base / "closed"
        closed.mkdir()
        make_image(closed / "inside.vhdx")
        closed.chmod(0o000)
        script = Path(sys.executable).with_name("vhdxray")
        probe = subprocess.run(
            [*NOBODY, str(script), "--version"], capture_output=True, text=True
        )  # fmt: skip
        if probe.returncode != 0:
            pytest.skip(f"cannot run vhdxray as nobody: {probe.stderr.strip()[:200]}")

        def as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*NOBODY, str(script), *args],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip

        done = as_nobody("scan", "--json", str(base))
        assert done.returncode == 2, done.stderr
        by_path = {line["path"]: line for line in map(json.loads, done.stdout.splitlines())}
        assert set(by_path) == {str(base / "readable.vhdx"), str(secret), str(closed)}
        assert by_path[str(base / "readable.vhdx")]["verdict"] == "ok"
        assert by_path[str(secret)]["verdict"] == "unreadable"
        assert by_path[str(secret)]["errors"] == ["file.unreadable"]
        assert by_path[str(closed)]["verdict"] == "unreadable"
        assert "Permission denied" in by_path[str(closed)]["headline"]
        check = json.loads(as_nobody("check", "--json", str(secret)).stdout)
        assert expected_from_check(check) == {
            k: by_path[str(secret)][k] for k in expected_from_check(check)
        }
    finally:
        closed.chmod(0o755)
        shutil.rmtree(base)
