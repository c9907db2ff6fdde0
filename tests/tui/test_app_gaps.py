"""The app's gaps closed: export from the app, ``o`` on a folder, the guest headline after
load, Inside linked to the Hex view, the compact slot summary expanding on Enter, the chain
findings in the Findings tab, and SIGHUP during a write."""

from __future__ import annotations

from pathlib import Path

from tests.tui.helpers import flat, make_image, screen_text
from vhdxray.core.write.create import create_child
from vhdxray.tui.app import VhdxrayApp
from vhdxray.tui.widgets.info import InfoBar


def child_without_parent(tmp_path: Path) -> Path:
    """A differencing child made by vhdxray's writer whose parent was then deleted."""
    parent = make_image(tmp_path / "parent.vhdx")
    child = create_child(tmp_path / "child.avhdx", parent)
    parent.unlink()
    return child


# --- 6: the Findings tab lists the chain findings -----------------------------------------


async def test_findings_tab_shows_the_missing_parent(tmp_path: Path) -> None:
    app = VhdxrayApp(child_without_parent(tmp_path), display_name="child.avhdx")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert any(f.code == "chain.missing" for f in app.report.errors)
        assert app.screen.query_one(InfoBar).has_class("-error")
        await pilot.press("6")
        await pilot.pause()
        text = flat(screen_text(app))
        assert "6 Findings (1 ✗)" in text
        assert "chain.missing" in text
        assert "no locator path leads to an existing file here" in text
