"""``vhdxray scan``: every image under some folders, read-only, one compact result per image.

:func:`scan_one` reads one file exactly as ``check`` does (:func:`read_checked`, the same
verdict and finding codes) and adds what a fleet view needs: whether another program is using
the image (:mod:`vhdxray.core.analysis.inuse`), and for a differencing disk where its parent
is and whether it still matches (:func:`parent_json`, the lookup ``check`` does too). It
never opens anything for writing and never takes a lock (the in-use probe is a query; see
its module).

:func:`scan` walks the paths (:mod:`vhdxray.core.analysis.walk`) in a thread while a pool of
readers (threads by default; processes with ``processes=True``, for many cores) scans the
files; results are yielded as each finishes, never collected, so memory does not grow with the
number of images (only the list of paths still to read does).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

from vhdxray.core.analysis.checked import read_checked
from vhdxray.core.analysis.inuse import in_use
from vhdxray.core.analysis.reader import NOT_REGULAR, Report
from vhdxray.core.analysis.verdict import verdict
from vhdxray.core.analysis.walk import Found, Matcher, walk
from vhdxray.core.format.findings import Severity
from vhdxray.core.format.record import record
from vhdxray.core.progress import Progress
from vhdxray.core.source import ImageSource

if TYPE_CHECKING:
    from vhdxray.core.analysis.chain import ParentLookup  # pathlib, uuid: only for a child
    from vhdxray.core.analysis.guest.image import GuestOutcome

# Verdicts, worst first (the summary's order).
VERDICTS: tuple[str, ...] = ("error", "unreadable", "not_vhdx", "warning", "ok")

ScanLine = dict[str, Any]
"""One image's result: the keys of :data:`LINE_KEYS` (documented in README.md)."""

LINE_KEYS: tuple[str, ...] = (
    "path",
    "kind",
    "is_vhdx",
    "file_size",
    "disk_type",
    "virtual_size",
    "current_header",
    "replay_needed",
    "in_use",
    "verdict",
    "headline",
    "next_step",
    "suggest",
    "errors",
    "warnings",
    "parent",
    "guest",
    "seconds",
)


@record
class ScanOptions:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    guest: bool = True
    jobs: int = 4
    processes: bool = False


# --- one file ---------------------------------------------------------------------------------


def read_regular(path: str) -> tuple[Report, ParentLookup | None]:
    """:func:`read_checked`: what ``check`` reads. A FIFO, socket, device or directory is
    refused before it is opened (``kind == "not_regular"``, by :mod:`vhdxray.core.source`)."""
    return read_checked(path)


def guest_json(outcome: GuestOutcome | None) -> dict[str, Any] | None:
    """The compact guest triage (None when not looked at: ``--no-guest``, not a VHDX).

    ``level`` (the worst guest finding: ok/info/warning/error), ``partition_table``,
    ``filesystems`` (types, in disk order), ``findings`` (codes of the warnings and errors, as
    ``check --json``'s ``guest.findings``), ``error`` (why the disk could not be opened: the
    ``guest_error.code`` of ``check --json``, e.g. ``parent_missing``)."""
    if outcome is None:
        return None
    guest = outcome.guest
    if guest is None:
        return {
            "level": None,
            "partition_table": None,
            "filesystems": [],
            "findings": [],
            "error": outcome.error_code,
        }
    return {
        "level": guest.level,
        "partition_table": guest.partition_table,
        "filesystems": [fs.type for _, fs in guest.filesystems()],
        "findings": [
            f.code for f in guest.sorted_findings() if f.severity.value in ("error", "warning")
        ],
        "error": None,
    }


def verdict_level(report: Report, level: str) -> str:
    """The scan's verdict: :func:`verdict`'s ``level``, with files that cannot be read apart."""
    if report.kind in ("unreadable", NOT_REGULAR):
        return "unreadable"
    return level


