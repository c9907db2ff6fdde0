"""The truncation map: a file cut short is never "repaired" (vhdxray does not invent the
missing bytes); this kind only says what is lost, as a refusal with the map."""

from __future__ import annotations

from collections.abc import Iterable

from vhdxray.core.analysis.repairids import TRUNCATION
from vhdxray.core.write.repairs import RepairKind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

    from vhdxray.core.write.repair import PlanContext, Refused, Repair, RepairSession, StepResult

FINDING_CODES: Final = (
    "bat.block.past_eof",
    "bat.entry.stray_offset",  # not a cut file, but the same map of what cannot be read
    "bat.sector_bitmap.past_eof",
    "bat.region.truncated",
    "region.past_eof",
    "log.file_too_short",
    "log.past_eof",
    "file.truncated",
)

KIND: Final = RepairKind(
    id=TRUNCATION,
    title="The file is truncated",
    label="Truncation map",
    help="What the cut-short file has lost (never repaired by inventing data)",
    question="",
    finding_codes=FINDING_CODES,
    options=(),
    backup_operations=(),
    order=0,
    module=__name__,
    action="truncation-map",
    applies=False,
)


def plan(ctx: PlanContext) -> Iterable[Repair | Refused]:
    from vhdxray.core.analysis.truncation import truncation_map
    from vhdxray.core.write.outcome import RefusalCode
    from vhdxray.core.write.repair import Refused

    trunc = truncation_map(ctx.report, ctx.report.path)
    if trunc is None:
        return ()
    ctx.truncation = trunc
    if trunc.damaged_entries:
        return (
            Refused(
                TRUNCATION,
                "A damaged BAT entry points past the end of the file",
                RefusalCode.STRAY_BAT_ENTRY,
                f"the file is not cut short, but {trunc.lost_bytes} bytes of the virtual disk "
                "are mapped past its end by damaged BAT entries; where their data is cannot be "
                "known, and vhdxray never invents it",
                tuple(trunc.describe()),
                finding_codes=ctx.codes(FINDING_CODES),
                params={"missing_bytes": 0, "lost_bytes": trunc.lost_bytes},
            ),
        )
    return (
        Refused(
            TRUNCATION,
            KIND.title,
            RefusalCode.FILE_TRUNCATED,
            f"{trunc.missing_bytes} bytes are missing from the end of the file and "
            f"{trunc.lost_bytes} bytes of the virtual disk are lost; vhdxray never invents "
            "the missing data",
            tuple(trunc.describe()),
            finding_codes=ctx.codes(FINDING_CODES),
            params={"missing_bytes": trunc.missing_bytes, "lost_bytes": trunc.lost_bytes},
        ),
    )


def run(session: RepairSession, repair: Repair) -> StepResult:  # pragma: no cover - never planned
    raise AssertionError("the truncation map is never run")
