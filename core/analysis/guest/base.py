"""What every guest probe shares: the reader Protocol, a bounded view of one volume, and the
result types (filesystem, partition, finding) that the front ends turn into words.

Everything read here comes from a guest disk someone else wrote: every read is clamped to the
disk, every loop is bounded, and a volume stops reading once it has used its byte budget.
Findings carry a stable code and parameters only; the sentences live in the front ends
(``vhdxray.tui.guestwords``).
"""

from __future__ import annotations

from vhdxray.core.format.findings import Severity
from vhdxray.core.format.record import field, mutable_record, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol
else:  # VirtualReader is for type checkers; at run time a plain base keeps typing unimported
    Protocol = object

KiB = 1024
MiB = 1024 * KiB
# What triage reads of a volume before any probe runs: boot sector, ext/LVM/LUKS/swap headers,
# the ISO 9660 descriptor at 32 KiB and the btrfs superblock at 64 KiB.
HEAD_SIZE = 68 * KiB
# The most one filesystem's probe may read (boot sectors, superblocks, a few MFT records).
VOLUME_BUDGET = 4 * MiB


class VirtualReader(Protocol):
    """The guest disk as bytes: raw files, VHDX through its BAT and log, a chain.

    ``size`` may be a plain attribute or a read-only property."""

    @property
    def size(self) -> int: ...

    def read(self, offset: int, length: int) -> bytes: ...


class ReadBudgetExceeded(Exception):
    """A probe asked for more bytes than a volume may read."""


# The last bytes of the disk kept by :class:`Disk` once read: where a GPT backup header lies
# (the last sector, 512 or 4096 bytes).
TAIL_SIZE = 4 * KiB


class Disk:
    """The reader with reads clamped to its size (zeros past the end) and every byte counted.

    The first :data:`HEAD_SIZE` bytes (sector 0, a GPT's primary header and entries, the bare
    disk's volume head) and the last :data:`TAIL_SIZE` (a GPT's backup header) are read from
    the reader once, the first time a read falls inside them, and kept: triage asks for them
    several times, and each read of a VHDX walks its BAT and log. ``bytes_read`` counts what
    was read from the reader.
    """

    def __init__(self, reader: VirtualReader) -> None:
        self._reader = reader
        self.size = max(0, int(reader.size))
        self.bytes_read = 0
        self._head: bytes | None = None
        self._tail: bytes | None = None
        self._tail_start = max(0, self.size - TAIL_SIZE)

    def may_hold_data(self, offset: int, length: int) -> bool:
        """False only when the reader knows (without reading) that the range reads as zeros:
        a VHDX's BAT and log say so (``VirtualDisk.may_hold_data``); other readers cannot."""
        probe = getattr(self._reader, "may_hold_data", None)
        if probe is None:
            return True
        start, end = max(0, offset), min(self.size, offset + length)
        return end > start and bool(probe(start, end - start))

    def read(self, offset: int, length: int) -> bytes:
        if length <= 0 or offset < 0 or offset >= self.size:
            return bytes(max(0, length))
        end = offset + length
        if end <= HEAD_SIZE:
            if self._head is None:
                self._head = self._keep(0, HEAD_SIZE)
            if self._head:
                return self._head[offset:end]
        elif offset >= self._tail_start and end <= self.size:
            if self._tail is None:
                self._tail = self._keep(self._tail_start, self.size - self._tail_start)
            if self._tail:
                return self._tail[offset - self._tail_start : end - self._tail_start]
        return self._read(offset, length)

    def _keep(self, offset: int, length: int) -> bytes:
        """The bytes to keep, or b"" when they cannot be read whole (each read then goes to
        the reader, so a bad sector fails only the reads that touch it, as before)."""
        try:
            return self._read(offset, length)
        except OSError:
            return b""

    def _read(self, offset: int, length: int) -> bytes:
        wanted = min(length, self.size - offset)
        data = self._reader.read(offset, wanted)
        self.bytes_read += len(data)
        if len(data) < length:
            data = data + bytes(length - len(data))
        return data


