"""A steady screen's first resume skips Textual's restyle of every node (screens/steady.py):
what it shows must be what that restyle would give, on the main and the fleet screens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen

from tests.tui.helpers import make_image
from vhdxray.tui.app import VhdxrayApp
from vhdxray.tui.screens.steady import SteadyScreen


def rules(screen: Screen[Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every node's rules from the stylesheet, in order."""
    return [
        (repr(node), dict(node.styles.base.get_rules()))
        for node in screen.walk_children(with_self=True)
    ]


async def assert_styles_current(app: VhdxrayApp, size: tuple[int, int]) -> None:
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SteadyScreen) and screen._resumed
        shown = rules(screen)
        app.stylesheet.update_nodes(screen.walk_children(with_self=True), animate=False)
        assert rules(screen) == shown


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_the_main_screen_is_styled_without_the_first_restyle(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    image = make_image(tmp_path / "disk.vhdx", damaged_slot=2)
    await assert_styles_current(VhdxrayApp(image), size)


async def test_the_fleet_screen_is_styled_without_the_first_restyle(tmp_path: Path) -> None:
    make_image(tmp_path / "a.vhdx")
    make_image(tmp_path / "b.vhdx", damaged_slot=1)
    await assert_styles_current(VhdxrayApp(tmp_path, fleet=[tmp_path]), (120, 40))
