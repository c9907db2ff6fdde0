"""Checks made before anything is written or copied: can the backups be written where they
go, and is there room for a copy? A refusal here leaves no file behind.

They run before a copy is started and take paths as ``str`` (:mod:`os.path`, no :mod:`pathlib`:
issue 9). Where the backups go is decided here, for these checks and for the backup writer."""

from __future__ import annotations

import os

from vhdxray.core.fileio import free_bytes, path_text
from vhdxray.core.write.outcome import Option, RefusalCode, Refused, suggest

StrPath = str | os.PathLike[str]

# Room kept free beyond what a copy needs (backups of the repairs in the copy, metadata).
COPY_MARGIN = 16 * 1024 * 1024


def backup_folder(image: StrPath, backup_dir: StrPath | None) -> str:
    """The backups' folder: ``backup_dir``, else the folder of the image (links resolved, as
    ``Path.resolve`` does)."""
    if backup_dir is not None:
        return path_text(backup_dir)
    return os.path.dirname(os.path.realpath(image))


def check_backup_dir(backup_dir: StrPath | None, image: StrPath) -> Refused | None:
    """Why backups cannot be written to ``backup_dir`` (default: beside ``image``), or None."""
    directory = backup_folder(image, backup_dir)
    if not os.path.exists(directory):
        return Refused(
            RefusalCode.BACKUP_FAILED,
            f"the backup folder {directory} does not exist",
            {"backup_dir": directory},
            suggest=suggest(Option.BACKUP_DIR),
        )
    if not os.path.isdir(directory):
        return Refused(
            RefusalCode.BACKUP_FAILED,
            f"the backup folder {directory} is not a folder",
            {"backup_dir": directory},
            suggest=suggest(Option.BACKUP_DIR),
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        return Refused(
            RefusalCode.BACKUP_FAILED,
            f"the backup folder {directory} is not writable",
            {"backup_dir": directory},
            suggest=suggest(Option.BACKUP_DIR),
        )
    return None


def allocated_bytes(path: StrPath) -> int:
    """The bytes ``path`` occupies on disk (a sparse file's holes cost nothing)."""
    st = os.stat(path)
    blocks = getattr(st, "st_blocks", None)
    return st.st_size if blocks is None else min(st.st_size, blocks * 512)


def check_copy_target(source: StrPath, output: StrPath) -> Refused | None:
    """Why a copy of ``source`` cannot be made at ``output``, or None."""
    output = os.fspath(output)
    if os.path.lexists(output):
        return Refused(
            RefusalCode.OUTPUT_EXISTS,
            f"{output} already exists; vhdxray never overwrites it",
            {"output": output},
        )
    folder = os.path.dirname(os.path.realpath(output))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        return Refused(
            RefusalCode.COPY_FAILED,
            f"cannot create {output}: {folder} is not a writable folder",
            {"output": output},
        )
    try:
        need = allocated_bytes(source) + COPY_MARGIN
        free = free_bytes(folder)
    except OSError:
        return None  # cannot tell; the copy itself reports a full disk
    if free < need:
        return Refused(
            RefusalCode.NO_SPACE,
            f"{folder} has {free} bytes free; the copy needs about {need}",
            {"free": free, "need": need},
        )
    return None
