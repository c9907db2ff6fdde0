"""Progress and cancellation for long work (log replay, export, scan, copies).

Core functions that can run long take ``progress: Progress | None`` and call
``progress.advance(n)`` as work is done; the front end (CLI progress line, app ProgressBar)
reads ``done``, ``total``, ``rate`` and ``eta`` from it. Cancellation is cooperative: the front end
calls :meth:`Progress.cancel` (from any thread) and core calls :meth:`Progress.check` between
safe steps, which raises :class:`Cancelled` there. A step that counts nothing but takes time
(the final flush of a new file: :data:`WRITING_TO_DISK`) is named in ``phase``
(:meth:`set_phase`), so the front ends say what is going on rather than show a still bar.
Core never cancels in the middle of a step that would leave a file half-written; what a
cancelled operation leaves behind is its own documented outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable

WRITING_TO_DISK = "writing to disk"
"""The phase of a write's last step: the bytes are all written and the kernel is flushing them
to the disk (``fsync``) before the new file gets its name; it may take seconds."""


class Cancelled(Exception):
    """The user cancelled; raised by :meth:`Progress.check` between safe steps."""


class Progress:
    """Counts work done against a total (bytes, items), thread-safe enough for one writer.

    ``on_update`` (optional) is called after each :meth:`advance` with this object; it must be
    cheap and must not raise (front ends throttle their own redraws).
    """

    def __init__(
        self,
        total: int = 0,
        *,
        unit: str = "bytes",
        on_update: Callable[[Progress], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = max(0, total)
        self.unit = unit
        self.done = 0
        self.label = ""
        self.phase = ""  # what the work does now beyond counting ("" while it counts)
        self._on_update = on_update
        self._clock = clock
        self._started = clock()
        import threading  # here, not at import: a repair into a copy imports progress only

        self._cancel = threading.Event()

    # -- the worker's side -------------------------------------------------------------

    def start(self, total: int, label: str = "") -> None:
        """Begin (or restart) a phase of ``total`` units."""
        self.total = max(0, total)
        self.done = 0
        self.label = label
        self.phase = ""
        self._started = self._clock()
        self._notify()

    def set_phase(self, phase: str) -> None:
        """Name the step the work is in now (:data:`WRITING_TO_DISK`; "" again when it counts),
        without restarting the count."""
        self.phase = phase
        self._notify()

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._notify()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation was asked for."""
        if self._cancel.is_set():
            raise Cancelled()

    # -- the front end's side ----------------------------------------------------------

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def elapsed(self) -> float:
        return max(0.0, self._clock() - self._started)

    @property
    def rate(self) -> float:
        """Units per second so far (0 until some time has passed)."""
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, or None when it cannot be known yet."""
        rate = self.rate
        if rate <= 0 or self.total <= 0:
            return None
        return max(0.0, (self.total - self.done) / rate)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    def _notify(self) -> None:
        if self._on_update is not None:
            self._on_update(self)


def check(progress: Progress | None) -> None:
    """:meth:`Progress.check` when there is a progress object."""
    if progress is not None:
        progress.check()


def set_phase(progress: Progress | None, phase: str) -> None:
    """:meth:`Progress.set_phase` when there is a progress object."""
    if progress is not None:
        progress.set_phase(phase)


def advance(progress: Progress | None, n: int) -> None:
    """:meth:`Progress.advance` when there is a progress object."""
    if progress is not None:
        progress.advance(n)
