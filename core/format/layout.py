"""Offsets, sizes, signatures and well-known GUIDs of the VHDX format (MS-VHDX §2)."""

from __future__ import annotations

from vhdxray.core.format.guid import guid_from_int, guid_from_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

KiB: Final = 1024
MiB: Final = 1024 * KiB
GiB: Final = 1024 * MiB
TiB: Final = 1024 * GiB

# §2.1, §2.2: the header section, first 1 MiB of the file.
FILE_IDENTIFIER_OFFSET: Final = 0
FILE_IDENTIFIER_SIZE: Final = 64 * KiB
CREATOR_OFFSET: Final = 8
CREATOR_SIZE: Final = 512  # 256 UTF-16 code units
HEADER_SLOT_OFFSETS: Final = (64 * KiB, 128 * KiB)  # slot 1, slot 2
HEADER_SLOT_SIZE: Final = 64 * KiB
HEADER_SIZE: Final = 4 * KiB
HEADER_FIELDS_SIZE: Final = 80
REGION_TABLE_OFFSETS: Final = (192 * KiB, 256 * KiB)  # copy 1, copy 2
REGION_TABLE_SIZE: Final = 64 * KiB
HEADER_SECTION_SIZE: Final = 1 * MiB
OBJECT_ALIGNMENT: Final = 1 * MiB

# Signatures, as the raw ASCII bytes on disk.
FILE_SIGNATURE: Final = b"vhdxfile"
HEADER_SIGNATURE: Final = b"head"
REGION_SIGNATURE: Final = b"regi"
METADATA_SIGNATURE: Final = b"metadata"
LOG_ENTRY_SIGNATURE: Final = b"loge"
LOG_ZERO_SIGNATURE: Final = b"zero"
LOG_DESC_SIGNATURE: Final = b"desc"
LOG_DATA_SIGNATURE: Final = b"data"

# §2.2.2: header field rules.
HEADER_VERSION: Final = 1
LOG_VERSION: Final = 0

# §2.2.3
REGION_MAX_ENTRIES: Final = 2047
REGION_TABLE_HEADER_SIZE: Final = 16
REGION_ENTRY_SIZE: Final = 32
REGION_REQUIRED: Final = 1

BAT_GUID: Final = guid_from_text("2DC27766-F623-4200-9D64-115E9BFD4A08")
METADATA_REGION_GUID: Final = guid_from_text("8B7CA206-4790-4B9A-B8FE-575F050F886E")
REGION_NAMES: Final = {BAT_GUID: "BAT", METADATA_REGION_GUID: "Metadata"}

# §2.6: metadata region.
METADATA_TABLE_SIZE: Final = 64 * KiB
METADATA_HEADER_SIZE: Final = 32
METADATA_ENTRY_SIZE: Final = 32
METADATA_MAX_ENTRIES: Final = 2047
METADATA_MAX_USER_ENTRIES: Final = 1024
METADATA_MAX_ITEM_LENGTH: Final = 1 * MiB
METADATA_MIN_ITEM_OFFSET: Final = 64 * KiB
META_FLAG_IS_USER: Final = 1
META_FLAG_IS_VIRTUAL_DISK: Final = 2
META_FLAG_IS_REQUIRED: Final = 4

FILE_PARAMETERS_GUID: Final = guid_from_text("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
VIRTUAL_DISK_SIZE_GUID: Final = guid_from_text("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
VIRTUAL_DISK_ID_GUID: Final = guid_from_text("BECA12AB-B2E6-4523-93EF-C309E000C746")
LOGICAL_SECTOR_SIZE_GUID: Final = guid_from_text("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
PHYSICAL_SECTOR_SIZE_GUID: Final = guid_from_text("CDA348C7-445D-4471-9CC9-E9885251C556")
PARENT_LOCATOR_GUID: Final = guid_from_text("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
VHDX_PARENT_LOCATOR_TYPE: Final = guid_from_text("B04AEFB7-D19E-4A81-B789-25B8E9445913")

METADATA_ITEM_NAMES: Final = {
    FILE_PARAMETERS_GUID: "FileParameters",
    VIRTUAL_DISK_SIZE_GUID: "VirtualDiskSize",
    VIRTUAL_DISK_ID_GUID: "VirtualDiskId",
    LOGICAL_SECTOR_SIZE_GUID: "LogicalSectorSize",
    PHYSICAL_SECTOR_SIZE_GUID: "PhysicalSectorSize",
    PARENT_LOCATOR_GUID: "ParentLocator",
}

FILE_PARAM_LEAVE_BLOCKS_ALLOCATED: Final = 1
FILE_PARAM_HAS_PARENT: Final = 2
MIN_BLOCK_SIZE: Final = 1 * MiB
MAX_BLOCK_SIZE: Final = 256 * MiB
SECTOR_SIZES: Final = (512, 4096)
MAX_VIRTUAL_DISK_SIZE: Final = 64 * TiB

# §2.3: log.
LOG_SECTOR_SIZE: Final = 4 * KiB
LOG_ENTRY_HEADER_SIZE: Final = 64
LOG_DESCRIPTOR_SIZE: Final = 32

# §2.4, §2.5: BAT.
BAT_ENTRY_SIZE: Final = 8
SECTORS_PER_CHUNK: Final = 1 << 23
SECTOR_BITMAP_BLOCK_SIZE: Final = 1 * MiB
BAT_STATE_MASK: Final = 0x7
BAT_RESERVED_MASK: Final = 0xFFFF8  # bits 3..19
BAT_OFFSET_MASK: Final = 0xFFFFFFFFFFF00000

PAYLOAD_BLOCK_NOT_PRESENT: Final = 0
PAYLOAD_BLOCK_UNDEFINED: Final = 1
PAYLOAD_BLOCK_ZERO: Final = 2
PAYLOAD_BLOCK_UNMAPPED: Final = 3
PAYLOAD_BLOCK_UNMAPPED_V095: Final = 5
PAYLOAD_BLOCK_FULLY_PRESENT: Final = 6
PAYLOAD_BLOCK_PARTIALLY_PRESENT: Final = 7
SB_BLOCK_NOT_PRESENT: Final = 0
SB_BLOCK_PRESENT: Final = 6

PAYLOAD_STATE_NAMES: Final = {
    0: "PAYLOAD_BLOCK_NOT_PRESENT",
    1: "PAYLOAD_BLOCK_UNDEFINED",
    2: "PAYLOAD_BLOCK_ZERO",
    3: "PAYLOAD_BLOCK_UNMAPPED",
    4: "reserved (4)",
    5: "PAYLOAD_BLOCK_UNMAPPED_V095",
    6: "PAYLOAD_BLOCK_FULLY_PRESENT",
    7: "PAYLOAD_BLOCK_PARTIALLY_PRESENT",
}
SB_STATE_NAMES: Final = {
    0: "SB_BLOCK_NOT_PRESENT",
    6: "SB_BLOCK_PRESENT",
}

ZERO_GUID: Final = guid_from_int(0)


def is_aligned(value: int, alignment: int = OBJECT_ALIGNMENT) -> bool:
    """True when ``value`` is a multiple of ``alignment``."""
    return value % alignment == 0


def ceil_div(a: int, b: int) -> int:
    """Ceil(a / b) for non-negative integers (the spec's Ceil)."""
    return -(-a // b)


# QEMU's image locks (file-posix): OFD locks on permission bytes from 100 and shared-permission
# bytes from 200. vhdxray's writer takes them too; the scan asks whether anyone holds them.
QEMU_LOCK_START = 100
QEMU_LOCK_LENGTH = 200
