"""The Inside screen: ``i`` on the main screen looks inside the virtual disk; the headline then
names the broken layer. Pilot tests and snapshots (80x24, 120x40) on an ext4 disk made by
mkfs.ext4 with a fixed UUID and time, marked for journal recovery by debugfs, converted to VHDX
by qemu-img."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.guestimages import require_tool, run, to_vhdx
from tests.tui.helpers import current_screen, screen_text
from vhdxray.tui.app import VhdxrayApp
from vhdxray.tui.widgets.info import InfoBar
from vhdxray.tui.widgets.inside import InsideScreen

SnapCompare = Callable[..., bool]
FIXED_UUID = "0f5e1d2c-3b4a-4958-8776-655443322110"


def ext4_needing_recovery(tmp_path: Path) -> Path:
    require_tool("debugfs", "e2fsprogs")
    raw = tmp_path / "ext4.img"
    with open(raw, "wb") as f:
        f.truncate(32 << 20)
    env = {**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"}
    require_tool("mkfs.ext4", "e2fsprogs")
    subprocess.run(
        [
            "mkfs.ext4",
            "-q",
            "-F",
            "-L",
            "wsl-data",
            "-U",
            FIXED_UUID,
            "-E",
            f"hash_seed={FIXED_UUID}",
            str(raw),
        ],
        check=True,
        env=env,
    )
    run("debugfs", "-w", "-R", "feature needs_recovery", str(raw))
    return to_vhdx(raw, tmp_path / "ext4.vhdx")


async def test_i_opens_inside_and_names_the_layer(tmp_path: Path) -> None:
    image = ext4_needing_recovery(tmp_path)
    app = VhdxrayApp(image, display_name="ext4.vhdx")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, InsideScreen)
        text = screen_text(app)
        assert "container OK; ext4 needs recovery" in text
        assert "needs_recovery=yes" in text
        assert "wsl --mount --vhd ext4.vhdx --bare" in text
        assert "ext superblock" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(current_screen(app), InsideScreen)
        subtitle = app.screen.query_one(InfoBar).border_subtitle
        assert "ext4 needs recovery" in str(subtitle)


async def test_inside_of_a_clean_ntfs_in_gpt(real_image: Callable[[str], Path]) -> None:
    app = VhdxrayApp(real_image("velociraptor"), display_name="test.vhdx")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("i")
        await pilot.pause()
        text = screen_text(app)
        assert "container OK; ntfs clean" in text
        assert "GPT, 1 partition" in text
        assert "Test Volume" in text
        assert "No problem found inside." in text


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_inside_snapshot(snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]) -> None:
    image = ext4_needing_recovery(tmp_path)
    app = VhdxrayApp(image, display_name="ext4.vhdx")
    assert snap_compare(app, press=["i"], terminal_size=size)


async def test_structure_list_lines_fit_80_columns(real_image: Callable[[str], Path]) -> None:
    """Each structure in the Inside list is one line at 80 columns: offset, name, then as
    many of its first bytes as fit. "NTFS backup boot sector" and its 16 bytes wrapped, and
    the last byte or two stood alone on the next line."""
    from textual.widgets import OptionList

    app = VhdxrayApp(real_image("velociraptor"), display_name="test.vhdx")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("i")
        await pilot.pause()
        listing = app.screen.query_one("#inside-jumps", OptionList)
        assert listing.option_count >= 6
        await pilot.pause()
        assert listing.virtual_size.height == listing.option_count
        text = screen_text(app)
        assert "NTFS backup boot sector  eb 52 90" in text
        assert not any(
            line.strip() in ("00", "00 00", "08 00 00", "c7") for line in text.splitlines()
        )


async def test_partition_flags_are_not_cut_mid_word_at_80_columns(
    real_image: Callable[[str], Path],
) -> None:
    """At 80 columns the partition table's flags column was 20 columns wide: each flag was
    folded mid-word ("ext_backup_superbloc" / "k=no") and a comma stood alone on a line.
    Below 100 columns the flags go on a line of their own under the table."""
    from tests.tui.helpers import flat

    for size in ((80, 40), (120, 40)):  # 40 rows: the table and the list on one screen
        app = VhdxrayApp(real_image("velociraptor"), display_name="test.vhdx")
        async with app.run_test(size=size) as pilot:
            await pilot.press("i")
            await pilot.pause()
            app.screen.query_one("#inside-scroll").scroll_home(animate=False)
            await pilot.pause()
            text = screen_text(app)
            for flag in ("backup_boot_mismatch=no", "ext_backup_superblock=no", "dirty=no"):
                assert flag in flat(text).replace(", ", " "), (size, text)
            assert not any(line.strip() == "," for line in text.splitlines()), text
