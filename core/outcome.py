"""The one outcome model of every plan and write: refused, failed part-way, or internal error.

Plans return a :class:`Refused` (or raise it); writes raise :class:`Refused` before anything
changed and :class:`WriteFailed` after something did. Both carry a stable code and parameters
for scripts (JSON) and tests; ``reason``/``str()`` is the default English sentence, which each
front end may replace by its own words (see ``vhdxray.tui.outcome``). Front ends test
``error.refused`` and ``error.backups`` instead of sorting exception classes.

Core's words name no command-line flag and no app key. What the user may choose to get past a
refusal (or a finding, or a verdict's next step) is data: :class:`Suggestion` values naming
an :class:`Option` and a value. The CLI renders them as flags (``--from-slot 1``), the app as its
keys and dialog choices, JSON as ``{"option": "from_slot", "value": 1}``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from vhdxray.core.format.record import StrEnum, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


StrPath = str | os.PathLike[str]


class RefusalCode(StrEnum):
    """Why a write was not done. Stable: documented in README.md, emitted in JSON."""

    NOT_VHDX = "not_vhdx"
    TRUNCATED = "truncated"  # the file ends inside the structure to write
    BAD_SLOT = "bad_slot"
    FROM_SLOT_NOT_CURRENT = "from_slot_not_current"
    FROM_SLOT_INVALID = "from_slot_invalid"
    NO_CURRENT_HEADER = "no_current_header"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNSUPPORTED_LOG_VERSION = "unsupported_log_version"
    LOG_REPLAY_PENDING = "log_replay_pending"
    SEQUENCE_OVERFLOW = "sequence_overflow"
    NO_VALID_HEADER = "no_valid_header"
    BAD_COPY = "bad_copy"
    REGION_TRUNCATED = "region.truncated"
    REGION_NONE_VALID = "region.none_valid"
    REGION_CHOICE_NEEDED = "region.choice_needed"
    REGION_CHOICE_INVALID = "region.choice_invalid"
    REGION_CHANGED = "region.changed"
    REPLAY_BLOCKED = "replay_blocked"
    ZEROED_DATA_TOO_LARGE = "zeroed_data_too_large"
    LOG_GUID = "log_guid"
    LOG_UNREADABLE = "log_unreadable"
    FILE_TRUNCATED = "file_truncated"  # a truncated file: nothing is invented
    STRAY_BAT_ENTRY = "stray_bat_entry"  # a damaged BAT entry points past the end: not guessed
    IN_USE = "in_use"  # another program holds the image's locks
    CANNOT_OPEN = "cannot_open"
    CANNOT_LOCK = "cannot_lock"
    CHANGED = "changed"  # the bytes changed since the plan read them
    BACKUP_FAILED = "backup_failed"  # the backup file cannot be written
    BACKUP_INVALID = "backup_invalid"  # restore: the backup file is unreadable or damaged
    RESTORE_MISMATCH = "restore_mismatch"  # restore: the image is not what was backed up
    COPY_FAILED = "copy_failed"
    OUTPUT_EXISTS = "output_exists"
    NO_SPACE = "no_space"
    NOT_DIFFERENCING = "not_differencing"
    NO_LOCATOR = "no_locator"
    PARENT_MISSING = "parent_missing"  # no parent where the locator points: name it
    PARENT_UNREADABLE = "parent_unreadable"
    PARENT_ID_MISMATCH = "parent_id_mismatch"
    PARENT_GEOMETRY_MISMATCH = "parent_geometry_mismatch"
    LOCATOR_TOO_LARGE = "locator_too_large"
    NOTHING_TO_DO = "nothing_to_do"
    CONFIRMATION_NEEDED = "confirmation_needed"
    CANCELLED = "cancelled"  # the user cancelled between two steps
    # Opening the virtual disk (export, the app's disk views) and exporting it:
    UNREADABLE = "unreadable"
    NO_HEADER = "no_header"
    NO_REGION_TABLE = "no_region_table"
    METADATA_UNUSABLE = "metadata_unusable"
    PARENT_MISMATCH = "parent_mismatch"
    PARENT_UNUSABLE = "parent_unusable"
    PARENT_LOOP = "parent_loop"
    PARENT_NOT_NEEDED = "parent_not_needed"
    OUTPUT_DIR_MISSING = "output_dir_missing"
    GAPS_FILE_EXISTS = "gaps_file_exists"
    UNSUPPORTED_GEOMETRY = "unsupported_geometry"
    BAD_FORMAT = "bad_format"


class Option(StrEnum):
    """A user choice core may suggest. Stable (JSON ``suggest[].option``): the repair
    options keep their registry names (:class:`~vhdxray.core.write.repairs.OptionSpec`), the
    others are the commands' own."""

    FROM_SLOT = "from_slot"  # the header slot to build from (update, repair, export)
    REGION_TABLE_FROM = "region_table_from"  # the region table copy that wins
    OUTPUT = "output"  # repair into a new copy instead of in place
    BACKUP_DIR = "backup_dir"  # put the backups in another folder
    PARENT = "parent"  # name a differencing disk's parent
    ALLOW_MISSING_PARENT = "allow_missing_parent"  # read a missing parent's sectors as gaps


