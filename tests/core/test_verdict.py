"""The one-line verdict: one full stop per sentence, and the repair named when one applies."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from tests import damage
from tests.repairimages import set_log_guid
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.analysis.repairids import CLEAR_LOG_GUID, HEADERS, REGION_TABLE, REPLAY
from vhdxray.core.analysis.verdict import repairs_for, verdict
from vhdxray.core.format import layout
from vhdxray.core.format.findings import is_writer_habit
from vhdxray.core.write.create import CreateOptions, create_image
from vhdxray.tui.textreport import render


def image(tmp_path: Path) -> Path:
    return create_image(tmp_path / "v.vhdx", CreateOptions(virtual_size=8 * layout.MiB))


def test_stale_log_guid_names_its_repair_with_single_full_stops(tmp_path: Path) -> None:
    path = image(tmp_path)
    set_log_guid(path, uuid.UUID("5d2e8f4c-1b3a-4c6d-9e7f-a1b2c3d4e5f6"))
    report = read_report(path)
    assert "log.no_valid_sequence" in {f.code for f in report.errors}
    v = verdict(report)
    assert ".." not in v.headline
    assert "nothing was changed through the log yet. Repair it: clear the stale LogGuid." in (
        v.headline
    )
    assert "Headers are fine" not in v.headline
    assert v.repairs == (CLEAR_LOG_GUID,)
    text = render(report)
    assert f"Repair:    vhdxray repair {path}" in text
    from vhdxray.core.analysis.jsonout import report_json

    assert report_json(report)["verdict"]["repairs"] == [CLEAR_LOG_GUID]


def test_damaged_region_copy_names_its_repair(tmp_path: Path) -> None:
    path = image(tmp_path)
    damage.break_region_checksum(path, 2)
    v = verdict(read_report(path))
    assert v.next_step == "Repair it: rewrite the damaged region table copy from the good one."
    assert v.repairs == (REGION_TABLE,)
    assert ".." not in v.headline


def test_both_region_copies_damaged_offer_no_rebuild_from_a_good_one(tmp_path: Path) -> None:
    """It said "Repair it: rewrite the damaged region table copy from the good one" and
    printed ``Repair: vhdxray repair``, whose plan then refuses: there is no good copy."""
    path = image(tmp_path)
    damage.break_region_checksum(path, 1)
    damage.break_region_checksum(path, 2)
    report = read_report(path)
    assert "region.none_valid" in {f.code for f in report.errors}
    v = verdict(report)
    assert v.repairs == () and "from the good one" not in v.headline
    assert "restore a backup of the file" in v.next_step
    assert "Repair:" not in render(report)


def test_header_damage_keeps_its_own_advice(tmp_path: Path) -> None:
    path = image(tmp_path)
    damage.break_header_checksum(path, 1)
    v = verdict(read_report(path))
    assert v.next_step == "Safe to update headers."
    assert v.repairs == (HEADERS,)


def test_clean_image_has_no_repair(tmp_path: Path) -> None:
    report = read_report(image(tmp_path))
    v = verdict(report)
    assert v.next_step == "No repair needed." and v.repairs == ()
    assert "Repair:" not in render(report)


def test_repairs_for_keeps_the_run_order() -> None:
    codes = ["header.slot1.checksum", "region.copy2.checksum", "log.replay_needed"]
    assert repairs_for(codes) == (REPLAY, REGION_TABLE, HEADERS)
    assert repairs_for(["bat.block.past_eof"]) == ()


def test_identical_headers_suggest_the_slot_as_data(tmp_path: Path) -> None:
    """Disk2VHD's identical headers: the next step and the finding suggest the source slot;
    core's words name no flag, the text report renders it, JSON carries it."""
    from vhdxray.core.analysis.jsonout import report_json
    from vhdxray.core.outcome import Option, Suggestion

    path = image(tmp_path)
    damage.copy_header(path, 2, 1)  # both slots identical, equal sequence numbers
    report = read_report(path)
    v = verdict(report)
    assert v.next_step == "Updating headers needs a chosen source slot."
    assert v.suggest == (Suggestion(Option.FROM_SLOT, 1), Suggestion(Option.FROM_SLOT, 2))
    (finding,) = [f for f in report.findings if f.code == "header.equal_sequence_identical"]
    assert "--" not in finding.message and finding.suggest == (Suggestion(Option.FROM_SLOT, 1),)
    text = render(report)
    assert "chosen source slot (--from-slot 1 or --from-slot 2)." in text
    assert "A header update from either slot normalises it (--from-slot 1)." in text
    doc = report_json(report)
    assert doc["verdict"]["suggest"] == [
        {"option": "from_slot", "value": 1},
        {"option": "from_slot", "value": 2},
    ]
    (shown,) = [f for f in doc["findings"] if f["code"] == "header.equal_sequence_identical"]
    assert shown["suggest"] == [{"option": "from_slot", "value": 1}]


