"""Open another image or a folder (``o``): a folder tree beside a path field.

The tree starts in the shown image's folder and lists folders and disk images (``.vhdx``,
``.avhdx``, ``.vhds``; any file when the filter is off with ``a``). Enter on a file opens it;
``f`` opens the highlighted folder (or the tree's own) as the fleet list of every image in it;
Backspace goes up one folder. The path field takes any path: Enter on a file opens it, on a
folder opens the fleet list. File names come from the disk: the tree shows them as text,
never as markup.

With ``files_only`` (choosing a file for an action, such as relink's parent) a folder is
never the answer: a folder typed in the path field is listed in the tree instead, and ``f``
is not offered.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input

from vhdxray.tui.safe_text import plain
from vhdxray.tui.screens.dialogs import closed_early, closing, fit_dialog
from vhdxray.tui.widgets.richstatic import RichStatic

IMAGE_SUFFIXES = (".vhdx", ".avhdx", ".vhds")


class ImageTree(DirectoryTree):
    """Folders and disk images only (unless ``show_all``)."""

    show_all = False

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        out = []
        for path in paths:
            try:
                if path.name.startswith("."):
                    continue
                if path.is_dir() or self.show_all or path.suffix.lower() in IMAGE_SUFFIXES:
                    out.append(path)
            except OSError:
                continue
        return out


class OpenImageScreen(ModalScreen[Path | None]):
    """Pick an image file; dismisses with its path, or None (Escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *closing("escape", "close", "Close"),
        Binding("a", "toggle_all", "All files", show=False),
        Binding("f", "open_folder", "List folder", show=False),
        Binding("backspace", "up", "Up", show=False),
    ]

    def __init__(
        self, start: Path, title: str = "Open an image or a folder", *, files_only: bool = False
    ) -> None:
        super().__init__()
        self.title_text = title
        self.files_only = files_only
        start = start if start.is_dir() else start.parent
        with suppress(ValueError, OSError):  # relative to the current folder when inside it
            start = start.resolve().relative_to(Path.cwd().resolve())
        self.start = start

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-menu"):
            yield RichStatic(plain(self.title_text), id="dialog-title")
            yield Input(str(self.start), id="open-path", placeholder="a folder or an image file")
            yield ImageTree(self.start, id="open-tree")
            folder = "" if self.files_only else "f: list every image in the folder   "
            yield RichStatic(
                plain(
                    "Enter: open the file (or go into the folder)   "
                    f"{folder}Backspace: up   a: all files / images only   Esc: close"
                ),
                id="dialog-question",
            )

    def on_resize(self) -> None:
        self.call_after_refresh(fit_dialog, self, "#open-tree")

    def on_mount(self) -> None:
        if closed_early(self):
            return
        self.call_after_refresh(fit_dialog, self, "#open-tree")
        self.query_one(ImageTree).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "open_folder" and self.files_only)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_toggle_all(self) -> None:
        tree = self.query_one(ImageTree)
        tree.show_all = not tree.show_all
        tree.reload()

    def action_open_folder(self) -> None:
        """The highlighted folder (the tree's root when a file or nothing is highlighted)."""
        tree = self.query_one(ImageTree)
        folder = Path(tree.path)
        node = tree.cursor_node
        if node is not None and node.data is not None and node.data.path.is_dir():
            folder = Path(node.data.path)
        self.dismiss(folder)

    def action_up(self) -> None:
        tree = self.query_one(ImageTree)
        here = Path(tree.path).resolve()
        if here.parent != here:
            tree.path = here.parent
            self.query_one("#open-path", Input).value = str(here.parent)

    @on(DirectoryTree.FileSelected)
    def _file(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.dismiss(Path(event.path))

    @on(Input.Submitted, "#open-path")
    def _typed(self, event: Input.Submitted) -> None:
        path = Path(event.value).expanduser()
        if path.is_dir() and self.files_only:  # list it: the answer is a file in it
            self.query_one(ImageTree).path = path
            self.query_one(ImageTree).focus()
        elif path.is_dir() or path.is_file():
            self.dismiss(path)
        else:
            self.notify(f"{path} does not exist.", severity="warning", markup=False)


__all__ = ["IMAGE_SUFFIXES", "ImageTree", "OpenImageScreen"]
