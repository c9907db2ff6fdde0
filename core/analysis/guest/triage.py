"""Guest triage: what the virtual disk holds (partition table, partitions, filesystems) and the
health flags each format records, as findings with stable ``guest.`` codes.

Reads only: sector 0 and the GPT headers and arrays, 68 KiB at each volume start, and the few
structures a probe follows (backup boot sectors, MFT records, an LVM metadata area), typically
well under 2 MiB per image and never more than :data:`VOLUME_BUDGET` per volume.
"""

from __future__ import annotations

from collections.abc import Callable

from vhdxray.core.analysis.guest.base import (
    Disk,
    Filesystem,
    GuestFinding,
    MiB,
    ReadBudgetExceeded,
    Structure,
    VirtualReader,
    Volume,
    finding,
)
from vhdxray.core.format.findings import SEVERITY_ORDER, Severity
from vhdxray.core.format.record import field, mutable_record, replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from vhdxray.core.analysis.guest.gpt import Gpt

Probe = Callable[[Volume, str], Filesystem | None]

_probes: tuple[Probe, ...] | None = None


def probes() -> tuple[Probe, ...]:
    """Every filesystem probe, in the order they are tried. Encrypted and Windows boot-sector
    formats first (BitLocker's boot sector looks like a BPB), then the Linux superblocks. Each
    probe only looks at bytes already in the volume head unless its signature matched.

    The probe modules are imported on the first call: a disk with nothing stored where a
    table or filesystem would be (a new sparse image) is found blank without them.
    """
    global _probes
    if _probes is None:
        from vhdxray.core.analysis.guest import (
            bitlocker,
            btrfs,
            exfat,
            ext,
            fat,
            iso9660,
            luks,
            lvm,
            ntfs,
            refs,
            swap,
            xfs,
        )

        _probes = (
            luks.probe,
            bitlocker.probe,
            ntfs.probe,
            refs.probe,
            exfat.probe,
            fat.probe,
            ext.probe,
            xfs.probe,
            btrfs.probe,
            lvm.probe,
            swap.probe,
            iso9660.probe,
        )
    return _probes


WINDOWS_BOOT_SECTOR_TYPES = frozenset(("ntfs", "fat12", "fat16", "fat32", "exfat"))
VBR_TYPES = WINDOWS_BOOT_SECTOR_TYPES | {"bitlocker", "refs"}
# Partition types that hold no filesystem by design.
NO_FILESYSTEM_TYPES = frozenset(("Microsoft reserved", "BIOS boot", "Windows LDM metadata"))
# What the filesystem probes of a partition table's partitions may read in all: a usual disk
# (a few partitions, under 100 KiB each) stays far below; a hostile table (thousands of
# CRC-valid GPT entries at the same start) would otherwise make triage read hundreds of MiB.
# Past it the remaining partitions are listed, not probed.
DISK_BUDGET = 32 * MiB
BLANK_HEAD = 1 * MiB
BLANK_TAIL = 64 * 1024
_PROBE_ERRORS = (ValueError, IndexError, KeyError, OverflowError, ZeroDivisionError)


@mutable_record
class Partition:
    index: int
    start: int
    length: int
    type: str  # "0x83" (MBR) or the partition type GUID (GPT)
    type_name: str
    name: str | None
    filesystem: Filesystem | None = None
    bootable: bool = False
    logical: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start": self.start,
            "length": self.length,
            "type": self.type,
            "type_name": self.type_name,
            "name": self.name,
            "bootable": self.bootable,
            "logical": self.logical,
            "filesystem": None if self.filesystem is None else self.filesystem.to_json(),
        }


