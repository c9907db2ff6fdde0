"""Backup files: every byte range a write will overwrite, saved before the write.

Format: UTF-8 JSON (one object), the saved bytes zlib-compressed and base64-encoded, so a
backup is small for mostly-zero ranges, inspectable, and portable. ``restore`` (in
:mod:`vhdxray.core.write.restore`) checks each range of the image still holds either the bytes
before or the bytes after the operation (a crash may have left it part-way) before it puts
the old bytes back.
"""

from __future__ import annotations

import binascii
import errno
import importlib
import os
import time
import zlib
from collections.abc import Callable
from functools import cache

from vhdxray.core.fileio import (
    NewFile,
    open_regular,
    path_join,
    path_name,
    pread_exact,
    write_all,
)
from vhdxray.core.format.record import record
from vhdxray.core.jsontext import dumps
from vhdxray.core.write.preflight import backup_folder

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path  # reading a backup only (restore, the app's list); not writing
    from typing import Any

StrPath = str | os.PathLike[str]

FORMAT = "vhdxray-backup"
VERSION = 1
MAX_BACKUP_FILE = 1 << 30
"""No backup is larger: a write saves at most the log's pages (256 MiB read at most), base64'd."""


class BackupError(Exception):
    """The backup file cannot be written or read; the message says why.
    ``another_folder_helps``: whether a backup folder elsewhere would get past it."""

    def __init__(self, message: str, *, another_folder_helps: bool = True) -> None:
        super().__init__(message)
        self.another_folder_helps = another_folder_helps


@record
class BackupRange:
    offset: int
    before: bytes
    after: bytes  # what the operation writes there (only its hash is stored)


@record
class Backup:
    path: Path
    image: Path
    operation: str
    created: str
    size_before: int
    size_after: int
    ranges: tuple[tuple[int, bytes, str], ...]  # (offset, before bytes, sha256 of after bytes)


