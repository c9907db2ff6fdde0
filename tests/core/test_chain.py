"""Differencing links: children made with core.create.create_child of qemu-img and own
parents, parents changed afterwards, moved, of another geometry; the real .avhdx whose parent
is not available."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import damage, reports
from tests import repairimages as ri
from tests.conftest import require
from vhdxray.core.analysis.chain import (
    MISMATCH,
    OK,
    WARNING,
    ChainCheck,
    check_chain,
    describe_locator,
    probe_paths,
)
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.format.metadata import serialise_locator
from vhdxray.core.write.create import CreateOptions, create_child, create_image
from vhdxray.core.write.update import Refusal, plan_header_update, run_header_update
from vhdxray.core.write.writer import WriteHooks

MiB = layout.MiB


class Crash(Exception):
    pass


@pytest.fixture
def pair(qemu_image: Callable[..., Path], tmp_path: Path) -> tuple[Path, Path]:
    """A qemu-img parent with data and a child made by vhdxray next to it."""
    require("qemu-io", "qemu-utils")
    parent = qemu_image("64M", "block_size=1M", name="parent.vhdx")
    subprocess.run(
        ["qemu-io", "-f", "vhdx", "-c", "write -P 0x44 0 1M", str(parent)],
        check=True,
        capture_output=True,
    )
    child = create_child(tmp_path / "child.vhdx", parent)
    return parent, child


def items(result: ChainCheck) -> dict[str, str]:
    return {i.name: i.status for i in result.items}


def check(child: Path, parent: Path) -> ChainCheck:
    return check_chain(
        read_report(child), read_report(parent), child_path=child, parent_path=parent
    )


def rewrite_locator(child: Path, entries: list[tuple[str, str]]) -> None:
    """Replace the child's parent locator item (the last item of its metadata region)."""
    meta = read_report(child).metadata
    assert meta is not None
    index, entry = next(
        (i, e) for i, e in enumerate(meta.entries) if e.item_id == layout.PARENT_LOCATOR_GUID
    )
    value = serialise_locator(entries)
    damage.write_at(child, meta.offset + entry.offset, value)
    damage.write_at(child, meta.offset + 32 + 32 * index + 20, struct.pack("<I", len(value)))


def test_a_fresh_child_is_consistent(pair: tuple[Path, Path]) -> None:
    parent, child = pair
    result = check(child, parent)
    assert result.consistent and result.linkage == "current"
    status = items(result)
    assert status["parent_linkage"] == OK
    assert status["relative_path"] == OK
    assert status["logical_sector_size"] == OK and status["virtual_size"] == OK
    assert status["virtual_disk_id"] == OK
    assert result.describe()[0].startswith("The chain is consistent")
    # libvhdi reads the same parent identifier from the child.
    require("vhdiinfo", "libvhdi-utils")
    out = subprocess.run(["vhdiinfo", str(child)], capture_output=True, text=True).stdout
    eff = read_report(parent).effective_header
    assert eff is not None and f"Parent identifier\t: {eff.data_write_guid}" in out


def test_a_parent_written_after_the_child_breaks_the_chain(pair: tuple[Path, Path]) -> None:
    parent, child = pair
    subprocess.run(
        ["qemu-io", "-f", "vhdx", "-c", "write -P 0x45 1M 1M", str(parent)],
        check=True,
        capture_output=True,
    )
    result = check(child, parent)
    assert not result.consistent and result.linkage == "none"
    assert items(result)["parent_linkage"] == MISMATCH
    assert (
        result.describe()[0]
        == "The chain is NOT consistent: parent_linkage does not match (details below)."
    )
    assert "this is not the child's parent, or it was changed" in "\n".join(result.describe())


def test_a_match_with_the_stale_slot_only_says_the_parent_changed(
    pair: tuple[Path, Path],
) -> None:
    """An update of the parent with a new DataWriteGuid, stopped after its first write: the
    current slot has the new value, the other still the one the child expects."""
    parent, child = pair
    report = read_report(parent)
    # Make both slots carry the child's linkage first (a clean vhdxray update).
    plan = plan_header_update(report)
    assert not isinstance(plan, Refusal)
    run_header_update(parent, plan, backup_dir=parent.parent)
    locator = reports.metadata(child).parent_locator
    assert locator is not None
    assert reports.effective_header(parent).data_write_guid == locator.parent_linkage

    plan2 = plan_header_update(read_report(parent), new_data_write_guid=True)
    assert not isinstance(plan2, Refusal)

    def crash(i: int) -> None:
        raise Crash

    with pytest.raises(Crash):
        run_header_update(
            parent, plan2, backup_dir=parent.parent, hooks=WriteHooks(after_write=crash)
        )
    result = check(child, parent)
    assert not result.consistent and result.linkage == "stale_slot"
    text = "\n".join(result.describe())
    assert f"matches only the parent's stale header slot {plan2.second.slot}" in text
    assert "modified after the child was linked" in text