def parent_json(lookup: ParentLookup | None) -> dict[str, Any] | None:
    """The compact parent status of a differencing disk (None for any other file):
    :meth:`ParentLookup.compact_json`, ``{status, reason, path, via}``.

    ``status`` is ``found`` (a locator path leads to the parent and the chain holds),
    ``missing`` (no locator path leads to a file here, or no readable locator) or ``mismatch``
    (the file found is not this child's parent: modified, another geometry, not a VHDX);
    ``reason`` the finer word: ``found``, ``moved`` (found, but a locator path names another
    place), ``missing``, ``no_locator``, ``modified``, ``geometry_mismatch``,
    ``not_a_parent``. ``path`` is the file the locator led to, ``via`` the locator key used."""
    if lookup is None:
        return None
    return lookup.compact_json()


def line_from_report(
    report: Report,
    lookup: ParentLookup | None = None,
    *,
    in_use_value: bool | None,
    guest: object | None,
    seconds: float,
) -> ScanLine:
    """The scan line of ``report``: every field as ``check --json`` gives it for that file."""
    v = verdict(report)
    log = report.log
    meta = report.metadata
    return {
        "path": report.path,
        "kind": report.kind,
        "is_vhdx": report.is_vhdx,
        "file_size": report.file_size,
        "disk_type": report.disk_type,
        "virtual_size": None if meta is None else meta.virtual_size,
        "current_header": report.current_header,
        "replay_needed": None if log is None else log.replay_needed,
        "in_use": in_use_value,
        "verdict": verdict_level(report, v.level),
        "headline": v.headline,
        "next_step": v.next_step,
        "suggest": [x.to_json() for x in v.suggest],
        "errors": [f.code for f in report.findings if f.severity is Severity.ERROR],
        "warnings": [f.code for f in report.findings if f.severity is Severity.WARNING],
        "parent": parent_json(lookup),
        "guest": guest,
        "seconds": round(seconds, 6),
    }


def scan_one(path: str, guest: bool = True) -> ScanLine:
    """Read one file (never writing, never locking) into its scan line."""
    started = time.perf_counter()
    try:
        source = ImageSource(path)  # opened once: the check and the guest both read it
    except OSError:  # the report says why (not a regular file, cannot be opened)
        report, lookup = read_regular(path)
        return line_from_report(
            report,
            lookup,
            in_use_value=None,
            guest=None,
            seconds=time.perf_counter() - started,
        )
    with source:
        report, lookup = read_checked(path, source)
        readable = report.kind not in ("unreadable", NOT_REGULAR)
        busy = in_use(path) if readable else None
        outcome = None
        if guest and report.is_vhdx:
            from vhdxray.core.analysis.guest.image import inspect_image  # not for --no-guest

            outcome = inspect_image(path, report, source=source)
    return line_from_report(
        report,
        lookup,
        in_use_value=busy,
        guest=guest_json(outcome),
        seconds=time.perf_counter() - started,
    )


def walk_error_line(found: Found) -> ScanLine:
    """A folder (or a named path) the walk could not read: a line of its own."""
    reason = found.error or "cannot be read"
    line: ScanLine = dict.fromkeys(LINE_KEYS)
    line.update(
        path=found.path,
        kind="unreadable",
        is_vhdx=False,
        file_size=0,
        verdict="unreadable",
        headline=reason[0].upper() + reason[1:] + ".",
        next_step="Check the permissions, or run the scan as a user who can read it.",
        suggest=[],
        errors=["file.unreadable"],
        warnings=[],
        seconds=0.0,
    )
    return line


# --- many files -------------------------------------------------------------------------------

_DONE = object()

Result = tuple[ScanLine | None, BaseException | None]
"""What a reader hands back for one file: its line, or the exception scanning it raised (a
bug: the scan stops and raises it); (None, None) for a file skipped after a stop."""


class _Readers:
    """``jobs`` reader threads taking paths from a queue and putting :data:`Result` on
    another, in completion order. (Plain threads and queues: ``concurrent.futures`` imports
    ``logging`` and more at start-up, and waits on every file's future with new locks.)"""

    def __init__(self, jobs: int, guest: bool, stop: threading.Event) -> None:
        self.results: queue.SimpleQueue[Result] = queue.SimpleQueue()
        self._paths: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._guest = guest
        self._stop = stop
        self._threads = [
            threading.Thread(target=self._read, name=f"vhdxray-scan_{i}", daemon=True)
            for i in range(jobs)
        ]
        for thread in self._threads:
            thread.start()

    def _read(self) -> None:
        while (path := self._paths.get()) is not None:
            if self._stop.is_set():  # stopped: the files still queued are not read
                self.results.put((None, None))
                continue
            try:
                self.results.put((scan_one(path, self._guest), None))
            except BaseException as exc:  # handed to the consumer, which raises it
                self.results.put((None, exc))

    def submit(self, path: str) -> None:
        self._paths.put(path)

    def shutdown(self) -> None:
        """Skip what is queued, wait for the files being read."""
        for _ in self._threads:
            self._paths.put(None)
        for thread in self._threads:
            thread.join()


