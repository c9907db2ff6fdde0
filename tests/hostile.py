"""Crafted images for the hostile-input tests, built with vhdxray's own writer.

Each starts as a real differencing child made by :func:`vhdxray.core.write.create.create_child`
and has its parent locator item replaced (the metadata region rebuilt with
:func:`serialise_metadata` and :func:`serialise_locator`), so every other structure stays valid.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.format.metadata import serialise_locator, serialise_metadata
from vhdxray.core.write.create import CreateOptions, create_child, create_image

_ENTRY = struct.Struct("<IIHH")
_HEADER_SIZE = 20


def child_with_locator(
    folder: Path, locator_item: bytes | Callable[[str], bytes], *, name: str = "child.vhdx"
) -> Path:
    """A 4 MiB differencing child of a fresh ``parent.vhdx`` whose ParentLocator item is
    ``locator_item`` (or what it returns given the parent's braced DataWriteGuid)."""
    parent = create_image(folder / "parent.vhdx", CreateOptions(virtual_size=4 * layout.MiB))
    child = create_child(folder / name, parent)
    report = read_report(child)
    meta = report.metadata
    assert meta is not None and meta.parent_locator is not None
    if callable(locator_item):
        linkage = meta.parent_locator.get("parent_linkage")
        assert linkage is not None
        locator_item = locator_item(linkage)
    items = []
    with open(child, "rb") as f:
        for e in meta.entries:
            f.seek(meta.offset + e.offset)
            value = f.read(e.length)
            if e.item_id == layout.PARENT_LOCATOR_GUID:
                value = locator_item
            items.append((e.item_id, e.flags, value))
    region = serialise_metadata(items, meta.length)
    with open(child, "r+b") as f:
        f.seek(meta.offset)
        f.write(region)
    return child


def repeated_value_locator(linkage: str, value_chars: int = 32_000, count: int = 65_535) -> bytes:
    """The parent-locator blow-up: ``count`` entries whose values all point at the same
    ``value_chars``-character string (64,000 bytes by default).

    Laid out by :func:`serialise_locator` for two real entries (``parent_linkage`` and one
    ``relative_path``), then the entry table is widened to ``count`` entries: entry 1 repeated,
    every string moved past the wider table."""
    base = serialise_locator([("parent_linkage", linkage), ("relative_path", "A" * value_chars)])
    old_table_end = _HEADER_SIZE + 2 * _ENTRY.size
    strings = base[old_table_end:]
    shift = (count - 2) * _ENTRY.size
    entries = [_ENTRY.unpack_from(base, _HEADER_SIZE + i * _ENTRY.size) for i in range(2)]
    moved = [(k + shift, v + shift, kl, vl) for k, v, kl, vl in entries]
    table = b"".join(_ENTRY.pack(*e) for e in [moved[0]] + [moved[1]] * (count - 1))
    header = bytearray(base[:_HEADER_SIZE])
    struct.pack_into("<H", header, 18, count)
    return bytes(header) + table + strings


def locator_with_values(entries: list[tuple[bytes, bytes]]) -> bytes:
    """A locator whose keys and values are the given raw UTF-16LE bytes (any length, NULs...)."""
    count = len(entries)
    base = _HEADER_SIZE + count * _ENTRY.size
    strings = bytearray()
    table = bytearray()
    for key, value in entries:
        koff = base + len(strings)
        strings += key
        voff = base + len(strings)
        strings += value
        table += _ENTRY.pack(koff, voff, len(key), len(value))
    header = bytearray(serialise_locator([])[:_HEADER_SIZE])
    struct.pack_into("<H", header, 18, count)
    return bytes(header) + bytes(table) + bytes(strings)