def test_parent_linkage2_is_accepted(pair: tuple[Path, Path]) -> None:
    parent, child = pair
    current = reports.effective_header(parent).data_write_guid
    rewrite_locator(
        child,
        [
            ("parent_linkage", "{" + str(uuid.uuid4()) + "}"),
            ("parent_linkage2", "{" + str(current).upper() + "}"),
            ("relative_path", ".\\parent.vhdx"),
        ],
    )
    result = check(child, parent)
    assert result.consistent and result.linkage == "linkage2"
    assert items(result)["parent_linkage2"] == OK


def test_a_moved_parent_still_matches_but_the_path_is_flagged(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    parent, child = pair
    moved = tmp_path / "elsewhere" / "renamed.vhdx"
    moved.parent.mkdir()
    shutil.copyfile(parent, moved)
    result = check(child, moved)
    assert result.consistent
    assert items(result)["relative_path"] == WARNING
    assert "Windows would look there first" in "\n".join(result.describe())


def test_geometry_must_agree(pair: tuple[Path, Path], tmp_path: Path) -> None:
    _, child = pair
    other = create_image(
        tmp_path / "other.vhdx",
        CreateOptions(virtual_size=128 * MiB, block_size=MiB, logical_sector_size=4096),
    )
    result = check(child, other)
    assert not result.consistent
    status = items(result)
    assert status["logical_sector_size"] == MISMATCH
    assert status["virtual_size"] == MISMATCH
    assert status["virtual_disk_id"] == WARNING


def test_a_parent_with_a_pending_log_is_flagged(
    qemu_image: Callable[..., Path], tmp_path: Path
) -> None:
    require("qemu-io", "qemu-utils")
    pending = ri.make_pending_image(qemu_image, name="parent.vhdx")
    child = create_child(tmp_path / "kid.vhdx", pending.path)
    result = check(child, pending.path)
    assert result.consistent
    assert items(result)["parent_log"] == WARNING


def test_a_child_of_a_child_is_noted(pair: tuple[Path, Path], tmp_path: Path) -> None:
    _, child = pair
    grandchild = create_child(tmp_path / "grandchild.vhdx", child)
    result = check(grandchild, child)
    assert result.consistent and items(result)["parent_chain"] == "info"


def test_not_a_differencing_child(pair: tuple[Path, Path]) -> None:
    parent, _ = pair
    result = check(parent, parent)
    assert not result.consistent
    assert "not a differencing disk" in result.describe()[1]
    assert describe_locator(read_report(parent)) == [
        "This is not a differencing disk: it has no parent."
    ]


def test_the_real_avhdx_has_no_parent_here(real_image: Callable[[str], Path]) -> None:
    child = real_image("dissect-differencing")
    report = read_report(child)
    lines = describe_locator(report, child)
    text = "\n".join(lines)
    for key in (
        "parent_linkage",
        "parent_linkage2",
        "relative_path",
        "volume_path",
        "absolute_win32_path",
    ):
        assert f"  {key} = " in text
    # parent_linkage2 is the zero GUID there: no alternative identity.
    assert "DataWriteGuid ff34003b-11ed-4cf8-a166-b2be05e20b80." in text
    assert "does not exist" in text
    assert "the parent is not next to this file." in text
    assert "vhdxray" not in text and "--" not in text  # core's words name no command
    locator = reports.metadata(report).parent_locator
    assert locator is not None
    probes = probe_paths(child, locator)
    assert [p.key for p in probes] == ["relative_path", "volume_path", "absolute_win32_path"]
    assert probes[0].local_path is not None and not probes[0].exists
    assert probes[1].local_path is None and probes[2].local_path is None

    stranger = real_image("dissect-dynamic")
    result = check_chain(report, read_report(stranger), child_path=child, parent_path=stranger)
    assert not result.consistent and result.linkage == "none"
    status = items(result)
    assert status["parent_linkage"] == MISMATCH
    assert status["absolute_win32_path"] == WARNING
    assert status["virtual_size"] == MISMATCH  # 8 GiB child, 10 MiB stranger
    doc = result.to_json()
    assert doc["consistent"] is False and isinstance(doc["items"], list)


# --- locate_parent: the parent found through the locator (check CHILD without --parent) -------


def test_locate_parent_finds_a_fresh_parent(pair: tuple[Path, Path]) -> None:
    from vhdxray.core.analysis.chain import FOUND, locate_parent

    parent, child = pair
    lookup = locate_parent(child, read_report(child))
    assert lookup.status == FOUND and lookup.ok and lookup.key == "relative_path"
    assert lookup.path is not None and lookup.path.samefile(parent)
    assert lookup.findings(str(child)) == ()


def test_locate_parent_missing_then_moved(pair: tuple[Path, Path], tmp_path: Path) -> None:
    from vhdxray.core.analysis.chain import FOUND, MISSING, locate_parent

    parent, child = pair
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    parent.rename(moved / parent.name)
    lookup = locate_parent(child, read_report(child))
    assert lookup.status == MISSING and not lookup.ok
    (finding,) = lookup.findings(str(child))
    assert finding.code == "chain.missing" and finding.severity == "error"
    # The moved parent still has the identity the child expects: only the path is stale.
    moved_check = check(child, moved / parent.name)
    assert moved_check.linkage == "current"
    # Back in place it is found again.
    (moved / parent.name).rename(parent)
    assert locate_parent(child, read_report(child)).status == FOUND


def test_locate_parent_tells_a_modified_parent(pair: tuple[Path, Path]) -> None:
    from vhdxray.core.analysis.chain import MODIFIED, locate_parent

    parent, child = pair
    subprocess.run(
        ["qemu-io", "-f", "vhdx", "-c", "write -P 0x45 1M 1M", str(parent)],
        check=True,
        capture_output=True,
    )
    lookup = locate_parent(child, read_report(child))
    assert lookup.status == MODIFIED and lookup.check is not None
    (finding,) = lookup.findings(str(child))
    assert finding.code == "chain.modified" and "do not relink" in finding.message


def test_locate_parent_never_opens_a_fifo(pair: tuple[Path, Path], tmp_path: Path) -> None:
    """A hostile locator naming a FIFO must not hang the lookup: only regular files count."""
    from vhdxray.core.analysis.chain import MISSING, locate_parent

    parent, child = pair
    link = read_report(parent).effective_header
    assert link is not None
    os.mkfifo(tmp_path / "fifo.vhdx")
    rewrite_locator(
        child,
        [("parent_linkage", "{" + str(link.data_write_guid) + "}"), ("relative_path", "fifo.vhdx")],
    )
    lookup = locate_parent(child, read_report(child))
    assert lookup.status == MISSING
    assert [(c.key, c.exists) for c in lookup.candidates] == [("relative_path", False)]


def test_absolute_paths_are_mapped_where_possible(pair: tuple[Path, Path]) -> None:
    from vhdxray.core.analysis.chain import parent_candidates

    parent, child = pair
    link = read_report(parent).effective_header
    assert link is not None
    rewrite_locator(
        child,
        [
            ("parent_linkage", "{" + str(link.data_write_guid) + "}"),
            ("volume_path", "\\\\?\\Volume{0eba351e-5634-46d6-a8cf-4ddc2d6ac0b9}\\p.vhdx"),
            ("absolute_win32_path", "\\\\?\\D:\\VMs\\p.vhdx"),
        ],
    )
    meta = read_report(child).metadata
    assert meta is not None and meta.parent_locator is not None
    got = {c.key: c.local_path for c in parent_candidates(child, meta.parent_locator)}
    assert got == {"volume_path": None, "absolute_win32_path": Path("/mnt/d/VMs/p.vhdx")}
    # A POSIX absolute path (as a Linux tool may write) is used as it is.
    rewrite_locator(
        child,
        [
            ("parent_linkage", "{" + str(link.data_write_guid) + "}"),
            ("absolute_win32_path", str(parent.resolve())),
        ],
    )
    from vhdxray.core.analysis.chain import FOUND, locate_parent

    lookup = locate_parent(child, read_report(child))
    assert lookup.status == FOUND and lookup.key == "absolute_win32_path"


def test_locate_parent_of_a_plain_disk(pair: tuple[Path, Path]) -> None:
    from vhdxray.core.analysis.chain import NOT_DIFFERENCING, locate_parent

    parent, _ = pair
    assert locate_parent(parent, read_report(parent)).status == NOT_DIFFERENCING


def test_parent_state_and_reason(pair: tuple[Path, Path], tmp_path: Path) -> None:
    """scan's and check --json's ``parent``: the coarse status and the finer reason."""
    from vhdxray.core.analysis.chain import locate_parent

    parent, child = pair
    lookup = locate_parent(child, read_report(child))
    assert (lookup.state, lookup.reason) == ("found", "found")
    assert lookup.compact_json() == {
        "status": "found",
        "reason": "found",
        "path": str(lookup.path),
        "via": "relative_path",
    }
    # The relative path is stale; the absolute one still leads to the parent: moved.
    link = read_report(parent).effective_header
    assert link is not None
    rewrite_locator(
        child,
        [
            ("parent_linkage", "{" + str(link.data_write_guid) + "}"),
            ("relative_path", ".\\old\\parent.vhdx"),
            ("absolute_win32_path", str(parent.resolve())),
        ],
    )
    lookup = locate_parent(child, read_report(child))
    assert (lookup.state, lookup.reason, lookup.key) == ("found", "moved", "absolute_win32_path")
    parent.rename(tmp_path / "gone.vhdx")
    lookup = locate_parent(child, read_report(child))
    assert (lookup.state, lookup.reason) == ("missing", "missing")
    (tmp_path / "gone.vhdx").rename(parent)
    subprocess.run(
        ["qemu-io", "-f", "vhdx", "-c", "write -P 0x45 1M 1M", str(parent)],
        check=True,
        capture_output=True,
    )
    lookup = locate_parent(child, read_report(child))
    assert (lookup.state, lookup.reason) == ("mismatch", "modified")
    doc = lookup.to_json()
    assert (doc["status"], doc["reason"], doc["via"]) == ("mismatch", "modified", lookup.key)
