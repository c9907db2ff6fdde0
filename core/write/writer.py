"""One-shot writes: a single :class:`WritePlan` in its own :class:`WriteSession`.

Everything that writes goes through :mod:`vhdxray.core.write.session`; this module keeps the
short form ``execute(path, plan)`` for callers that write one plan, and the names the rest of
the code imports (the outcome classes come from :mod:`vhdxray.core.write.outcome`).
"""

from __future__ import annotations

import os

from vhdxray.core.write.outcome import Refused, WriteFailed
from vhdxray.core.write.session import (
    PlannedWrite,
    Verify,
    WriteHooks,
    WritePlan,
    WriteResult,
    WriteSession,
)

WriteRefused = Refused  # the write was not started; nothing changed


def execute(
    path: str | os.PathLike[str],
    plan: WritePlan,
    *,
    backup_dir: str | os.PathLike[str] | None = None,
    hooks: WriteHooks | None = None,
    session: WriteSession | None = None,
) -> WriteResult:
    """Carry out ``plan`` on the image at ``path``: in ``session`` when given (its locks are
    already held), else in a session of its own."""
    if session is not None:
        return session.execute(plan)
    with WriteSession(path, backup_dir=backup_dir, hooks=hooks) as own:
        return own.execute(plan)


def truncate_image(path: str | os.PathLike[str], size: int, *, expected_size: int) -> None:
    """Cut the image back to ``size`` in a session of its own (see WriteSession.truncate)."""
    with WriteSession(path) as session:
        session.truncate(size, expected_size=expected_size)


__all__ = [
    "PlannedWrite",
    "Verify",
    "WriteFailed",
    "WriteHooks",
    "WritePlan",
    "WriteRefused",
    "WriteResult",
    "WriteSession",
    "execute",
    "truncate_image",
]
