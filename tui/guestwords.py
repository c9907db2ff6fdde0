"""The words for guest findings (codes under ``guest.``): a short phrase for headlines, a
sentence, and the next step. Core findings carry only codes and parameters; the CLI text, the
JSON ``message``/``next_step`` fields and the app's Inside view all take their words from here.
"""

from __future__ import annotations

from vhdxray.core.analysis.guest.base import Filesystem, GuestFinding
from vhdxray.core.analysis.guest.triage import GuestReport
from vhdxray.core.format.record import record
from vhdxray.core.format.text import printable
from vhdxray.core.outcome import Option, Suggestions, suggest
from vhdxray.tui.outcome import shell_word
from vhdxray.tui.sizes import natural_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@record
class Words:
    short: str  # for the headline: "ext4 needs recovery"
    message: str  # one sentence
    next_step: str  # what to run next ("" when nothing)


_E2FSCK = "run e2fsck -f (on Windows: wsl --mount --vhd {path} --bare, then e2fsck from a distro)"

WORDS: dict[str, Words] = {
    "guest.blank": Words(
        "blank disk",
        "The virtual disk is blank: no partition table, no filesystem, nothing at its start "
        "or end.",
        "",
    ),
    "guest.unrecognised": Words(
        "unknown contents",
        "The disk holds data but no partition table or filesystem that vhdxray recognises.",
        "look at the first sectors in the hex view; testdisk can search for lost partitions",
    ),
    "guest.read_failed": Words(
        "guest unreadable",
        "Reading the virtual disk failed: {reason}.",
        "export what can be read to a raw image first, then inspect the copy",
    ),
    "guest.read_budget": Words(
        "guest not fully read",
        "Stopped reading this volume after its read budget (a few MiB).",
        "",
    ),
    "guest.probe_failed": Words(
        "odd filesystem bytes",
        "A filesystem probe met bytes it did not expect ({reason}).",
        "",
    ),
    "guest.trap.table_over_filesystem": Words(
        "partition table over a {fs} disk",
        "A partition table was written over a whole-disk {fs} filesystem whose superblock is "
        "still there: the disk was initialised by mistake (Disk Management's prompt).",
        "don't format it or run chkdsk; on a copy, remove the partition table (or use "
        "wsl --mount --vhd {path} --bare) and check the {fs} filesystem on the whole disk",
    ),
    "guest.trap.ext_under_windows_fs": Words(
        "ext filesystem under {fs}",
        "An ext2/3/4 backup superblock (block {backup_block}, {block_size}-byte blocks) lies "
        "under this {fs} boot sector: the disk was reformatted by mistake.",
        "don't run chkdsk (it would destroy what is left); on a copy, e2fsck -b {backup_block} "
        "-B {block_size} or testdisk can bring the ext filesystem back",
    ),
    "guest.trap.table_over_ext": Words(
        "{table} over an ext disk",
        "An ext2/3/4 filesystem filled this disk and a {table} partition table was written over "
        "its first blocks: its backup superblock (block {backup_block}, {block_size}-byte "
        "blocks) is still there. The disk was initialised by mistake (Disk Management's "
        "prompt).",
        "don't create or format a volume on it; on a raw copy of the whole disk (vhdxray export "
        "{path} disk.raw), wipefs --force -a -t gpt,PMBR,dos disk.raw, then e2fsck -f -b "
        "{backup_block} -B {block_size} disk.raw (or testdisk)",
    ),
    "guest.trap.ext_disk": Words(
        "whole-disk ext filesystem under {fs}",
        "A backup superblock of an ext2/3/4 filesystem that filled the whole disk (block "
        "{backup_block}, {block_size}-byte blocks) lies inside this {fs} partition: the disk "
        "was initialised and formatted by mistake (Disk Management's prompt).",
        "don't run chkdsk or write to the disk; on a raw copy of the whole disk (vhdxray export "
        "{path} disk.raw), e2fsck -b {backup_block} -B {block_size} disk.raw or testdisk can "
        "bring the ext filesystem back",
    ),
    "guest.gpt.primary_bad": Words(
        "GPT primary header bad",
        "The GPT primary header or its partition entries are bad ({problem}); the backup is good.",
        "GPT primary header bad, backup good: sgdisk can rebuild the primary from the backup "
        "(gdisk: r, b, c, w)",
    ),
    "guest.gpt.backup_bad": Words(
        "GPT backup header bad",
        "The GPT backup header or its partition entries are bad ({problem}); the primary is good.",
        "sgdisk -e rewrites the backup from the primary",
    ),
    "guest.gpt.both_bad": Words(
        "GPT unreadable",
        "Both GPT copies are bad (primary: {primary}; backup: {backup}).",
        "testdisk can search for the partitions; don't let Windows initialise the disk",
    ),
    "guest.gpt.backup_not_at_end": Words(
        "GPT backup not at the disk end",
        "The GPT backup header is at LBA {backup_lba}, not at the disk's last LBA {last_lba}: "
        "the disk was resized and the table was not moved.",
        "sgdisk -e moves the backup to the end; then the partition can be extended",
    ),
    "guest.gpt.no_protective_mbr": Words(
        "GPT without protective MBR",
        "Sector 0 holds no protective MBR: Linux and Windows ignore the GPT, so the partitions "
        "do not appear and Windows offers to initialise the disk.",
        "don't let Windows initialise it; sgdisk -e (or gdisk: w) writes a new protective MBR "
        "and keeps the partitions",
    ),
    "guest.gpt.ignored": Words(
        "old GPT under an MBR",
        "A GPT is there but sector 0 holds an MBR without a protective entry: Linux and "
        "Windows use the MBR partitions listed here; the GPT is left over from an earlier "
        "table.",
        "nothing while the MBR is right; on a raw copy, wipefs --force -a -t gpt removes the old "
        "GPT's signatures",
    ),
    "guest.gpt.entry_bounds": Words(
        "partition outside the GPT's usable sectors",
        "Partition {index} (LBA {first_lba} to {last_lba}) ends before it begins or lies "
        "outside the GPT's usable sectors ({first_usable} to {last_usable}): writing to it "
        "would damage the partition table itself.",
        "don't write to it; check the table with sgdisk -v and fix the boundaries with gdisk",
    ),
    "guest.gpt.arrays_differ": Words(
        "GPT copies differ",
        "The primary and backup GPT partition entries differ.",
        "compare them with gdisk before writing either copy",
    ),
    "guest.mbr.ebr_chain": Words(
        "logical partitions loop",
        "The chain of logical partitions loops or is too long; only the first ones are listed.",
        "testdisk can rebuild the extended partition",
    ),
    "guest.partition.overlap": Words(
        "partitions overlap",
        "Partitions {first} and {second} overlap.",
        "don't write to either; check the table with sfdisk -l or gdisk and fix the boundaries",
    ),
    "guest.partition.past_end": Words(
        "partition past disk end",
        "Partition {index} ends at byte {end}, past the disk's end ({disk_size} bytes): the "
        "virtual disk was shrunk or the table is wrong.",
        "grow the virtual disk back to at least {end} bytes before using the partition",
    ),
    "guest.partition.not_probed": Words(
        "partitions not looked at",
        "{count} partitions from partition {first} on were not looked at: the others had "
        "already used the {budget_mib} MiB triage reads of a disk (an unusual table).",
        "check the table with sfdisk -l or gdisk; export a partition to inspect it alone",
    ),
    "guest.partition.empty": Words(
        "empty partition", "Partition {index} holds no data at its start.", ""
    ),
    "guest.partition.unrecognised": Words(
        "unknown partition contents",
        "Partition {index} holds data but no filesystem that vhdxray recognises.",
        "look at it in the hex view; testdisk or photorec may help",
    ),
    "guest.fs.larger_than_partition": Words(
        "{fs} larger than its partition",
        "The {fs} filesystem ({fs_size} bytes) is larger than the room it has ({room} bytes): "
        "a resize stopped halfway.",
        "don't mount it read-write; grow the partition (or disk) back to the filesystem's "
        "size first",
    ),
    "guest.ext.needs_recovery": Words(
        "{fs} needs recovery",
        "{fs} needs journal recovery (it was not unmounted cleanly).",
        _E2FSCK,
    ),
    "guest.ext.errors": Words(
        "{fs} has recorded errors",
        "{fs} recorded errors (state not clean, error count {error_count}).",
        _E2FSCK,
    ),
    "guest.ext.not_clean": Words(
        "{fs} not cleanly unmounted",
        "{fs} was not cleanly unmounted (state not clean): e2fsck will force a full check.",
        _E2FSCK,
    ),
    "guest.ext.checksum_bad": Words(
        "{fs} superblock checksum bad",
        "The {fs} superblock fails its checksum.",
        "run e2fsck -f with a backup superblock (e2fsck -b 32768 -B 4096, or -b 8193 with 1 KiB "
        "blocks)",
    ),
    "guest.ntfs.dirty": Words(
        "NTFS marked dirty",
        "NTFS marked dirty: the volume was not closed cleanly or Windows asked for a check.",
        "chkdsk /f before shrinking or compacting",
    ),
    "guest.ntfs.volume_record_bad": Words(
        "NTFS $Volume unreadable",
        "The $Volume record in the MFT cannot be read (bad signature or torn fix-ups).",
        "chkdsk /f on Windows (work on a copy)",
    ),
    "guest.ntfs.backup_boot_mismatch": Words(
        "NTFS backup boot sector differs",
        "The NTFS backup boot sector (the volume's last sector) differs from the boot sector "
        "or is missing.",
        "chkdsk /f rewrites it; if the boot sector is the damaged one, testdisk can copy the "
        "backup back",
    ),
    "guest.fat.dirty": Words(
        "{fs} marked dirty",
        "{fs} is marked dirty (not unmounted cleanly).",
        "fsck.fat -a, or chkdsk /f on Windows",
    ),
    "guest.fat.errors": Words(
        "{fs} recorded a disk error",
        "{fs} recorded a hard disk error.",
        "fsck.fat -a, or chkdsk /f on Windows",
    ),
    "guest.fat.backup_boot_mismatch": Words(
        "{fs} backup boot sector differs",
        "The FAT32 backup boot sector differs from the boot sector.",
        "fsck.fat can compare and copy them",
    ),
    "guest.exfat.dirty": Words(
        "exFAT marked dirty", "exFAT is marked dirty (VolumeDirty).", "fsck.exfat, or chkdsk /f"
    ),
    "guest.exfat.media_failure": Words(
        "exFAT media failure",
        "exFAT recorded a media failure (MediaFailure).",
        "fsck.exfat, or chkdsk /f /r",
    ),
    "guest.exfat.boot_checksum_bad": Words(
        "exFAT boot checksum bad",
        "The exFAT boot region fails its checksum.",
        "fsck.exfat can restore it from the backup boot region",
    ),
    "guest.exfat.backup_boot_mismatch": Words(
        "exFAT backup boot region differs",
        "The exFAT backup boot region differs from the main one.",
        "fsck.exfat, or chkdsk /f",
    ),
    "guest.xfs.checksum_bad": Words(
        "XFS superblock checksum bad",
        "The XFS superblock fails its CRC.",
        "xfs_repair -n to see, then xfs_repair (from Linux, on a copy)",
    ),
    "guest.xfs.mkfs_incomplete": Words(
        "XFS never finished formatting",
        "mkfs.xfs did not finish (sb_inprogress is set).",
        "format it again; nothing was stored",
    ),
    "guest.btrfs.checksum_bad": Words(
        "btrfs superblock checksum bad",
        "The btrfs superblock fails its checksum.",
        "btrfs rescue super-recover (it uses the mirror superblocks)",
    ),
    "guest.btrfs.log_tree": Words(
        "btrfs log to replay",
        "btrfs holds a log tree that the next mount replays.",
        "mount it once; if that fails, btrfs rescue zero-log",
    ),
    "guest.swap.hibernated": Words(
        "swap holds a hibernation image",
        "The swap area holds a Linux hibernation image.",
        "resume that system, or mkswap to discard it",
    ),
    "guest.lvm.label_checksum_bad": Words(
        "LVM2 label checksum bad",
        "The LVM2 physical volume label fails its checksum.",
        "pvck --repair, or vgcfgrestore from /etc/lvm/backup",
    ),
    "guest.luks.encrypted": Words(
        "LUKS encrypted",
        "LUKS{version} encrypted volume: vhdxray cannot look further.",
        "unlock it with cryptsetup open",
    ),
    "guest.luks.checksum_bad": Words(
        "LUKS header checksum bad",
        "The LUKS2 header fails its checksum.",
        "cryptsetup repair, or restore a header backup",
    ),
    "guest.bitlocker.encrypted": Words(
        "BitLocker",
        "BitLocker volume.",
        "BitLocker: unlock on Windows; vhdxray cannot look further",
    ),
    "guest.bitlocker.metadata_bad": Words(
        "BitLocker metadata missing",
        "None of the three BitLocker metadata blocks carries its signature.",
        "repair-bde on Windows with the recovery key",
    ),
}

