"""Say what a file is when it is not a VHDX (empty, VHD, qcow2, VMDK, VDI, raw MBR/GPT...)."""

from __future__ import annotations

from vhdxray.core.source import ReadAt


def identify_other(read: ReadAt, size: int) -> tuple[str, str]:
    """(kind, plain-words description) of a file that does not carry a VHDX identifier."""
    if size == 0:
        return "empty", "The file is empty (0 bytes)."
    head = read(0, 4096)
    if head.startswith(b"conectix") or (size >= 512 and read(size - 512, 8) == b"conectix"):
        return (
            "vhd",
            "This is a VHD (the older Virtual PC / Hyper-V format), not a VHDX. "
            "qemu-img convert -f vpc -O vhdx converts it.",
        )
    if head.startswith(b"QFI\xfb"):
        return "qcow2", "This is a QEMU qcow image (QFI signature), not a VHDX."
    if head.startswith(b"KDMV") or head.startswith(b"# Disk DescriptorFile"):
        return "vmdk", "This is a VMware VMDK, not a VHDX."
    if head[64:68] == b"\x7f\x10\xda\xbe":
        return "vdi", "This is a VirtualBox VDI, not a VHDX."
    if head[512:520] == b"EFI PART" or read(4096, 8) == b"EFI PART":
        return "raw-gpt", "This is a raw disk image with a GPT partition table, not a VHDX."
    if len(head) >= 512 and head[510:512] == b"\x55\xaa":
        return "raw-mbr", "This is a raw disk image with an MBR boot sector, not a VHDX."
    if read(32769, 5) == b"CD001":
        return "iso", "This is an ISO 9660 image, not a VHDX."
    if not any(head):
        return (
            "zeros",
            f"The file starts with zeros and has no VHDX signature ({size} bytes). "
            "It may be a raw image, or a VHDX whose first megabyte was wiped.",
        )
    return "unknown", "The file does not start with 'vhdxfile' and is not a format vhdxray knows."
