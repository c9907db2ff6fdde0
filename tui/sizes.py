"""Byte counts in words: what ``humanize.naturalsize(value, binary=True)`` and
``humanize.intcomma`` print, without importing ``humanize`` (it pulls in ``gettext`` and
``threading``, a measurable share of a ``vhdxray check``'s start-up; issue 9). The tests
compare both functions with humanize's on many values."""

from __future__ import annotations

_BINARY = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB", "RiB", "QiB")


def natural_size(value: float) -> str:
    """``1 Byte``, ``512 Bytes``, ``1.5 KiB``, ``64.0 TiB``: base 1024, one decimal."""
    number = float(value)
    size = abs(number)
    if size == 1:
        return f"{int(number)} Byte"
    if size < 1024:
        return f"{int(number)} Bytes"
    from math import log

    exp = int(min(log(size, 1024), len(_BINARY)))
    # As humanize does: when rounding makes the mantissa reach 1024, use the next unit.
    if exp < len(_BINARY) and abs(float(f"{size / 1024**exp:.1f}")) >= 1024:
        exp += 1
    return f"{number / 1024**exp:.1f} {_BINARY[exp - 1]}"


def grouped(value: int) -> str:
    """``1,234,567``: thousands separated by commas."""
    return f"{value:,}"