@record
class Suggestion:
    """A choice that would get past a refusal (or act on a finding): ``option`` and the value
    to give it (None: the user supplies it, e.g. a path, or the option takes none)."""

    option: Option
    value: int | str | None = None

    def to_json(self) -> dict[str, object]:
        return {"option": self.option.value, "value": self.value}


Suggestions = tuple[Suggestion, ...]


def suggest(option: Option, *values: int | str) -> Suggestions:
    """One suggestion per value (none given: one without a value)."""
    return tuple(Suggestion(option, v) for v in values) if values else (Suggestion(option),)


class WriteState(StrEnum):
    """What a failed write left behind (``WriteFailed.state``)."""

    PARTIAL = "partial"  # some ranges written; the backups put the old bytes back
    UNVERIFIED = "unverified"  # every write done but a check afterwards failed
    REPLAY_INCOMPLETE = "replay_incomplete"  # log kept and LogGuid still set: run it again


class VhdxrayError(Exception):
    """Base of every outcome that is not success."""

    refused = False  # True: nothing was written by the step that stopped
    suggest: Suggestions = ()  # the choices that would get past it (a refusal's)

    @property
    def backups(self) -> tuple[str, ...]:
        """The backups written before it stopped, oldest first."""
        return ()

    def to_json(self) -> dict[str, object]:
        return {"refused": self.refused, "reason": str(self)}


class Refused(VhdxrayError):
    """Not done; the step wrote nothing. ``code`` is stable, ``params`` its details,
    ``suggest`` the choices that would get past it (front ends render them)."""

    refused = True

    def __init__(
        self,
        code: RefusalCode | str,
        reason: str,
        params: Mapping[str, object] | None = None,
        *,
        suggest: Suggestions = (),
    ) -> None:
        super().__init__(reason)
        self.code = RefusalCode(code)
        self.reason = reason
        self.params: dict[str, object] = dict(params or {})
        self.suggest: Suggestions = tuple(suggest)

    def __repr__(self) -> str:
        return f"Refused({self.code.value!r}, {self.reason!r})"

    def to_json(self) -> dict[str, object]:
        return {
            "refused": True,
            "code": self.code.value,
            "params": {k: _plain(v) for k, v in self.params.items()},
            "reason": self.reason,
            "suggest": [x.to_json() for x in self.suggest],
        }


class WriteFailed(VhdxrayError):
    """Writing started and stopped part-way. ``backups`` (oldest first) restore the image;
    ``state`` says what it holds now."""

    def __init__(
        self,
        message: str,
        backups: Sequence[StrPath] | StrPath | None = (),
        state: WriteState = WriteState.PARTIAL,
    ) -> None:
        super().__init__(message)
        if backups is None:
            backups = ()
        elif isinstance(backups, str | os.PathLike):  # one backup
            backups = (backups,)
        self._backups = tuple(os.fspath(b) for b in backups)
        self.state = state

    @property
    def backups(self) -> tuple[str, ...]:
        return self._backups

    @property
    def backup_path(self) -> str | None:
        """The last backup (the one that undoes the write that failed), if any."""
        backups = self.backups
        return backups[-1] if backups else None

    def with_backups(self, backups: Sequence[StrPath]) -> WriteFailed:
        """The same failure naming every backup of the run (oldest first)."""
        out = WriteFailed(str(self), backups, self.state)
        out.__cause__ = self.__cause__
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "refused": False,
            "state": self.state.value,
            "reason": str(self),
            "backups": [str(b) for b in self._backups],
        }


class InternalError(VhdxrayError):
    """vhdxray itself went wrong (a bug, or an unexpected I/O error outside a write)."""


def _plain(value: object) -> object:
    return value if isinstance(value, int | str | bool | float) or value is None else str(value)


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
