"""Flush a new file while it is being written, so its final fsync has little left to do.

A copy that ends with one ``fsync`` waits for every byte to reach the disk after the copy is
over: copy time plus write time. :class:`Writeback` starts the disk writing each finished range
while the copy goes on, so the two overlap and the final :meth:`Writeback.finish` (an
``fsync``) finds almost nothing dirty. Durability is unchanged: nothing is published before
``finish`` returns.

On Linux the ranges are handed to ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` (through ctypes
on libc; it starts writeback and returns), and ranges far behind the copy are waited for, so
the dirty pages stay bounded (:data:`LAG`). Elsewhere (or when the call is refused) a
background thread calls ``fdatasync`` each time another :data:`STEP` bytes were written.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import os
import sys
import threading
from collections.abc import Callable
from typing import Final

from vhdxray.core.format import layout

STEP: Final = 16 * layout.MiB  # writeback is started once this much is finished
LAG: Final = 256 * layout.MiB  # ranges this far behind are waited for (bounds dirty pages)

_WAIT_BEFORE: Final = 1
_WRITE: Final = 2
_WAIT_AFTER: Final = 4

SyncRange = Callable[[int, int, int, int], int]


def _load_sync_file_range() -> SyncRange | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn


_SYNC_FILE_RANGE: Final = _load_sync_file_range()


class Writeback:
    """Tell it each range written (:meth:`wrote`); call :meth:`finish` for the final fsync and
    :meth:`close` in any case (it stops the fallback thread)."""

    def __init__(self, fd: int, *, step: int = STEP, use_sync_file_range: bool = True) -> None:
        self.fd = fd
        self.step = step
        self._sync = _SYNC_FILE_RANGE if use_sync_file_range else None
        self._start = self._end = 0  # the contiguous range written since the last kick
        self._kicked: collections.deque[tuple[int, int]] = collections.deque()
        self._behind = 0  # bytes in _kicked
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stop = False
        self._error: OSError | None = None
        self.kicks = 0  # ranges handed to the kernel (or fdatasyncs asked for): for tests
        if self._sync is None:
            self._start_thread()

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
        self._join()
        if self._error is not None:
            raise self._error
        os.fsync(self.fd)

    def close(self) -> None:
        self._join()

    # -- inside ----------------------------------------------------------------------------

    def _kick(self) -> None:
        start, end = self._start, self._end
        self._start = self._end = end
        if end <= start:
            return
        self.kicks += 1
        if self._sync is None:
            self._wake.set()
            return
        if self._sync(self.fd, start, end - start, _WRITE) != 0:
            self._sync = None  # refused (e.g. not supported here): fall back to the thread
            self._start_thread()
            self._wake.set()
            return
        self._kicked.append((start, end))
        self._behind += end - start
        while self._behind > LAG and self._kicked:
            old_start, old_end = self._kicked.popleft()
            self._behind -= old_end - old_start
            self._sync(self.fd, old_start, old_end - old_start, _WAIT_BEFORE | _WRITE | _WAIT_AFTER)

    def _start_thread(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._flush_loop, name="vhdxray-writeback")
        self._thread.daemon = True
        self._thread.start()

    def _flush_loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            try:
                os.fdatasync(self.fd) if hasattr(os, "fdatasync") else os.fsync(self.fd)
            except OSError as exc:
                self._error = exc
                return

    def _join(self) -> None:
        if self._thread is not None:
            self._stop = True
            self._wake.set()
            self._thread.join()
            self._thread = None


__all__ = ["LAG", "STEP", "Writeback"]
