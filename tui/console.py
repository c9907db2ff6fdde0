"""Terminal output for the scriptable commands: every line passes through ``printable`` so
nothing from an image (creator, parent paths) reaches the terminal as a control sequence."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable

from vhdxray.core.format.text import printable

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


def dumps(doc: object) -> str:
    """``json.dumps(doc, indent=2, ensure_ascii=True)``, the same text, without importing
    :mod:`json` (which imports :mod:`re`, and that :mod:`enum`: a few ms of every command's
    start-up). Strings go through the same C function as in :mod:`json`; anything this does
    not handle (another type, a loop, a key that is not a str) is handed to :mod:`json`
    itself, so its result or its exception is exactly json's."""
    try:
        from _json import encode_basestring_ascii

        parts: list[str] = []
        _encode(doc, parts, "\n", encode_basestring_ascii, 0)
        return "".join(parts)
    except (ImportError, _NotPlain, RecursionError):
        import json

        return json.dumps(doc, indent=2, ensure_ascii=True)


class _NotPlain(Exception):
    """A value :func:`dumps` leaves to :mod:`json`."""


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


_INF = float("inf")
_DEPTH = 200  # deeper than any report; json (and its loop detection) takes over beyond it


def _encode(
    value: object, parts: list[str], newline: str, quote: Callable[[str], str], depth: int
) -> None:
    """Append ``value`` as JSON to ``parts``; ``newline`` is the line break and indent of the
    level ``value`` sits at, as json's indenting encoder writes it."""
    if isinstance(value, str):
        parts.append(quote(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        parts.append(_float(value))
    elif depth > _DEPTH:
        raise _NotPlain
    elif isinstance(value, list | tuple | dict):
        is_dict = isinstance(value, dict)
        opening, closing = "{}" if is_dict else "[]"
        if not value:
            parts.append(opening + closing)
            return
        inner = newline + "  "
        parts.append(opening + inner)
        pairs: Iterable[tuple[object, object]] = (
            value.items() if isinstance(value, dict) else ((None, item) for item in value)
        )
        for n, (key, item) in enumerate(pairs):
            if n:
                parts.append("," + inner)
            if is_dict:
                if not isinstance(key, str):
                    raise _NotPlain  # json converts or refuses keys that are not str
                parts.append(quote(key) + ": ")
            _encode(item, parts, inner, quote, depth + 1)
        parts.append(newline + closing)
    else:
        raise _NotPlain


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
