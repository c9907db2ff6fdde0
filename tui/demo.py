"""The built-in demo image (``vhdxray --demo``): a small dynamic disk with a partition
table and some text on it, whose header slot 2 has been damaged, so the app has something
to explain and the header update something to fix."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from vhdxray.core.format import layout
from vhdxray.core.write.create import CreateOptions, create_image

DEMO_SIZE = 256 * layout.MiB
DEMO_TEXT = b"Hello from the vhdxray demo disk. Header slot 2 of this image is damaged.\n"


def _mbr() -> bytes:
    sector = bytearray(512)
    # One Linux partition (type 0x83) from sector 2048 to the end of the disk.
    start, count = 2048, DEMO_SIZE // 512 - 2048
    struct.pack_into("<B3sB3sII", sector, 446, 0, b"\0\0\0", 0x83, b"\0\0\0", start, count)
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def make_demo_image(path: Path) -> Path:
    opts = CreateOptions(virtual_size=DEMO_SIZE, block_size=1 * layout.MiB, creator="vhdxray demo")
    create_image(path, opts, data=[(0, _mbr()), (1 * layout.MiB, DEMO_TEXT)])
    # Damage slot 2 (the one with the higher sequence number): one flipped byte in its
    # FileWriteGuid, so its checksum fails and slot 1 becomes current.
    with open(path, "r+b") as f:
        f.seek(layout.HEADER_SLOT_OFFSETS[1] + 20)
        byte = f.read(1)
        f.seek(layout.HEADER_SLOT_OFFSETS[1] + 20)
        f.write(bytes([byte[0] ^ 0xFF]))
        f.flush()
        os.fsync(f.fileno())
    return path
