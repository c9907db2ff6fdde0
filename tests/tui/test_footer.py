"""The main screen's Footer fits the terminal: at 80 columns it still ends with Help and Quit
(they were cut off once Export joined the row); where the full row fits, it is Textual's own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from tests.tui.helpers import make_image, screen_text
from vhdxray.tui.app import VhdxrayApp


def footer(app: VhdxrayApp) -> str:
    return screen_text(app).splitlines()[-1]


async def shown(pilot: Pilot[int]) -> None:
    await pilot.pause()
    await pilot.pause()


async def test_80_columns_keep_help_and_quit(tmp_path: Path) -> None:
    app = VhdxrayApp(make_image(tmp_path / "bad.vhdx", damaged_slot=1))
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        line = footer(app)
        assert len(line) <= 80
        for key in ("u Update ", "R Repair…", "e Export", "o Open", "? Help", "q Quit", "^p"):
            assert key in line, line
        assert "Update headers" not in line  # a key's first word when the row is tight


async def test_a_wide_terminal_has_the_full_words(tmp_path: Path) -> None:
    app = VhdxrayApp(make_image(tmp_path / "bad.vhdx", damaged_slot=1))
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(pilot)
        line = footer(app)
        for key in ("u Update headers", "r Reload", "b Backups", "? Help", "q Quit"):
            assert key in line, line
        await pilot.resize_terminal(80, 24)  # the row is fitted again on a resize
        await shown(pilot)
        await shown(pilot)
        line = footer(app)
        assert "Update headers" not in line and "q Quit" in line, line
        await pilot.resize_terminal(120, 40)
        await shown(pilot)
        await shown(pilot)
        assert "u Update headers" in footer(app)


async def test_a_pending_log_leaves_out_an_extra_key(
    real_image: Callable[[str], Path],
) -> None:
    """The replay key joins the row at 80 columns; Backups (in the help and the palette)
    makes room for it, and Help and Quit stay."""
    app = VhdxrayApp(real_image("discutils-log-replay"))
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        line = footer(app)
        assert len(line) <= 80
        for key in ("u Update", "l Replay", "R Repair…", "? Help", "q Quit"):
            assert key in line, line
        assert "Backups" not in line
        await pilot.press("b")  # the key still works
        await pilot.pause()
        assert app.screen.__class__.__name__ == "BackupsScreen"


async def test_the_fleet_footer_keeps_help_and_quit_at_80_columns(tmp_path: Path) -> None:
    """The fleet screen's keys (sort, filters, two exports, rescan, open) do not fit 80
    columns in full: the exports and rescan (in the help and the palette) make room."""
    make_image(tmp_path / "a.vhdx")
    app = VhdxrayApp(tmp_path, fleet=[tmp_path])
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        await shown(pilot)
        line = footer(app)
        assert len(line) <= 80
        for key in ("s Sort", "/ Filter", "o Open", "? Help", "q Quit"):
            assert key in line, line


async def test_the_inside_and_bytes_screens_keep_help_and_quit_at_80_columns(
    tmp_path: Path,
) -> None:
    """The Inside screen (i) and the bytes of a structure (Enter there) had Textual's own
    Footer: at 80 columns "? Help" and "q Quit" were cut off after "o Open"."""
    from vhdxray.tui.screens.virtualhex import VirtualHexScreen
    from vhdxray.tui.widgets.inside import InsideScreen

    app = VhdxrayApp(make_image(tmp_path / "bad.vhdx", damaged_slot=1))
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        await pilot.press("i")
        await shown(pilot)
        assert isinstance(app.screen, InsideScreen)
        line = footer(app)
        assert len(line) <= 80
        for key in ("esc Back", "? Help", "q Quit", "^p"):
            assert key in line, line
        app.push_screen(VirtualHexScreen(str(app.image), "bad.vhdx", "MBR", 0, 512))
        await shown(pilot)
        line = footer(app)
        for key in ("esc Back", "? Help", "q Quit", "^p"):
            assert key in line, line


async def test_the_not_a_vhdx_screen_keeps_help_and_quit_at_80_columns(tmp_path: Path) -> None:
    image = make_image(tmp_path / "cut.vhdx")
    with open(image, "r+b") as f:  # cut inside the region tables: "show the headers anyway"
        f.truncate(0x38000)
    app = VhdxrayApp(image)
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        assert app.screen.__class__.__name__ == "ExplainScreen"
        line = footer(app)
        assert len(line) <= 80
        for key in ("? Help", "q Quit", "^p"):
            assert key in line, line


async def test_open_copy_joins_the_80_column_row_and_quit_stays(
    real_image: Callable[[str], Path],
) -> None:
    """After a replay into a copy, O Open copy joins a row that already holds l Replay: the
    row was one column too wide and ended "q Qui▏^p palette"."""
    app = VhdxrayApp(real_image("discutils-log-replay"))
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        await replay_into_a_copy(pilot)
        line = footer(app)
        assert len(line) <= 80
        for key in ("l Replay", "O Open copy", "? Help", "q Quit ", "^p palette"):
            assert key in line, line


def orphan_child_with_a_pending_log(folder: Path) -> Path:
    """A differencing child whose parent is gone (k Relink shows) and whose log holds one
    entry (l Replay shows): with O Open copy after a replay into a copy, the row needed 83
    columns at 80 once Backups, Reload and Open had made room."""
    import uuid

    from tests.logwrite import build_log_entry, write_log_entries
    from tests.repairimages import bat_offset, set_log_guid
    from vhdxray.core.format import layout
    from vhdxray.core.write.create import CreateOptions, create_image
    from vhdxray.tui import cli

    parent = create_image(
        folder / "parent.vhdx", CreateOptions(virtual_size=64 * layout.MiB, block_size=layout.MiB)
    )
    child = folder / "child.avhdx"
    assert cli.main(["create", str(child), "--parent", str(parent)]) == 0
    parent.unlink()
    bat = bat_offset(child)
    with open(child, "rb") as f:
        f.seek(bat)
        page = f.read(4096)
    end = child.stat().st_size
    guid = uuid.UUID("5d2e8f4c-1b3a-4c6d-9e7f-a1b2c3d4e5f6")
    entry = build_log_entry(
        sequence_number=5,
        log_guid=guid,
        tail=0,
        flushed_file_offset=end,
        last_file_offset=end,
        data_pages=[(bat, page)],
    )
    write_log_entries(child, [(0, entry)])
    set_log_guid(child, guid)
    return child


async def replay_into_a_copy(pilot: Pilot[int]) -> None:
    from tests.tui.helpers import settle

    await pilot.press("l")
    await pilot.pause()
    await pilot.press("c")
    await pilot.pause()
    await pilot.press("y")
    await settle(pilot)
    await shown(pilot)


async def test_relink_replay_and_open_copy_fit_80_columns(tmp_path: Path) -> None:
    """k Relink, l Replay and O Open copy all shown: Export (in the help and the palette)
    gives way too, and Help, Quit and the palette's key stay whole."""
    app = VhdxrayApp(orphan_child_with_a_pending_log(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        await replay_into_a_copy(pilot)
        line = footer(app)
        assert len(line) <= 80, line
        for key in ("k Relink", "l Replay", "O Open copy", "R Repair…", "? Help", "q Quit "):
            assert key in line, line
        assert line.rstrip().endswith("^p palette"), line
        assert "Export" not in line, line
        await pilot.press("e")  # the key still works
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ExportScreen"


async def test_from_the_fleet_the_back_key_gives_way_too(tmp_path: Path) -> None:
    """Opened from the fleet list, esc Back joins that row: it gives way after Export."""
    orphan_child_with_a_pending_log(tmp_path)
    app = VhdxrayApp(tmp_path, fleet=[tmp_path])
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        await shown(pilot)
        app.switch_image(tmp_path / "child.avhdx")
        await shown(pilot)
        await shown(pilot)
        assert "esc Back" in footer(app)
        await replay_into_a_copy(pilot)
        line = footer(app)
        assert len(line) <= 80, line
        for key in ("k Relink", "l Replay", "O Open copy", "? Help", "q Quit "):
            assert key in line, line
        assert line.rstrip().endswith("^p palette"), line
        assert "esc Back" not in line, line
        await pilot.press("escape")  # the key still works
        await shown(pilot)
        assert app.screen.__class__.__name__ == "FleetScreen"
