"""Differencing links (MS-VHDX §2.6.2.6): does a child belong to a given parent?

A child names its parent twice over: by identity (``parent_linkage``, and optionally
``parent_linkage2``: the parent's DataWriteGuid when the link was made) and by location
(``relative_path``, ``volume_path``, ``absolute_win32_path``, tried in that order). Windows
opens the chain only when the identity matches, so a parent changed after the child was made
(its DataWriteGuid renewed) breaks every child even though no byte of the child changed.

:func:`check_chain` compares a child with the parent the user names: the linkage against the
parent's DataWriteGuid in *both* header slots (a match with the stale slot only means the
parent was modified after the child was linked), the paths against the parent's location, and
the geometry that must agree (logical sector size, virtual size). Pure apart from resolving the
relative path on the local filesystem.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path, PureWindowsPath

from vhdxray.core.analysis.reader import Report, read_report
from vhdxray.core.format.findings import Finding, error
from vhdxray.core.format.metadata import PATH_KEYS, ParentLocator
from vhdxray.core.format.record import record
from vhdxray.core.format.text import clip

TYPE_CHECKING = False
if TYPE_CHECKING:
    import uuid  # annotations only: uuid imports platform
    from typing import Final


OK: Final = "ok"
MISMATCH: Final = "mismatch"  # breaks the chain
WARNING: Final = "warning"  # worth knowing; the chain still holds
INFO: Final = "info"


@record
class ChainItem:
    name: str  # e.g. "parent_linkage", "relative_path", "logical_sector_size"
    status: str  # OK, MISMATCH, WARNING or INFO
    message: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "message": self.message}


Add = Callable[[ChainItem], None]


@record
class ChainCheck:
    child: str
    parent: str
    consistent: bool
    linkage: str  # "current", "linkage2", "stale_slot", "none", "unknown"
    items: tuple[ChainItem, ...]

    def describe(self) -> list[str]:
        bad = [i.name for i in self.items if i.status == MISMATCH]
        head = (
            "The chain is consistent: the child belongs to this parent."
            if self.consistent
            else f"The chain is NOT consistent: {', '.join(bad)} "
            f"do{'es' if len(bad) == 1 else ''} not match (details below)."
        )
        marks = {OK: "ok", MISMATCH: "MISMATCH", WARNING: "warning", INFO: "info"}
        return [head] + [f"[{marks[i.status]}] {i.name}: {i.message}" for i in self.items]

    def to_json(self) -> dict[str, object]:
        return {
            "child": self.child,
            "parent": self.parent,
            "consistent": self.consistent,
            "linkage": self.linkage,
            "items": [i.to_json() for i in self.items],
        }


@record
class PathProbe:
    """One locator path and where it leads on this machine (None: cannot be resolved here).

    ``problem`` says why a path that should resolve here cannot be used (too long, NULs, not
    representable in this OS's file names); the path is then never handed to the OS."""

    key: str
    value: str
    local_path: Path | None
    exists: bool
    problem: str | None = None


# Linux PATH_MAX and NAME_MAX; Windows' are smaller, macOS's 1024/255.
MAX_PATH_BYTES: Final = 4096
MAX_NAME_BYTES: Final = 255


def unusable_reason(path: Path) -> str | None:
    """Why ``path`` (built from image text) cannot be given to the OS, or None."""
    text = str(path)
    if "\x00" in text:
        return "it contains NUL characters"
    try:
        raw = os.fsencode(text)
    except UnicodeEncodeError:
        return "it holds characters that file names on this system cannot represent"
    if len(raw) > MAX_PATH_BYTES:
        return f"it is too long ({len(raw)} bytes; at most {MAX_PATH_BYTES})"
    longest = max((len(os.fsencode(part)) for part in path.parts), default=0)
    if longest > MAX_NAME_BYTES:
        return f"one of its names is too long ({longest} bytes; at most {MAX_NAME_BYTES})"
    return None


def _probe(key: str, value: str, local: Path) -> PathProbe:
    problem = unusable_reason(local)
    if problem is not None:
        return PathProbe(key, value, local, False, problem)
    try:
        exists = local.exists()
    except (OSError, ValueError) as exc:  # ENAMETOOLONG, ELOOP, EACCES... on this filesystem
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return PathProbe(key, value, local, False, f"the system refuses it ({reason})")
    return PathProbe(key, value, local, exists)


def _linkage_value(locator: ParentLocator, key: str) -> uuid.UUID | None:
    value = locator.parent_linkage if key == "parent_linkage" else locator.parent_linkage2
    return None if value is None or value.int == 0 else value


def probe_paths(child_path: str | os.PathLike[str], locator: ParentLocator) -> list[PathProbe]:
    """The locator's paths, in the order Windows tries them, and where each leads here.

    Only ``relative_path`` can be resolved outside Windows (against the child's folder, with
    ``\\`` read as the separator); volume and absolute Win32 paths are listed as they are.
    This stats files named by the image: call it only when the user asked for the chain
    (``check --parent``, the app's metadata view). A path the OS cannot take has a ``problem``
    and is never passed to it.
    """
    probes: list[PathProbe] = []
    folder = Path(child_path).resolve().parent
    for key in PATH_KEYS:
        value = locator.get(key)
        if value is None:
            continue
        if key == "relative_path":
            parts = [p for p in PureWindowsPath(value).parts if p not in (".", "")]
            if parts and not PureWindowsPath(value).is_absolute():
                probes.append(_probe(key, value, folder.joinpath(*parts)))
                continue
        probes.append(PathProbe(key, value, None, False))
    return probes


def describe_locator(report: Report, child_path: str | os.PathLike[str] | None = None) -> list[str]:
    """The parent locator in plain words (every key and value), and where its paths lead.

    The values come from the image: show them through ``printable``/``safe_text``."""
    meta = report.metadata
    if meta is None or not meta.has_parent:
        return ["This is not a differencing disk: it has no parent."]
    locator = meta.parent_locator
    if locator is None:
        return ["This differencing disk has no readable parent locator: its parent is unknown."]
    lines = ["Parent locator:"]
    for key, value in locator.entries:
        lines.append(f"  {clip(key)} = {clip(value)}")
    link = _linkage_value(locator, "parent_linkage")
    lines.append(
        f"The parent must have DataWriteGuid {link}"
        + (
            f" (or {_linkage_value(locator, 'parent_linkage2')})"
            if _linkage_value(locator, "parent_linkage2") is not None
            else ""
        )
        + "."
        if link is not None
        else "parent_linkage is missing or unreadable: no parent can be matched to this child."
    )
    if child_path is not None:
        probes = probe_paths(child_path, locator)
        found = [p for p in probes if p.exists]
        for p in probes:
            if p.problem is not None:
                lines.append(f"  {p.key}: parent path cannot be used here: {p.problem}.")
            elif p.local_path is None:
                lines.append(f"  {p.key} cannot be resolved outside Windows.")
            else:
                where = "exists" if p.exists else "does not exist"
                lines.append(f"  {p.key} leads to {p.local_path}, which {where}.")
        if not found:
            lines.append(
                "No locator path leads to an existing file from here: the parent is not next "
                "to this file."
            )
    return lines


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_chain(
    child: Report,
    parent: Report,
    *,
    child_path: str | os.PathLike[str] | None = None,
    parent_path: str | os.PathLike[str] | None = None,
) -> ChainCheck:
    """Compare ``child`` with the ``parent`` the user names (see the module docstring)."""
    items: list[ChainItem] = []
    add = items.append
    cpath = child.path if child_path is None else os.fspath(child_path)
    ppath = parent.path if parent_path is None else os.fspath(parent_path)
    meta = child.metadata
    if not child.is_vhdx or meta is None:
        add(ChainItem("child", MISMATCH, f"{cpath} is not a readable VHDX: {child.description}"))
        return ChainCheck(cpath, ppath, False, "unknown", tuple(items))
    if not meta.has_parent:
        add(ChainItem("child", MISMATCH, f"{cpath} is not a differencing disk (no HasParent)"))
        return ChainCheck(cpath, ppath, False, "unknown", tuple(items))
    locator = meta.parent_locator
    if locator is None:
        add(ChainItem("parent_locator", MISMATCH, "the child has no readable parent locator"))
        return ChainCheck(cpath, ppath, False, "unknown", tuple(items))
    pmeta = parent.metadata
    if not parent.is_vhdx or parent.headers is None or pmeta is None:
        add(ChainItem("parent", MISMATCH, f"{ppath} is not a readable VHDX: {parent.description}"))
        return ChainCheck(cpath, ppath, False, "unknown", tuple(items))

    linkage = _check_linkage(locator, parent, add)
    _check_paths(locator, cpath, ppath, add)
    _check_geometry(child, parent, add)
    if pmeta.has_parent:
        add(
            ChainItem(
                "parent_chain",
                INFO,
                "the parent is itself a differencing disk; its own parent is not checked here "
                "(check it the same way)",
            )
        )
    if parent.log is not None and parent.log.replay_needed:
        add(
            ChainItem(
                "parent_log",
                WARNING,
                "the parent has a pending log; replay it with vhdxray (which keeps its "
                "DataWriteGuid) rather than a tool that renews it, or the link breaks",
            )
        )
    consistent = not any(i.status == MISMATCH for i in items)
    return ChainCheck(cpath, ppath, consistent, linkage, tuple(items))


def _check_linkage(locator: ParentLocator, parent: Report, add: Add) -> str:
    assert parent.headers is not None
    link = _linkage_value(locator, "parent_linkage")
    link2 = _linkage_value(locator, "parent_linkage2")
    eff = parent.effective_header
    if link is None:
        raw = locator.get("parent_linkage")
        add(
            ChainItem(
                "parent_linkage",
                MISMATCH,
                "the child's parent_linkage is missing"
                if raw is None
                else f"the child's parent_linkage {raw!r} is not a GUID",
            )
        )
        return "none"
    if eff is None:
        add(
            ChainItem(
                "parent_linkage",
                MISMATCH,
                "the parent has no current header, so its DataWriteGuid is unknown "
                "(repair its headers first)",
            )
        )
        return "unknown"
    current = eff.data_write_guid
    if link == current:
        add(
            ChainItem(
                "parent_linkage",
                OK,
                f"{link} matches the DataWriteGuid of the parent's current header "
                f"(slot {eff.slot})",
            )
        )
        return "current"
    if link2 is not None and link2 == current:
        add(
            ChainItem(
                "parent_linkage2",
                OK,
                f"parent_linkage2 {link2} matches the parent's current DataWriteGuid "
                f"(parent_linkage {link} does not: the link was being moved)",
            )
        )
        return "linkage2"
    stale = [
        h
        for h in parent.headers
        if h.slot != eff.slot and h.valid and h.data_write_guid in (link, link2)
    ]
    if stale:
        h = stale[0]
        add(
            ChainItem(
                "parent_linkage",
                MISMATCH,
                f"{link} matches only the parent's stale header slot {h.slot} (sequence "
                f"{h.sequence_number}); the current slot {eff.slot} has DataWriteGuid {current}: "
                "the parent was modified after the child was linked to it, so Windows reports "
                "'the chain of virtual hard disks is corrupted'",
            )
        )
        return "stale_slot"
    add(
        ChainItem(
            "parent_linkage",
            MISMATCH,
            f"the child expects DataWriteGuid {link}"
            + (f" (or {link2})" if link2 is not None else "")
            + f" but the parent has {current} in its current header and no slot holds the "
            "expected value: this is not the child's parent, or it was changed more than once "
            "since",
        )
    )
    return "none"


def _check_paths(locator: ParentLocator, cpath: str, ppath: str, add: Add) -> None:
    parent_name = Path(ppath).name
    probes = probe_paths(cpath, locator)
    if not probes:
        add(ChainItem("paths", WARNING, "the locator has no path: Windows cannot find the parent"))
    for p in probes:
        if p.problem is not None:
            add(ChainItem(p.key, WARNING, f"parent path cannot be used here: {p.problem}"))
            continue
        if p.local_path is not None:
            if p.exists and _same_file(p.local_path, Path(ppath)):
                add(ChainItem(p.key, OK, f"{p.value} leads to the given parent"))
            else:
                add(
                    ChainItem(
                        p.key,
                        WARNING,
                        f"{p.value} leads to {p.local_path}, not to the given parent: Windows "
                        "would look there first",
                    )
                )
            continue
        name = PureWindowsPath(p.value).name
        if name.lower() == parent_name.lower():
            add(ChainItem(p.key, INFO, f"{p.value}: same file name as the given parent"))
        else:
            add(
                ChainItem(
                    p.key,
                    WARNING,
                    f"{p.value}: names {name!r}, not {parent_name!r}; a Windows host would not "
                    "find the given parent there",
                )
            )


def _check_geometry(child: Report, parent: Report, add: Add) -> None:
    c, p = child.metadata, parent.metadata
    assert c is not None and p is not None
    rules = (
        ("logical_sector_size", c.logical_sector_size, p.logical_sector_size, MISMATCH),
        ("virtual_size", c.virtual_size, p.virtual_size, MISMATCH),
        ("physical_sector_size", c.physical_sector_size, p.physical_sector_size, WARNING),
        ("virtual_disk_id", c.virtual_disk_id, p.virtual_disk_id, WARNING),
    )
    for name, mine, theirs, severity in rules:
        if mine is None or theirs is None:
            add(ChainItem(name, WARNING, "unknown in the child or the parent"))
        elif mine == theirs:
            add(ChainItem(name, OK, f"{mine} in both"))
        else:
            add(ChainItem(name, severity, f"child {mine}, parent {theirs}"))
    if c.block_size is not None and p.block_size is not None and c.block_size != p.block_size:
        add(
            ChainItem(
                "block_size",
                INFO,
                f"child {c.block_size}, parent {p.block_size} (allowed; noted for merges)",
            )
        )


# --------------------------------------------------------------------------------------------
# Finding the parent through the locator

# Outcomes of :func:`locate_parent` (stable: JSON ``parent_lookup.reason``).
NOT_DIFFERENCING: Final = "not_differencing"  # no parent to find
FOUND: Final = "found"  # a locator path leads to the parent and the chain holds
NO_LOCATOR: Final = "no_locator"  # no readable locator: the parent is unknown
MISSING: Final = "missing"  # no locator path leads to an existing file here
NOT_A_PARENT: Final = "not_a_parent"  # the file found is not a readable VHDX
MODIFIED: Final = "modified"  # the file found has another DataWriteGuid: changed since
MISMATCH_GEOMETRY: Final = "geometry_mismatch"  # identity matches, geometry does not
MOVED: Final = "moved"  # found and matching, but a locator path names another place (a reason)

# The coarse parent states of ``scan``/``check --json`` (``parent.status``), each lookup
# outcome mapped to one; the outcome itself (or MOVED) is ``parent.reason``.
PARENT_FOUND: Final = "found"
PARENT_MISSING: Final = "missing"
PARENT_MISMATCH: Final = "mismatch"
_STATE: Final = {
    FOUND: PARENT_FOUND,
    NO_LOCATOR: PARENT_MISSING,
    MISSING: PARENT_MISSING,
    NOT_A_PARENT: PARENT_MISMATCH,
    MODIFIED: PARENT_MISMATCH,
    MISMATCH_GEOMETRY: PARENT_MISMATCH,
}


@record
class Candidate:
    """One locator path tried, in order, and what it led to here."""

    key: str
    value: str  # as in the image (hostile: show through printable/safe_text)
    local_path: Path | None  # None: cannot be mapped to a path on this machine
    exists: bool  # a regular file is there
    problem: str | None = None  # why the mapped path cannot be used here (never stat'ed)

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "value": self.value,
            "local_path": None if self.local_path is None else str(self.local_path),
            "exists": self.exists,
            "problem": self.problem,
        }


