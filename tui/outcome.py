"""The front ends' words for the outcome model (:mod:`vhdxray.core.outcome`): one function per
form (lines, JSON, exit code), so no command sorts exception classes itself; and the one place
core's suggestions (:class:`~vhdxray.core.outcome.Suggestion`) become words: flags for the CLI
(:func:`cli_text`), keys and dialog choices for the app (:func:`app_text`)."""

from __future__ import annotations

from collections.abc import Iterable

from vhdxray.core.outcome import Option, Suggestion, VhdxrayError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

EXIT_FAILURE = 1
EXIT_REFUSED = 2

# The value a flag takes when the suggestion leaves it to the user; absent: an on/off flag.
METAVARS: Final = {
    Option.FROM_SLOT: "N",
    Option.REGION_TABLE_FROM: "N",
    Option.OUTPUT: "COPY",
    Option.BACKUP_DIR: "DIR",
    Option.PARENT: "PATH",
}


def flag(name: str) -> str:
    """The command-line flag of an option id: ``from_slot`` -> ``--from-slot``."""
    return "--" + name.replace("_", "-")


def flag_text(s: Suggestion) -> str:
    """One suggestion as the command line gives it: ``--from-slot 1``, ``--output COPY``."""
    metavar = METAVARS.get(s.option)
    if metavar is None:
        return flag(s.option)
    return f"{flag(s.option)} {metavar if s.value is None else s.value}"


def _values(values: list[int | str | None]) -> str:
    shown = [str(v) for v in values if v is not None]
    return " or ".join(shown)


def _app_words(option: Option, values: list[int | str | None]) -> str:
    """One option's suggestions as the app offers them ("" when the app has no such choice)."""
    which = _values(values)
    if option is Option.FROM_SLOT:
        return f"header {which} in R, Repair…" if which else "the slot choice in R, Repair…"
    if option is Option.REGION_TABLE_FROM:
        return f"copy {which} in R, Repair…" if which else "the copy choice in R, Repair…"
    if option is Option.OUTPUT:
        return "into a copy: c in the repair dialog"
    if option is Option.PARENT:
        return "relink it in R, Repair…"
    return ""  # backup_dir, allow_missing_parent: the app decides these itself


def with_hint(text: str, hint: str) -> str:
    """``text`` with ``hint`` in brackets at its end (before a final full stop)."""
    if not hint:
        return text
    body = text.rstrip()
    if body.endswith("."):
        return f"{body[:-1]} ({hint})."
    return f"{body} ({hint})"


def cli_hint(suggest: Iterable[Suggestion], *, skip: Iterable[str] = ()) -> str:
    """The flags of ``suggest`` ("--from-slot 1 or --from-slot 2"), but those of ``skip``."""
    left = set(skip)
    return " or ".join(dict.fromkeys(flag_text(s) for s in suggest if s.option not in left))


def cli_text(text: str, suggest: Iterable[Suggestion], *, skip: Iterable[str] = ()) -> str:
    """Core's sentence with the flags it suggests: the CLI's one rendering of suggestions.
    ``skip``: options the caller lists as choices of their own."""
    return with_hint(text, cli_hint(suggest, skip=skip))


def app_hint(suggest: Iterable[Suggestion]) -> str:
    """The app's keys and choices for ``suggest`` ("header 1 or 2 in R, Repair…")."""
    grouped: dict[Option, list[int | str | None]] = {}
    for s in suggest:
        grouped.setdefault(s.option, []).append(s.value)
    words = (_app_words(option, values) for option, values in grouped.items())
    return "; ".join(w for w in words if w)


def app_text(text: str, suggest: Iterable[Suggestion]) -> str:
    """Core's sentence with the app's keys for what it suggests: the app's one rendering."""
    return with_hint(text, app_hint(suggest))


def from_json(data: object) -> tuple[Suggestion, ...]:
    """Suggestions back from their JSON form (a scan line's ``suggest``); unknown ones dropped."""
    out = []
    for item in data if isinstance(data, list) else ():
        if isinstance(item, dict) and item.get("option") in tuple(Option):
            value = item.get("value")
            out.append(
                Suggestion(
                    Option(item["option"]),
                    value if value is None or isinstance(value, int | str) else str(value),
                )
            )
    return tuple(out)


_SHELL_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_")


def shell_word(text: str) -> str:
    """``text`` (a path) as one word of a command line the user copies: as is when it needs no
    quoting, else quoted, so that ``vhdxray restore`` on a backup under "Virtual Hard Disks"
    or "/mnt/c/Users/John Smith" runs as printed (single quotes for POSIX shells; double
    quotes on Windows, where backslashes need none). Printed through ``printable`` after."""
    import os

    windows = os.name == "nt"
    if text and all(c in _SHELL_SAFE or (windows and c == "\\") for c in text):
        return text
    if windows:
        return '"' + text.replace('"', '\\"') + '"'
    return "'" + text.replace("'", "'\"'\"'") + "'"


def exit_code(error: VhdxrayError) -> int:
    """2 when nothing was written by the step that stopped, else 1."""
    return EXIT_REFUSED if error.refused else EXIT_FAILURE


def reason_text(error: VhdxrayError) -> str:
    """Why ``error`` happened, with the flags it suggests."""
    return cli_text(str(error), error.suggest)


def outcome_lines(error: VhdxrayError) -> list[str]:
    """The outcome in words for stderr, with the restore line of every backup (newest first)."""
    if error.refused:
        return [f"refused: {reason_text(error)} (nothing was written)"]
    lines = [f"FAILED: {error}"]
    for backup in reversed(error.backups):
        lines.append(f"restore the previous bytes with: vhdxray restore {shell_word(backup)}")
    return lines


def refusal_json(code: str, reason: str) -> dict[str, object]:
    """A refusal the command line itself makes (the image in use, no ``--yes`` with
    ``--json``) in the shape of core's: ``refused``, ``code``, ``params``, ``reason``,
    ``suggest``."""
    from vhdxray.core.outcome import Refused

    return Refused(code, reason).to_json()


CONFIRMATION_NEEDED = "confirmation needed: pass --yes with --json"


def outcome_json(error: VhdxrayError) -> dict[str, object]:
    return error.to_json()
