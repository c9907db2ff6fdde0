"""Fixtures for the app tests: fixed GUIDs and backup names so screens are deterministic."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual.widgets import Input

from tests.tui import helpers
from tests.tui.helpers import guid_sequence, rebind_everywhere
from vhdxray.tui.screens.main import MainScreen


@pytest.fixture
def fixed_guids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every GUID vhdxray creates (new images, header updates) comes from a fixed sequence."""
    rebind_everywhere("new_guid", guid_sequence(), monkeypatch.setattr)


@pytest.fixture
def fixed_backup_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backup files get a name without the time and process id (stable screenshots)."""
    rebind_everywhere("backup_name", helpers.fixed_backup_name, monkeypatch.setattr)


@pytest.fixture(autouse=True)
def guest_before_the_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guest triage runs in a worker after the first paint; for frames that do not depend on
    a thread's timing, the app tests look inside before the frame (the worker path has its
    own test, which turns this off)."""
    monkeypatch.setattr(MainScreen, "guest_inline", True)


@pytest.fixture(autouse=True)
def no_animations(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Pilot tests check where the app ends up, never the frames on the way: Textual's
    animations (the tab underline sliding for a third of a second, animated scrolls, the
    loading dots) are skipped, and with them every frame drawn in between, as with
    TEXTUAL_ANIMATIONS=none. The snapshot tests keep the animations (what a user sees)."""
    if "snap_compare" not in request.fixturenames:
        monkeypatch.setattr("textual.constants.TEXTUAL_ANIMATIONS", "none")


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A blinking cursor (command palette input) makes screenshots flaky."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    yield