@record
class ParentLookup:
    """Where the child's locator leads and whether the parent found there is the right one.

    ``status`` is one of the constants above. ``path``/``key``: the file used (the first
    candidate that exists). ``check``: the chain check against it, when it was read.
    """

    status: str
    candidates: tuple[Candidate, ...] = ()
    path: Path | None = None
    key: str | None = None
    check: ChainCheck | None = None

    @property
    def ok(self) -> bool:
        return self.status in (FOUND, NOT_DIFFERENCING)

    @property
    def state(self) -> str | None:
        """``found``, ``missing`` or ``mismatch`` (None: not a differencing disk)."""
        return _STATE.get(self.status)

    @property
    def reason(self) -> str:
        """The finer word: :attr:`status`, or ``moved`` when the parent was found and matches
        but a locator path names another place (relinking refreshes the paths)."""
        items = () if self.check is None else self.check.items
        if self.status == FOUND and any(i.status == WARNING and i.name in PATH_KEYS for i in items):
            return MOVED
        return self.status

    def compact_json(self) -> dict[str, object]:
        """``{status, reason, path, via}``: ``scan``'s ``parent``, also in ``check --json``'s
        ``parent_lookup`` (the same values, so the two agree exactly)."""
        return {
            "status": self.state,
            "reason": self.reason,
            "path": None if self.path is None else str(self.path),
            "via": self.key,
        }

    def findings(self, where: str) -> tuple[Finding, ...]:
        """The lookup as error findings for ``check`` (a child without its parent cannot be
        read, so a missing or wrong parent is an error)."""
        if self.ok:
            return ()
        found = "" if self.path is None else f" ({self.key} leads to {self.path})"
        messages = {
            NO_LOCATOR: "the differencing disk has no readable parent locator: its parent "
            "cannot be found, so the disk cannot be read",
            MISSING: "no locator path leads to an existing file here: the parent is missing "
            "or was moved; the disk cannot be read without it",
            NOT_A_PARENT: f"the file the locator leads to is not a readable VHDX{found}",
            MODIFIED: "the file the locator leads to has another DataWriteGuid than the child "
            f"expects{found}: the parent was modified after the child was made (or it is "
            "another disk); do not relink, the child's data would be read against changed "
            "parent data",
            MISMATCH_GEOMETRY: "the parent found has the expected identity but another "
            f"geometry{found}",
        }
        return (error(f"chain.{self.status}", where, messages[self.status]),)

    def to_json(self) -> dict[str, object]:
        return {
            "status": self.state,
            "reason": self.reason,
            "ok": self.ok,
            "path": None if self.path is None else str(self.path),
            "via": self.key,
            "key": self.key,
            "candidates": [c.to_json() for c in self.candidates],
            "check": None if self.check is None else self.check.to_json(),
        }


