"""Relink: a child whose parent moved is pointed at the new place; a modified parent or one of
another geometry is refused with nothing written; the result is checked with our reader,
libvhdi (vhdiinfo) and the chain lookup. Crashes between the writes leave a readable child."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import repairimages as ri
from tests.conftest import require
from vhdxray.core.analysis.chain import FOUND, MISSING, locate_parent
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.write.create import create_child
from vhdxray.core.write.outcome import RefusalCode, Refused
from vhdxray.core.write.repairs import relink
from vhdxray.core.write.restore import plan_restore, run_restore
from vhdxray.core.write.session import WriteHooks
from vhdxray.tui import cli


class Crash(Exception):
    pass


@pytest.fixture
def moved(qemu_image: Callable[..., Path], tmp_path: Path) -> tuple[Path, Path]:
    """A child made next to its parent (data in the parent's first MiB), then the parent moved
    to another folder. Returns (child, parent at its new place)."""
    require("qemu-io", "qemu-utils")
    parent = qemu_image("64M", "block_size=1M", name="parent.vhdx")
    subprocess.run(
        ["qemu-io", "-f", "vhdx", "-c", "write -P 0x44 0 1M", str(parent)],
        check=True,
        capture_output=True,
    )
    child = create_child(tmp_path / "child.vhdx", parent)
    (tmp_path / "store").mkdir()
    new = tmp_path / "store" / "parent.vhdx"
    parent.rename(new)
    return child, new


def vhdxray(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_relink_a_moved_parent(moved: tuple[Path, Path]) -> None:
    child, parent = moved
    assert locate_parent(child, read_report(child)).status == MISSING
    link_before = read_report(child).metadata.parent_locator.parent_linkage  # type: ignore[union-attr]
    plan = relink.plan_relink(read_report(child), parent)
    assert not isinstance(plan, Refused), plan
    assert not plan.id_mismatch and plan.linkage == "current"
    assert [(k, n) for k, _, n in plan.changes] == [("relative_path", ".\\store\\parent.vhdx")]
    done = relink.run_relink(plan, backup_dir=child.parent)
    assert len(done.backups) == 2
    after = read_report(child)
    assert not after.errors
    lookup = locate_parent(child, after)
    assert lookup.status == FOUND and lookup.path is not None and lookup.path.samefile(parent)
    assert after.metadata is not None and after.metadata.parent_locator is not None
    assert after.metadata.parent_locator.parent_linkage == link_before  # identity kept
    # libvhdi reads the child and the same parent identifier.
    require("vhdiinfo", "libvhdi-utils")
    out = subprocess.run(["vhdiinfo", str(child)], capture_output=True, text=True, check=True)
    assert f"Parent identifier\t: {link_before}" in out.stdout
    # The backups undo it, newest first.
    for backup in reversed(done.backups):
        run_restore(plan_restore(backup), backup_dir=child.parent)
    assert locate_parent(child, read_report(child)).status == MISSING


def test_a_modified_parent_is_refused_unless_insisted(
    moved: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    child, parent = moved
    subprocess.run(
        ["qemu-io", "-f", "vhdx", "-c", "write -P 0x45 1M 1M", str(parent)],
        check=True,
        capture_output=True,
    )
    digest = ri.file_sha256(child)
    code, out, err = vhdxray(capsys, "relink", str(child), str(parent), "--yes", "--json")
    doc = json.loads(out)
    assert code == 2 and doc["error"]["code"] == "parent_id_mismatch"
    assert doc["error"]["params"]["linkage"] == "none"
    assert ri.file_sha256(child) == digest  # nothing written
    assert not list(child.parent.glob("*.vhdxray-backup-*"))
    code, out, err = vhdxray(
        capsys, "relink", str(child), str(parent), "--yes", "--ignore-id-mismatch"
    )
    assert code == 0, err
    assert "--ignore-id-mismatch" in out and "corrupt" in out  # the risk is explained
    eff = read_report(parent).effective_header
    assert eff is not None
    lookup = locate_parent(child, read_report(child))
    assert lookup.status == FOUND
    meta = read_report(child).metadata
    assert meta is not None and meta.parent_locator is not None
    assert meta.parent_locator.parent_linkage == eff.data_write_guid


def test_another_geometry_is_always_refused(
    moved: tuple[Path, Path], qemu_image: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    child, _ = moved
    other = qemu_image("128M", "block_size=1M", name="other.vhdx")
    code, _, err = vhdxray(
        capsys, "relink", str(child), str(other), "--yes", "--ignore-id-mismatch"
    )
    assert code == 2 and "geometry" in err and "virtual_size" in err
    plan = relink.plan_relink(read_report(child), other, ignore_id_mismatch=True)
    assert isinstance(plan, Refused) and plan.code is RefusalCode.PARENT_GEOMETRY_MISMATCH


def test_relinking_a_plain_disk_is_refused(moved: tuple[Path, Path]) -> None:
    _, parent = moved
    plan = relink.plan_relink(read_report(parent), parent)
    assert isinstance(plan, Refused) and plan.code is RefusalCode.NOT_DIFFERENCING


def test_dry_run_writes_nothing(
    moved: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    child, parent = moved
    digest = ri.file_sha256(child)
    code, out, _ = vhdxray(capsys, "relink", str(child), str(parent), "--dry-run")
    assert code == 0 and "relative_path: .\\parent.vhdx -> .\\store\\parent.vhdx" in out
    assert "moved, not modified" in out
    assert ri.file_sha256(child) == digest


@pytest.mark.parametrize("crash_after", [0, 1, 2, 3])
def test_a_crash_between_writes_leaves_a_readable_child(
    moved: tuple[Path, Path], crash_after: int
) -> None:
    """Writes: header slot, header slot, locator item, table entry. Stopped after any of them,
    the child still reads without error and points at either the old or the new place."""
    child, parent = moved
    plan = relink.plan_relink(read_report(child), parent)
    assert not isinstance(plan, Refused)
    count = {"n": 0}

    def after_write(_i: int) -> None:
        if count["n"] == crash_after:
            raise Crash()
        count["n"] += 1

    with pytest.raises(Crash):
        relink.run_relink(plan, backup_dir=child.parent, hooks=WriteHooks(after_write=after_write))
    report = read_report(child)
    assert not report.errors, report.errors
    status = locate_parent(child, report).status
    assert status == (FOUND if crash_after == 3 else MISSING)
    # Running it again finishes the job.
    again = relink.plan_relink(report, parent)
    if crash_after < 3:
        assert not isinstance(again, Refused)
        relink.run_relink(again, backup_dir=child.parent)
    assert locate_parent(child, read_report(child)).status == FOUND


def test_the_hyper_v_locator_keeps_its_order(tmp_path: Path) -> None:
    old = (
        ("parent_linkage", "{ff34003b-11ed-4cf8-a166-b2be05e20b80}"),
        ("absolute_win32_path", "C:\\VMs\\base.avhdx"),
        ("relative_path", ".\\base.avhdx"),
        ("volume_path", "\\\\?\\Volume{0eba351e-5634-46d6-a8cf-4ddc2d6ac0b9}\\VMs\\base.avhdx"),
        ("parent_linkage2", "{00000000-0000-0000-0000-000000000000}"),
    )
    (tmp_path / "disks").mkdir()
    new = relink.new_locator(old, tmp_path / "c.avhdx", tmp_path / "disks" / "base.avhdx", None)
    assert new == (
        ("parent_linkage", "{ff34003b-11ed-4cf8-a166-b2be05e20b80}"),
        ("relative_path", ".\\disks\\base.avhdx"),
        ("parent_linkage2", "{00000000-0000-0000-0000-000000000000}"),
    )
    assert relink.windows_absolute_path(Path("/mnt/d/VMs/base.avhdx")) == "D:\\VMs\\base.avhdx"


def test_relink_a_real_hyper_v_child(
    real_image: Callable[[str], Path], qemu_image: Callable[..., Path]
) -> None:
    """The real .avhdx (8 GiB, 512-byte sectors) relinked to a made-up parent of the same
    geometry: refused for identity; with the override, the Hyper-V locator is rewritten."""
    child = real_image("dissect-differencing")
    parent = qemu_image("8G", "block_size=2M", name="base.vhdx")
    plan = relink.plan_relink(read_report(child), parent)
    assert isinstance(plan, Refused) and plan.code is RefusalCode.PARENT_ID_MISMATCH
    plan2 = relink.plan_relink(read_report(child), parent, ignore_id_mismatch=True)
    assert not isinstance(plan2, Refused), plan2
    relink.run_relink(plan2, backup_dir=child.parent)
    after = read_report(child)
    assert not after.errors
    assert locate_parent(child, after).status == FOUND
    require("vhdiinfo", "libvhdi-utils")
    out = subprocess.run(["vhdiinfo", str(child)], capture_output=True, text=True, check=True)
    eff = read_report(parent).effective_header
    assert eff is not None and f"Parent identifier\t: {eff.data_write_guid}" in out.stdout
    assert "Parent filename" not in out.stdout  # the stale C:\ path is gone
    shutil.rmtree(child.parent / "unused", ignore_errors=True)