def test_no_valid_header_offers_no_slot_and_says_it_once(tmp_path: Path) -> None:
    """Both slots damaged: no slot can be chosen, so the verdict does not ask for one, and
    the 'neither slot is valid' sentence is not repeated from the finding."""
    path = image(tmp_path)
    damage.break_header_checksum(path, 1)
    damage.break_header_checksum(path, 2)
    report = read_report(path)
    v = verdict(report)
    assert v.level == "error" and v.suggest == ()
    assert "needs a chosen source slot" not in v.headline
    assert "does not invent a header" in v.next_step
    assert v.headline.lower().count("no current header") <= 1


def test_no_valid_header_the_repair_plan_asks_for_no_slot(tmp_path: Path) -> None:
    """The plan's header refusal said "Choose the slot to rebuild from." with no slot valid."""
    from vhdxray.core.write.repair import RepairOptions, plan_repairs

    path = image(tmp_path)
    damage.break_header_checksum(path, 1)
    damage.break_header_checksum(path, 2)
    plan = plan_repairs(read_report(path), RepairOptions())
    reasons = [r.reason for r in plan.refusals]
    assert reasons and not any("Choose the slot" in r for r in reasons), reasons
    assert all(not r.suggest for r in plan.refusals)


def test_a_qemu_img_image_is_ok_its_writer_habit_kept_in_the_findings(
    qemu_image: Callable[..., Path], real_image: Callable[[str], Path]
) -> None:
    """``qemu-img create -f vhdx`` marks neither region required: two warnings that only record
    a writer habit (WRITER_HABITS). The verdict said ``warning`` while the app's headline said
    Healthy; core now says ``ok`` everywhere (check --json, scan --json, the fleet), and the
    findings keep their severity. A real warning (Disk2VHD's identical headers) stays one."""
    from vhdxray.core.analysis.jsonout import report_json
    from vhdxray.core.analysis.scan import scan_one

    path = qemu_image("64M")
    report = read_report(path)
    found = sorted((f.code, f.severity.value) for f in report.findings)
    assert found == [
        ("bat.states", "info"),
        ("region.not_required", "warning"),
        ("region.not_required", "warning"),
    ]
    assert all(is_writer_habit(f.code) for f in report.findings if f.severity.value == "warning")
    assert verdict(report).level == "ok"
    assert report_json(report)["verdict"]["level"] == "ok"
    line = scan_one(str(path), guest=False)
    assert line["verdict"] == "ok"
    assert line["warnings"] == ["region.not_required", "region.not_required"]

    disk2vhd = read_report(real_image("qemu-disk2vhd"))
    assert verdict(disk2vhd).level == "warning"
    assert scan_one(str(disk2vhd.path), guest=False)["verdict"] == "warning"


def test_only_habits_make_no_warning_a_real_warning_still_does(
    qemu_image: Callable[..., Path],
) -> None:
    """A writer habit beside a real warning (the two region table copies differ): the level is
    the real warning's."""
    path = qemu_image("64M")
    damage.set_region_entry(path, 2, 0, required=1)
    report = read_report(path)
    warnings = {f.code for f in report.findings if f.severity.value == "warning"}
    assert warnings == {"region.not_required", "region.copies_differ"}
    assert verdict(report).level == "warning"
