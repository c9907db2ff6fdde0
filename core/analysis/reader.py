"""Read an image into a :class:`Report`: the only code that reads a file for analysis.

It reads just the ranges it needs (first 320 KiB, the metadata items, the log, the BAT),
hands the bytes to the pure parsers and composes their results. It never raises on the
contents of the file; an unreadable file becomes a report with ``kind == "unreadable"``.
"""

from __future__ import annotations

import os

from vhdxray.core.fileio import NotRegularFile
from vhdxray.core.format import layout
from vhdxray.core.format.bat import BatSummary, analyse_bat_stream, bat_geometry
from vhdxray.core.format.findings import Finding, error, info, sort_findings
from vhdxray.core.format.header import (
    Header,
    HeaderChoice,
    check_headers,
    choose_current,
    effective_header,
    parse_header,
)
from vhdxray.core.format.identifier import FileIdentifier, parse_identifier
from vhdxray.core.format.log import LogInfo, analyse_log, analyse_log_at
from vhdxray.core.format.metadata import Metadata, parse_metadata
from vhdxray.core.format.record import record
from vhdxray.core.format.region import (
    RegionTable,
    check_region_tables,
    choose_active,
    parse_region_table,
)
from vhdxray.core.source import ImageSource, ReadAt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol
else:  # Source is for type checkers; at run time a plain base keeps typing unimported
    Protocol = object

NOT_REGULAR = "not_regular"
"""Report.kind of a directory, FIFO, socket or device: refused before it is opened."""

# The log is normally 1 MiB; never pull an absurd LogLength into memory.
MAX_LOG_READ = 256 * layout.MiB


@record
class Report:
    """Everything known about one image. Structures are None when they could not be reached."""

    path: str
    file_size: int
    kind: str  # "vhdx", what the file is instead (sniff.identify_other), "unreadable", NOT_REGULAR
    description: str  # one sentence on what the file is
    identifier: FileIdentifier | None = None
    headers: tuple[Header, Header] | None = None
    header_choice: HeaderChoice | None = None
    region_tables: tuple[RegionTable, RegionTable] | None = None
    active_region_table: int | None = None
    metadata: Metadata | None = None
    log: LogInfo | None = None
    bat: BatSummary | None = None
    findings: tuple[Finding, ...] = ()

    @property
    def is_vhdx(self) -> bool:
        return self.kind == "vhdx"

    @property
    def current_header(self) -> int | None:
        return None if self.header_choice is None else self.header_choice.current

    @property
    def effective_header(self) -> Header | None:
        """The header whose fields describe the file (see header.effective_header)."""
        if self.headers is None or self.header_choice is None:
            return None
        return effective_header(self.headers, self.header_choice)

    @property
    def disk_type(self) -> str | None:
        return None if self.metadata is None else self.metadata.disk_type

    @property
    def creator(self) -> str | None:
        return None if self.identifier is None else self.identifier.creator

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")


def read_report(path: str | os.PathLike[str]) -> Report:
    """Read and analyse the image at ``path``. Never raises for a bad or unreadable file."""
    name = os.fspath(path)
    try:
        source = ImageSource(path)
    except NotRegularFile as exc:
        kind = exc.kind
        return Report(
            path=name,
            file_size=0,
            kind=NOT_REGULAR,
            description=f"This is not a regular file: it is {kind}. "
            "vhdxray reads image files only.",
            findings=(error("file.not_regular", name, f"not a regular file ({kind})"),),
        )
    except OSError as exc:
        reason = _dangling(name) or exc.strerror or str(exc)
        return Report(
            path=name,
            file_size=0,
            kind="unreadable",
            description=f"The file cannot be opened: {reason}.",
            findings=(error("file.unreadable", name, f"cannot open the file: {reason}"),),
        )
    with source:
        return read_report_from(source, name)


def _dangling(name: str) -> str | None:
    """Why a name the user gave cannot be opened when it is a symbolic link whose target is
    gone (or a loop): "No such file or directory" alone hides that the link itself exists."""
    try:
        if not os.path.islink(name):
            return None
        target = os.readlink(name)
    except (OSError, ValueError):
        return None
    return f"it is a symbolic link to {target!r}, which cannot be opened"


class Source(Protocol):
    """What the reader needs of an open image: its size and positional reads."""

    @property
    def size(self) -> int: ...

    def read_at(self, offset: int, length: int) -> bytes: ...

    def probe(self, offset: int, length: int, step: int, signature: bytes) -> list[int]: ...


