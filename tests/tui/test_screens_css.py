"""The other screens' rules (screens.tcss) are not parsed for the main screen's first frame;
they are in the stylesheet before the first other screen is styled (a dialog, or an
explanation as the first screen), and the stylesheet then holds the rules one file of
app.tcss and screens.tcss would give, in the same order."""

from __future__ import annotations

from pathlib import Path

from textual.css.stylesheet import Stylesheet

from tests.tui.helpers import make_image
from vhdxray.tui.app import VhdxrayApp
from vhdxray.tui.screens.dialogs import HelpScreen
from vhdxray.tui.screens.explain import ExplainScreen
from vhdxray.tui.screens.main import MainScreen


def sources(app: VhdxrayApp) -> list[str]:
    return [path for path, _ in app.stylesheet.source]


def ours(app: VhdxrayApp) -> list[str]:
    """The CSS of the app's own rules (app.tcss, then screens.tcss: the only ones not from a
    widget's DEFAULT_CSS), as parsed."""
    return [rule.css for rule in app.stylesheet.rules if not rule.is_default_rules]


def one_file(app: VhdxrayApp, tmp_path: Path) -> list[str]:
    joined = tmp_path / "joined.tcss"
    text = app.CSS_PATH.read_text(encoding="utf-8") + app.SCREENS_CSS_PATH.read_text("utf-8")
    joined.write_text(text, encoding="utf-8")
    sheet = Stylesheet(variables=app.stylesheet._variables)
    sheet.read(joined)
    return [rule.css for rule in sheet.rules]


async def test_the_other_screens_rules_come_with_the_first_dialog(tmp_path: Path) -> None:
    app = VhdxrayApp(make_image(tmp_path / "a.vhdx"), display_name="a")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert str(app.SCREENS_CSS_PATH) not in sources(app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert str(app.SCREENS_CSS_PATH) in sources(app)
        dialog = app.screen.query_one("#dialog")
        assert dialog.styles.border.top[0] == "thick" and dialog.styles.width is not None
        assert dialog.styles.width.value == 100
        assert ours(app) == one_file(app, tmp_path)


async def test_an_explanation_as_the_first_screen_has_its_rules(tmp_path: Path) -> None:
    not_vhdx = tmp_path / "notes.txt"
    not_vhdx.write_bytes(b"not a disk image\n" * 100)
    app = VhdxrayApp(not_vhdx, display_name="notes.txt")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ExplainScreen)
        explain = app.screen.query_one("#explain")
        assert explain.styles.border.top[0] == "heavy"
        assert ours(app) == one_file(app, tmp_path)
