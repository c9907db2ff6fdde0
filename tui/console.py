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

_after_write = False  # a write changed a file: its result must reach the user somehow


def reset() -> None:
    """A new command starts: nothing written yet."""
    global _after_write
    _after_write = False


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
        _stdout_failed()
        sys.stderr.write(text)
        sys.stderr.flush()


def _stdout_failed() -> None:
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
    out(dumps(doc) + "\n")


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
