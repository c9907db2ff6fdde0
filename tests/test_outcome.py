"""The outcome model: every refusal code is documented in README.md, and the JSON form of each
outcome carries the stable keys."""

from __future__ import annotations

from pathlib import Path

from vhdxray.core.outcome import RefusalCode, Refused, WriteFailed, WriteState

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_refusal_code_is_documented() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [c.value for c in RefusalCode if f"`{c.value}`" not in text]
    assert missing == []


def test_json_forms() -> None:
    refused = Refused(RefusalCode.IN_USE, "held by QEMU", {"path": Path("/x.vhdx"), "n": 2})
    assert refused.refused and refused.backups == ()
    assert refused.to_json() == {
        "refused": True,
        "code": "in_use",
        "params": {"path": "/x.vhdx", "n": 2},
        "reason": "held by QEMU",
    }
    failed = WriteFailed("torn", (Path("/a.json"), Path("/b.json")), WriteState.UNVERIFIED)
    assert not failed.refused and failed.backup_path == Path("/b.json")
    assert failed.to_json() == {
        "refused": False,
        "state": "unverified",
        "reason": "torn",
        "backups": ["/a.json", "/b.json"],
    }
    # A code given as text is the same stable code.
    assert Refused("region.choice_needed", "choose").code is RefusalCode.REGION_CHOICE_NEEDED
