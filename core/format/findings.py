"""Findings: every problem (or notable fact) the reader sees becomes one of these.

A finding is data, never an exception. ``code`` is stable and dotted
(``header.slot1.checksum``) so scripts can match on it; ``message`` is plain words for people
(no command-line flag, no app key); ``suggest`` the choices that act on it, which each front
end renders its own way (see :class:`vhdxray.core.outcome.Suggestion`).
"""

from __future__ import annotations

from vhdxray.core.format.record import StrEnum, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from typing import Final

    from vhdxray.core.outcome import Suggestions

    CODE_PATTERN: re.Pattern[str]


def __getattr__(name: str) -> object:
    """``CODE_PATTERN`` (what a finding code looks like), compiled when first asked for: the
    check path never imports :mod:`re`."""
    if name == "CODE_PATTERN":
        import re

        pattern = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
        globals()[name] = pattern
        return pattern
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Severity(StrEnum):
    """How much a finding matters.

    error: the user must act (the file is damaged or cannot be used as is).
    warning: unusual but tolerated by Windows and QEMU; worth knowing.
    info: a fact, no action needed.
    """

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


SEVERITY_ORDER: Final = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}

WRITER_HABITS: Final = frozenset({"region.not_required"})
"""Finding codes that only record a harmless habit of a writer (QEMU writes its BAT and
Metadata regions not marked required; Windows and QEMU accept it). Such a finding keeps its
severity in the list, but does not make the verdict a warning
(:func:`vhdxray.core.analysis.verdict.verdict`); the front ends name it a writer quirk. The one
place that knows these codes."""


def is_writer_habit(code: str) -> bool:
    """Whether a finding with ``code`` only records a harmless writer habit
    (:data:`WRITER_HABITS`)."""
    return code in WRITER_HABITS


@record
class Finding:
    severity: Severity
    code: str
    where: str
    message: str
    suggest: Suggestions = ()

    def to_json(self) -> dict[str, object]:
        return {
            "severity": self.severity.value,
            "code": self.code,
            "where": self.where,
            "message": self.message,
            "suggest": [s.to_json() for s in self.suggest],
        }


def error(code: str, where: str, message: str, suggest: Suggestions = ()) -> Finding:
    return Finding(Severity.ERROR, code, where, message, suggest)


def warning(code: str, where: str, message: str, suggest: Suggestions = ()) -> Finding:
    return Finding(Severity.WARNING, code, where, message, suggest)


def info(code: str, where: str, message: str, suggest: Suggestions = ()) -> Finding:
    return Finding(Severity.INFO, code, where, message, suggest)


def has_errors(findings: tuple[Finding, ...] | list[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


def sort_findings(findings: list[Finding] | tuple[Finding, ...]) -> tuple[Finding, ...]:
    """Errors first, then warnings, then info; stable within a severity."""
    return tuple(sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity]))
