"""The CLI's words for the outcome model (:mod:`vhdxray.core.write.outcome`): one function per
form (lines, JSON, exit code), so no command sorts exception classes itself."""

from __future__ import annotations

from vhdxray.core.write.outcome import VhdxrayError

EXIT_FAILURE = 1
EXIT_REFUSED = 2


def exit_code(error: VhdxrayError) -> int:
    """2 when nothing was written by the step that stopped, else 1."""
    return EXIT_REFUSED if error.refused else EXIT_FAILURE


def outcome_lines(error: VhdxrayError) -> list[str]:
    """The outcome in words for stderr, with the restore line of every backup (newest first)."""
    if error.refused:
        return [f"refused: {error} (nothing was written)"]
    lines = [f"FAILED: {error}"]
    for backup in reversed(error.backups):
        lines.append(f"restore the previous bytes with: vhdxray restore {backup}")
    return lines


def outcome_json(error: VhdxrayError) -> dict[str, object]:
    return error.to_json()
