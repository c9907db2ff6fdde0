"""This image's backup files, as the Backups view lists them (newest first).

Backups are found by name beside the image (``IMAGE.vhdxray-backup-OPERATION-STAMP-PID.json``,
:func:`vhdxray.core.write.backup.backup_name`); listing reads no backup file, so a folder of
many large backups lists at once. A backup is read only when the user asks to restore it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MAX_LISTED = 500  # a folder holds far fewer; the bound keeps a hostile folder cheap

_NAME = re.compile(r"\.vhdxray-backup-(?P<op>.+)-(?P<stamp>\d{8}T\d{6})-(?P<pid>\d+)\.json$")


@dataclass(frozen=True, slots=True)
class BackupEntry:
    path: Path
    operation: str  # "update-headers", "replay-headers"...
    stamp: str  # UTC, YYYYMMDDTHHMMSS
    size: int

    @property
    def when(self) -> str:
        s = self.stamp
        return f"{s[0:4]}-{s[4:6]}-{s[6:8]} {s[9:11]}:{s[11:13]}:{s[13:15]} UTC"


def backup_files(image: Path) -> list[Path]:
    """The backup files of ``image`` in its folder, oldest first (by name stamp, then name)."""
    return [e.path for e in reversed(list_backups(image))]


def list_backups(image: Path) -> list[BackupEntry]:
    """This image's backups beside it, newest first."""
    folder = image.resolve().parent
    prefix = f"{image.name}.vhdxray-backup-"
    entries: list[BackupEntry] = []
    try:
        candidates = sorted(folder.glob(f"{glob_escape(image.name)}.vhdxray-backup-*.json"))
    except OSError:
        return []
    for path in candidates[-MAX_LISTED:]:
        if not path.name.startswith(prefix):
            continue
        match = _NAME.search(path.name[len(image.name) :])
        if match is None:
            continue
        try:
            size = path.stat().st_size
        except OSError:
            continue
        entries.append(BackupEntry(path, match["op"], match["stamp"], size))
    entries.sort(key=lambda e: (e.stamp, e.path.name), reverse=True)
    return entries


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


__all__ = ["BackupEntry", "backup_files", "list_backups"]
