"""Read-only access to an image file: positional reads that return short data at EOF."""

from __future__ import annotations

import os
from collections.abc import Callable
from types import TracebackType

from vhdxray.core.fileio import open_regular, pread_exact, probe_sectors

ReadAt = Callable[[int, int], bytes]
"""``read(file_offset, length)``: up to ``length`` bytes (fewer at end of file), never raises."""


class ImageSource:
    """An image opened read-only. ``read_at`` never raises at end of file; it returns less.

    Opening raises OSError, and :class:`~vhdxray.core.fileio.NotRegularFile` for a directory,
    FIFO, socket or device (see :func:`~vhdxray.core.fileio.open_regular`)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fd = open_regular(self.path)
        try:
            self.size = os.fstat(self._fd).st_size
        except OSError:
            os.close(self._fd)
            raise

    def read_at(self, offset: int, length: int) -> bytes:
        if length <= 0 or offset >= self.size or offset < 0:
            return b""
        return pread_exact(self._fd, offset, min(length, self.size - offset))

    def fileno(self) -> int:
        """The read-only descriptor (for kernel-side copies); valid until :meth:`close`."""
        return self._fd

    def probe(self, offset: int, length: int, step: int, signature: bytes) -> list[int]:
        """Positions (multiples of ``step`` from ``offset``) in ``[offset, offset + length)``
        that hold ``signature``; only those bytes of each step are looked at (see
        :func:`vhdxray.core.fileio.probe_sectors`). Clipped to the file."""
        length = min(length, self.size - offset)
        if offset < 0 or length <= 0:
            return []
        return probe_sectors(self._fd, offset, length, step, signature)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
