r"""Flush a new file while it is being written, so its final fsync has little left to do.

A copy that ends with one ``fsync`` waits for every byte to reach the disk after the copy is
over: copy time plus write time. Both classes here start the disk writing while the copy goes
on, so the two overlap and the final ``fsync`` finds almost nothing dirty. Durability is
unchanged: nothing is published before that fsync returns.

- :class:`BackgroundFlush`: a thread that ``fdatasync``\ s the file each time it is nudged (a
  repair's staged copy; :class:`Writeback`'s fallback).
- :class:`Writeback`: on Linux the finished ranges go to
  ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` (through ctypes on libc, loaded on first use; it
  starts writeback and returns) and ranges far behind the copy are waited for, so the dirty
  pages stay bounded (:data:`LAG`); elsewhere (or when the call is refused) a
  :class:`BackgroundFlush` is nudged each time another :data:`STEP` bytes were written.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
from collections.abc import Callable

from vhdxray.core.format import layout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

STEP: Final = 16 * layout.MiB  # writeback is started once this much is finished
LAG: Final = 256 * layout.MiB  # ranges this far behind are waited for (bounds dirty pages)

_WAIT_BEFORE: Final = 1
_WRITE: Final = 2
_WAIT_AFTER: Final = 4

SyncRange = Callable[[int, int, int, int], int]


def _load_sync_file_range() -> SyncRange | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn


_LOADED: list[SyncRange | None] = []


def sync_file_range() -> SyncRange | None:
    """libc's ``sync_file_range`` (None where there is none), loaded once, when first needed
    (ctypes costs milliseconds of start-up that a repair does not need)."""
    if not _LOADED:
        _LOADED.append(_load_sync_file_range())
    return _LOADED[0]


class BackgroundFlush:
    r"""A thread that flushes a file while it is written: it syncs when :meth:`nudge`\ d, and
    once more and ends after :meth:`last`; :meth:`wait` waits for it to end and raises the
    first error a sync met (a descriptor opened later may not be told of a write error that
    happened before it). :meth:`abandon` ends it without another sync.

    It flushes through its own duplicate of ``fd`` (closed when it ends). Built on
    :mod:`_thread` (locks as its signals), not :mod:`threading`, which nothing else a repair
    runs imports (about 1.3 ms of start-up, issue 9)."""

    def __init__(self, fd: int) -> None:
        import _thread

        self._fd = os.dup(fd)
        self._due = _thread.allocate_lock()  # released: a sync is due (an Event's set)
        self._due.acquire()
        self._ended = _thread.allocate_lock()  # released when the thread has ended
        self._ended.acquire()
        self._ending = False
        self._abandoned = False
        self._error: OSError | None = None
        try:
            _thread.start_new_thread(self._run, ())
        except BaseException:
            os.close(self._fd)
            raise

    def _run(self) -> None:
        sync = getattr(os, "fdatasync", os.fsync)
        try:
            while True:
                self._due.acquire()  # consumes every nudge given since the last sync
                if self._abandoned:
                    return
                ending = self._ending
                sync(self._fd)
                if ending:
                    return
        except OSError as exc:
            self._error = exc
        except Exception as exc:  # pragma: no cover - never let the file look flushed
            self._error = OSError(f"flushing failed: {exc!r}")
        finally:
            os.close(self._fd)
            self._ended.release()

    def _signal(self) -> None:
        # Already released: the sync it asks for is still to come.
        with contextlib.suppress(RuntimeError):
            self._due.release()

    def nudge(self) -> None:
        self._signal()

    def last(self) -> None:
        """Sync what was written so far once more, then end (without waiting)."""
        self._ending = True
        self._signal()

    def abandon(self) -> None:
        """End without another sync."""
        self._abandoned = True
        self._signal()

    def wait(self) -> None:
        with self._ended:  # held by the thread until it ends
            pass
        if self._error is not None:
            raise self._error


class Writeback:
    """Tell it each range written (:meth:`wrote`); call :meth:`finish` for the final fsync and
    :meth:`close` in any case (it stops the fallback thread)."""

    def __init__(self, fd: int, *, step: int = STEP, use_sync_file_range: bool = True) -> None:
        self.fd = fd
        self.step = step
        self._sync = sync_file_range() if use_sync_file_range else None
        self._start = self._end = 0  # the contiguous range written since the last kick
        self._kicked: collections.deque[tuple[int, int]] = collections.deque()
        self._behind = 0  # bytes in _kicked
        self._flush: BackgroundFlush | None = None  # the fallback
        self.kicks = 0  # ranges handed to the kernel (or flushes asked for): for tests
        if self._sync is None:
            self._flush = BackgroundFlush(fd)

    # -- what the copy calls ---------------------------------------------------------------

    def wrote(self, offset: int, length: int) -> None:
        """``length`` bytes at ``offset`` are written (in ascending order, mostly)."""
        if length <= 0:
            return
        if offset != self._end:  # not contiguous with the pending range: start that one
            self._kick()
            self._start = self._end = offset
        self._end = offset + length
        if self._end - self._start >= self.step:
            self._kick()

    def finish(self) -> None:
        """Everything written is on disk (``fsync``); raises what a background flush met."""
        self._kick()
        flush, self._flush = self._flush, None
        if flush is not None:
            flush.last()
            flush.wait()
        os.fsync(self.fd)

    def close(self) -> None:
        """Stop the fallback thread (without another flush) if :meth:`finish` did not."""
        flush, self._flush = self._flush, None
        if flush is not None:
            flush.abandon()
            with contextlib.suppress(OSError):  # the write failed anyway
                flush.wait()

    # -- inside ----------------------------------------------------------------------------

    def _kick(self) -> None:
        start, end = self._start, self._end
        self._start = self._end = end
        if end <= start:
            return
        self.kicks += 1
        if self._sync is None:
            if self._flush is not None:
                self._flush.nudge()
            return
        if self._sync(self.fd, start, end - start, _WRITE) != 0:
            self._sync = None  # refused (e.g. not supported here): fall back to the thread
            self._flush = BackgroundFlush(self.fd)
            self._flush.nudge()
            return
        self._kicked.append((start, end))
        self._behind += end - start
        while self._behind > LAG and self._kicked:
            old_start, old_end = self._kicked.popleft()
            self._behind -= old_end - old_start
            self._sync(self.fd, old_start, old_end - old_start, _WAIT_BEFORE | _WRITE | _WAIT_AFTER)


__all__ = ["LAG", "STEP", "BackgroundFlush", "Writeback", "sync_file_range"]