def _windows_to_local(value: str) -> Path | None:
    """An absolute locator path as a path on this machine, where a mapping is known: a POSIX
    path as is; ``C:\\dir\\file`` (optionally ``\\\\?\\``-prefixed) as WSL's
    ``/mnt/c/dir/file``. Volume GUID and UNC paths cannot be mapped."""
    if os.name == "nt":  # pragma: no cover - Windows opens its own paths
        return Path(value)
    if value.startswith("/"):
        return Path(value)
    text = value[4:] if value.startswith("\\\\?\\") else value
    win = PureWindowsPath(text)
    drive = win.drive
    if len(drive) == 2 and drive[1] == ":" and drive[0].isalpha() and win.root:
        return Path("/mnt", drive[0].lower(), *win.parts[1:])
    return None


def _relative_to_local(child_path: str | os.PathLike[str], value: str) -> Path | None:
    win = PureWindowsPath(value)
    if win.is_absolute() or win.drive:
        return None
    parts = [p for p in win.parts if p not in (".", "")]
    if not parts:
        return None
    return Path(child_path).resolve().parent.joinpath(*parts)


def windows_relative_path(child: Path, parent: Path) -> str:
    """``parent`` relative to ``child``'s folder, as Hyper-V writes relative_path:
    ``.\\name`` in the same folder, ``..\\dir\\name`` above it."""
    rel = os.path.relpath(parent.resolve(), child.resolve().parent)
    win = rel.replace(os.sep, "\\")
    return win if rel.startswith("..") else ".\\" + win