_UNKNOWN = Words("{code}", "{code}", "")
# The next step of a Windows filesystem's own findings when an ext filesystem lies under it.
REFORMATTED_NEXT_STEP = (
    "don't run chkdsk or fsck on it: follow {reformatted} (an ext filesystem lies under it)"
)


def _fill(template: str, finding: GuestFinding, path: str) -> str:
    values: dict[str, Any] = {"path": shell_word(path), "code": finding.code}
    values.update({k: printable(str(v)) for k, v in finding.params.items()})
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template


def words(finding: GuestFinding, path: str = "PATH") -> Words:
    """The filled-in words of one finding (``path`` goes into commands such as wsl --mount)."""
    w = WORDS.get(finding.code, _UNKNOWN)
    next_step = w.next_step
    if finding.params.get("reformatted") and next_step:
        # the filesystem was formatted over an ext one: its usual repair would destroy it
        next_step = REFORMATTED_NEXT_STEP
    return Words(
        _fill(w.short, finding, path),
        _fill(w.message, finding, path),
        _fill(next_step, finding, path),
    )


def size_short(value: int) -> str:
    return natural_size(value)


def fs_summary(fs: Filesystem) -> str:
    """ "ext4 'data' 948036c4-… 64.0 MiB" — safe to print."""
    parts = [fs.type]
    if fs.label:
        parts.append(f"'{printable(fs.label)}'")
    if fs.uuid:
        parts.append(printable(fs.uuid))
    if fs.size is not None:
        parts.append(size_short(fs.size))
    return " ".join(parts)


