"""The floor for Python (issue 9): the reads of a small ``check`` in a plain script, no words.

Both headers and both region tables read and CRC-checked, the metadata table and the three
geometry items, the BAT's payload states counted with bytes operations, the log's entry
headers found by their sector signature (a log that is a hole is not read, as vhdxray does).
``crc32c``'s compiled module is loaded directly, as vhdxray loads it (its package ``__init__``
imports importlib.metadata). Prints a small JSON object. ``bench/run.py`` runs it with the
interpreter that runs vhdxray: ``python bench/floor_check.py IMAGE``.
"""

import mmap
import os
import struct
import sys
from importlib.machinery import ExtensionFileLoader, ModuleSpec

so = next(
    os.path.join(d, "crc32c", n)
    for d in sys.path
    if os.path.isdir(os.path.join(d, "crc32c"))
    for n in os.listdir(os.path.join(d, "crc32c"))
    if n.startswith("_crc32c") and n.endswith(".so")
)
loader = ExtensionFileLoader("crc32c._crc32c", so)
module = loader.create_module(ModuleSpec("crc32c._crc32c", loader, origin=so))
loader.exec_module(module)
crc = module.crc32c
u32, u64 = struct.Struct("<I"), struct.Struct("<Q")


def guid(text: str) -> bytes:
    """A GUID as VHDX stores it (the first three fields little-endian)."""
    a, b, c, d, e = (bytes.fromhex(part) for part in text.split("-"))
    return a[::-1] + b[::-1] + c[::-1] + d + e


def crc_ok(data: bytes) -> bool:
    return bool(crc(data[:4] + bytes(4) + data[8:]) == u32.unpack_from(data, 4)[0])


def table(data: bytes, first: int, count: int) -> dict[bytes, tuple[int, int]]:
    """GUID -> (offset, length) of 32-byte entries (region table: u64 offset; metadata: u32)."""
    form = "<QI" if first == 16 else "<II"
    return {data[o : o + 16]: struct.unpack_from(form, data, o + 16) for o in range(first, first + 32 * count, 32)}  # fmt: skip # noqa: E501


fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
head = os.pread(fd, 320 * 1024, 0)
good = [h for h in (head[0x10000:0x11000], head[0x20000:0x21000]) if h[:4] == b"head" and crc_ok(h)]  # fmt: skip # noqa: E501
current = max(good, key=lambda h: u64.unpack_from(h, 8)[0])
region = next(t for t in (head[0x30000:0x40000], head[0x40000:0x50000]) if t[:4] == b"regi" and crc_ok(t))  # fmt: skip # noqa: E501
regions = table(region, 16, u32.unpack_from(region, 8)[0])
meta_at, meta_len = regions[guid("8B7CA206-4790-4B9A-B8FE-575F050F886E")]
meta = os.pread(fd, meta_len, meta_at)
items = table(meta, 32, struct.unpack_from("<H", meta, 10)[0])
block = u32.unpack_from(meta, items[guid("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")][0])[0]
vsize = u64.unpack_from(meta, items[guid("2FA54224-CD1B-4876-B211-5DBED83BF4B8")][0])[0]
sector = u32.unpack_from(meta, items[guid("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")][0])[0]
ratio, blocks = (1 << 23) * sector // block, -(-vsize // block)
bat_at, _ = regions[guid("2DC27766-F623-4200-9D64-115E9BFD4A08")]
bat = os.pread(fd, 8 * (blocks + (blocks - 1) // ratio), bat_at)
states = bat[0::8].translate(bytes(range(8)) * 32)
present = [e >> 20 << 20 for e in struct.unpack(f"<{len(bat) // 8}Q", bat) if e & 7 == 6]
log_len, log_at = struct.unpack_from("<IQ", current, 68)
sequences = []
try:
    holds_data = os.lseek(fd, log_at, os.SEEK_DATA) < log_at + log_len
except OSError:  # no data from there to the end of the file
    holds_data = False
if holds_data:  # the first four bytes of every 4 KiB sector, searched for "loge"
    with mmap.mmap(fd, log_at + log_len, access=mmap.ACCESS_READ) as m:
        n = log_len // 4096
        heads = bytearray(4 * n)
        for k in range(4):
            heads[k::4] = m[log_at + k : log_at + log_len : 4096][:n]
        at = heads.find(b"loge")
        while at >= 0:
            if at % 4 == 0:
                sequences.append(u64.unpack_from(m, log_at + 4096 * (at // 4) + 16)[0])
            at = heads.find(b"loge", at + 1)
print(
    f'{{"headers_ok": {len(good)}, "sequence": {u64.unpack_from(current, 8)[0]}, '
    f'"block_size": {block}, "virtual_size": {vsize}, "present": {len(present)}, '
    f'"past_eof": {sum(o + block > size for o in present)}, '
    f'"not_present": {states.count(0)}, "log_entries": {len(sequences)}}}'
)
