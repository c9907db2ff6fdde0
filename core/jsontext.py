"""JSON text without importing :mod:`json`: :func:`dumps` writes exactly what
``json.dumps(doc, indent=N, ensure_ascii=True)`` writes. :mod:`json` imports :mod:`re` (and
that :mod:`enum`): a few ms of start-up for every command that prints JSON or writes a backup
(issue 9). Used by the console (``--json``, indent 2) and the backups (indent 1)."""

from __future__ import annotations

from collections.abc import Callable, Iterable


def dumps(doc: object, indent: int = 2) -> str:
    """``json.dumps(doc, indent=indent, ensure_ascii=True)``, the same text, without importing
    :mod:`json` (which imports :mod:`re`, and that :mod:`enum`: a few ms of every command's
    start-up). Strings go through the same C function as in :mod:`json`; anything this does
    not handle (another type, a loop, a key that is not a str) is handed to :mod:`json`
    itself, so its result or its exception is exactly json's."""
    try:
        from _json import encode_basestring_ascii

        parts: list[str] = []
        _encode(doc, parts, "\n", " " * indent, encode_basestring_ascii, 0)
        return "".join(parts)
    except (ImportError, _NotPlain, RecursionError):
        import json

        return json.dumps(doc, indent=indent, ensure_ascii=True)


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
    value: object,
    parts: list[str],
    newline: str,
    step: str,
    quote: Callable[[str], str],
    depth: int,
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
        inner = newline + step
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
            _encode(item, parts, inner, step, quote, depth + 1)
        parts.append(newline + closing)
    else:
        raise _NotPlain


__all__ = ["dumps"]
