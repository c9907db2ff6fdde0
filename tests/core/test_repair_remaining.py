"""What a repair run reports as left is what ``check`` would say of the result: a differencing
child whose parent is missing still has that error after its container is repaired (in place
and into a copy), so neither the CLI nor the app says "no error finding remains" for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import damage
from vhdxray.core.analysis.checked import read_checked
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.write.create import CreateOptions, create_child, create_image
from vhdxray.core.write.repair import plan_repairs, run_repairs

MiB = layout.MiB


def errors(findings: object) -> list[str]:
    return [f.code for f in findings if f.severity == "error"]  # type: ignore[attr-defined]


@pytest.fixture
def orphan(tmp_path: Path) -> Path:
    """A child whose parent is gone, with region table copy 1 damaged (a repair to run)."""
    parent = create_image(tmp_path / "parent.vhdx", CreateOptions(64 * MiB, block_size=MiB))
    child = create_child(tmp_path / "child.vhdx", parent)
    parent.unlink()
    damage.break_region_checksum(child, 1)
    return child


@pytest.mark.parametrize("into_copy", [False, True])
def test_an_orphan_child_still_has_its_chain_error_after_a_repair(
    orphan: Path, into_copy: bool
) -> None:
    plan = plan_repairs(read_report(orphan))
    assert plan.repairs
    output = orphan.with_name("copy.vhdx") if into_copy else None
    run = run_repairs(plan, output=output, backup_dir=orphan.parent)
    assert run.ok, run.error
    assert run.report is not None
    left = errors(run.report.findings)
    assert [c for c in left if c.startswith("chain.")], left
    checked, _ = read_checked(output or orphan)
    assert left == errors(checked.findings)
