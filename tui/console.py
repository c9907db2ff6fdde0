"""Terminal output for the scriptable commands: every line passes through ``printable`` so
nothing from an image (creator, parent paths) reaches the terminal as a control sequence."""

from __future__ import annotations

import os
import sys

from vhdxray.core.format.text import printable
from vhdxray.core.jsontext import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from vhdxray.core.progress import Progress

_after_write = False  # a write changed a file: its result must reach the user somehow
stopped_by: int | None = None  # the signal (SIGHUP, SIGTERM) that is ending the command
json_emitted = False  # the command printed its JSON object


def stopped_exit(default: int) -> int:
    """The exit code of an interrupted command: 128 + the signal that stopped it, or
    ``default`` (130, ctrl+c)."""
    return default if stopped_by is None else 128 + stopped_by


def reset() -> None:
    """A new command starts: nothing written yet."""
    global _after_write, stopped_by, json_emitted
    _after_write = False
    stopped_by = None
    json_emitted = False


def mark_written() -> None:
    """From now on, when stdout fails (a closed pipe, a full disk) the output goes to stderr
    instead of ending the command: after a write, the result and its ``vhdxray restore`` line
    must reach the user, and the exit code must stay the write's."""
    global _after_write
    _after_write = True


def out(text: str) -> None:
    """Write ``text`` as is (callers pass text already made printable, or our own)."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError:
        if not _after_write:
            raise
        silence_stdout()
        sys.stderr.write(text)
        sys.stderr.flush()


def silence_stdout() -> None:
    """Point the broken stdout at /dev/null, so whatever is still buffered (and Python's
    exit-time flush) goes nowhere quietly."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
        sys.stdout.flush()
    except (OSError, ValueError):  # pragma: no cover - no fd (a test's captured stdout)
        pass


def line(text: str = "") -> None:
    out(printable(text) + "\n")


def err(text: str) -> None:
    sys.stderr.write(f"vhdxray: {printable(text)}\n")


def emit_json(doc: dict[str, Any]) -> None:
    """One JSON object; ``ensure_ascii`` keeps every non-ASCII character escaped."""
    global json_emitted
    out(dumps(doc) + "\n")
    json_emitted = True


def confirm(question: str) -> bool:
    """Ask on the terminal; never treat piped input as consent (``--yes`` is for scripts)."""
    if not sys.stdin.isatty():
        err("not a terminal: pass --yes to confirm non-interactively")
        return False
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def size_text(n: float) -> str:
    """``512 bytes``, ``1.5 GiB``: binary units, one decimal."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


class ProgressLine:
    """A throttled ``\\r`` progress line on stderr (export, the copy of a repair into a copy);
    a phase whose total is not known (0) is not shown. A named step (``p.phase``, e.g. "writing
    to disk" while the new file is flushed) is shown at once, in place of the rate and time left."""

    def __init__(self) -> None:
        self._last = 0.0
        self._phase = ""
        self.shown = False

    def __call__(self, p: Progress) -> None:
        import time

        if p.total <= 0:
            return
        now = time.monotonic()
        if now - self._last < 0.2 and p.done < p.total and p.phase == self._phase:
            return
        self._last = now
        self._phase = p.phase
        if p.phase:
            tail = f"{p.phase}…"
        else:
            eta = p.eta
            left = "" if eta is None else f", {int(eta) // 60}:{int(eta) % 60:02d} left"
            tail = f"{p.rate / 1e6:.0f} MB/s{left}"
        sys.stderr.write(
            f"\r  {p.fraction * 100:5.1f}%  {size_text(p.done)} of {size_text(p.total)}  {tail}   "
        )
        sys.stderr.flush()
        self.shown = True

    def end(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.shown = False
