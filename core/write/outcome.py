"""The outcome model, as the write code imports it (defined in :mod:`vhdxray.core.outcome`,
below both analysis and write, so plans in either layer return the same ``Refused``)."""

from vhdxray.core.outcome import (
    InternalError,
    Option,
    RefusalCode,
    Refused,
    Suggestion,
    Suggestions,
    VhdxrayError,
    WriteFailed,
    WriteState,
    suggest,
)

__all__ = [
    "InternalError",
    "Option",
    "RefusalCode",
    "Refused",
    "Suggestion",
    "Suggestions",
    "VhdxrayError",
    "WriteFailed",
    "WriteState",
    "suggest",
]
