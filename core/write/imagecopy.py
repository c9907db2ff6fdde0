"""Sparse-aware reading and copying of image files.

A VHDX is mostly holes or zeros (unallocated space, empty log, padding). Two helpers here
avoid touching those bytes: :func:`~vhdxray.core.fileio.data_segments` lists the parts of a
range that may hold data (``SEEK_DATA``/``SEEK_HOLE`` where the platform has them), and
:func:`copy_image` makes a new file with the same bytes, leaving holes where the source has
holes or zero chunks, under a hidden name until it is published (:class:`StagedCopy`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

from vhdxray.core.fileio import (
    NewFile,
    data_segments,
    path_text,
    pread_exact,
    publish,
    pwrite_all,
    temp_name,
)
from vhdxray.core.format import layout
from vhdxray.core.progress import Progress
from vhdxray.core.write.writeback import BackgroundFlush

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

CHUNK: Final = layout.MiB
ZERO_CHUNK: Final = bytes(CHUNK)


def _all_zero(chunk: bytes) -> bool:
    """True when ``chunk`` (at most CHUNK bytes) holds only zero bytes. A comparison with
    zeros (memcmp) is many times faster than ``bytes.count(0)``, which counts byte by byte."""
    return chunk == (ZERO_CHUNK if len(chunk) == CHUNK else bytes(len(chunk)))


_FRESH_COPIES: set[tuple[int, int]] = set()  # (st_dev, st_ino) of the copies made here


def is_fresh_copy(fd: int) -> bool:
    """True when ``fd`` is a staged copy :func:`copy_image` made in this process: its source
    is left untouched and it has no name until it is published, so repairing it needs neither
    durable backups nor a flush per write (see WriteSession)."""
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino) in _FRESH_COPIES


class CopyError(Exception):
    """The copy could not be made; the message says why. A partial copy is removed."""


FLUSH_EVERY: Final = 4 * layout.MiB  # bytes copied between two nudges of the flusher


def nonzero_chunks(fd: int, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Pieces of ``[start, end)`` (cut at 1 MiB file-offset boundaries, clipped to the file)
    that hold at least one non-zero byte. Holes are not read."""
    for seg_start, seg_end in data_segments(fd, start, end):
        pos = seg_start
        while pos < seg_end:
            stop = min(seg_end, (pos // CHUNK + 1) * CHUNK)
            chunk = pread_exact(fd, pos, stop - pos)
            if not _all_zero(chunk):
                yield pos, stop
            pos = stop


def _subtract(start: int, end: int, holes: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    pieces = [(start, end)]
    for h_start, h_end in holes:
        next_pieces: list[tuple[int, int]] = []
        for a, b in pieces:
            if h_end <= a or h_start >= b:
                next_pieces.append((a, b))
                continue
            if a < h_start:
                next_pieces.append((a, h_start))
            if h_end < b:
                next_pieces.append((h_end, b))
        pieces = next_pieces
    return pieces


class StagedCopy:
    """A copy written under a hidden name beside its target (:func:`~vhdxray.core.fileio.
    temp_name`), not yet flushed: it is repaired there, then :meth:`publish` flushes it once
    and gives it its name, or :meth:`discard` removes it. Until then no file carries the
    target's name, so a crash or a kill at any point leaves no half-repaired copy that looks
    finished (only the hidden partial file), and the repair needs no flush per step."""

    def __init__(self, temp: str, target: str, flusher: BackgroundFlush | None = None) -> None:
        self.temp = temp  # paths as str (fileio.path_text), no pathlib (issue 9)
        self.target = target
        self._flusher = flusher  # still flushing the copied bytes (see copy_image)

    def _flushed(self) -> None:
        """Wait until the copied bytes are on the disk (raise the flusher's error, if any)."""
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.wait()

    def publish(self) -> str:
        """Flush the copy and give it the target's name; raise CopyError (the copy removed)
        when it cannot be (the name appeared meanwhile, the disk failed)."""
        try:
            # One fsync of the file (every dirty page of it, whichever descriptor wrote them:
            # the repair's writes, what the flusher has not reached yet) while the flusher's
            # last sync may still run, not after it: the two overlap. Then the flusher's
            # result, which tells of write errors a descriptor opened now may never see.
            fd = os.open(self.temp, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._flushed()
            publish(self.temp, self.target)
        except FileExistsError:
            self.discard()
            raise CopyError(f"{self.target} appeared meanwhile; it was left alone") from None
        except OSError as exc:
            self.discard()
            raise CopyError(f"finishing {self.target} failed: {exc.strerror or exc}") from exc
        return self.target

    def discard(self) -> None:
        try:
            self._flushed()
        except OSError:
            pass  # the copy goes anyway
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp)


def copy_image(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    leave_holes: Sequence[tuple[int, int]] = (),
    progress: Progress | None = None,
) -> StagedCopy:
    """Copy ``source`` sparsely to a hidden file beside ``target`` (which must not exist and
    is never overwritten), to be repaired and then published (:class:`StagedCopy`).

    ``leave_holes`` lists ranges that are not copied and read as zeros in the copy (a log
    replay into a copy passes the ranges it will zero anyway). Raises :class:`CopyError`.
    ``progress`` counts the source's bytes (holes included) and is checked between chunks: on
    :class:`~vhdxray.core.progress.Cancelled` the partial copy is removed and it propagates.

    The copied bytes are flushed behind the copy, from a thread (:class:`BackgroundFlush`), every
    :data:`FLUSH_EVERY` bytes and once at the end; the copy is ready to be repaired at once,
    and :meth:`StagedCopy.publish` makes its own fsync alongside that flush, then waits for it.
    """
    src_path, dst_path = os.fspath(source), os.fspath(target)
    if os.path.lexists(dst_path):
        raise CopyError(f"{dst_path} already exists; vhdxray never overwrites it")
    temp = temp_name(dst_path)
    try:
        src = os.open(src_path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise CopyError(f"cannot open {src_path}: {exc.strerror or exc}") from exc
    try:
        try:
            new = NewFile(temp, durable=False)  # flushed once, by StagedCopy.publish
        except OSError as exc:
            raise CopyError(f"cannot create {temp}: {exc.strerror or exc}") from exc
        try:
            with new as dst:  # removed on any error or Cancelled
                flusher = BackgroundFlush(dst)
                try:
                    st = _copy(src, dst, flusher, sorted(leave_holes), progress)
                except BaseException:
                    flusher.abandon()
                    raise
                flusher.last()
        except OSError as exc:
            raise CopyError(f"copying to {dst_path} failed: {exc.strerror or exc}") from exc
        _FRESH_COPIES.add((st.st_dev, st.st_ino))  # only once the copy is complete
    finally:
        os.close(src)
    return StagedCopy(path_text(temp), path_text(dst_path), flusher)


def _copy(
    src: int,
    dst: int,
    flusher: BackgroundFlush,
    holes: Sequence[tuple[int, int]],
    progress: Progress | None,
) -> os.stat_result:
    size = os.fstat(src).st_size
    if progress is not None:
        progress.start(size, "copying the image")
    counted = 0
    unflushed = 0
    for seg_start, seg_end in data_segments(src, 0, size):
        for a, b in _subtract(seg_start, seg_end, holes):
            pos = a
            while pos < b:
                if progress is not None:
                    progress.check()
                stop = min(b, (pos // CHUNK + 1) * CHUNK)
                chunk = pread_exact(src, pos, stop - pos)
                if not _all_zero(chunk):
                    pwrite_all(dst, pos, chunk)
                    unflushed += len(chunk)
                    if unflushed >= FLUSH_EVERY:
                        flusher.nudge()
                        unflushed = 0
                pos = stop
                if progress is not None:
                    progress.advance(stop - counted)
                    counted = stop
    if progress is not None:
        progress.check()
        progress.advance(size - counted)
    os.ftruncate(dst, size)
    return os.fstat(dst)
