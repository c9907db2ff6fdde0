"""Writing VHDX log entries (MS-VHDX §2.3.1): build spec-correct entries, put them in the log.

Test-only: makes pending-log test images. Unlike the parsers, these functions raise
``ValueError`` on arguments that would produce a non-conforming entry: a writer must not
produce damage.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from vhdxray.core.format import layout
from vhdxray.core.format.checksum import checksum_with_field_zeroed
from vhdxray.core.format.header import choose_current, effective_header, parse_header
from vhdxray.core.format.log import CHECKSUM_OFFSET, SECTOR, descriptor_sectors

_ENTRY_HEADER = struct.Struct("<4sIIIQII16sQQ")
_ZERO_DESC = struct.Struct("<4sIQQQ")  # "zero", Reserved, ZeroLength, FileOffset, SequenceNumber
_DATA_DESC = struct.Struct("<4s4s8sQQ")  # "desc", TrailingBytes, LeadingBytes, FileOffset, Seq
_U32 = struct.Struct("<I")
_MAX_U64 = (1 << 64) - 1


def build_log_entry(
    *,
    sequence_number: int,
    log_guid: uuid.UUID,
    tail: int,
    flushed_file_offset: int,
    last_file_offset: int,
    data_pages: Sequence[tuple[int, bytes]] = (),
    zero_ranges: Sequence[tuple[int, int]] = (),
) -> bytes:
    """A complete entry with a correct CRC-32C over its EntryLength bytes.

    ``data_pages`` are ``(file_offset, 4096 bytes)``; ``zero_ranges`` are
    ``(file_offset, length)``. Replay follows descriptor order, and the zero descriptors come
    first: a page that lies inside a zeroed range is therefore written after the zeroing.
    ``tail`` is the log offset of the sequence's first entry (this entry's own position for a
    one-entry sequence).
    """
    if not 0 < sequence_number <= _MAX_U64:
        raise ValueError(f"SequenceNumber must be 1..2^64-1, not {sequence_number}")
    if tail < 0 or tail % SECTOR:
        raise ValueError(f"Tail must be a non-negative multiple of 4096, not {tail}")
    for name, value in (
        ("FlushedFileOffset", flushed_file_offset),
        ("LastFileOffset", last_file_offset),
    ):
        if value < 0 or value % layout.MiB:
            raise ValueError(f"{name} must be a non-negative multiple of 1 MiB, not {value}")
    for offset, page in data_pages:
        if offset < 0 or offset % SECTOR:
            raise ValueError(f"data page offset must be a multiple of 4096, not {offset}")
        if len(page) != SECTOR:
            raise ValueError(f"a data page is 4096 bytes, not {len(page)}")
    for offset, length in zero_ranges:
        if offset < 0 or offset % SECTOR:
            raise ValueError(f"zero range offset must be a multiple of 4096, not {offset}")
        if length <= 0 or length % SECTOR:
            raise ValueError(f"zero range length must be a positive multiple of 4096: {length}")

    count = len(zero_ranges) + len(data_pages)
    n_desc = descriptor_sectors(count)
    entry_length = (n_desc + len(data_pages)) * SECTOR
    buf = bytearray(entry_length)
    _ENTRY_HEADER.pack_into(
        buf,
        0,
        layout.LOG_ENTRY_SIGNATURE,
        0,
        entry_length,
        tail,
        sequence_number,
        count,
        0,
        log_guid.bytes_le,
        flushed_file_offset,
        last_file_offset,
    )
    at = layout.LOG_ENTRY_HEADER_SIZE
    for offset, length in zero_ranges:
        _ZERO_DESC.pack_into(buf, at, layout.LOG_ZERO_SIGNATURE, 0, length, offset, sequence_number)
        at += layout.LOG_DESCRIPTOR_SIZE
    high, low = sequence_number >> 32, sequence_number & 0xFFFFFFFF
    sector = n_desc * SECTOR
    for offset, page in data_pages:
        _DATA_DESC.pack_into(
            buf,
            at,
            layout.LOG_DESC_SIGNATURE,
            bytes(page[SECTOR - 4 :]),
            bytes(page[:8]),
            offset,
            sequence_number,
        )
        at += layout.LOG_DESCRIPTOR_SIZE
        buf[sector : sector + 4] = layout.LOG_DATA_SIGNATURE
        _U32.pack_into(buf, sector + 4, high)
        buf[sector + 8 : sector + SECTOR - 4] = page[8 : SECTOR - 4]
        _U32.pack_into(buf, sector + SECTOR - 4, low)
        sector += SECTOR
    return seal_entry(buf)


def seal_entry(entry: bytes | bytearray) -> bytes:
    """``entry`` with its Checksum field recomputed over the whole buffer (EntryLength bytes).

    Tests use it to make entries whose only fault is the one they put in on purpose.
    """
    buf = bytearray(entry)
    _U32.pack_into(buf, CHECKSUM_OFFSET, checksum_with_field_zeroed(buf, CHECKSUM_OFFSET))
    return bytes(buf)


def _current_log_region(f: BinaryIO) -> tuple[int, int]:
    """LogOffset and LogLength of the header the reader uses (header.effective_header: the
    current one, slot 1 for byte-identical equal headers, none for equal different ones)."""
    raws = []
    for slot_offset in layout.HEADER_SLOT_OFFSETS:
        f.seek(slot_offset)
        raws.append(f.read(layout.HEADER_SIZE))
    headers = (parse_header(raws[0], 1), parse_header(raws[1], 2))
    eff = effective_header(headers, choose_current(*headers))
    if eff is None:
        raise ValueError("no current header: cannot locate the log")
    return eff.log_offset, eff.log_length


def write_log_entries(path: str | os.PathLike[str], entries: Sequence[tuple[int, bytes]]) -> None:
    """Write ``(log position, entry bytes)`` pairs into the image's log region, then fsync.

    The log region is taken from the current header. An entry that runs past the end of the
    log continues at its start, as the ring requires. The header (LogGuid) is left alone.
    """
    with open(Path(path), "r+b") as f:
        log_offset, log_length = _current_log_region(f)
        if log_length <= 0:
            raise ValueError("the image has no log space (LogLength is 0)")
        for position, entry in entries:
            if position < 0 or position % SECTOR or position >= log_length:
                raise ValueError(f"log position {position} is not a 4 KiB sector of the log")
            if len(entry) % SECTOR or not 0 < len(entry) <= log_length:
                raise ValueError(f"entry length {len(entry)} does not fit the log")
            first = min(len(entry), log_length - position)
            f.seek(log_offset + position)
            f.write(entry[:first])
            if first < len(entry):
                f.seek(log_offset)
                f.write(entry[first:])
        f.flush()
        os.fsync(f.fileno())