def flags_text(flags: dict[str, bool]) -> str:
    return ", ".join(f"{name}={'yes' if value else 'no'}" for name, value in flags.items())


def layout_summary(guest: GuestReport) -> str:
    """One line: what the disk holds."""
    if guest.blank:
        return "blank (no partition table, no filesystem)"
    if guest.partition_table == "none":
        if guest.filesystem is not None:
            return f"no partition table; {fs_summary(guest.filesystem)} on the whole disk"
        return "no partition table, no filesystem recognised"
    n = len(guest.partitions)
    table = guest.partition_table.upper()
    return f"{table}, {n} partition{'s' if n != 1 else ''}"


def guest_short(guest: GuestReport) -> str:
    """The guest half of the headline: the worst problem, or what the disk holds."""
    serious = [f for f in guest.sorted_findings() if f.severity.value in ("error", "warning")]
    if serious:
        first = words(serious[0]).short
        more = f" (+{len(serious) - 1} more)" if len(serious) > 1 else ""
        return first + more
    fss = guest.filesystems()
    for f in guest.sorted_findings():
        if f.code in ("guest.bitlocker.encrypted", "guest.luks.encrypted"):
            return words(f).short
    if guest.blank:
        return "blank disk"
    if fss:
        names = ", ".join(sorted({fs.type for _, fs in fss}))
        return f"{names} clean"
    return layout_summary(guest)


