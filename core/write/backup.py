"""Backup files: every byte range a write will overwrite, saved before the write.

Format: UTF-8 JSON (one object), the saved bytes zlib-compressed and base64-encoded, so a
backup is small for mostly-zero ranges, inspectable, and portable. ``restore`` (in
:mod:`vhdxray.core.write.restore`) checks each range of the image still holds either the bytes
before or the bytes after the operation (a crash may have left it part-way) before it puts
the old bytes back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vhdxray.core.fileio import create_new, fsync_dir, write_all

FORMAT = "vhdxray-backup"
VERSION = 1


class BackupError(Exception):
    """The backup file cannot be written or read; the message says why."""


@dataclass(frozen=True, slots=True)
class BackupRange:
    offset: int
    before: bytes
    after: bytes  # what the operation writes there (only its hash is stored)


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    image: Path
    operation: str
    created: str
    size_before: int
    size_after: int
    ranges: tuple[tuple[int, bytes, str], ...]  # (offset, before bytes, sha256 of after bytes)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def backup_name(image: Path, operation: str) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{image.name}.vhdxray-backup-{operation}-{stamp}-{os.getpid()}.json"


def free_backup_path(image: Path, operation: str, backup_dir: Path | None = None) -> Path:
    """Where a backup of ``operation`` on ``image`` goes now: ``operation``, or
    ``operation-2``, ``-3``... when a file of that name exists already (names carry the time
    to the second, and the steps of one repair come that fast)."""
    directory = backup_dir if backup_dir is not None else image.resolve().parent
    name = operation
    for n in range(2, 1000):
        if not (directory / backup_name(image, name)).exists():
            break
        name = f"{operation}-{n}"
    return directory / backup_name(image, name)


def write_backup(
    image: Path,
    *,
    operation: str,
    ranges: list[BackupRange],
    size_before: int,
    size_after: int,
    backup_dir: Path | None = None,
) -> Path:
    """Write and fsync the backup; return its path. Raise BackupError when impossible."""
    path = free_backup_path(image, operation, backup_dir)
    directory = path.parent
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "operation": operation,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "image": str(image.resolve()),
        "size_before": size_before,
        "size_after": size_after,
        "ranges": [
            {
                "offset": r.offset,
                "length": len(r.before),
                "before_sha256": _sha256(r.before),
                "after_sha256": _sha256(r.after),
                "before_zlib_b64": base64.b64encode(zlib.compress(r.before, 6)).decode("ascii"),
            }
            for r in ranges
        ],
    }
    payload = json.dumps(doc, indent=1).encode("utf-8")
    try:
        fd = create_new(path, 0o600)
    except OSError as exc:
        raise BackupError(
            f"cannot create the backup file {path}: {exc.strerror or exc} "
            "(choose another place with --backup-dir)"
        ) from exc
    try:
        write_all(fd, payload)
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise BackupError(f"writing the backup file {path} failed: {exc.strerror or exc}") from exc
    os.close(fd)
    fsync_dir(directory)
    return path


def read_backup(path: str | os.PathLike[str]) -> Backup:
    """Load and check a backup file; raise BackupError with a clear reason."""
    p = Path(path)
    try:
        doc: Any = json.loads(p.read_bytes())
    except OSError as exc:
        raise BackupError(f"cannot read {p}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"{p} is not a vhdxray backup file (not JSON)") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BackupError(f"{p} is not a vhdxray backup file")
    if doc.get("version") != VERSION:
        raise BackupError(f"{p} has backup format version {doc.get('version')}, expected 1")
    try:
        ranges = []
        for r in doc["ranges"]:
            before = zlib.decompress(base64.b64decode(r["before_zlib_b64"]))
            if len(before) != r["length"] or _sha256(before) != r["before_sha256"]:
                raise BackupError(f"{p} is damaged: a saved range does not match its checksum")
            ranges.append((int(r["offset"]), before, str(r["after_sha256"])))
        return Backup(
            path=p,
            image=Path(doc["image"]),
            operation=str(doc["operation"]),
            created=str(doc["created"]),
            size_before=int(doc["size_before"]),
            size_after=int(doc["size_after"]),
            ranges=tuple(ranges),
        )
    except (KeyError, TypeError, ValueError, zlib.error) as exc:
        raise BackupError(f"{p} is damaged or incomplete ({exc})") from exc
