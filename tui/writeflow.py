"""The pieces every write in the app shares: what a confirmed write runs (:class:`Job`), what
the dialog shows with it (:class:`Proposal`), and what a finished write hands back
(:class:`WriteDone`). Imports no writing code: that is loaded when a write is confirmed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from vhdxray.core.analysis.reader import Report
from vhdxray.core.progress import Progress  # the worker's: bytes, label, cancel checks

if TYPE_CHECKING:
    from vhdxray.core.write.repair import RepairRun
    from vhdxray.tui.screens.confirm import Confirmation


@dataclass(frozen=True, slots=True, init=False)
class WriteDone:
    """What a finished write action hands back to the app. The backups may be given as str
    (core's write path names files by str) and are kept as Paths."""

    report: Report  # the image shown in the app, as re-read after the write
    backups: tuple[Path, ...]  # every backup file written, oldest first
    summary: str  # one plain-words sentence on the new state
    lines: tuple[str, ...] = ()  # what each step did
    copy: Path | None = None  # a new copy the write made (the app offers to open it)

    def __init__(
        self,
        report: Report,
        backups: Iterable[str | os.PathLike[str]],
        summary: str,
        lines: tuple[str, ...] = (),
        copy: Path | None = None,
    ) -> None:
        set_field = object.__setattr__  # frozen
        set_field(self, "report", report)
        set_field(self, "backups", tuple(Path(b) for b in backups))
        set_field(self, "summary", summary)
        set_field(self, "lines", lines)
        set_field(self, "copy", copy)

    @property
    def backup_path(self) -> Path | None:
        """The (last) backup; the header update writes exactly one."""
        return self.backups[-1] if self.backups else None


class Job(Protocol):
    """A confirmed write: blocking, run in a worker thread."""

    @property
    def title(self) -> str: ...

    def run(self, image: Path, progress: Progress) -> WriteDone: ...


@dataclass(frozen=True, slots=True)
class Proposal:
    """The dialog for one write, and what ``y`` runs (None: refused, or a choice comes first)."""

    confirmation: Confirmation
    job: Job | None


class RepairRunFailed(Exception):
    """A repair stopped (refused or failed); ``run`` holds every backup written before."""

    def __init__(self, run: RepairRun, copy: Path | None = None) -> None:
        super().__init__(str(run.error))
        self.run = run
        self.copy = copy


def in_use_reason(path: Path) -> str | None:
    """Why the image cannot be written now (held by QEMU or another vhdxray, no permission)."""
    from vhdxray.core.write.locking import image_in_use

    reason = image_in_use(path)
    if reason is not None:
        return reason
    if not os.access(path, os.W_OK):
        return f"you do not have permission to write to {path}"
    return None


__all__ = ["Job", "Progress", "Proposal", "RepairRunFailed", "WriteDone", "in_use_reason"]