def only_chain_errors(error_codes: list[str]) -> bool:
    """The container's only errors are its parent chain's (missing, modified, not its parent):
    the file itself is sound, so its layer is not "damaged"."""
    return bool(error_codes) and all(code.startswith("chain.") for code in error_codes)


def layered_headline(
    container_level: str,
    guest: GuestReport | None,
    *,
    replay_pending: bool = False,
    chain_only: bool = False,
) -> str:
    """ "container OK; ext4 needs recovery": which layer is broken, in one line.
    ``chain_only``: the errors are the parent chain's (:func:`only_chain_errors`)."""
    if replay_pending:
        container = "container log replay pending"
    elif container_level == "error" and chain_only:
        container = "container OK, parent chain broken"
    else:
        container = {
            "ok": "container OK",
            "warning": "container OK",  # warnings are tolerated by Windows and QEMU
            "error": "container damaged",
        }.get(container_level, "not a VHDX")
    if guest is None:
        return container
    return f"{container}; {guest_short(guest)}"


# Why the guest was not looked at, by the opener's refusal code (other codes: its own words).
NOT_LOOKED_AT: dict[str, str] = {
    "parent_missing": "a differencing disk whose parent was not found",
    "parent_mismatch": "the parent found is not this disk's parent",
    "parent_unusable": "its parent cannot be read",
    "parent_loop": "its parent chain loops",
    "not_vhdx": "not a VHDX",
}