def read_report_from(source: Source, name: str) -> Report:
    """Like :func:`read_report`, through an image already open (a write session re-reads the
    image through its locked descriptor). Never raises for a bad file."""
    try:
        return _read(source, name)
    except OSError as exc:  # an I/O error in the middle of reading (bad media, vanished file)
        reason = exc.strerror or str(exc)
        return Report(
            path=name,
            file_size=0,
            kind="unreadable",
            description=f"Reading the file failed: {reason}.",
            findings=(error("file.io_error", name, f"reading the file failed: {reason}"),),
        )


def _read(source: Source, name: str) -> Report:
    size = source.size
    read = source.read_at
    identifier, findings, headers, tables = read_header_section(read)
    if not looks_like_vhdx(identifier, headers, tables):
        from vhdxray.core.analysis.sniff import identify_other  # only for what is not a VHDX

        kind, description = identify_other(read, size)
        return Report(
            path=name,
            file_size=size,
            kind=kind,
            description=description,
            findings=(error("file.not_vhdx", name, description),),
        )
    if size < layout.HEADER_SECTION_SIZE:
        findings.append(
            error(
                "file.truncated",
                name,
                f"the file is {size} bytes, shorter than the 1 MiB header section: "
                "it was cut short",
            )
        )

    choice = choose_current(*headers)
    findings += check_headers(headers, choice)
    active = choose_active(tables)
    findings += check_region_tables(tables, active, size)
    report_args: dict[str, object] = {
        "identifier": identifier,
        "headers": headers,
        "header_choice": choice,
        "region_tables": tables,
        "active_region_table": active,
    }
    eff = effective_header(headers, choice)

    reserved: list[tuple[int, int, str]] = [(0, layout.HEADER_SECTION_SIZE, "header section")]
    log_info: LogInfo | None = None
    if eff is not None:
        log_info, log_findings = analyse_log_in_file(eff, source)
        findings += log_findings
        if eff.log_length:
            reserved.append((eff.log_offset, eff.log_offset + eff.log_length, "log"))

    metadata: Metadata | None = None
    bat: BatSummary | None = None
    if active is not None:
        table = tables[active - 1]
        for entry in table.entries:
            reserved.append((entry.file_offset, entry.file_offset + entry.length, entry.name))
        findings += _check_log_overlap(reserved)
        meta_entry = table.find(layout.METADATA_REGION_GUID)
        if meta_entry is not None:
            metadata, meta_findings = parse_metadata(
                meta_entry.file_offset, meta_entry.length, read
            )
            findings += meta_findings
        bat_entry = table.find(layout.BAT_GUID)
        if metadata is not None and bat_entry is not None:
            bat, bat_findings = _analyse_bat(
                read, metadata, bat_entry.file_offset, bat_entry.length, size, reserved
            )
            findings += bat_findings
    report_args["metadata"] = metadata
    report_args["log"] = log_info
    report_args["bat"] = bat
    description = "A VHDX image."
    if metadata is not None and metadata.disk_type is not None:
        description = f"A {metadata.disk_type} VHDX image."
    return Report(
        path=name,
        file_size=size,
        kind="vhdx",
        description=description,
        findings=sort_findings(findings),
        **report_args,  # type: ignore[arg-type]
    )


def reread_headers(report: Report, read: ReadAt, file_size: int) -> Report | None:
    """``report`` brought up to date after writes that all lay inside the two header slots
    (issue 9: a write session knows what it changed and needs no whole re-read), or None when
    the image must be read again as a whole.

    The header section (file identifier, both slots, both region tables) is read again and
    the current header chosen again. Nothing else :func:`read_report_from` looks at depends on
    the headers but the effective header's log fields (the log and its placement are analysed
    from them), so while those and the file size are unchanged, the log, metadata and BAT
    analyses and their findings stand; the header findings are replaced, in the order a whole
    read gives them.
    """
    from vhdxray.core.format.record import replace

    if not report.is_vhdx or report.headers is None or report.header_choice is None:
        return None
    if file_size != report.file_size:
        return None
    _, id_findings, headers, _ = read_header_section(read)
    choice = choose_current(*headers)
    before, after = report.effective_header, effective_header(headers, choice)
    if before is None or after is None or _log_fields(before) != _log_fields(after):
        return None
    truncated = [f for f in report.findings if f.code == "file.truncated"]
    rest = list(report.findings)
    try:  # what a whole read puts before the header findings, then the old header findings
        for f in (*id_findings, *truncated, *check_headers(report.headers, report.header_choice)):
            rest.remove(f)
    except ValueError:  # pragma: no cover - the report was not made by the reader
        return None
    findings = [*id_findings, *truncated, *check_headers(headers, choice), *rest]
    return replace(report, headers=headers, header_choice=choice, findings=sort_findings(findings))


def _log_fields(h: Header) -> tuple[object, ...]:
    return (h.log_guid, h.log_offset, h.log_length, h.log_version)


