"""fileio: holes known without reading (``is_hole``, used by the log probe), and publishing a
finished file under its name without replacing one (``temp_name``, ``publish``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vhdxray.core import fileio

SECTOR = 4096
MiB = 1024 * 1024


def _sparse(path: Path, size: int, writes: dict[int, bytes]) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, size)
    for offset, data in writes.items():
        os.pwrite(fd, data, offset)
    os.fsync(fd)
    return fd


def _holes_reported(fd: int) -> bool:
    """Whether this filesystem reports holes (a file system without SEEK_DATA support treats
    the whole file as data, which is correct but tells nothing)."""
    try:
        return os.lseek(fd, 0, os.SEEK_DATA) > 0
    except OSError:
        return True  # ENXIO: no data at all


def test_a_hole_is_known_without_reading_and_the_probe_maps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fd = _sparse(tmp_path / "f", 8 * MiB, {6 * MiB: b"loge" + bytes(SECTOR - 4)})
    try:
        if not _holes_reported(fd):
            pytest.skip("this filesystem does not report holes (SEEK_DATA)")
        assert fileio.is_hole(fd, MiB, MiB)
        assert not fileio.is_hole(fd, 5 * MiB, 2 * MiB)  # the written sector is inside
        assert fileio.is_hole(fd, 7 * MiB, MiB)  # after the last data: ENXIO or past the range

        import mmap

        def no_mapping(*_args: object, **_kwargs: object) -> mmap.mmap:
            raise AssertionError("a hole was mapped")

        monkeypatch.setattr(mmap, "mmap", no_mapping)
        assert fileio.probe_sectors(fd, MiB, MiB, SECTOR, b"loge") == []
        monkeypatch.undo()
        assert fileio.probe_sectors(fd, 4 * MiB, 4 * MiB, SECTOR, b"loge") == [2 * MiB]
    finally:
        os.close(fd)


def test_written_zeros_are_not_a_hole(tmp_path: Path) -> None:
    fd = _sparse(tmp_path / "f", 2 * MiB, {0: bytes(2 * MiB)})
    try:
        assert not fileio.is_hole(fd, 0, 2 * MiB)
        assert fileio.probe_sectors(fd, 0, 2 * MiB, SECTOR, b"loge") == []
    finally:
        os.close(fd)


def test_publish_gives_the_name_and_never_replaces_a_file(tmp_path: Path) -> None:
    target = tmp_path / "out.raw"
    temp = Path(fileio.temp_name(target))
    assert temp.parent == tmp_path and temp.name.startswith(".out.raw.vhdxray-partial-")
    temp.write_bytes(b"new")
    fileio.publish(temp, target)
    assert target.read_bytes() == b"new" and not temp.exists()

    other = Path(fileio.temp_name(target))
    assert other != temp
    other.write_bytes(b"newer")
    with pytest.raises(FileExistsError):
        fileio.publish(other, target)
    assert target.read_bytes() == b"new" and other.exists()  # the caller removes it

    link = tmp_path / "dangling.raw"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        fileio.publish(other, link)
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("name", ["a" * 250 + ".raw", "é" * 124 + ".raw", "x.raw"])
def test_the_temporary_name_fits_where_the_target_name_fits(tmp_path: Path, name: str) -> None:
    """An OUTPUT with a long (legal) name: its hidden temporary, 26 bytes longer, was
    refused with "File name too long", so the export or copy could not be made at all."""
    target = tmp_path / name
    target.write_bytes(b"the name fits")
    target.unlink()
    temp = Path(fileio.temp_name(target))
    assert len(os.fsencode(temp.name)) <= 255 and temp.parent == tmp_path
    assert temp.name.startswith("." + name[:40]) and ".vhdxray-partial-" in temp.name
    temp.name.encode("utf-8")  # not cut inside a character (no escaped byte)
    temp.write_bytes(b"partial")
    fileio.publish(temp, target)
    assert target.read_bytes() == b"partial"