def _regular_file(path: Path) -> bool:
    """True for an existing regular file (never a FIFO or device: opening one could hang)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def parent_candidates(
    child_path: str | os.PathLike[str], locator: ParentLocator
) -> tuple[Candidate, ...]:
    """The locator's paths in the order they are tried: relative to the child first, then
    the absolute paths mapped to this machine where possible. Stats the paths: call it only
    when the user asked for the chain."""
    out: list[Candidate] = []
    for key in PATH_KEYS:
        value = locator.get(key)
        if value is None:
            continue
        local = (
            _relative_to_local(child_path, value)
            if key == "relative_path"
            else _windows_to_local(value)
            if key == "absolute_win32_path"
            else None
        )
        problem = None if local is None else unusable_reason(local)
        if problem is not None:
            out.append(Candidate(key, value, local, False, problem))
            continue
        out.append(Candidate(key, value, local, local is not None and _regular_file(local)))
    return tuple(out)


def locate_parent(child_path: str | os.PathLike[str], report: Report) -> ParentLookup:
    """Find the child's parent through its locator and check the chain against it.

    Reads the parent (read-only) when a locator path leads to one. The outcome tells "parent
    missing" (maybe moved: ``vhdxray relink``) from "parent modified" (DataWriteGuid differs:
    relinking would be wrong).
    """
    meta = report.metadata
    if not report.is_vhdx or meta is None or not meta.has_parent:
        return ParentLookup(NOT_DIFFERENCING)
    locator = meta.parent_locator
    if locator is None:
        return ParentLookup(NO_LOCATOR)
    candidates = parent_candidates(child_path, locator)
    found = next((c for c in candidates if c.exists), None)
    if found is None or found.local_path is None:
        return ParentLookup(MISSING, candidates)
    parent = read_report(found.local_path)
    if not parent.is_vhdx or parent.metadata is None:
        return ParentLookup(NOT_A_PARENT, candidates, found.local_path, found.key)
    result = check_chain(report, parent, child_path=child_path, parent_path=found.local_path)
    if result.linkage not in ("current", "linkage2"):
        status = MODIFIED
    elif not result.consistent:
        status = MISMATCH_GEOMETRY
    else:
        status = FOUND
    return ParentLookup(status, candidates, found.local_path, found.key, result)


__all__ = [
    "FOUND",
    "INFO",
    "MISMATCH",
    "MISSING",
    "MODIFIED",
    "NOT_DIFFERENCING",
    "NO_LOCATOR",
    "OK",
    "WARNING",
    "Candidate",
    "ChainCheck",
    "ChainItem",
    "ParentLookup",
    "PathProbe",
    "check_chain",
    "describe_locator",
    "locate_parent",
    "parent_candidates",
    "probe_paths",
    "unusable_reason",
    "windows_relative_path",
]