@mutable_record
class GuestReport:
    """What is inside the virtual disk."""

    disk_size: int
    partition_table: str = "none"  # "mbr" | "gpt" | "none"
    blank: bool = False
    filesystem: Filesystem | None = None  # bare disk: a filesystem at offset 0
    partitions: list[Partition] = field(default_factory=list)
    flags: dict[str, bool] = field(default_factory=dict)
    findings: list[GuestFinding] = field(default_factory=list)
    structures: list[Structure] = field(default_factory=list)
    sector_size: int = 512
    bytes_read: int = 0

    @property
    def level(self) -> str:
        """ "ok", "info", "warning" or "error": the worst finding about the guest."""
        if not self.findings:
            return "ok"
        worst = min(self.findings, key=lambda f: SEVERITY_ORDER[f.severity])
        return worst.severity.value

    def filesystems(self) -> list[tuple[str, Filesystem]]:
        """(where, filesystem) for the bare disk or each partition that holds one."""
        out: list[tuple[str, Filesystem]] = []
        if self.filesystem is not None:
            out.append(("disk", self.filesystem))
        out += [(f"partition {p.index}", p.filesystem) for p in self.partitions if p.filesystem]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "partition_table": self.partition_table,
            "blank": self.blank,
            "filesystem": None if self.filesystem is None else self.filesystem.to_json(),
            "partitions": [p.to_json() for p in self.partitions],
            "flags": dict(self.flags),
            "level": self.level,
            "findings": [f.to_json() for f in self.sorted_findings()],
            "sector_size": self.sector_size,
            "bytes_read": self.bytes_read,
        }

    def summary(self) -> str:
        """A compact, word-free line for tables: ``gpt: ntfs[dirty], -`` or ``none: ext4``."""
        if self.blank:
            return "blank"

        def one(fs: Filesystem | None) -> str:
            if fs is None:
                return "-"
            bad = [name for name, value in fs.flags.items() if value]
            return fs.type + (f"[{','.join(bad)}]" if bad else "")

        if self.partition_table == "none":
            return f"none: {one(self.filesystem)}"
        bad_table = [k for k in ("gpt_primary_bad", "gpt_backup_bad") if self.flags.get(k)]
        table = self.partition_table + (f"[{','.join(bad_table)}]" if bad_table else "")
        return f"{table}: " + (", ".join(one(p.filesystem) for p in self.partitions) or "-")

    def sorted_findings(self) -> list[GuestFinding]:
        return sorted(self.findings, key=lambda f: SEVERITY_ORDER[f.severity])


def probe_volume(vol: Volume, where: str, findings: list[GuestFinding]) -> Filesystem | None:
    """The first probe that recognises the volume; read errors become findings."""
    for probe in probes():
        try:
            fs = probe(vol, where)
        except ReadBudgetExceeded:
            findings.append(finding(Severity.WARNING, "guest.read_budget", where))
            return None
        except OSError as exc:  # the virtual disk could not be read here: say so, go on
            findings.append(
                finding(Severity.ERROR, "guest.read_failed", where, reason=exc.strerror or str(exc))
            )
            return None
        except _PROBE_ERRORS as exc:  # a probe met bytes it did not expect: not a crash
            findings.append(
                finding(Severity.WARNING, "guest.probe_failed", where, reason=type(exc).__name__)
            )
            continue
        if fs is not None:
            if fs.type in WINDOWS_BOOT_SECTOR_TYPES:
                _check_ext_under(vol, fs, where)
            findings.extend(fs.findings)
            return fs
    return None


def _check_ext_under(vol: Volume, fs: Filesystem, where: str) -> None:
    """An ext backup superblock under a Windows boot sector: the disk held ext2/3/4 and was
    formatted over by mistake (Disk Management's "initialize" + "new volume")."""
    from vhdxray.core.analysis.guest import ext

    try:
        found = ext.backup_superblock(vol)
    except (ReadBudgetExceeded, OSError):  # unreadable there: nothing to say about ext
        return
    fs.flags["ext_backup_superblock"] = found is not None
    if found is not None:
        block_size, offset, base = found
        # the ext filesystem began at this volume, or spanned the whole disk before a
        # partition table and this partition were made over it
        code = "guest.trap.ext_under_windows_fs" if base == vol.start else "guest.trap.ext_disk"
        # This filesystem's own findings (dirty, a bad backup boot sector) stay as facts, but
        # their usual next step (chkdsk, fsck.fat -a) would destroy what is left of the ext
        # filesystem: ``reformatted`` names the finding whose next step to follow instead.
        fs.findings[:] = [replace(f, params={**f.params, "reformatted": code}) for f in fs.findings]
        fs.findings.append(
            finding(
                Severity.ERROR,
                code,
                where,
                fs=fs.type,
                block_size=block_size,
                backup_block=(offset - base) // block_size,
                offset=offset,
            )
        )


