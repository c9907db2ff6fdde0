"""Interruptions for the repair crash tests: stop after the n-th durable write of a whole
repair (which spans several writer runs), or tear the n-th write to a prefix."""

from __future__ import annotations

from dataclasses import dataclass, field

from vhdxray.core.write.writer import PlannedWrite, WriteHooks


class Crash(Exception):
    """The simulated power cut."""


@dataclass
class Interrupt:
    """Counts writes across every writer run of one repair.

    ``stop_after``: raise :class:`Crash` once write number ``stop_after`` (0-based) is durable.
    ``tear_at``/``kept``: only the first ``kept`` bytes of write number ``tear_at`` reach the
    disk (the writer then sees the read-back differ and stops, as after a power cut).
    """

    stop_after: int | None = None
    tear_at: int | None = None
    kept: int = 0
    count: int = 0
    sizes: list[int] = field(default_factory=list)

    @property
    def fired(self) -> bool:
        """The interruption happened (the run reached the write it names)."""
        if self.stop_after is not None:
            return self.count > self.stop_after
        return self.tear_at is not None and len(self.sizes) > self.tear_at

    def hooks(self) -> WriteHooks:
        return WriteHooks(tear=self._tear, after_write=self._after)

    def _tear(self, _i: int, w: PlannedWrite) -> bytes:
        n = len(self.sizes)
        self.sizes.append(len(w.data))
        if n == self.tear_at:
            return w.data[: self.kept]
        return w.data

    def _after(self, _i: int) -> None:
        done = self.count
        self.count += 1
        if done == self.stop_after:
            raise Crash


def count_writes(run: object) -> list[int]:
    """Sizes of every write a full, uninterrupted run makes (``run(hooks)`` does the repair)."""
    probe = Interrupt()
    assert callable(run)
    run(probe.hooks())
    return probe.sizes


def tear_points(size: int) -> list[int]:
    """Prefixes at 512-byte boundaries: nothing, one sector, half, all but one sector."""
    points = {0, 512, (size // 2) // 512 * 512, size - 512}
    return sorted(p for p in points if 0 <= p < size)


def sampled_tear_points(sizes: list[int], per_write: int = 2) -> list[tuple[int, int]]:
    """(write, kept) pairs: ``per_write`` of each write's :func:`tear_points`, taken in turn
    (write k gets kinds 2k, 2k+1, ... modulo their number), so that every write is torn and
    every kind of boundary (nothing, one sector, half, all but one sector) is covered, with
    fewer runs than the full product. No randomness: the same pairs on every run."""
    pairs: list[tuple[int, int]] = []
    for k, size in enumerate(sizes):
        points = tear_points(size)
        start = k * per_write
        chosen = {points[(start + j) % len(points)] for j in range(min(per_write, len(points)))}
        pairs += [(k, kept) for kept in sorted(chosen)]
    return pairs
