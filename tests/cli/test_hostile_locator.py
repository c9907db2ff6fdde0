"""Hostile parent locators: the 65,535-entry blow-up, unusable paths, NUL and control text.

The images are real differencing children made by vhdxray's writer with their locator item
replaced (tests/hostile.py). Commands run in a subprocess (tests/isolated.py): its timeout is
the hang guard and its peak memory is measured there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile import child_with_locator, locator_with_values, repeated_value_locator
from tests.isolated import run_main
from vhdxray.core.analysis.chain import probe_paths, unusable_reason
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.format.findings import Finding
from vhdxray.core.format.metadata import MAX_LOCATOR_ENTRIES, serialise_locator

MEMORY_BOUND = 100 * layout.MiB


def u16(text: str) -> bytes:
    return text.encode("utf-16-le")


@pytest.fixture
def blow_up(tmp_path: Path) -> Path:
    child = child_with_locator(tmp_path, repeated_value_locator)
    assert child.stat().st_size == 4 * layout.MiB
    return child


def test_blow_up_locator_is_bounded_in_every_command(blow_up: Path, tmp_path: Path) -> None:
    c, p = str(blow_up), str(tmp_path / "parent.vhdx")
    cases = [
        (["info", c], 0),
        (["check", c], 2),
        (["check", "--json", c], 2),
        (["check", c, "--parent", p], 0),  # the right parent: only its path warns
        (["repair", "--dry-run", c], 2),  # parent missing: relink is refused until --parent
        (["update-headers", "--dry-run", c], 0),
    ]
    outcome = run_main([argv for argv, _ in cases])
    for (argv, expected), (code, text) in zip(cases, outcome.results, strict=True):
        assert code == expected, (argv, text[-2000:])
        assert "internal error" not in text
        assert len(text) < 200_000, (argv, len(text))  # no 65,535 lines, no 2 GB of 'A'
    assert outcome.peak_bytes < MEMORY_BOUND, outcome.peak_bytes
    doc = json.loads(outcome.results[2][1])
    codes = [f["code"] for f in doc["findings"]]
    assert codes.count("metadata.locator.oversized") == 1
    assert codes.count("metadata.locator.duplicate_key") == 1  # once, however many repeats
    dup = next(f for f in doc["findings"] if f["code"] == "metadata.locator.duplicate_key")
    assert "'relative_path'" in dup["message"] and "times" in dup["message"]
    # What was read of the locator stays within the item: the first value, once.
    entries = doc["metadata"]["parent_locator"]["entries"]
    assert set(entries) == {"parent_linkage", "relative_path"}
    assert len(entries["relative_path"]) == 32_000


def test_entry_count_larger_than_the_item_is_cut_to_it() -> None:
    item = bytearray(serialise_locator([("parent_linkage", "{x}"), ("relative_path", "a")]))
    item[18:20] = (65_535).to_bytes(2, "little")
    from vhdxray.core.format.metadata import _parse_locator

    findings: list[Finding] = []
    loc = _parse_locator(bytes(item), "here", findings)
    assert loc is not None
    room = (len(item) - 20) // 12
    entries_finding = [f for f in findings if f.code == "metadata.locator.entries"]
    assert len(entries_finding) == 1
    assert f"holds only {room}" in entries_finding[0].message
    # Whatever the strings decode to as entries, each problem is one finding.
    assert len(findings) == len({f.code for f in findings})


def test_many_distinct_keys_are_capped() -> None:
    from vhdxray.core.format.metadata import _parse_locator

    entries = [("parent_linkage", "{1}")] + [(f"k{i}", "v") for i in range(2000)]
    findings: list[Finding] = []
    loc = _parse_locator(serialise_locator(entries), "here", findings)
    assert loc is not None and len(loc.entries) == MAX_LOCATOR_ENTRIES
    assert any(f.code == "metadata.locator.oversized" for f in findings)


# --- image-controlled paths ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "reason"),
    [
        ("p" * 300 + ".vhdx", "one of its names is too long"),
        ("\\".join(["d" * 200] * 30) + "\\parent.vhdx", "it is too long"),
        ("par\x00ent.vhdx", "it contains NUL characters"),
    ],
    ids=["name-300", "path-6000", "nul"],
)
def test_unusable_relative_path_is_a_finding_not_an_oserror(
    tmp_path: Path, relative: str, reason: str
) -> None:
    child = child_with_locator(
        tmp_path,
        lambda linkage: serialise_locator(
            [("parent_linkage", linkage), ("relative_path", relative)]
        ),
    )
    parent = tmp_path / "parent.vhdx"
    outcome = run_main(
        [
            ["check", str(child), "--parent", str(parent)],
            ["check", "--json", str(child), "--parent", str(parent)],
            ["info", str(child)],
            ["check", str(child)],  # follows the locator: the path is unusable, so missing
        ]
    )
    (code, text), (jcode, jtext), (icode, _), (ccode, ctext) = outcome.results
    assert ccode == 2, ctext
    assert f"parent path cannot be used here: {reason}" in ctext
    assert "internal error" not in ctext
    assert code == 0, text  # the link itself is right: the path only warns
    assert "internal error" not in text
    assert f"parent path cannot be used here: {reason}" in text
    assert jcode == 0
    items = {i["name"]: i for i in json.loads(jtext)["items"]}
    assert items["relative_path"]["status"] == "warning"
    assert reason in items["relative_path"]["message"]
    assert icode == 0


def test_paths_are_not_touched_unless_the_chain_is_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    child = child_with_locator(
        tmp_path,
        lambda linkage: serialise_locator(
            [("parent_linkage", linkage), ("relative_path", "..\\..\\elsewhere\\p.vhdx")]
        ),
    )
    touched: list[str] = []
    real_stat = Path.stat

    def spy(self: Path, *args: object, **kwargs: object) -> object:
        if "elsewhere" in str(self):
            touched.append(str(self))
        return real_stat(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "stat", spy)
    report = read_report(child)
    from vhdxray.core.analysis.jsonout import report_json
    from vhdxray.tui.textreport import render

    render(report)
    report_json(report)
    assert touched == []
    assert report.metadata is not None and report.metadata.parent_locator is not None
    probes = probe_paths(child, report.metadata.parent_locator)  # asked for: now it looks
    assert touched and probes[0].exists is False and probes[0].problem is None


def test_unusable_reason_is_none_for_an_ordinary_path(tmp_path: Path) -> None:
    assert unusable_reason(tmp_path / "parent.vhdx") is None


# --- NUL, control characters and odd lengths in locator text ---------------------------------


def test_nul_control_and_odd_values_are_shown_escaped(tmp_path: Path) -> None:
    def item(linkage: str) -> bytes:
        return locator_with_values(
            [
                (u16("parent_linkage"), u16(linkage)),
                (u16("relative_path"), b"\x00\x00" * 4),
                (u16("volume_path"), u16("a\x1b[31mb")),
                (u16("absolute_win32_path"), u16("C:\\x") + b"\x41"),  # 9 bytes
            ]
        )

    child = child_with_locator(tmp_path, item)
    outcome = run_main([["info", str(child)], ["check", "--json", str(child)]])
    (code, text), (_, jtext) = outcome.results
    assert code == 0
    assert "relative_path = \\x00\\x00\\x00\\x00" in text
    assert "volume_path = a\\x1b[31mb" in text
    assert "\x1b" not in text
    assert "absolute_win32_path = C:\\x\ufffd" in text
    found = [f for f in json.loads(jtext)["findings"] if f["code"] == "metadata.locator.text"]
    assert len(found) == 1
    message = found[0]["message"]
    assert "'relative_path': NUL characters" in message
    assert "'volume_path': control characters" in message
    assert "'absolute_win32_path': an odd byte length (9)" in message
