"""Undo an operation from its backup file (``vhdxray restore BACKUP``).

Before writing, every saved range of the image must hold either the bytes from before the
operation or the bytes it wrote (a crash may leave some ranges done and others not), and the
file size must be one of the two recorded sizes. Anything else means the image changed since:
restore refuses. The restore itself goes through the writer, so it is locked, backed up
(a restore can be undone too), fsynced and verified.
"""

from __future__ import annotations

import os
from pathlib import Path

from vhdxray.core.format.record import record
from vhdxray.core.source import ImageSource
from vhdxray.core.write.backup import Backup, backup_image, read_backup, sha256_hex
from vhdxray.core.write.outcome import RefusalCode, Refused
from vhdxray.core.write.session import PlannedWrite, WritePlan, WriteResult, WriteSession


@record
class RestorePlan:
    backup: Backup
    image: Path
    plan: WritePlan
    ranges_to_restore: int
    ranges_already_before: int
    truncate_to: int | None  # the operation extended the file: cut it back

    def describe(self) -> list[str]:
        lines = [
            f"Backup of '{self.backup.operation}' made {self.backup.created}.",
            f"Image: {self.image}",
            f"{self.ranges_to_restore} range(s) to put back, "
            f"{self.ranges_already_before} already hold the old bytes.",
        ]
        if self.truncate_to is not None:
            lines.append(f"The file will be cut back to {self.truncate_to} bytes.")
        return lines


def plan_restore(
    backup_path: str | os.PathLike[str], image: str | os.PathLike[str] | None = None
) -> RestorePlan:
    """Check the backup against the image; raise Refused (or BackupError) with why."""
    target = Path(image) if image is not None else backup_image(backup_path)
    try:
        source = ImageSource(target)
    except OSError as exc:
        raise Refused(
            RefusalCode.CANNOT_OPEN, f"cannot open {target}: {exc.strerror or exc}"
        ) from exc
    writes: list[PlannedWrite] = []
    already = 0
    with source:
        size = source.size
        # Checked against the real size before anything in the backup is decompressed.
        backup = read_backup(backup_path, image_size=size)
        if size not in (backup.size_before, backup.size_after):
            raise Refused(
                RefusalCode.RESTORE_MISMATCH,
                f"{target} is {size} bytes; the backup was made when it was "
                f"{backup.size_before} bytes (and the operation made it {backup.size_after}): "
                "this is not the image that was backed up, or it changed since",
            )
        for offset, before, after_sha in backup.ranges:
            now = source.read_at(offset, len(before))
            if now == before:
                already += 1
                continue
            if sha256_hex(now) != after_sha:
                raise Refused(
                    RefusalCode.RESTORE_MISMATCH,
                    f"the bytes at offset 0x{offset:x} of {target} are neither those saved in "
                    "the backup nor those the operation wrote: the image changed since the "
                    "backup (or it is another image); nothing was restored",
                )
            writes.append(PlannedWrite(offset, before, f"range at 0x{offset:x}", expected=now))
    truncate = backup.size_before if size > backup.size_before else None
    return RestorePlan(
        backup=backup,
        image=target,
        plan=WritePlan("restore", tuple(writes)),
        ranges_to_restore=len(writes),
        ranges_already_before=already,
        truncate_to=truncate,
    )


def run_restore(
    plan: RestorePlan, *, backup_dir: str | os.PathLike[str] | None = None
) -> WriteResult | None:
    """Put the saved bytes back and cut the file back, in one write session. Returns None
    when there were no bytes to put back."""
    result = None
    with WriteSession(plan.image, backup_dir=backup_dir) as session:
        if plan.plan.writes:
            result = session.execute(plan.plan)
        if plan.truncate_to is not None:
            session.truncate(plan.truncate_to, expected_size=plan.backup.size_after)
    return result