def read_header_section(
    read: ReadAt,
) -> tuple[FileIdentifier, list[Finding], tuple[Header, Header], tuple[RegionTable, RegionTable]]:
    """The file identifier (with its findings), both header slots and both region table copies,
    from one read of the start of the file (short files give short, invalid structures)."""
    head = read(0, layout.REGION_TABLE_OFFSETS[1] + layout.REGION_TABLE_SIZE)
    identifier, findings = parse_identifier(head)
    h_off = layout.HEADER_SLOT_OFFSETS
    headers = (
        parse_header(head[h_off[0] : h_off[0] + layout.HEADER_SIZE], 1),
        parse_header(head[h_off[1] : h_off[1] + layout.HEADER_SIZE], 2),
    )
    r_off = layout.REGION_TABLE_OFFSETS
    tables = (
        parse_region_table(head[r_off[0] : r_off[0] + layout.REGION_TABLE_SIZE], 1),
        parse_region_table(head[r_off[1] : r_off[1] + layout.REGION_TABLE_SIZE], 2),
    )
    return identifier, findings, headers, tables


def looks_like_vhdx(
    identifier: FileIdentifier,
    headers: tuple[Header, Header],
    tables: tuple[RegionTable, RegionTable],
) -> bool:
    """A file is treated as a (possibly damaged) VHDX when any of its signatures is there."""
    return (
        identifier.signature_ok
        or any(h.signature_ok for h in headers)
        or any(t.signature_ok for t in tables)
    )


def read_log(header: Header, read: ReadAt, file_size: int) -> tuple[LogInfo, bytes, list[Finding]]:
    """Read and analyse the log that ``header`` points at (capped at MAX_LOG_READ bytes)."""
    log_bytes = read(header.log_offset, min(header.log_length, MAX_LOG_READ))
    info, findings = analyse_log(
        log_bytes,
        log_guid=header.log_guid,
        log_offset=header.log_offset,
        log_length=header.log_length,
        log_version=header.log_version,
        file_size=file_size,
    )
    return info, log_bytes, findings


def analyse_log_in_file(header: Header, source: Source) -> tuple[LogInfo, list[Finding]]:
    """:func:`read_log`'s analysis without reading the log: the 4 KiB sectors are probed for
    ``loge`` and only the entries found are read (same results, same MAX_LOG_READ cap)."""
    offset = header.log_offset
    available = max(0, min(header.log_length, MAX_LOG_READ, source.size - offset))

    def read(position: int, length: int) -> bytes:
        return source.read_at(offset + position, min(length, available - position))

    def probe(limit: int) -> list[int]:
        return source.probe(offset, min(limit, available), layout.LOG_SECTOR_SIZE, b"loge")

    return analyse_log_at(
        read,
        available,
        probe,
        log_guid=header.log_guid,
        log_offset=offset,
        log_length=header.log_length,
        log_version=header.log_version,
        file_size=source.size,
    )


def _check_log_overlap(reserved: list[tuple[int, int, str]]) -> list[Finding]:
    findings: list[Finding] = []
    logs = [r for r in reserved if r[2] == "log"]
    for start, end, _ in logs:
        for other_start, other_end, other in reserved:
            if other == "log":
                continue
            if start < other_end and other_start < end:
                findings.append(
                    error(
                        "layout.log_overlap",
                        f"log @ 0x{start:x}",
                        f"the log (0x{start:x}..0x{end:x}) overlaps the {other} "
                        f"(0x{other_start:x}..0x{other_end:x})",
                    )
                )
    return findings


def _analyse_bat(
    read: ReadAt,
    metadata: Metadata,
    bat_offset: int,
    bat_length: int,
    file_size: int,
    reserved: list[tuple[int, int, str]],
) -> tuple[BatSummary | None, list[Finding]]:
    if (
        metadata.block_size is None
        or metadata.logical_sector_size is None
        or metadata.virtual_size is None
        or metadata.disk_type is None
    ):
        return None, [
            info(
                "bat.not_analysed",
                f"BAT @ 0x{bat_offset:x}",
                "the BAT was not analysed because the disk geometry in the metadata is unusable",
            )
        ]
    geometry = bat_geometry(
        metadata.virtual_size,
        metadata.block_size,
        metadata.logical_sector_size,
        metadata.disk_type == "differencing",
    )
    needed = min(bat_length, geometry.total_entries * layout.BAT_ENTRY_SIZE)
    available = max(0, min(needed, file_size - bat_offset))
    summary, findings = analyse_bat_stream(
        lambda offset, length: read(bat_offset + offset, length),
        available,
        geometry,
        disk_type=metadata.disk_type,
        file_size=file_size,
        bat_offset=bat_offset,
        bat_length=bat_length,
        reserved=reserved,
    )
    return summary, findings
