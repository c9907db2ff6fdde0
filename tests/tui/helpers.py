"""Helpers for the app tests: deterministic images, plain-text screen capture."""

from __future__ import annotations

import io
import itertools
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.app import App
from textual.screen import Screen
from textual.widgets import Static

from tests import damage
from vhdxray.core.format import layout
from vhdxray.core.write.create import CreateOptions, create_image
from vhdxray.tui.app import VhdxrayApp
from vhdxray.tui.screens.confirm import Confirmation, ConfirmScreen

CREATOR = "vhdxray test"

HOSTILE_CREATOR = (
    "[bold]LOUD[/bold] [@click=app.quit]click me[/] [/oops] "
    "\x1b]2;PWNED-TITLE\x07 \x1b[31mred\x1b[0m \u202eevil\u202c $v [$v] end"
)
"""Markup, a click action, a malformed tag, OSC and CSI escapes, a bidi override, variables."""


def screen_text(app: App[Any]) -> str:
    """What the terminal shows now, as plain text (like ``tmux capture-pane -p``).

    The screen's pending layout and repaint are done first (what its refresh timer, or
    ``pilot.pause()``, would do): right after ``pilot.press`` a screen it pushed may not have
    been laid out yet on a loaded machine, and would read as empty."""
    app.screen._on_timer_update()
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


def rebind_everywhere(
    name: str, replacement: object, setattr_: Callable[[object, str, object], None] = setattr
) -> None:
    """Point every loaded ``vhdxray.core`` module's ``name`` at ``replacement``, where it is
    bound to the original (modules import functions by name, so patching one module is not
    enough, and core may move a function between modules)."""
    import vhdxray.core.write.backup
    import vhdxray.core.write.create
    import vhdxray.core.write.repair  # the app loads the repairs (and the writer) on first use
    import vhdxray.tui.app  # noqa: F401  (load every module the app uses)

    original = getattr(sys.modules[f"vhdxray.core.{SOURCES[name]}"], name)
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("vhdxray.core") and getattr(module, name, None) is original:
            setattr_(module, name, replacement)


SOURCES = {"new_guid": "format.guid", "backup_name": "write.backup"}


def fixed_backup_name(image: str | os.PathLike[str], operation: str) -> str:
    return f"{Path(image).name}.vhdxray-backup-{operation}-20260101T000000-1.json"


def guid_sequence() -> Callable[[], uuid.UUID]:
    """A ``new_guid`` replacement yielding 00000000-0000-4000-8000-000000000001, ...2, ..."""
    counter: Iterator[int] = itertools.count(1)
    return lambda: uuid.UUID(f"00000000-0000-4000-8000-{next(counter):012x}")


def make_image(
    path: Path,
    *,
    creator: str = CREATOR,
    damaged_slot: int | None = None,
    virtual_size: int = 64 * layout.MiB,
) -> Path:
    """A small dynamic image made by vhdxray's own writer; optionally one slot's checksum broken.

    With ``new_guid`` patched (see ``fixed_guids``) the bytes are the same on every run.
    """
    opts = CreateOptions(virtual_size=virtual_size, block_size=layout.MiB, creator=creator)
    create_image(path, opts, data=[(0, b"vhdxray test disk\n".ljust(512, b"\0"))])
    if damaged_slot is not None:
        damage.break_header_checksum(path, damaged_slot)
    return path


def file_bytes(path: Path) -> bytes:
    return path.read_bytes()


def content_text(widget: Static, width: int = 400) -> str:
    """The plain text of a ``Static``'s content, laid out wide enough not to wrap."""
    console = Console(width=width, file=io.StringIO(), record=True, legacy_windows=False)
    console.print(widget.content)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())


def flat(text: str) -> str:
    """Screen text with every line stripped (spaces and side borders) and joined with one
    space: finds sentences that wrapped."""
    return " ".join(line.strip(" │┃") for line in text.splitlines())


def confirmation_shown(app: App[Any]) -> Confirmation:
    """The confirmation on the screen now (failing if none is shown).

    A call, not ``app.screen.confirmation``: a type checker keeps the narrowing of an earlier
    ``assert app.screen.confirmation.refused`` across the awaits that change the screen."""
    screen = app.screen
    assert isinstance(screen, ConfirmScreen), screen
    return screen.confirmation


def current_screen(app: App[Any]) -> Screen[Any]:
    """``app.screen`` read afresh (see :func:`confirmation_shown` for why a call)."""
    return app.screen


def return_code(app: App[Any]) -> int | None:
    """``app.return_code`` read afresh (see :func:`confirmation_shown` for why a call)."""
    return app.return_code


def is_busy(app: VhdxrayApp) -> bool:
    """``app.busy`` read afresh (see :func:`confirmation_shown` for why a call)."""
    return app.busy


async def settle(pilot: Any) -> None:
    """Let a started write finish and its results reach the screen."""
    from contextlib import suppress

    from textual.worker import WorkerCancelled, WorkerFailed, WorkerState

    from vhdxray.tui.screens.progress import ProgressScreen

    # A finished write dismisses its progress dialog, and the result may start a re-read in a
    # worker of its own: wait until no worker runs and no progress dialog is up (bounded).
    for _ in range(100):
        await pilot.pause()
        with suppress(WorkerFailed, WorkerCancelled):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in pilot.app.workers)
        if not busy and not isinstance(pilot.app.screen, ProgressScreen):
            break
    await pilot.pause()
