"""The repair registry: front ends are generated from the kinds' declarations; the planner
speaks in stable refusal codes and names no command-line flag."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests import damage
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.outcome import RefusalCode
from vhdxray.core.write import repairs as registry
from vhdxray.core.write.create import CreateOptions, create_image
from vhdxray.core.write.repair import (
    PlanContext,
    Refused,
    Repair,
    RepairOptions,
    RepairSession,
    StepResult,
    plan_repairs,
    run_repairs,
)
from vhdxray.core.write.repairs import OptionKind, OptionSpec, RepairKind
from vhdxray.tui import cli

ROOT = Path(__file__).resolve().parents[2]
MiB = layout.MiB

# --- a fake kind, declared here and nowhere else ----------------------------------------------

FAKE_LEVEL = OptionSpec("fake_level", OptionKind.COPY, "how much of nothing to do")
FAKE = RepairKind(
    id="test.fake",
    title="Do nothing, carefully",
    label="Fake repair",
    help="a repair kind that exists only in this test",
    question="Do nothing now?",
    finding_codes=("test.fake_finding",),
    options=(FAKE_LEVEL,),
    backup_operations=(),
    order=99,
    module=__name__,
    action="fake-repair",
)


def plan(ctx: PlanContext) -> Iterable[Repair | Refused]:
    level = ctx.options.slot(FAKE_LEVEL.name)
    if level is None:
        return ()
    return (Repair(FAKE.id, FAKE.title, (f"level {level}",), (), ctx.options, FAKE),)


def run(session: RepairSession, repair: Repair) -> StepResult:
    return StepResult(
        FAKE.id, True, (f"did nothing at level {session.options.get('fake_level')}",), ()
    )


@pytest.fixture
def fake_kind() -> Iterator[RepairKind]:
    registry.register(FAKE)
    try:
        yield FAKE
    finally:
        registry.unregister(FAKE)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    opts = CreateOptions(virtual_size=64 * MiB, block_size=MiB)
    return create_image(tmp_path / "img.vhdx", opts, data=[(MiB, b"\x5a" * MiB)])


def test_a_registered_kind_reaches_the_cli_flags_the_plan_and_the_app_menu(
    fake_kind: RepairKind, image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vhdxray.tui import app, repairs

    parser = cli.parser_for("repair")
    assert "--fake-level" in parser.format_help()
    args = parser.parse_args([str(image), "--fake-level", "2"])
    assert args.fake_level == 2
    with pytest.raises(SystemExit):  # typed: a copy number is 1 or 2
        parser.parse_args([str(image), "--fake-level", "3"])
    assert cli.main(["repair", str(image), "--fake-level", "2", "--yes", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in doc["plan"]["repairs"]] == [FAKE.id]
    assert doc["run"]["steps"][0]["lines"] == ["did nothing at level 2"]

    planned = plan_repairs(read_report(image), RepairOptions(fake_level=1))
    items = repairs.menu_items(planned)
    assert [(i.action, i.title, i.state) for i in items] == [("fake-repair", FAKE.title, "repair")]
    action = app.write_action("fake-repair")
    assert isinstance(action, app.RepairAction) and action.repair_id == FAKE.id
    assert repairs.choice_word("fake_level") == "Copy"
    assert run_repairs(planned).ok


def test_the_registry_lists_every_kind_in_order_with_its_options() -> None:
    kinds = registry.kinds()
    ids = [k.id for k in kinds]
    assert ids[:5] == [
        "truncation",
        "log.replay",
        "log.clear_stale_guid",
        "region.table",
        "header.update",
    ]
    assert len(set(ids)) == len(ids) and len({k.action for k in kinds}) == len(kinds)
    names = [s.name for s in registry.option_specs()]
    assert {"from_slot", "region_table_from", "new_data_write_guid"} <= set(names)
    help_text = cli.parser_for("repair").format_help()
    for name in names:
        assert "--" + name.replace("_", "-") in help_text


def test_update_headers_is_the_header_repair_with_its_options() -> None:
    from vhdxray.core.write.repairs import headers

    help_text = cli.parser_for("update-headers").format_help()
    for spec in headers.KIND.options:
        assert "--" + spec.name.replace("_", "-") in help_text


def test_the_metadata_is_cheap_to_import() -> None:
    code = (
        "import sys; from vhdxray.core.write.repairs import kinds; kinds(); "
        "print([m for m in sys.modules if m.startswith('vhdxray.core.write.') and "
        "m.split('.')[3] not in ('repairs', 'outcome', 'headerplan')])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- refusal codes in JSON ----------------------------------------------------------------------


def refusal_codes(capsys: pytest.CaptureFixture[str], path: Path) -> list[str]:
    code = cli.main(["repair", str(path), "--dry-run", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2
    for refused in doc["plan"]["refusals"]:
        assert refused["code"] in {c.value for c in RefusalCode}
        assert isinstance(refused["params"], dict)
    return [r["code"] for r in doc["plan"]["refusals"]]


def test_planner_refusals_carry_stable_codes_in_json(
    capsys: pytest.CaptureFixture[str], image: Path
) -> None:
    damage.copy_header(image, 2, 1)
    damage.set_header_field(image, 1, "data_write_guid", uuid.UUID(int=7))
    assert refusal_codes(capsys, image) == ["no_current_header"]
    damage.break_header_checksum(image, 1)
    damage.break_header_checksum(image, 2)
    assert "no_valid_header" in refusal_codes(capsys, image)


def test_a_truncated_file_is_refused_with_its_code_and_params(
    capsys: pytest.CaptureFixture[str], image: Path
) -> None:
    damage.truncate(image, image.stat().st_size - MiB // 2)
    code = cli.main(["repair", str(image), "--dry-run", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2
    (refused,) = [r for r in doc["plan"]["refusals"] if r["id"] == "truncation"]
    assert refused["code"] == RefusalCode.FILE_TRUNCATED.value
    assert refused["params"]["missing_bytes"] > 0


# --- no CLI flag in the planner's words ---------------------------------------------------------


def planner_files() -> list[Path]:
    return [ROOT / "core/write/repair.py", *sorted((ROOT / "core/write/repairs").glob("*.py"))]


def test_the_planner_names_no_command_line_flag() -> None:
    flag = re.compile(r"--[a-z]")
    hits = []
    for path in planner_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and flag.search(text):
                hits.append(f"{path.relative_to(ROOT)}: {text[:60]!r}")
    assert hits == []
    assert len(planner_files()) >= 6  # the engine and every kind module are looked at
