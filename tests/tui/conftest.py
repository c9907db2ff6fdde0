"""Fixtures for the app tests: fixed GUIDs and backup names so screens are deterministic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input

from tests.tui.helpers import guid_sequence

FIXED_BACKUP_SUFFIX = ".vhdxray-backup-{operation}-20260101T000000-1.json"


@pytest.fixture
def fixed_guids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every GUID vhdxray creates (new images, header updates) comes from a fixed sequence."""
    from vhdxray.core import create, update

    monkeypatch.setattr(create, "new_guid", guid_sequence())
    monkeypatch.setattr(update, "new_guid", guid_sequence())


@pytest.fixture
def fixed_backup_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backup files get a name without the time and process id (stable screenshots)."""
    from vhdxray.core import backup

    def name(image: Path, operation: str) -> str:
        return image.name + FIXED_BACKUP_SUFFIX.format(operation=operation)

    monkeypatch.setattr(backup, "backup_name", name)


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A blinking cursor (command palette input) makes screenshots flaky."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    yield
