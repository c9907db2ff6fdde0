"""fileio.NewFile: the one way a new file is made (exclusive create, removed on error,
fsynced with its directory on success)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vhdxray.core import fileio
from vhdxray.core.fileio import NewFile, write_all
from vhdxray.core.progress import Cancelled


def test_success_keeps_the_file_and_fsyncs_file_and_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync, real_dir = os.fsync, fileio.fsync_dir

    def fsync(fd: int) -> None:
        synced.append("fsync")
        real_fsync(fd)

    def fsync_dir(directory: str | os.PathLike[str]) -> None:
        synced.append(str(directory))
        real_dir(directory)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(fileio, "fsync_dir", fsync_dir)
    target = tmp_path / "new.bin"
    with NewFile(target) as fd:
        write_all(fd, b"hello")
    assert target.read_bytes() == b"hello"
    assert synced[0] == "fsync" and str(tmp_path) in synced


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), Cancelled()])
def test_an_error_in_the_block_removes_the_partial_file(
    tmp_path: Path, error: BaseException
) -> None:
    target = tmp_path / "partial.bin"
    with pytest.raises(type(error)), NewFile(target) as fd:
        write_all(fd, b"half")
        raise error
    assert not target.exists()


def test_never_over_an_existing_file_or_through_a_link(tmp_path: Path) -> None:
    existing = tmp_path / "there.bin"
    existing.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        NewFile(existing)
    assert existing.read_bytes() == b"keep"
    link = tmp_path / "link.bin"
    link.symlink_to(tmp_path / "elsewhere.bin")
    with pytest.raises(FileExistsError):
        NewFile(link)
    assert not (tmp_path / "elsewhere.bin").exists()


def test_not_durable_skips_the_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "fsync", lambda fd: pytest.fail("fsync called"))
    target = tmp_path / "quick.bin"
    with NewFile(target, durable=False) as fd:
        write_all(fd, b"x")
    assert target.read_bytes() == b"x"