# What the user can do about a refusal code (each front end renders it: a flag, a key).
NOT_LOOKED_AT_SUGGEST: dict[str, Suggestions] = {"parent_missing": suggest(Option.PARENT)}


def not_looked_at(code: str | None, reason: str | None) -> str:
    return NOT_LOOKED_AT.get(code or "", printable(reason or code or "unknown reason"))


def not_looked_at_suggest(code: str | None) -> Suggestions:
    return NOT_LOOKED_AT_SUGGEST.get(code or "", ())


def annotate_json(doc: dict[str, Any], guest: GuestReport | None, path: str) -> None:
    """Add the words (``message``, ``next_step``, ``headline``) to the ``guest`` JSON object."""
    if guest is None or not isinstance(doc.get("guest"), dict):
        return
    findings = guest.sorted_findings()
    for item, f in zip(doc["guest"]["findings"], findings, strict=True):
        w = words(f, path)
        item["message"] = w.message
        item["next_step"] = w.next_step
    log = doc.get("log") or {}
    errors = [f.get("code", "") for f in doc.get("findings") or () if f.get("severity") == "error"]
    doc["guest"]["headline"] = layered_headline(
        doc.get("verdict", {}).get("level", ""),
        guest,
        replay_pending=bool(log.get("replay_needed")),
        chain_only=only_chain_errors(errors),
    )


def inside_lines(
    guest: GuestReport | None, path: str, error_code: str | None = None, error: str | None = None
) -> list[str]:
    """The "Inside" block of ``info`` and ``check`` (plain text, image strings made printable)."""
    if guest is None:
        from vhdxray.tui.outcome import cli_text  # the words of a suggestion: text output only

        why = cli_text(not_looked_at(error_code, error), not_looked_at_suggest(error_code))
        return [f"Inside:    not looked at: {why}"]
    lines = [f"Inside:    {layout_summary(guest)}"]
    if guest.partition_table == "gpt":
        lines.append(
            f"  GPT primary {'BAD' if guest.flags.get('gpt_primary_bad') else 'ok'}, "
            f"backup {'BAD' if guest.flags.get('gpt_backup_bad') else 'ok'}"
        )
    if guest.filesystem is not None:
        lines.append(f"  {flags_text(guest.filesystem.flags) or 'no health flags recorded'}")
    for p in guest.partitions:
        name = f" '{printable(p.name)}'" if p.name else ""
        lines.append(
            f"  p{p.index:<3} @ {p.start:>12}  {size_short(p.length):>10}  "
            f"{p.type_name}{name} ({printable(p.type)})"
        )
        if p.filesystem is not None:
            lines.append(f"        {fs_summary(p.filesystem)}")
            if p.filesystem.flags:
                lines.append(f"        {flags_text(p.filesystem.flags)}")
    for f in guest.sorted_findings():
        w = words(f, path)
        lines.append(
            f"  {f.severity.value.upper():<7} {f.code}: {w.message} [{printable(f.where)}]"
        )
        if w.next_step:
            lines.append(f"          next: {w.next_step}")
    return lines
