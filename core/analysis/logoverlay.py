"""The file as its pending log would leave it, in memory (MS-VHDX §2.3.3), without writing.

:func:`end_result` reduces the active sequence's descriptors to what replaying them in order
leaves behind (the one place that rule lives; the in-place replay in ``write/replay`` uses it
too). :class:`LoggedFile` overlays that end result on the file's bytes: readers see logged data
pages and zero ranges where the log puts them, and the file's own bytes elsewhere. It also says
which byte ranges are untouched file bytes (so they can be copied kernel-side) and which lie
past the end of the file with nothing in the log to supply them (lost).

The overlay need not hold the logged pages: :func:`log_pages` turns the active sequence into
:class:`LogPage` references (where each page's data sector lies in the log, plus the 12 bytes
its descriptor holds), and :class:`LoggedFile` reads a page's 4 KiB from the log only when a
reader reaches it. So the memory is a few dozen bytes per descriptor, whatever the log's size.
"""

from __future__ import annotations

import bisect
import errno
from collections.abc import Iterator, Sequence

from vhdxray.core.format import layout
from vhdxray.core.format.log import LogInfo, ReplayWrite
from vhdxray.core.format.record import record
from vhdxray.core.source import ReadAt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

PAGE: Final = layout.LOG_SECTOR_SIZE

# Kinds of :class:`Piece`
FILE: Final = "file"  # the file's own bytes, untouched by the log
PAGE_DATA: Final = "page"  # bytes from a logged data page
ZEROS: Final = "zeros"  # a logged zero range
ABSENT: Final = "absent"  # past the end of the file, and the log does not supply it


@record
class LogPage:
    """A data descriptor's page, left in the log: its data sector is at log position
    ``data_position``; the page is LeadingBytes + that sector's bytes 8..4092 +
    TrailingBytes (as :func:`~vhdxray.core.format.log.replay_plan` rebuilds it)."""

    file_offset: int
    data_position: int
    leading: bytes
    trailing: bytes

    @property
    def is_zero(self) -> bool:
        return False

    @property
    def end(self) -> int:
        return self.file_offset + PAGE


Write = ReplayWrite | LogPage


def log_pages(info: LogInfo) -> list[Write]:
    """The active sequence's descriptors in replay order (:func:`replay_plan`'s order), data
    pages as :class:`LogPage` references: nothing of the log's data is read here."""
    if info.active is None or not info.replay_needed:
        return []
    out: list[Write] = []
    for entry in info.active.entries:
        for d in entry.descriptors:
            if d.kind == "zero":
                out.append(
                    ReplayWrite(
                        d.file_offset, b"", entry.sequence_number, d.index, d.length,
                        entry.log_position,
                    )
                )  # fmt: skip
            elif d.data_log_position is not None:
                out.append(
                    LogPage(d.file_offset, d.data_log_position, d.leading_bytes, d.trailing_bytes)
                )
    return out


