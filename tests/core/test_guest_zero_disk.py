"""Guest triage of a disk known from its report to hold nothing (issue 9): ``inspect_image``
does not open the virtual disk when :func:`stores_nothing` says every byte reads as zeros. The
result must be what opening it gives, and the shortcut must not be taken where it would not be.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from tests.damage import write_at
from tests.repairimages import add_pending_log
from vhdxray.core.analysis.guest.image import GuestOutcome, inspect_image, stores_nothing
from vhdxray.core.analysis.guest.triage import triage
from vhdxray.core.analysis.reader import Report, read_report, read_report_from
from vhdxray.core.analysis.virtual import open_virtual_disk
from vhdxray.core.format import layout
from vhdxray.core.format.bat import payload_index
from vhdxray.core.source import ImageSource
from vhdxray.core.write.create import CreateOptions, create_child, create_image

MiB = layout.MiB


def inspect_as_check_does(path: Path) -> tuple[Report, GuestOutcome]:
    """The report and the guest read through one open source, as ``check`` and ``scan`` do
    (the shortcut is taken only then: the report describes the file that is open)."""
    with ImageSource(path) as source:
        report = read_report_from(source, str(path))
        return report, inspect_image(path, report, source=source)


def opened_triage(path: Path) -> dict[str, object]:
    """Triage through the opened virtual disk: what the shortcut must equal."""
    with open_virtual_disk(path) as disk:
        return triage(disk, sector_size=disk.logical_sector_size).to_json()


def bat_entries(path: Path) -> tuple[int, int, int]:
    """(BAT file offset, chunk ratio, payload blocks) of the image at ``path``."""
    report = read_report(path)
    assert report.region_tables is not None and report.bat is not None
    table = report.region_tables[0]
    entry = table.find(layout.BAT_GUID)
    assert entry is not None
    g = report.bat.geometry
    return entry.file_offset, g.chunk_ratio, g.data_blocks_count


def set_states(path: Path, states: list[int]) -> None:
    bat, ratio, _ = bat_entries(path)
    for block, state in enumerate(states):
        write_at(path, bat + 8 * payload_index(block, ratio), struct.pack("<Q", state))


def test_an_empty_dynamic_disk_is_triaged_unopened_with_the_same_result(tmp_path: Path) -> None:
    path = create_image(tmp_path / "empty.vhdx", CreateOptions(64 * MiB, block_size=MiB))
    report, outcome = inspect_as_check_does(path)
    empty = stores_nothing(report)
    assert empty is not None and empty.size == 64 * MiB
    assert outcome.guest is not None and outcome.guest.blank
    assert outcome.guest.to_json() == opened_triage(path)
    with open_virtual_disk(path) as disk:
        assert not disk.may_hold_data(0, disk.size)


@pytest.mark.parametrize("seed", range(12))
def test_any_bat_without_a_present_block_reads_as_zeros(tmp_path: Path, seed: int) -> None:
    """Every payload state but FULLY_PRESENT and PARTIALLY_PRESENT (the reserved 4 too), with
    or without offset bits, with a BAT region cut short by the end of the file."""
    rng = random.Random(seed)
    path = create_image(tmp_path / "states.vhdx", CreateOptions(48 * MiB, block_size=MiB))
    _, _, blocks = bat_entries(path)
    states = [rng.choice((0, 1, 2, 3, 4, 5)) | (rng.randrange(4) << 20) for _ in range(blocks)]
    set_states(path, states)
    if seed % 3 == 0:  # the file ends inside the BAT: the last entries are cut off
        bat, _, _ = bat_entries(path)
        with open(path, "r+b") as f:
            f.truncate(bat + 8 * (blocks // 2) + 3)
    report, outcome = inspect_as_check_does(path)
    assert report.bat is not None
    assert stores_nothing(report) is not None
    assert outcome.guest is not None and outcome.guest.to_json() == opened_triage(path)


@pytest.mark.parametrize("state", [layout.PAYLOAD_BLOCK_FULLY_PRESENT, 7])
def test_a_present_block_anywhere_means_the_disk_is_opened(tmp_path: Path, state: int) -> None:
    path = create_image(tmp_path / "one.vhdx", CreateOptions(48 * MiB, block_size=MiB))
    _, _, blocks = bat_entries(path)
    states = [0] * blocks
    states[blocks - 1] = state | (8 << 20)  # block 47 at 8 MiB: inside the file
    set_states(path, states)
    assert stores_nothing(read_report(path)) is None


def test_data_fixed_and_differencing_disks_are_opened(tmp_path: Path) -> None:
    data = create_image(
        tmp_path / "data.vhdx", CreateOptions(64 * MiB, block_size=MiB), data=[(MiB, b"x" * 512)]
    )
    fixed = create_image(tmp_path / "fixed.vhdx", CreateOptions(8 * MiB, fixed=True))
    parent = create_image(tmp_path / "parent.vhdx", CreateOptions(64 * MiB, block_size=MiB))
    child = create_child(tmp_path / "child.vhdx", parent)
    for path in (data, fixed, child):
        assert stores_nothing(read_report(path)) is None, path.name


def test_a_pending_log_that_maps_a_block_means_the_disk_is_opened(tmp_path: Path) -> None:
    """The file's BAT maps nothing, but the pending log's copy of the BAT page does: only the
    opened disk (the log laid over the file in memory) shows the data."""
    path = create_image(
        tmp_path / "pending.vhdx",
        CreateOptions(64 * MiB, block_size=MiB),
        data=[(MiB, b"\x5a" * MiB), (4 * MiB, b"\x11" * MiB)],
    )
    add_pending_log(path)
    _, _, blocks = bat_entries(path)
    set_states(path, [layout.PAYLOAD_BLOCK_ZERO] * blocks)
    report = read_report(path)
    assert report.bat is not None and report.log is not None and report.log.replay_needed
    assert not report.bat.payload_states["PAYLOAD_BLOCK_FULLY_PRESENT"]
    assert stores_nothing(report) is None
    with open_virtual_disk(path) as disk:
        assert disk.may_hold_data(0, disk.size)
