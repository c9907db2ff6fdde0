"""The scan's parts: the walk (patterns, excludes, links never followed) and the in-use probe
(real locks taken by another open file: vhdxray's writer locks, flock), and the scan itself
streaming lines and stopping when cancelled."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from tests.tui.helpers import make_image
from vhdxray.core.analysis import inuse
from vhdxray.core.analysis.scan import ScanOptions, scan
from vhdxray.core.analysis.walk import Matcher, walk
from vhdxray.core.progress import Cancelled, Progress
from vhdxray.core.write.locking import lock_image


def names(root: Path, matcher: Matcher) -> list[str]:
    return sorted(os.path.relpath(f.path, root) for f in walk([root], matcher))


def test_walk_patterns_and_excludes(tmp_path: Path) -> None:
    for rel in ["a.vhdx", "B.VHDX", "c.avhdx", "d.vhd", "e.txt", "sub/f.vhdx", "skip/g.vhdx"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert names(tmp_path, Matcher()) == [
        "B.VHDX", "a.vhdx", "c.avhdx", "skip/g.vhdx", "sub/f.vhdx",
    ]  # fmt: skip
    assert "d.vhd" in names(tmp_path, Matcher(include=["*.VHD"]))
    assert names(tmp_path, Matcher(exclude=["skip", "B.*"])) == ["a.vhdx", "c.avhdx", "sub/f.vhdx"]
    assert names(tmp_path, Matcher(exclude=["sub/*"])) == [
        "B.VHDX", "a.vhdx", "c.avhdx", "skip/g.vhdx",
    ]  # fmt: skip


def test_walk_never_follows_folder_links(tmp_path: Path) -> None:
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    (tree / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "x.vhdx").write_bytes(b"x")
    (tree / "sub" / "a.vhdx").write_bytes(b"x")
    (tree / "out").symlink_to(outside, target_is_directory=True)
    (tree / "sub" / "loop").symlink_to(tree, target_is_directory=True)
    (tree / "sub" / "self.vhdx").symlink_to(tree / "sub" / "self.vhdx")  # a file link loop
    assert names(tree, Matcher()) == ["sub/a.vhdx", "sub/self.vhdx"]


def test_walk_named_file_and_missing_root(tmp_path: Path) -> None:
    named = tmp_path / "disk.img"
    named.write_bytes(b"x")
    found = list(walk([named, tmp_path / "missing"], Matcher()))
    assert [f.path for f in found] == [str(named), str(tmp_path / "missing")]
    assert all(f.error is None for f in found)  # the scan reports the missing one as check does


def test_walk_twice_named_folder_read_once(tmp_path: Path) -> None:
    (tmp_path / "a.vhdx").write_bytes(b"x")
    assert len(list(walk([tmp_path, tmp_path], Matcher()))) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder (see test_scan_cli)")
def test_walk_unreadable_folder_is_a_line(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir()
    closed.chmod(0)
    try:
        (found,) = walk([tmp_path], Matcher())
        assert found.path == str(closed) and found.error and "Permission denied" in found.error
    finally:
        closed.chmod(0o755)


def test_in_use_sees_writer_locks_and_exclusive_flock(tmp_path: Path) -> None:
    image = make_image(tmp_path / "a.vhdx")
    before = (image.read_bytes(), image.stat().st_mtime_ns)
    assert inuse.in_use(image) is False
    fd = os.open(image, os.O_RDWR)
    try:
        lock_image(fd)  # what vhdxray's writer holds (flock + QEMU's bytes)
        assert inuse.in_use(image) is True
    finally:
        os.close(fd)
    assert inuse.in_use(image) is False
    fd = os.open(image, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert inuse.in_use(image) is True
        fcntl.flock(fd, fcntl.LOCK_SH)  # a shared reader is not "in use"
        assert inuse.in_use(image) is False
    finally:
        os.close(fd)
    # The probe left nothing behind: a writer can lock at once, and no byte changed.
    fd = os.open(image, os.O_RDWR)
    try:
        lock_image(fd)
    finally:
        os.close(fd)
    assert (image.read_bytes(), image.stat().st_mtime_ns) == before


def test_in_use_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert inuse.in_use(tmp_path / "missing.vhdx") is None
    image = make_image(tmp_path / "a.vhdx")
    monkeypatch.setattr(inuse, "filesystem_type", lambda path, st_dev=None: "cifs")
    assert inuse.in_use(image) is None  # a lock on another SMB client would be invisible


def test_filesystem_type() -> None:
    assert inuse.filesystem_type("/proc/self/status") == "proc"


def test_scan_streams_and_cancels(tmp_path: Path) -> None:
    for i in range(6):
        make_image(tmp_path / f"d{i}.vhdx")
    progress = Progress(unit="files")
    lines = list(scan([tmp_path], ScanOptions(jobs=2), progress))
    assert sorted(line["path"] for line in lines) == sorted(
        str(tmp_path / f"d{i}.vhdx") for i in range(6)
    )
    assert (progress.done, progress.total) == (6, 6)
    progress = Progress(unit="files")
    stream = scan([tmp_path], ScanOptions(jobs=1), progress)
    next(stream)
    progress.cancel()
    with pytest.raises(Cancelled):
        list(stream)


def test_scan_in_processes(tmp_path: Path) -> None:
    make_image(tmp_path / "a.vhdx")
    (line,) = scan([tmp_path], ScanOptions(jobs=2, processes=True))
    assert line["verdict"] == "ok" and line["in_use"] is False


def test_names_that_are_not_utf8(tmp_path: Path) -> None:
    """A file name with bytes that are not UTF-8 is scanned, and its line is valid JSON that
    gives the exact bytes back."""
    import json

    raw = os.fsencode(tmp_path) + b"/bad\xff\x1b.vhdx"
    make_image(Path(os.fsdecode(raw)))
    (line,) = scan([tmp_path])
    assert line["verdict"] == "ok"
    text = json.dumps(line, ensure_ascii=True)
    assert "\\udcff" in text and "\\u001b" in text
    assert os.fsencode(json.loads(text)["path"]) == raw


def test_walk_file_named_and_inside_a_named_folder_is_one_line(tmp_path: Path) -> None:
    """``scan FOLDER FOLDER/a.vhdx`` (or the other order, or the file named twice) reads
    a.vhdx once: every file gets exactly one line."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.vhdx").write_bytes(b"x")
    (tmp_path / "b.vhdx").write_bytes(b"x")
    named = tmp_path / "sub" / "a.vhdx"
    for roots in (
        [tmp_path, named],
        [named, tmp_path],
        [named, Path(f"{tmp_path}/sub/./a.vhdx"), tmp_path],
    ):
        found = [os.path.relpath(f.path, tmp_path) for f in walk(roots, Matcher())]
        assert sorted(found) == ["b.vhdx", "sub/a.vhdx"], roots
