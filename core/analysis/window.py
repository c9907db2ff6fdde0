"""A byte range of a virtual disk seen as a disk of its own: one partition, for export.

Reads and runs are shifted by the window's start and clipped to its length; everything else
(path, chain, header, log state) is the underlying disk's."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from vhdxray.core.analysis.virtual import Extent, VirtualDisk


class DiskWindow:
    def __init__(self, disk: VirtualDisk, start: int, length: int, *, partition: int) -> None:
        if start < 0 or start >= disk.size or length <= 0:
            raise ValueError(f"the range {start}+{length} is not inside the disk")
        self.disk = disk
        self.start = start
        self.partition = partition
        self._size = min(length, disk.size - start)

    @property
    def size(self) -> int:
        return self._size

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self._size:
            raise ValueError(f"read {offset}+{length} outside the {self._size}-byte window")
        return self.disk.read(self.start + offset, length)

    def runs(self, start: int = 0, end: int | None = None) -> Iterator[Extent]:
        stop = self._size if end is None else min(end, self._size)
        for run in self.disk.runs(self.start + start, self.start + stop):
            yield dataclasses.replace(run, start=run.start - self.start, end=run.end - self.start)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.disk, name)
