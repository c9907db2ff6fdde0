"""Find the image files under the paths a scan is given, without following links out of the tree.

- Directories are read with ``os.scandir`` from an explicit stack (no recursion limit). A
  symlink to a directory is never followed, so a link can neither lead out of the tree nor
  loop; a directory reached twice (a bind mount of itself) is read once, by (device, inode).
- A file is yielded when its name matches one of the patterns (``*.vhdx`` and ``*.avhdx`` by
  default, case-insensitive; ``--include`` adds more) and none of the excludes. Excludes match
  the name or the path relative to the root, and prune directories too. A path named on the
  command line is yielded whatever its name, once: not again when a folder named too holds
  it, nor when it is named twice (compared by absolute path, links not resolved).
- Nothing is opened here but directories; a symlinked *file* is yielded as it is (the scan
  stats it and reports a broken link or a link loop as unreadable).
- A directory that cannot be read becomes a :class:`Found` with its error, never an exception.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Callable, Iterator, Sequence

from vhdxray.core.format.record import record

DEFAULT_PATTERNS: tuple[str, ...] = ("*.vhdx", "*.avhdx")


@record
class Found:
    """A path to scan, or (``error`` set) a path the walk could not read."""

    path: str
    error: str | None = None


class Matcher:
    """Case-insensitive glob matching of file names (and relative paths, for excludes)."""

    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        self.include = tuple(p.lower() for p in (*DEFAULT_PATTERNS, *include))
        self.exclude = tuple(p.lower() for p in exclude)

    def excluded(self, name: str, relative: str) -> bool:
        name, relative = name.lower(), relative.lower()
        return any(
            fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(relative, p) for p in self.exclude
        )

    def wanted(self, name: str, relative: str) -> bool:
        lowered = name.lower()
        return any(fnmatch.fnmatchcase(lowered, p) for p in self.include) and not self.excluded(
            name, relative
        )


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def walk(
    roots: Sequence[str | os.PathLike[str]],
    matcher: Matcher,
    *,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[Found]:
    """Every file to scan under ``roots`` (see the module docstring), in directory order."""
    seen_dirs: set[tuple[int, int]] = set()
    tops: list[tuple[str, bool]] = []
    for root in roots:
        top = os.fspath(root)
        try:
            is_dir = stat.S_ISDIR(os.stat(top).st_mode)
        except OSError:
            is_dir = False  # the scan reports why it cannot be read, as check would
        tops.append((top, is_dir))
    # Files named on the command line: each read once, where it is named.
    named = {os.path.abspath(top) for top, is_dir in tops if not is_dir}
    named_done: set[str] = set()
    for top, is_dir in tops:
        if not is_dir:
            path_key = os.path.abspath(top)
            if path_key not in named_done:  # named explicitly: scanned whatever its name
                named_done.add(path_key)
                yield Found(top)
            continue
        stack = [top]
        while stack:
            if stop():
                return
            folder = stack.pop()
            try:
                fst = os.stat(folder)
                key = (fst.st_dev, fst.st_ino)
                if key in seen_dirs:
                    continue
                seen_dirs.add(key)
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                yield Found(folder, f"cannot read the folder: {_reason(exc)}")
                continue
            subdirs: list[str] = []
            for entry in entries:
                relative = os.path.relpath(entry.path, top)
                try:
                    entry_is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    entry_is_dir = False
                if entry_is_dir:
                    if not matcher.excluded(entry.name, relative):
                        subdirs.append(entry.path)
                elif matcher.wanted(entry.name, relative) and (
                    not named or os.path.abspath(entry.path) not in named
                ):
                    yield Found(entry.path)
            stack.extend(reversed(subdirs))  # depth first, in name order