def triage(reader: VirtualReader, sector_size: int = 512) -> GuestReport:
    """Look inside the virtual disk; never writes and never raises on its contents."""
    disk = Disk(reader)
    report = GuestReport(disk_size=disk.size, sector_size=sector_size)
    report.flags = {
        "gpt_primary_bad": False,
        "gpt_backup_bad": False,
        "partition_overlap": False,
        "partition_past_end": False,
        "filesystem_larger_than_partition": False,
    }
    try:
        _triage(disk, report, sector_size)
    except OSError as exc:
        report.findings.append(
            finding(Severity.ERROR, "guest.read_failed", "disk", reason=exc.strerror or str(exc))
        )
    report.bytes_read = disk.bytes_read
    return report


def _is_zero(data: bytes) -> bool:
    """All zero bytes: a memcmp that stops at the first non-zero byte (any() would walk the
    bytes in Python)."""
    return not data or (data[0] == 0 and data == bytes(len(data)))


def _triage(disk: Disk, report: GuestReport, sector_size: int) -> None:
    head_end = min(BLANK_HEAD, disk.size)
    tail_start = max(0, disk.size - BLANK_TAIL)
    if disk.size < 512 or not (
        disk.may_hold_data(0, head_end) or disk.may_hold_data(tail_start, disk.size - tail_start)
    ):
        # Too small for anything, or no byte of where a table or filesystem would be is
        # stored (no allocated block, no logged page there): blank, known without reading.
        report.blank = True
        report.findings.append(finding(Severity.INFO, "guest.blank", "disk", size=disk.size))
        return
    from vhdxray.core.analysis.guest.mbr import looks_like_mbr

    sector0 = disk.read(0, 512)
    gpt = _find_gpt(disk, sector0, sector_size)
    protective = _has_protective_entry(sector0)
    if gpt is not None and looks_like_mbr(sector0) and not protective:
        # An MBR without a protective entry: Linux (is_pmbr_valid) and Windows use the MBR
        # and ignore the GPT, left over from an earlier table.
        report.findings.append(finding(Severity.WARNING, "guest.gpt.ignored", "GPT"))
        gpt = None
    if gpt is not None:
        report.sector_size = gpt.sector_size
        if not protective:
            # sector 0 wiped: Linux finds no partitions and Windows offers to initialise
            report.findings.append(finding(Severity.ERROR, "guest.gpt.no_protective_mbr", "MBR"))
        _use_gpt(disk, report, gpt)
        return
    whole = Volume(disk, 0, disk.size)
    bare_findings: list[GuestFinding] = []
    bare = probe_volume(whole, "disk", bare_findings)
    if looks_like_mbr(sector0) and (bare is None or bare.type not in VBR_TYPES):
        if bare is not None and bare.type != "iso9660":
            report.findings.append(
                finding(Severity.WARNING, "guest.trap.table_over_filesystem", "disk", fs=bare.type)
            )
        _use_mbr(disk, report, sector0, sector_size)
        return
    if bare is not None:
        report.filesystem = bare
        report.findings += bare_findings
        report.structures += bare.structures
        if bare.size is not None and bare.size > disk.size:
            _larger(report, bare, "disk", disk.size)
        return
    report.findings += bare_findings
    if _is_zero(whole.head) and _blank_beyond_head(disk, len(whole.head)):
        report.blank = True
        report.findings.append(finding(Severity.INFO, "guest.blank", "disk", size=disk.size))
    else:
        report.findings.append(finding(Severity.WARNING, "guest.unrecognised", "disk"))


def _blank_beyond_head(disk: Disk, head: int) -> bool:
    """The rest of the first BLANK_HEAD bytes and the last BLANK_TAIL read as zeros; only the
    parts that may hold data are read."""
    tail_start = max(0, disk.size - BLANK_TAIL)
    for start, end in ((head, BLANK_HEAD), (tail_start, disk.size)):
        end = min(end, disk.size)
        if (
            end > start
            and disk.may_hold_data(start, end - start)
            and not _is_zero(disk.read(start, end - start))
        ):
            return False
    return True


