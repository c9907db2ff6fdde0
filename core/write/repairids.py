"""The stable ids of the repairs, and the backup files each writes.

Kept apart from :mod:`vhdxray.core.write.repair` (which pulls in the writer and the replay) so the
app can name repairs before the first frame without importing any writing code.
"""

from __future__ import annotations

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
