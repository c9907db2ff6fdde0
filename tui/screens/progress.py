"""Long work with a moving bar and a way out: the progress dialog every long worker uses.

Usage (the log replay, a repair into a copy, and Export/Scan alike)::

    def work(progress: Progress) -> Result:      # runs in a worker thread
        return core_function(..., progress=progress)

    def finished(outcome: Finished[Result] | None) -> None:
        if outcome is None or outcome.cancelled: ...   # say exactly what state things are in
        elif outcome.error is not None: ...
        else: use(outcome.result)

    app.push_screen(ProgressScreen("Replaying the log", work), finished)

The screen runs ``work`` in a thread worker of its own (group ``group``), shows a ProgressBar
with bytes (or items), rate and time left read from the :class:`~vhdxray.core.progress.Progress`
(polled a few times a second: nothing crosses threads but that object), and dismisses itself
with a :class:`Finished` when the worker ends. Escape or ``c`` asks core to stop through
:meth:`Progress.cancel`; core stops at its next safe step and raises
:class:`~vhdxray.core.progress.Cancelled`, which arrives here as ``Finished.cancelled``. The
caller says what the cancel left behind: only it knows (image unchanged, copy removed...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import ProgressBar, Static
from textual.worker import Worker, WorkerState

from vhdxray.core.progress import Cancelled, Progress
from vhdxray.tui.safe_text import join, plain, safe
from vhdxray.tui.widgets.richstatic import RichStatic

T = TypeVar("T")

POLL_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class Finished(Generic[T]):
    """How a long worker ended: a result, an error, or cancelled (``error`` is the Cancelled)."""

    result: T | None
    error: BaseException | None
    progress: Progress

    @property
    def cancelled(self) -> bool:
        return isinstance(self.error, Cancelled)


def amount(n: float, unit: str) -> str:
    """``n`` units in plain words: bytes in KiB/MiB/GiB, anything else as a count."""
    if unit != "bytes":
        return f"{int(n):,} {unit}"
    for name, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {name}"
    return f"{int(n)} bytes"


def duration(seconds: float) -> str:
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def progress_line(p: Progress) -> str:
    """``12.0 MiB of 1.5 GiB · 250.0 MiB/s · 6 s left`` (what is known so far); in a named
    step, the step instead of the rate: ``1.5 GiB of 1.5 GiB · writing to disk…``."""
    parts = [
        f"{amount(p.done, p.unit)} of {amount(p.total, p.unit)}"
        if p.total
        else amount(p.done, p.unit)
    ]
    if p.phase:
        parts.append(f"{p.phase}…")
        return " · ".join(parts)
    if p.rate > 0:
        parts.append(f"{amount(p.rate, p.unit)}/s")
    eta = p.eta
    if eta is not None and p.done < p.total:
        parts.append(f"{duration(eta)} left")
    return " · ".join(parts)


class ProgressScreen(ModalScreen[Finished[T]], Generic[T]):
    """Runs ``work(progress)`` in a thread and shows its progress; Escape / ``c`` cancel."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,c", "cancel", "Cancel", id="cancel"),
        # A modal screen leaves the app's q out: q here is the app's quit, which refuses
        # while the work runs and says why (else q did nothing at all).
        Binding("q", "app.quit", "Quit", show=False),
    ]

    def __init__(
        self,
        title: str,
        work: Callable[[Progress], T],
        *,
        unit: str = "bytes",
        group: str = "long-work",
        note: str = "",
        progress: Progress | None = None,
        start: bool = True,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.work = work
        self.group = group
        self.note = note
        self.progress = progress if progress is not None else Progress(unit=unit)
        self.worker: Worker[T] | None = None
        self._start = start

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-progress"):
            yield RichStatic(plain(self.title_text), id="dialog-title")
            yield RichStatic(id="progress-label")
            yield ProgressBar(id="progress-bar", show_eta=False)
            yield RichStatic(id="progress-line")
            if self.note:
                yield RichStatic(safe(self.note, "dim"), id="progress-note")
            yield RichStatic(
                plain("Esc or c: cancel (work stops at the next safe step)"), id="progress-keys"
            )

    def on_mount(self) -> None:
        self.refresh_progress()
        self.set_interval(POLL_SECONDS, self.refresh_progress)
        if self._start:
            self.worker = self.run_worker(
                lambda: self.work(self.progress),
                thread=True,
                exit_on_error=False,
                group=self.group,
                description=self.title_text,
            )

    def refresh_progress(self) -> None:
        p = self.progress
        label = p.label or "working"
        if p.phase:
            label = f"{label}: {p.phase}"
        self.query_one("#progress-label", Static).update(
            join(("Now: ", "bold"), safe(label)) if not p.cancelled else self._cancelling()
        )
        bar = self.query_one("#progress-bar", ProgressBar)
        bar.update(total=p.total or None, progress=p.done)
        self.query_one("#progress-line", Static).update(plain(progress_line(p)))

    @staticmethod
    def _cancelling() -> Text:
        return plain("Cancelling: stopping at the next safe step…", "bold yellow")

    def action_cancel(self) -> None:
        self.progress.cancel()
        self.refresh_progress()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self.worker:
            return
        if event.state == WorkerState.SUCCESS:
            self.dismiss(Finished(event.worker.result, None, self.progress))
        elif event.state == WorkerState.ERROR:
            self.dismiss(Finished(None, event.worker.error, self.progress))
        elif event.state == WorkerState.CANCELLED:
            self.dismiss(Finished(None, Cancelled(), self.progress))


__all__ = ["Finished", "ProgressScreen", "amount", "duration", "progress_line"]