@cache
def _sha256() -> Callable[[bytes], Any]:
    """A SHA-256 constructor without OpenSSL: the interpreter's built-in module, the one
    hashlib itself falls back to (its digests are the same). Importing hashlib loads OpenSSL's
    libcrypto, about 6 ms of every repair's start-up (issue 9) for a few KiB hashed."""
    for name in ("_sha256", "_sha2"):  # Python 3.11; 3.12 and later
        try:
            return importlib.import_module(name).sha256  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    import hashlib  # pragma: no cover - a Python built without them

    return hashlib.sha256  # pragma: no cover


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex, as ``hashlib.sha256(data).hexdigest()`` gives it."""
    return str(_sha256()(data).hexdigest())


def backup_name(image: StrPath, operation: str) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{path_name(image)}.vhdxray-backup-{operation}-{stamp}-{os.getpid()}.json"


def free_backup_file(image: StrPath, operation: str, backup_dir: StrPath | None = None) -> str:
    """Where a backup of ``operation`` on ``image`` goes now: ``operation``, or
    ``operation-2``, ``-3``... when a file of that name exists already (names carry the time
    to the second, and the steps of one repair come that fast).

    Any directory entry counts as taken, a dangling symbolic link too (``lexists``: a link is
    never followed, so a backup can never be written through one)."""
    directory = backup_folder(image, backup_dir)
    name = operation
    for n in range(2, 1000):
        if not os.path.lexists(path_join(directory, backup_name(image, name))):
            break
        name = f"{operation}-{n}"
    return path_join(directory, backup_name(image, name))


def _create_free(image: StrPath, operation: str, directory: str, durable: bool) -> NewFile:
    """Create the backup file exclusively (O_EXCL: never through a link, never over a file),
    taking the next free name when another appeared since the name was chosen."""
    for _ in range(100):
        path = free_backup_file(image, operation, directory)
        try:
            return NewFile(path, 0o600, durable=durable)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free backup name", directory)


def write_backup(
    image: StrPath,
    *,
    operation: str,
    ranges: list[BackupRange],
    size_before: int,
    size_after: int,
    backup_dir: StrPath | None = None,
    durable: bool = True,
) -> str:
    """Write and fsync the backup; return its path. Raise BackupError when impossible.

    ``durable=False`` skips the fsyncs: for a copy vhdxray has just made, whose original is
    left untouched, a backup is a convenience (undo), not the only way back after a crash."""
    directory = backup_folder(image, backup_dir)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "operation": operation,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "image": os.path.realpath(image),
        "size_before": size_before,
        "size_after": size_after,
        "ranges": [
            {
                "offset": r.offset,
                "length": len(r.before),
                "before_sha256": sha256_hex(r.before),
                "after_sha256": sha256_hex(r.after),
                "before_zlib_b64": _b64(zlib.compress(r.before, 6)),
            }
            for r in ranges
        ],
    }
    payload = dumps(doc, indent=1).encode("utf-8")
    try:
        new = _create_free(image, operation, directory, durable)
    except OSError as exc:
        path = path_join(directory, backup_name(image, operation))
        if exc.errno == errno.ENAMETOOLONG:  # the same name is too long in any folder
            extra = len(backup_name(image, operation)) - len(path_name(image))
            raise BackupError(
                f"cannot create the backup file {path}: the image's name is too long for the "
                f"name of its backup ({extra} characters longer); give the image a shorter "
                "name first",
                another_folder_helps=False,
            ) from exc
        raise BackupError(
            f"cannot create the backup file {path}: {exc.strerror or exc}; the backups can "
            "go to another folder"
        ) from exc
    try:
        with new as fd:  # fsynced with its directory when durable; removed on error
            write_all(fd, payload)
    except OSError as exc:
        raise BackupError(
            f"writing the backup file {new.path} failed: {exc.strerror or exc}"
        ) from exc
    return new.path


def _b64(data: bytes) -> str:
    """``base64.b64encode(data).decode("ascii")``: the same function of binascii, without the
    base64 module (a repair's start-up, issue 9)."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


@record
class _Declared:
    """A backup's fields as declared, checked for shape; the saved bytes still compressed.
    (A record, not a NamedTuple: typing.NamedTuple costs a few ms to build at import.)"""

    image: str
    operation: str
    created: str
    size_before: int
    size_after: int
    ranges: tuple[tuple[int, int, str, str, str], ...]  # offset, length, b64, sha before, after


def _read_doc(p: Path) -> Any:
    try:
        fd = open_regular(p)
    except OSError as exc:
        raise BackupError(f"cannot read {p}: {exc.strerror or exc}") from exc
    try:
        size = os.fstat(fd).st_size
        if size > MAX_BACKUP_FILE:
            raise BackupError(
                f"{p} is {size} bytes, more than a vhdxray backup can be ({MAX_BACKUP_FILE}): "
                "not a vhdxray backup"
            )
        if pread_exact(fd, 0, 64).lstrip()[:1] != b"{":
            raise BackupError(f"{p} is not a vhdxray backup file (not a JSON object)")
        raw = pread_exact(fd, 0, size)
    except OSError as exc:
        raise BackupError(f"cannot read {p}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    import json  # reading a backup (restore) only: writing one needs no json module

    try:
        return json.loads(raw)
    # RecursionError: nesting deeper than the parser's stack; ValueError: JSON syntax, bad
    # UTF-8, integers too long to convert.
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BackupError(f"{p} is not a vhdxray backup file (not readable JSON)") from exc


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BackupError(f"{what} is not a byte count")
    return value


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise BackupError(f"{what} is not a string")
    return value


def _declared(p: Path) -> _Declared:
    doc = _read_doc(p)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BackupError(f"{p} is not a vhdxray backup file")
    if doc.get("version") != VERSION:
        version = doc.get("version")
        shown = version if isinstance(version, int | str | None) else type(version).__name__
        raise BackupError(f"{p} has backup format version {shown!r:.40}, expected 1")
    try:
        raw_ranges = doc["ranges"]
        if not isinstance(raw_ranges, list):
            raise BackupError("'ranges' is not a list")
        ranges = []
        for n, r in enumerate(raw_ranges):
            if not isinstance(r, dict):
                raise BackupError(f"range {n} is not an object")
            ranges.append(
                (
                    _int(r["offset"], f"range {n} offset"),
                    _int(r["length"], f"range {n} length"),
                    _str(r["before_zlib_b64"], f"range {n} data"),
                    _str(r["before_sha256"], f"range {n} checksum"),
                    _str(r["after_sha256"], f"range {n} checksum"),
                )
            )
        return _Declared(
            image=_str(doc["image"], "image"),
            operation=_str(doc["operation"], "operation"),
            created=_str(doc["created"], "created"),
            size_before=_int(doc["size_before"], "size_before"),
            size_after=_int(doc["size_after"], "size_after"),
            ranges=tuple(ranges),
        )
    except KeyError as exc:
        raise BackupError(f"{p} is damaged or incomplete (no {exc.args[0]!r:.40})") from exc
    except BackupError as exc:
        raise BackupError(f"{p} is damaged or incomplete ({exc})") from exc


def backup_image(path: str | os.PathLike[str]) -> Path:
    """The image a backup file names (checked for shape, nothing decompressed)."""
    from pathlib import Path

    return Path(_declared(Path(path)).image)


def _inflate(p: Path, data_b64: str, length: int) -> bytes:
    """The saved bytes, never more than ``length`` of them (a zlib bomb stops there)."""
    import base64  # reading a backup only

    try:
        packed = base64.b64decode(data_b64, validate=True)
        inflater = zlib.decompressobj()
        before = inflater.decompress(packed, length + 1)
    except (ValueError, zlib.error) as exc:
        raise BackupError(f"{p} is damaged: a saved range cannot be decoded ({exc})") from exc
    if len(before) != length or not inflater.eof:
        raise BackupError(f"{p} is damaged: a saved range does not hold its declared length")
    return before


def read_backup(path: str | os.PathLike[str], *, image_size: int | None = None) -> Backup:
    """Load and check a backup file; raise BackupError with a clear reason.

    A backup is untrusted input: before anything is decompressed, every range must lie inside
    the image (``image_size``, the size of the image now; by default the larger of the two
    sizes the backup declares) and together the ranges must not be larger than it; each range
    is then inflated with a bound of its declared length."""
    from pathlib import Path

    p = Path(path)
    d = _declared(p)
    limit = max(d.size_before, d.size_after) if image_size is None else image_size
    total = 0
    for offset, length, *_ in d.ranges:
        total += length
        if offset + length > limit:
            raise BackupError(
                f"{p} does not fit the image: a saved range at offset {offset} of {length} bytes "
                f"ends past its {limit} bytes"
            )
    if total > limit:
        raise BackupError(
            f"{p} does not fit the image: its ranges hold {total} bytes, the image is {limit}"
        )
    ranges = []
    for offset, length, data_b64, before_sha, after_sha in d.ranges:
        before = _inflate(p, data_b64, length)
        if sha256_hex(before) != before_sha:
            raise BackupError(f"{p} is damaged: a saved range does not match its checksum")
        ranges.append((offset, before, after_sha))
    return Backup(
        path=p,
        image=Path(d.image),
        operation=d.operation,
        created=d.created,
        size_before=d.size_before,
        size_after=d.size_after,
        ranges=tuple(ranges),
    )