def _has_protective_entry(sector0: bytes) -> bool:
    """An MBR with a GPT-protective (0xEE) entry, protective or hybrid: what Linux and
    Windows need before they read a GPT."""
    from vhdxray.core.analysis.guest.mbr import looks_like_mbr

    return looks_like_mbr(sector0) and any(sector0[446 + 16 * i + 4] == 0xEE for i in range(4))


def _find_gpt(disk: Disk, sector0: bytes, sector_size: int) -> Gpt | None:
    from vhdxray.core.analysis.guest.gpt import has_header as has_gpt_header
    from vhdxray.core.analysis.guest.gpt import parse_gpt

    protective = _has_protective_entry(sector0)
    sizes = (sector_size, *tuple(s for s in (512, 4096) if s != sector_size))
    for size in sizes:
        if has_gpt_header(disk, size):
            return parse_gpt(disk, size)
    for size in sizes:  # the primary is gone: a backup header at the end still says GPT
        if disk.size >= 2 * size and disk.read(disk.size - size, 8) == b"EFI PART":
            return parse_gpt(disk, size)
    if protective:
        return parse_gpt(disk, sector_size)
    return None


def _use_gpt(disk: Disk, report: GuestReport, gpt: Gpt) -> None:
    report.partition_table = "gpt"
    report.structures += [Structure("protective MBR", 0, 512), *gpt.structures]
    report.flags["gpt_primary_bad"] = gpt.primary_bad
    report.flags["gpt_backup_bad"] = gpt.backup_bad
    last_lba = disk.size // gpt.sector_size - 1
    if gpt.primary_bad and gpt.backup_bad:
        report.findings.append(
            finding(
                Severity.ERROR,
                "guest.gpt.both_bad",
                "GPT",
                primary=gpt.primary.problem,
                backup=gpt.backup.problem,
            )
        )
    elif gpt.primary_bad:
        report.findings.append(
            finding(Severity.ERROR, "guest.gpt.primary_bad", "GPT", problem=gpt.primary.problem)
        )
    elif gpt.backup_bad:
        report.findings.append(
            finding(Severity.WARNING, "guest.gpt.backup_bad", "GPT", problem=gpt.backup.problem)
        )
    elif gpt.backup.lba != last_lba:
        report.findings.append(
            finding(
                Severity.WARNING,
                "guest.gpt.backup_not_at_end",
                "GPT",
                backup_lba=gpt.backup.lba,
                last_lba=last_lba,
            )
        )
    if gpt.arrays_differ:
        report.findings.append(finding(Severity.WARNING, "guest.gpt.arrays_differ", "GPT"))
    for e in gpt.entries:
        report.partitions.append(
            Partition(e.index, e.start, e.length, e.type_guid, e.type_name, e.name)
        )
        if e.last_lba < e.first_lba or (
            gpt.last_usable and not gpt.first_usable <= e.first_lba <= e.last_lba <= gpt.last_usable
        ):
            # sgdisk -v: "ends before it begins", "begins before the first usable sector",
            # "too big for the disk": over the GPT's own sectors, or no partition at all
            report.findings.append(
                finding(
                    Severity.WARNING,
                    "guest.gpt.entry_bounds",
                    f"partition {e.index}",
                    index=e.index,
                    first_lba=e.first_lba,
                    last_lba=e.last_lba,
                    first_usable=gpt.first_usable,
                    last_usable=gpt.last_usable,
                )
            )
    _inspect_partitions(disk, report)
    _check_ext_under_table(disk, report)


def _check_ext_under_table(disk: Disk, report: GuestReport) -> None:
    """A partition table written over a whole-disk ext filesystem (WSL's ext4.vhdx given
    Disk Management's "initialize disk": a GPT over its primary superblock, perhaps an empty
    MSR): the table looks healthy and empty, but ext's group-1 backup superblock is still at
    its disk offset. Not said again when a partition's filesystem already names the trap."""
    from vhdxray.core.analysis.guest import ext

    if any(f.code.startswith("guest.trap.") for f in report.findings):
        return
    try:
        found = ext.backup_superblock(Volume(disk, 0, disk.size))
    except (ReadBudgetExceeded, OSError):  # unreadable there: nothing to say about ext
        return
    if found is None:
        return
    block_size, offset, _ = found
    report.findings.append(
        finding(
            Severity.ERROR,
            "guest.trap.table_over_ext",
            "disk",
            table=report.partition_table.upper(),
            block_size=block_size,
            backup_block=offset // block_size,
            offset=offset,
        )
    )


