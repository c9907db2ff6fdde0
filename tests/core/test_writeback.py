"""Writeback: the ranges a copy reports are handed to the kernel (or a flushing thread) as the
copy goes on, and finish() leaves the file's bytes on disk (fsync) unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vhdxray.core.fileio import create_new, pwrite_all
from vhdxray.core.write import writeback
from vhdxray.core.write.writeback import Writeback

STEP = 64 * 1024


def _write(path: Path, wb_kwargs: dict[str, bool]) -> tuple[Writeback, bytes]:
    data = os.urandom(10 * STEP + 123)
    fd = create_new(path)
    wb = Writeback(fd, step=STEP, **wb_kwargs)
    try:
        # ascending pieces, then one out of order (a VHDX's structures are written last)
        for pos in range(STEP, len(data), 4096):
            piece = data[pos : pos + 4096]
            pwrite_all(fd, pos, piece)
            wb.wrote(pos, len(piece))
        pwrite_all(fd, 0, data[:STEP])
        wb.wrote(0, STEP)
        wb.finish()
    finally:
        wb.close()
        os.close(fd)
    return wb, data


@pytest.mark.skipif(writeback.sync_file_range() is None, reason="no sync_file_range here")
def test_sync_file_range_is_used_as_the_copy_goes(tmp_path: Path) -> None:
    wb, data = _write(tmp_path / "out", {})
    assert wb._flush is None  # the kernel call was accepted: no fallback thread
    assert wb.kicks >= 10  # every STEP finished, plus the out-of-order piece
    assert (tmp_path / "out").read_bytes() == data


def test_fallback_thread_flushes_and_stops(tmp_path: Path) -> None:
    wb, data = _write(tmp_path / "out", {"use_sync_file_range": False})
    assert wb.kicks >= 10
    assert wb._flush is None  # ended by finish
    assert (tmp_path / "out").read_bytes() == data


def test_nothing_written_means_no_kick(tmp_path: Path) -> None:
    fd = create_new(tmp_path / "out")
    wb = Writeback(fd, step=STEP)
    try:
        wb.wrote(0, 0)
        wb.finish()
    finally:
        wb.close()
        os.close(fd)
    assert wb.kicks == 0


@pytest.mark.skipif(writeback.sync_file_range() is None, reason="no sync_file_range here")
def test_ranges_far_behind_are_waited_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writeback, "LAG", 3 * STEP)
    wb, data = _write(tmp_path / "out", {})
    assert 0 < wb._behind <= 3 * STEP  # older ranges were waited for and dropped
    assert (tmp_path / "out").read_bytes() == data
