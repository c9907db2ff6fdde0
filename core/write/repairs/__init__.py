"""The repair registry: one module per repair kind, found by discovery.

Each module in this package that defines ``KIND`` (a :class:`RepairKind`) is a repair: its
id, title, the finding codes it answers, its options (typed: a header slot, a region-table
copy, a path, a flag), its backup operations, and where its ``plan`` and ``run`` live. The
engine (:mod:`vhdxray.core.write.repair`) plans and runs the kinds in their declared
``order``; the CLI (``repair`` and its flags), the app (menu, keys, palette, Enter on a
finding, dialog choices) and JSON iterate :func:`kinds`. Adding a repair is adding a module
here (and its tests): no front end names it.

Importing this package and reading the declarations is cheap: a kind module keeps its
writing code behind function-level imports, and :meth:`RepairKind.plan`/:meth:`RepairKind.run`
import the module's functions on first use. The app names every repair before its first
frame without loading the writer.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from functools import cache

from vhdxray.core.format.record import StrEnum, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Final

    from vhdxray.core.write.repair import PlanContext, Refused, Repair, RepairSession, StepResult


class OptionKind(StrEnum):
    """What an option's value is; the front ends render each kind their own way."""

    SLOT = "slot"  # a header slot: 1 or 2
    COPY = "copy"  # a region table copy: 1 or 2
    PATH = "path"  # a file on this machine
    FLAG = "flag"  # on when given


CHOICE_VALUES: Final = {OptionKind.SLOT: (1, 2), OptionKind.COPY: (1, 2)}


@record
class OptionSpec:
    """One option a repair kind takes. ``name`` is its stable id: the key in
    :class:`~vhdxray.core.write.repair.RepairOptions`, the ``option`` of a planner choice in
    JSON; the CLI derives its flag from it, the app its key and words from ``kind``."""

    name: str
    kind: OptionKind
    help: str  # one line, no CLI syntax (the front end adds it)
    risk: str = ""  # a flag that takes a risk: what it risks (shown before confirming)

    @property
    def values(self) -> tuple[int, ...] | None:
        return CHOICE_VALUES.get(self.kind)


FROM_SLOT: Final = OptionSpec(
    "from_slot",
    OptionKind.SLOT,
    "the header slot to rebuild from when no header is current (expert)",
)
"""Shared by every kind that rewrites the headers (they all build from one slot)."""


@record
class RepairKind:
    """One repair kind's declaration (no behaviour but the lazy hand-off to its module)."""

    id: str  # stable: JSON, backups, the app's action ids
    title: str  # default words for the repair (the planner may name a step more exactly)
    label: str  # short: the app's Footer and palette
    help: str  # one line: the palette and ``--help``
    question: str  # asked in the app's confirmation
    finding_codes: tuple[str, ...]  # the finding codes it answers
    options: tuple[OptionSpec, ...]
    backup_operations: tuple[str, ...]  # the backup files it writes, in order
    order: int  # position in a run (lower first)
    module: str  # the module with ``plan(ctx)`` and ``run(session, repair)``
    action: str  # the app's action id
    key: str | None = None  # the app's key, shown when the image has one of its findings
    copy_action: str | None = None  # it can run into a copy: the app's action id for that
    copy_title: str = ""  # the copy variant in a menu
    copy_label: str = ""  # ... in the palette
    copy_help: str = ""
    copy_offer: str = ""  # ... offered in a dialog: "<copy_offer>, PATH: the original stays"
    updates_headers: bool = False  # it rewrites both headers before anything else
    applies: bool = True  # False: a refusal that is shown, never run (the truncation map)

    def plan(self, ctx: PlanContext) -> Iterable[Repair | Refused]:
        """The kind's repairs and refusals for the image in ``ctx`` (nothing: not needed)."""
        return _function(self.module, "plan")(ctx)  # type: ignore[no-any-return]

    def run(self, session: RepairSession, repair: Repair) -> StepResult:
        """Carry out ``repair`` inside the run's one write session."""
        return _function(self.module, "run")(session, repair)  # type: ignore[no-any-return]


def _function(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


_REGISTERED: list[RepairKind] = []


def register(extra: RepairKind) -> None:
    """Add a kind that lives outside this package (a plug-in, a test)."""
    _REGISTERED.append(extra)
    kinds.cache_clear()


def unregister(extra: RepairKind) -> None:
    _REGISTERED.remove(extra)
    kinds.cache_clear()


@cache
def kinds() -> tuple[RepairKind, ...]:
    """Every registered repair kind, in the order a run carries them out."""
    found: list[RepairKind] = list(_REGISTERED)
    for name in _module_names():
        if name.startswith("_"):
            continue
        kind = getattr(importlib.import_module(f"{__name__}.{name}"), "KIND", None)
        if isinstance(kind, RepairKind):
            found.append(kind)
    return tuple(sorted(found, key=lambda k: (k.order, k.id)))


def _module_names() -> list[str]:
    """The modules of this package, as ``pkgutil.iter_modules`` lists them, read from the
    folder directly: pkgutil imports ``inspect`` (and ``ast``, ``dis``, ``tokenize``) to do it,
    the largest import of a repair's start-up. Anything but a folder (a zip) goes to pkgutil."""
    from importlib.machinery import all_suffixes

    suffixes = sorted(all_suffixes(), key=len, reverse=True)
    names: set[str] = set()
    for folder in __path__:
        try:
            entries = os.listdir(folder)
        except OSError:
            import pkgutil

            names.update(info.name for info in pkgutil.iter_modules([folder]))
            continue
        for entry in entries:
            suffix = next((x for x in suffixes if entry.endswith(x)), None)
            if suffix is not None and entry[: -len(suffix)].isidentifier():
                names.add(entry[: -len(suffix)])
    names.discard("__init__")
    return sorted(names)


def kind(repair_id: str) -> RepairKind | None:
    return next((k for k in kinds() if k.id == repair_id), None)


def option_specs() -> tuple[OptionSpec, ...]:
    """Every option any kind declares, once each (the first declaration wins), in order."""
    seen: dict[str, OptionSpec] = {}
    for k in kinds():
        for spec in k.options:
            seen.setdefault(spec.name, spec)
    return tuple(seen.values())


__all__ = [
    "CHOICE_VALUES",
    "FROM_SLOT",
    "OptionKind",
    "OptionSpec",
    "RepairKind",
    "kind",
    "kinds",
    "option_specs",
    "register",
    "unregister",
]
