"""What an 80x24 terminal must still show whole and plainly: the GUIDs of the region table and
of the metadata items (an unknown item is known by its GUID alone), in their own views; the
BAT view's count of entries, as a sum that adds up; what the Chain view's ./ paths are
relative to."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

from tests import damage
from tests.tui.helpers import make_image, screen_text
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.tui.app import VhdxrayApp

UNKNOWN_ITEM = uuid.UUID("0badc0de-1234-4abc-8def-0123456789ab")


def with_unknown_item(path: Path) -> Path:
    """vhdxray's own image with one more metadata item, of a GUID no one knows (optional)."""
    make_image(path)
    meta = read_report(path).metadata
    assert meta is not None
    count = meta.entry_count
    entry = UNKNOWN_ITEM.bytes_le + struct.pack("<IIII", 0x80000, 8, 0, 0)
    damage.write_at(path, meta.offset + 32 + 32 * count, entry)
    damage.write_at(path, meta.offset + 10, struct.pack("<H", count + 1))
    assert any(f.code == "metadata.unknown_item" for f in read_report(path).findings)
    return path


async def test_region_guids_are_whole_at_80_columns(tmp_path: Path) -> None:
    app = VhdxrayApp(with_unknown_item(tmp_path / "unknown.vhdx"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        text = screen_text(app)
        assert str(layout.BAT_GUID) in text, text
        assert str(layout.METADATA_REGION_GUID) in text, text
        assert "FileOffset 0x300000, Length 1.0 MiB (1,048,576 bytes), required" in text
        await pilot.resize_terminal(120, 40)  # room for the table's one row per region
        await pilot.pause()
        await pilot.pause()
        row = f"BAT       {layout.BAT_GUID}  0x300000    1.0 MiB (1,048,576 bytes)  yes"
        assert row in screen_text(app)


async def test_an_unknown_metadata_item_shows_its_guid_at_80_columns(tmp_path: Path) -> None:
    app = VhdxrayApp(with_unknown_item(tmp_path / "unknown.vhdx"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()
        text = screen_text(app)
        assert not [line for line in text.splitlines() if line.startswith("▌") and "…" in line]
        assert f"unknown             {UNKNOWN_ITEM}" in text, text
        assert "Offset 0x80000, Length 8, no flags" in text, text
        assert "Offset 0x10008, Length 8, virtual disk, required" in text, text


# --- the BAT view's entries add up ------------------------------------------------------------


def flat(text: str) -> str:
    """The screen's lines joined, a view's left bar and wrapped lines' indents taken off."""
    return " ".join(line.strip(" ▌") for line in text.splitlines())


async def test_the_bat_entries_add_up(tmp_path: Path) -> None:
    """It said "64 expected (64 payload, 1 sector bitmap)": a sum that did not add up. A
    dynamic disk's BAT ends after its last block (no sector bitmap entry below 4096 blocks);
    a differencing disk's fills its last chunk and ends with that chunk's bitmap entry."""
    from vhdxray.core.write.create import create_child

    app = VhdxrayApp(make_image(tmp_path / "dynamic.vhdx"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await pilot.pause()
        assert (
            "64 expected = 64 payload (one per block) + 0 sector bitmap (one after every "
            "4096 payload entries, none at the end);"
        ) in flat(screen_text(app))
    child = create_child(tmp_path / "child.avhdx", tmp_path / "dynamic.vhdx")
    app = VhdxrayApp(child)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await pilot.pause()
        assert (
            "4097 expected = 64 payload (one per block) + 4032 unused payload (the last chunk "
            "filled up) + 1 sector bitmap (one after every 4096 payload entries);"
        ) in flat(screen_text(app))


# --- the Chain view's ./ paths ----------------------------------------------------------------


async def test_the_chain_view_says_what_its_dot_slash_paths_are_relative_to(
    tmp_path: Path,
) -> None:
    """ "./parent.vhdx" is in the child's folder, which need not be the current directory: the
    line after the first such path says so."""
    from vhdxray.core.write.create import create_child

    parent = make_image(tmp_path / "parent.vhdx")
    child = create_child(tmp_path / "child.avhdx", parent)
    parent.unlink()
    app = VhdxrayApp(child, display_name="child.avhdx")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("8")
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()
        lines = [line.strip(" ▌▂▃▄▅▆▇█") for line in screen_text(app).splitlines()]
        at = lines.index("relative_path leads to ./parent.vhdx, which does not exist.")
        assert lines[at + 1] == (
            "(./ is the child's folder, where this file is, not the current directory)"
        ), lines


# --- the creator, whole, in the two-line header -------------------------------------------------


def header_lines(app: VhdxrayApp) -> list[str]:
    """The header's lines above the headline, their border taken off."""
    lines = screen_text(app).splitlines()
    facts: list[str] = []
    for line in lines[1:]:
        inner = line.strip()[1:-1].strip()
        if inner.startswith(("ERROR", "WARNING", "OK")):
            return facts
        facts.append(inner)
    raise AssertionError(lines)


async def test_a_windows_creator_joins_the_first_line_at_80_columns(tmp_path: Path) -> None:
    """ "Creator Microsoft Windows 10.0.17763.0" does not fit after the sizes (it was cut
    "Microsoft Windows…"): it ends the first line, and the facts stay two lines."""
    image = make_image(tmp_path / "win.vhdx", creator="Microsoft Windows 10.0.17763.0")
    app = VhdxrayApp(image, display_name="win.vhdx")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert header_lines(app) == [
            "File win.vhdx · dynamic · Creator Microsoft Windows 10.0.17763.0",
            "Size 5.0 MiB · Virtual 64.0 MiB · Block 1.0 MiB",
        ]
        await pilot.resize_terminal(99, 24)
        await pilot.pause()
        await pilot.pause()
        assert header_lines(app) == [
            "File win.vhdx · dynamic",
            "Size 5.0 MiB · Virtual 64.0 MiB · Block 1.0 MiB · Creator Microsoft Windows "
            "10.0.17763.0",
        ]


async def test_a_long_hostile_creator_is_whole_and_literal_at_80_columns(tmp_path: Path) -> None:
    """A creator too long for either line takes lines of its own, whole; it is still image
    text: no markup, no link, control and bidi characters escaped."""
    from tests.tui.helpers import HOSTILE_CREATOR

    image = make_image(tmp_path / "hostile.vhdx", creator=HOSTILE_CREATOR)
    app = VhdxrayApp(image, display_name="hostile.vhdx")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        facts = header_lines(app)
        assert facts[:2] == [
            "File hostile.vhdx · dynamic",
            "Size 5.0 MiB · Virtual 64.0 MiB · Block 1.0 MiB",
        ]
        assert " ".join(facts[2:]) == (
            "Creator [bold]LOUD[/bold] [@click=app.quit]click me[/] [/oops] "
            "\\x1b]2;PWNED-TITLE\\x07 \\x1b[31mred\\x1b[0m \\u202eevil\\u202c $v [$v] end"
        )
        text = screen_text(app)
        assert "\x1b" not in text and "\u202e" not in text and "…" not in "".join(facts)
        line = next(i for i, row in enumerate(text.splitlines()) if "click me" in row)
        await pilot.click(offset=(text.splitlines()[line].index("click me") + 2, line))
        await pilot.pause()
        assert app.is_running and app.return_code is None
