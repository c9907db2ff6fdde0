"""The stable ids of the repairs, and the backup files each writes.

Kept apart from :mod:`vhdxray.core.write.repair` (which pulls in the writer and the replay) so the
app can name repairs before the first frame without importing any writing code.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

REPLAY: Final = "log.replay"
CLEAR_LOG_GUID: Final = "log.clear_stale_guid"
REGION_TABLE: Final = "region.table"
HEADERS: Final = "header.update"
TRUNCATION: Final = "truncation"
ORDER: Final = (REPLAY, CLEAR_LOG_GUID, REGION_TABLE, HEADERS)
BACKUP_OPERATIONS: Final = {
    # The backup files each repair writes, in order (one per step; see backup.backup_name).
    REPLAY: ("replay-headers", "log-replay", "replay-clear-log-guid"),
    CLEAR_LOG_GUID: ("clear-log-guid",),
    REGION_TABLE: ("region-table-headers", "region-table"),
    HEADERS: ("update-headers",),
}

# The error findings each repair resolves (the planner's and the verdict's one list).
FIXES: Final[dict[str, tuple[str, ...]]] = {
    REPLAY: ("log.replay_needed",),
    CLEAR_LOG_GUID: ("log.no_valid_sequence", "log.length_zero"),
    REGION_TABLE: (
        "region.copy1.signature",
        "region.copy1.checksum",
        "region.copy1.entries",
        "region.copy2.signature",
        "region.copy2.checksum",
        "region.copy2.entries",
        "region.copies_differ",
        "region.using_copy2",
    ),
    HEADERS: (
        "header.slot1.signature",
        "header.slot1.checksum",
        "header.slot1.reserved",
        "header.slot2.signature",
        "header.slot2.checksum",
        "header.slot2.reserved",
        "header.equal_sequence_identical",
        "header.equal_sequence_different",
        "header.version",
        "header.log_version_unused",
    ),
}
# Findings that leave a repair nothing to work from: it is not offered while one is present
# (both region table copies bad: there is no good copy to rewrite the other from).
BLOCKED_BY: Final[dict[str, tuple[str, ...]]] = {REGION_TABLE: ("region.none_valid",)}
# What each repair does, in a few words (the verdict names it; the views add how to start it).
NAMES: Final = {
    REPLAY: "replay the log",
    CLEAR_LOG_GUID: "clear the stale LogGuid",
    REGION_TABLE: "rewrite the damaged region table copy from the good one",
    HEADERS: "update the headers",
}