class Volume:
    """A window of the disk where a filesystem may start: a partition, or the whole bare disk.

    ``read`` takes offsets relative to the volume start; a probe that reads more than
    :data:`VOLUME_BUDGET` bytes is stopped with :class:`ReadBudgetExceeded`.
    """

    def __init__(self, disk: Disk, start: int, length: int, budget: int = VOLUME_BUDGET) -> None:
        self.disk = disk
        self.start = start
        self.length = max(0, length)
        self.budget = budget
        self.used = 0
        self.head = self.read(0, min(HEAD_SIZE, max(self.length, 0)) or 0)
        if len(self.head) < HEAD_SIZE:
            self.head = self.head + bytes(HEAD_SIZE - len(self.head))

    def read(self, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        if self.used + length > self.budget:
            raise ReadBudgetExceeded(f"more than {self.budget} bytes at 0x{self.start:x}")
        self.used += length
        if offset < 0:
            return bytes(length)
        return self.disk.read(self.start + offset, length)

    def at(self, offset: int, length: int) -> bytes:
        """Bytes from the head when they are there (no new read), else from the disk."""
        if offset >= 0 and offset + length <= len(self.head):
            return self.head[offset : offset + length]
        return self.read(offset, length)


@record
class GuestFinding:
    """One fact about the guest: a stable code under ``guest.``, where, and the parameters
    the front end's sentence needs."""

    severity: Severity
    code: str
    where: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "code": self.code,
            "where": self.where,
            "params": dict(self.params),
        }


@record
class Structure:
    """Where one on-disk structure lies (for the hex view): a name, a disk offset, a length."""

    name: str
    offset: int
    length: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "offset": self.offset, "length": self.length}


@mutable_record
class Filesystem:
    """What a probe recognised at a volume start."""

    type: str
    label: str | None = None
    uuid: str | None = None
    size: int | None = None
    flags: dict[str, bool] = field(default_factory=dict)
    times: dict[str, int | None] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    structures: list[Structure] = field(default_factory=list)
    findings: list[GuestFinding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "label": self.label,
            "uuid": self.uuid,
            "size": self.size,
            "flags": dict(self.flags),
            "times": dict(self.times),
            "details": dict(self.details),
        }


def u16le(b: bytes, o: int) -> int:
    return int.from_bytes(b[o : o + 2], "little")


def u32le(b: bytes, o: int) -> int:
    return int.from_bytes(b[o : o + 4], "little")


def u64le(b: bytes, o: int) -> int:
    return int.from_bytes(b[o : o + 8], "little")


def u16be(b: bytes, o: int) -> int:
    return int.from_bytes(b[o : o + 2], "big")


def u32be(b: bytes, o: int) -> int:
    return int.from_bytes(b[o : o + 4], "big")


def u64be(b: bytes, o: int) -> int:
    return int.from_bytes(b[o : o + 8], "big")


def cstring(raw: bytes, encoding: str = "utf-8") -> str | None:
    """A NUL-terminated (or padded) label; None when empty."""
    text = raw.split(b"\0", 1)[0].decode(encoding, "replace").strip()
    return text or None


def utf16_name(raw: bytes) -> str | None:
    text = raw.decode("utf-16-le", "replace").split("\0", 1)[0].strip()
    return text or None


def uuid_text(raw: bytes) -> str:
    """16 bytes in big-endian (RFC 4122 byte) order, as ext4, XFS, btrfs and swap store them."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def guid_text(raw: bytes) -> str:
    """16 bytes in Microsoft's mixed-endian GUID order (GPT)."""
    a = int.from_bytes(raw[0:4], "little")
    b = int.from_bytes(raw[4:6], "little")
    c = int.from_bytes(raw[6:8], "little")
    return f"{a:08x}-{b:04x}-{c:04x}-{raw[8:10].hex()}-{raw[10:16].hex()}"


def finding(severity: Severity, code: str, where: str, **params: Any) -> GuestFinding:
    return GuestFinding(severity, code, where, params)