def end_result(
    writes: Sequence[Write],
) -> tuple[dict[int, int], list[tuple[int, int]]]:
    """The end result of applying ``writes`` in order: the pages whose last writer is a data
    descriptor (page offset -> index in ``writes``) and the zeroed runs (merged, sorted, without
    those pages)."""
    last_data: dict[int, int] = {}
    keys: list[int] = []  # sorted keys of last_data
    zero_ranges: list[tuple[int, int]] = []
    for i, w in enumerate(writes):
        if w.is_zero:
            lo = bisect.bisect_left(keys, w.file_offset)
            hi = bisect.bisect_left(keys, w.end)
            for page in keys[lo:hi]:
                del last_data[page]
            del keys[lo:hi]
            zero_ranges.append((w.file_offset, w.end))
        else:
            if w.file_offset not in last_data:
                bisect.insort(keys, w.file_offset)
            last_data[w.file_offset] = i
    merged: list[tuple[int, int]] = []
    for start, end in sorted(zero_ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    runs: list[tuple[int, int]] = []
    for start, end in merged:
        lo = bisect.bisect_left(keys, start)
        hi = bisect.bisect_left(keys, end)
        pos = start
        for page in keys[lo:hi]:
            if page > pos:
                runs.append((pos, page))
            pos = page + PAGE
        if pos < end:
            runs.append((pos, end))
    return last_data, runs


@record
class Piece:
    """File bytes [start, end) and where they come from (see the kind constants)."""

    start: int
    end: int
    kind: str
    data: bytes = b""  # PAGE_DATA only: exactly end - start bytes


class LoggedFile:
    """A read-only file with the end result of a log sequence laid over it.

    ``read_at`` is the file's own reader (short at end of file); ``size`` its real size.
    With no writes this is just the file, with bytes past its end reported ABSENT. ``writes``
    may hold :class:`LogPage` references (see :func:`log_pages`), read from the log at
    ``log_offset`` when reached.
    """

    def __init__(
        self,
        read_at: ReadAt,
        size: int,
        writes: Sequence[Write] = (),
        log_offset: int = 0,
    ) -> None:
        self._read_at = read_at
        self.size = size
        self.log_offset = log_offset
        last_data, zero_runs = end_result(writes)
        spans: list[tuple[int, int, bytes | LogPage]] = [(s, e, b"") for s, e in zero_runs]
        for page, i in last_data.items():
            w = writes[i]
            spans.append((page, page + PAGE, w if isinstance(w, LogPage) else w.data))
        spans.sort()
        self._spans = spans
        self._starts = [s for s, _, _ in spans]
        self.data_pages = len(last_data)
        self.zero_runs = len(zero_runs)
        self.zeroed_bytes = sum(e - s for s, e in zero_runs)

    @property
    def has_overlay(self) -> bool:
        return bool(self._spans)

    def pieces(self, offset: int, length: int) -> Iterator[Piece]:
        """[offset, offset + length) cut where its source changes, in order."""
        pos, end = offset, offset + length
        spans = self._spans
        i = bisect.bisect_right(self._starts, pos) - 1
        if i < 0 or spans[i][1] <= pos:
            i += 1
        while pos < end:
            if i < len(spans) and spans[i][0] <= pos:
                s, e, payload = spans[i]
                stop = min(end, e)
                if payload:
                    data = self._page(payload) if isinstance(payload, LogPage) else payload
                    yield Piece(pos, stop, PAGE_DATA, data[pos - s : stop - s])
                else:
                    yield Piece(pos, stop, ZEROS)
                pos = stop
                i += 1
                continue
            stop = min(end, spans[i][0]) if i < len(spans) else end
            if pos < self.size:
                yield Piece(pos, min(stop, self.size), FILE)
            if stop > self.size:
                yield Piece(max(pos, self.size), stop, ABSENT)
            pos = stop

    def _page(self, page: LogPage) -> bytes:
        """The page's 4 KiB, rebuilt from its data sector in the log (read now)."""
        sector = self._read_at(self.log_offset + page.data_position, PAGE)
        if len(sector) < PAGE or sector[:4] != layout.LOG_DATA_SIGNATURE:
            raise OSError(
                errno.EIO,
                f"the log's data sector at file offset {self.log_offset + page.data_position} "
                "no longer matches the analysed log (was the file changed while being read?)",
            )
        return page.leading + sector[8 : PAGE - 4] + page.trailing

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes: absent bytes read as zeros."""
        out = bytearray()
        for p in self.pieces(offset, length):
            if p.kind == FILE:
                data = self._read_at(p.start, p.end - p.start)
                out += data
                if len(data) < p.end - p.start:  # the file shrank under us
                    out += bytes(p.end - p.start - len(data))
            elif p.kind == PAGE_DATA:
                out += p.data
            else:
                out += bytes(p.end - p.start)
        return bytes(out)

    def read_present(self, offset: int, length: int) -> tuple[bytes, bool]:
        """(:meth:`read`, whether every byte was there: none ABSENT)."""
        complete = all(p.kind != ABSENT for p in self.pieces(offset, length))
        return self.read(offset, length), complete


__all__ = [
    "ABSENT",
    "FILE",
    "PAGE_DATA",
    "ZEROS",
    "LogPage",
    "LoggedFile",
    "Piece",
    "end_result",
    "log_pages",
]
