"""Relink as a registered repair: ``vhdxray repair CHILD`` offers it when the parent is
missing (naming the ``--parent`` flag its declaration generates), performs it with
``--parent PATH``, refuses a modified parent unless ``--ignore-id-mismatch``, and the engine
runs it inside its one write session. Children are made with ``vhdxray create --parent``."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from tests import damage
from tests.conftest import require
from vhdxray.core.analysis.chain import FOUND, locate_parent
from vhdxray.core.analysis.checked import read_checked
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.outcome import RefusalCode
from vhdxray.core.write import repairs as registry
from vhdxray.core.write.create import CreateOptions, create_image
from vhdxray.core.write.repair import RepairOptions, plan_repairs
from vhdxray.core.write.repairs import relink
from vhdxray.tui import cli

MiB = layout.MiB


def vhdxray(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def moved(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    """(child, parent at its new place): the child made with ``vhdxray create --parent``
    beside its parent, then the parent moved to another folder."""
    parent = create_image(
        tmp_path / "base.vhdx",
        CreateOptions(virtual_size=64 * MiB, block_size=MiB),
        data=[(0, b"\x44" * MiB)],
    )
    child = tmp_path / "child.avhdx"
    assert vhdxray(capsys, "create", str(child), "--parent", str(parent))[0] == 0
    (tmp_path / "store").mkdir()
    new = tmp_path / "store" / "base.vhdx"
    parent.rename(new)
    return child, new


def test_relink_is_a_registered_kind_with_a_path_option() -> None:
    assert registry.kind(relink.ID) is relink.KIND
    assert [k.id for k in registry.kinds()][-1] == relink.ID
    help_text = cli.parser_for("repair").format_help()
    assert "--parent PATH" in help_text and "--ignore-id-mismatch" in help_text


def test_repair_offers_relink_for_a_missing_parent_and_performs_it(
    moved: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    child, parent = moved
    assert read_checked(child)[1].status == "missing"  # type: ignore[union-attr]
    code, out, _ = vhdxray(capsys, "repair", str(child), "--dry-run")
    assert code == 2
    assert "Relink the child to its parent [chain.relink]" in out
    assert "choose with --parent PATH" in out
    code, out, _ = vhdxray(capsys, "repair", str(child), "--dry-run", "--json")
    doc = json.loads(out)
    (refused,) = doc["plan"]["refusals"]
    assert refused["id"] == relink.ID and refused["code"] == RefusalCode.PARENT_MISSING.value
    assert refused["choices"] == [
        {"option": "parent", "value": None, "label": "name the parent's file at its new place"}
    ]
    before = child.read_bytes()
    code, out, _ = vhdxray(capsys, "repair", str(child), "--parent", str(parent), "--dry-run")
    assert code == 0 and "relative_path: .\\base.vhdx -> .\\store\\base.vhdx" in out
    assert child.read_bytes() == before
    code, out, err = vhdxray(
        capsys, "repair", str(child), "--parent", str(parent), "--yes", "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert [s["id"] for s in doc["run"]["steps"]] == [relink.ID]
    assert len(doc["run"]["backups"]) == 2
    report, lookup = read_checked(child)
    assert lookup is not None and lookup.status == FOUND and not report.errors
    assert lookup.path is not None and lookup.path.samefile(parent)
    assert vhdxray(capsys, "check", str(child))[0] == 0
    # An independent reader: libvhdi opens the child and names the same parent identity.
    require("vhdiinfo", "libvhdi-utils")
    info = subprocess.run(["vhdiinfo", str(child)], capture_output=True, text=True, check=True)
    link = report.metadata.parent_locator.parent_linkage  # type: ignore[union-attr]
    assert f"Parent identifier\t: {link}" in info.stdout
    # Nothing is left to do: the plan is empty.
    assert plan_repairs(read_report(child)).nothing_to_do


def test_a_modified_parent_is_refused_unless_the_risk_is_chosen(
    moved: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    child, parent = moved
    for slot in (1, 2):
        damage.set_header_field(parent, slot, "data_write_guid", uuid.UUID(int=slot))
    before = child.read_bytes()
    code, out, _ = vhdxray(capsys, "repair", str(child), "--parent", str(parent), "--json")
    assert code == 2
    (refused,) = json.loads(out)["plan"]["refusals"]
    assert refused["code"] == RefusalCode.PARENT_ID_MISMATCH.value
    assert [c["option"] for c in refused["choices"]] == ["parent", "ignore_id_mismatch"]
    code, out, _ = vhdxray(capsys, "repair", str(child), "--parent", str(parent), "--dry-run")
    assert "choose with --ignore-id-mismatch: relink anyway, at a risk" in out
    assert child.read_bytes() == before
    plan = plan_repairs(
        read_report(child), RepairOptions(parent=str(parent), ignore_id_mismatch=True)
    )
    (repair,) = plan.repairs
    assert any(line.startswith("RISK: ") for line in repair.lines)
    code, _, err = vhdxray(
        capsys,
        "repair",
        str(child),
        "--parent",
        str(parent),
        "--ignore-id-mismatch",
        "--yes",
    )
    assert code == 0, err
    lookup = locate_parent(child, read_report(child))
    assert lookup.status == FOUND  # linked to the parent's DataWriteGuid now


def test_relink_runs_after_a_header_repair_in_the_same_session(
    moved: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Two kinds in one run: the child's damaged header slot and its moved parent; one
    FileWriteGuid for the session."""
    child, parent = moved
    damage.break_header_checksum(child, 2)
    code, out, err = vhdxray(
        capsys, "repair", str(child), "--parent", str(parent), "--yes", "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert [s["id"] for s in doc["run"]["steps"]] == ["header.update", relink.ID]
    after = read_report(child)
    assert not after.errors and after.headers is not None
    assert after.headers[0].file_write_guid == after.headers[1].file_write_guid
    assert locate_parent(child, after).status == FOUND
