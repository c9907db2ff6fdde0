"""The outcome model: every refusal code is documented in README.md, and the JSON form of each
outcome carries the stable keys."""

from __future__ import annotations

from pathlib import Path

from vhdxray.core.outcome import Option, RefusalCode, Refused, WriteFailed, WriteState, suggest
from vhdxray.tui.outcome import app_hint, app_text, cli_text

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_refusal_code_is_documented() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [c.value for c in RefusalCode if f"`{c.value}`" not in text]
    assert missing == []


def test_every_suggested_option_is_documented() -> None:
    text = README.read_text(encoding="utf-8")
    assert [o.value for o in Option if f"`{o.value}`" not in text] == []


def test_json_forms() -> None:
    refused = Refused(RefusalCode.IN_USE, "held by QEMU", {"path": Path("/x.vhdx"), "n": 2})
    assert refused.refused and refused.backups == ()
    assert refused.to_json() == {
        "refused": True,
        "code": "in_use",
        "params": {"path": "/x.vhdx", "n": 2},
        "reason": "held by QEMU",
        "suggest": [],
    }
    failed = WriteFailed("torn", (Path("/a.json"), Path("/b.json")), WriteState.UNVERIFIED)
    assert not failed.refused and failed.backup_path == "/b.json"
    assert failed.to_json() == {
        "refused": False,
        "state": "unverified",
        "reason": "torn",
        "backups": ["/a.json", "/b.json"],
    }
    # A code given as text is the same stable code.
    assert Refused("region.choice_needed", "choose").code is RefusalCode.REGION_CHOICE_NEEDED


def test_a_refusal_carries_its_suggestions_as_data() -> None:
    refused = Refused(
        RefusalCode.NO_CURRENT_HEADER,
        "No header is current. Choose the slot to rebuild from.",
        suggest=suggest(Option.FROM_SLOT, 1, 2),
    )
    assert refused.to_json()["suggest"] == [
        {"option": "from_slot", "value": 1},
        {"option": "from_slot", "value": 2},
    ]


def test_each_front_end_renders_suggestions_its_own_way() -> None:
    text = "No header is current. Choose the slot to rebuild from."
    slots = suggest(Option.FROM_SLOT, 1, 2)
    assert cli_text(text, slots) == (
        "No header is current. Choose the slot to rebuild from (--from-slot 1 or --from-slot 2)."
    )
    assert app_text(text, slots) == (
        "No header is current. Choose the slot to rebuild from (header 1 or 2 in R, Repair…)."
    )
    # A choice the caller lists itself is not repeated; an on/off flag takes no value.
    assert cli_text(text, slots, skip=["from_slot"]) == text
    both = (*suggest(Option.PARENT), *suggest(Option.ALLOW_MISSING_PARENT))
    assert cli_text("its parent is missing", both) == (
        "its parent is missing (--parent PATH or --allow-missing-parent)"
    )
    assert cli_text("replay into a copy instead", suggest(Option.OUTPUT)).endswith(
        "(--output COPY)"
    )
    # The app words name no flag, for every option there is.
    for option in Option:
        assert "--" not in app_text("x", suggest(option)) and "--" not in app_hint(
            suggest(option, 1)
        )


def test_a_missing_parent_guest_line_names_the_flag_only_on_the_command_line() -> None:
    from vhdxray.tui.guestwords import inside_lines, not_looked_at, not_looked_at_suggest

    assert inside_lines(None, "child.avhdx", "parent_missing", "its parent is missing") == [
        "Inside:    not looked at: a differencing disk whose parent was not found (--parent PATH)"
    ]
    shown = app_text(not_looked_at("parent_missing", None), not_looked_at_suggest("parent_missing"))
    assert shown == "a differencing disk whose parent was not found (relink it in R, Repair…)"


def test_export_and_open_refusals_are_the_outcome_models() -> None:
    """Opening the virtual disk and exporting it refuse with the one model (front ends test
    ``refused``, not the class), their codes among the stable RefusalCodes."""
    from vhdxray.core.analysis.virtual import OpenRefused
    from vhdxray.core.outcome import VhdxrayError
    from vhdxray.core.write.export import ExportFailed, ExportRefused

    opened = OpenRefused("parent_missing", "no parent", suggest=suggest(Option.PARENT))
    assert isinstance(opened, Refused) and opened.refused
    assert opened.code is RefusalCode.PARENT_MISSING
    assert opened.to_json()["suggest"] == [{"option": "parent", "value": None}]
    exported = ExportRefused("gaps_file_exists", "x exists")
    assert isinstance(exported, Refused) and exported.code is RefusalCode.GAPS_FILE_EXISTS
    failed = ExportFailed("disk full")
    assert isinstance(failed, VhdxrayError) and not failed.refused