class _ProcessReaders:
    """The same over a pool of ``jobs`` worker processes (``--processes``: many cores)."""

    def __init__(self, jobs: int, guest: bool) -> None:
        import concurrent.futures as cf
        import multiprocessing

        self.results: queue.SimpleQueue[Result] = queue.SimpleQueue()
        self._guest = guest
        self._pool = cf.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, path: str) -> None:
        future = self._pool.submit(scan_one, path, self._guest)
        future.add_done_callback(self._done)

    def _done(self, future: Any) -> None:
        if future.cancelled():
            self.results.put((None, None))
            return
        exc = future.exception()
        self.results.put((None, exc) if exc is not None else (future.result(), None))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def scan(
    roots: Sequence[str | os.PathLike[str]],
    options: ScanOptions | None = None,
    progress: Progress | None = None,
) -> Generator[ScanLine, None, None]:
    """Scan every image under ``roots``; yield each line as it finishes (completion order).

    ``progress`` counts files: ``total`` grows as the walk finds them, ``done`` as they finish,
    ``label`` is the file last finished. Cancelling it (:meth:`Progress.cancel`) stops the walk
    and the readers after the files already being read; closing the iterator does the same.
    """
    if options is None:
        options = ScanOptions()
    matcher = Matcher(options.include, options.exclude)
    jobs = max(1, options.jobs)
    found_q: queue.Queue[object] = queue.Queue()
    stop = threading.Event()
    if progress is not None:
        progress.start(0, "")

    def walker() -> None:
        try:
            for found in walk(roots, matcher, stop=stop.is_set):
                if progress is not None:
                    progress.total += 1
                found_q.put(found)
        finally:
            found_q.put(_DONE)

    thread = threading.Thread(target=walker, name="vhdxray-scan-walk", daemon=True)
    readers: _Readers | _ProcessReaders = (
        _ProcessReaders(jobs, options.guest)
        if options.processes
        else _Readers(jobs, options.guest, stop)
    )
    check: Callable[[], None] = progress.check if progress is not None else _nothing
    in_flight = 0
    walk_done = False
    thread.start()
    try:
        while True:
            check()
            # Keep the readers busy, but never queue more than a few files each.
            while not walk_done and in_flight < jobs * 2:
                try:
                    item = found_q.get(block=not in_flight, timeout=0.2 if not in_flight else None)
                except queue.Empty:
                    break
                if item is _DONE:
                    walk_done = True
                    break
                assert isinstance(item, Found)
                if item.error is not None:
                    yield _finished(walk_error_line(item), progress)
                    continue
                readers.submit(item.path)
                in_flight += 1
            if not in_flight:
                if walk_done:
                    return
                continue
            try:
                line, exc = readers.results.get(timeout=0.2)
            except queue.Empty:
                continue
            in_flight -= 1
            if exc is not None:
                raise exc
            if line is not None:
                yield _finished(line, progress)
    finally:
        stop.set()
        readers.shutdown()


def _nothing() -> None:
    pass


def _finished(line: ScanLine, progress: Progress | None) -> ScanLine:
    if progress is not None:
        progress.label = str(line["path"])
        progress.advance(1)
    return line


def needs_error_exit(line: ScanLine) -> bool:
    """Whether this line makes the scan exit 2: an image with an error finding, a file that
    cannot be read, or a file named like a VHDX that is not one. A file included on purpose
    (``--include '*.vhd'``) and identified as another format does not."""
    if line["verdict"] in ("error", "unreadable"):
        return True
    if line["verdict"] == "not_vhdx":
        name = os.path.basename(str(line["path"])).lower()
        return name.endswith((".vhdx", ".avhdx"))
    return False