def _use_mbr(disk: Disk, report: GuestReport, sector0: bytes, sector_size: int) -> None:
    from vhdxray.core.analysis.guest.mbr import parse_mbr

    report.partition_table = "mbr"
    mbr = parse_mbr(disk, sector0, sector_size)
    report.structures += mbr.structures
    if mbr.ebr_loop:
        report.findings.append(finding(Severity.WARNING, "guest.mbr.ebr_chain", "MBR"))
    for e in mbr.entries:
        report.partitions.append(
            Partition(
                e.index,
                e.start,
                e.length,
                f"0x{e.type:02x}",
                e.type_name,
                None,
                bootable=e.bootable,
                logical=e.logical,
            )
        )
    _check_extended(disk, report, mbr.extended)
    _inspect_partitions(disk, report)
    _check_ext_under_table(disk, report)


def _check_extended(disk: Disk, report: GuestReport, extended: list[Any]) -> None:
    for e in extended:
        if e.start + e.length > disk.size:
            report.flags["partition_past_end"] = True
            report.findings.append(
                finding(
                    Severity.ERROR,
                    "guest.partition.past_end",
                    f"partition {e.index}",
                    index=e.index,
                    end=e.start + e.length,
                    disk_size=disk.size,
                )
            )


def _inspect_partitions(disk: Disk, report: GuestReport) -> None:
    parts = sorted(report.partitions, key=lambda p: p.start)
    reach: Partition | None = None  # the partition reaching furthest so far
    for b in parts:
        if reach is not None and b.start < reach.start + reach.length:
            report.flags["partition_overlap"] = True
            report.findings.append(
                finding(
                    Severity.ERROR,
                    "guest.partition.overlap",
                    f"partitions {reach.index} and {b.index}",
                    first=reach.index,
                    second=b.index,
                )
            )
        if reach is None or b.start + b.length > reach.start + reach.length:
            reach = b
    skipped: list[Partition] = []
    for p in report.partitions:
        where = f"partition {p.index}"
        if p.start + p.length > disk.size:
            report.flags["partition_past_end"] = True
            report.findings.append(
                finding(
                    Severity.ERROR,
                    "guest.partition.past_end",
                    where,
                    index=p.index,
                    end=p.start + p.length,
                    disk_size=disk.size,
                )
            )
        if p.start >= disk.size or p.length <= 0:
            continue
        if skipped or disk.bytes_read > DISK_BUDGET:
            skipped.append(p)
            continue
        try:
            vol = Volume(disk, p.start, min(p.length, disk.size - p.start))
        except OSError as exc:
            report.findings.append(
                finding(Severity.ERROR, "guest.read_failed", where, reason=exc.strerror or str(exc))
            )
            continue
        p.filesystem = probe_volume(vol, where, report.findings)
        if p.filesystem is not None:
            report.structures += p.filesystem.structures
            p.filesystem.flags["larger_than_partition"] = False
            if p.filesystem.size is not None and p.filesystem.size > p.length:
                _larger(report, p.filesystem, where, p.length)
        elif p.type_name not in NO_FILESYSTEM_TYPES:
            empty = _is_zero(vol.head)
            report.findings.append(
                finding(
                    Severity.INFO if empty else Severity.WARNING,
                    "guest.partition.empty" if empty else "guest.partition.unrecognised",
                    where,
                    index=p.index,
                )
            )
    if skipped:
        report.findings.append(
            finding(
                Severity.WARNING,
                "guest.partition.not_probed",
                "partition table",
                count=len(skipped),
                first=skipped[0].index,
                budget_mib=DISK_BUDGET // MiB,
            )
        )


def _larger(report: GuestReport, fs: Filesystem, where: str, room: int) -> None:
    fs.flags["larger_than_partition"] = True
    report.flags["filesystem_larger_than_partition"] = True
    report.findings.append(
        finding(
            Severity.ERROR,
            "guest.fs.larger_than_partition",
            where,
            fs=fs.type,
            fs_size=fs.size,
            room=room,
        )
    )
