"""The vhdxray app: one image, its two header slots side by side, and safe write actions.

Write actions share one flow, so repairs can be added as entries of :data:`WRITE_ACTIONS`:

1. the key (or the command palette) asks the action for a plan built from the loaded report;
2. a :class:`ConfirmScreen` shows exactly what will be written and where the backup goes, or,
   when the plan is refused or the image is in use, why nothing will be written;
3. ``y`` starts the action in a thread worker; meanwhile the app is busy and every write
   action and reload are disabled;
4. on success the image is re-read and the new state and the backup path are shown; on
   refusal or failure an error dialog says why and what to do, and the image is re-read.

Opening an image never writes to it. ``read_only`` hides every write action.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from vhdxray.core.headerplan import HeaderUpdatePlan, Refusal, plan_header_update
from vhdxray.core.reader import Report, read_report
from vhdxray.core.verdict import verdict
from vhdxray.tui.safe_text import join, plain, safe
from vhdxray.tui.screens.confirm import Confirmation, ConfirmScreen
from vhdxray.tui.screens.dialogs import ErrorScreen, HelpScreen
from vhdxray.tui.screens.explain import ExplainScreen, needs_explanation
from vhdxray.tui.screens.main import VIEWS, MainScreen

P = TypeVar("P")

WRITE_GROUP = "write"


@dataclass(frozen=True, slots=True)
class WriteDone:
    """What a finished write action hands back to the app."""

    report: Report  # the image as re-read after the write
    backup_path: Path
    summary: str  # one plain-words sentence on the new state


@dataclass(frozen=True, slots=True)
class WriteAction(Generic[P]):
    """One write the app can perform, planned purely and run in a worker thread."""

    id: str  # stable name: binding id, palette, and the backup file's operation name
    key: str
    title: str  # "Update headers": the Footer and the command palette
    help: str  # one line for the command palette
    question: str  # asked in the confirmation
    plan: Callable[[Report], P | Refusal]
    describe: Callable[[P], Sequence[str]]
    run: Callable[[Path, P], WriteDone]  # blocking; raises WriteRefused / WriteFailed / ...
    refusal_notes: Callable[[Refusal], tuple[str, ...]] = field(default=lambda _r: ())


def _update_headers_run(path: Path, plan: HeaderUpdatePlan) -> WriteDone:
    from vhdxray.core import update  # the writer is loaded on first use, not at start-up

    outcome = update.run_header_update(path, plan)
    after = outcome.report
    summary = (
        f"Headers updated: slot {plan.first.slot} got sequence {plan.first.sequence_number}, "
        f"slot {plan.second.slot} got {plan.second.sequence_number}; header "
        f"{after.current_header} is current and both slots are valid."
    )
    return WriteDone(report=after, backup_path=outcome.result.backup_path, summary=summary)


def _update_headers_notes(refusal: Refusal) -> tuple[str, ...]:
    if refusal.code == "no_current_header":
        return (
            "--from-slot is an option of the command line: "
            "vhdxray update-headers --from-slot 1 (or 2) IMAGE. Read both slots first: the "
            "other slot's differing fields are lost.",
        )
    return ()


UPDATE_HEADERS: WriteAction[HeaderUpdatePlan] = WriteAction(
    id="update-headers",
    key="u",
    title="Update headers",
    help="Rewrite both header slots (MS-VHDX 2.2.2.1 double update), after a confirmation",
    question="Write these two headers?",
    plan=lambda report: plan_header_update(report),
    describe=lambda plan: plan.describe(),
    run=_update_headers_run,
    refusal_notes=_update_headers_notes,
)

WRITE_ACTIONS: dict[str, WriteAction[Any]] = {UPDATE_HEADERS.id: UPDATE_HEADERS}


def in_use_reason(path: Path) -> str | None:
    """Why the image cannot be written now (held by QEMU or another vhdxray, no permission)."""
    from vhdxray.core.locking import image_in_use

    reason = image_in_use(path)
    if reason is not None:
        return reason
    if not os.access(path, os.W_OK):
        return f"you do not have permission to write to {path}"
    return None


class VhdxrayApp(App[int]):
    """Inspect one VHDX image and run safe header repairs on it."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "vhdxray"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(a.key, f"write('{a.id}')", a.title, id=a.id, tooltip=a.help)
            for a in WRITE_ACTIONS.values()
        ),
        Binding("r", "reload", "Reload", id="reload", tooltip="Read the image from disk again"),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    busy: reactive[bool] = reactive(False, bindings=True)
    """A write is running: write actions and reload are disabled."""

    def __init__(
        self,
        image: Path,
        *,
        read_only: bool = False,
        display_name: str | None = None,
        report: Report | None = None,
    ) -> None:
        super().__init__()
        self.image = Path(image)
        self.read_only = read_only
        self.display_name = display_name if display_name is not None else str(image)
        self.report: Report = report if report is not None else read_report(self.image)
        self.last_write: WriteDone | None = None
        self.last_error: BaseException | None = None
        self.write_seconds: float | None = None  # from confirmation to refreshed view
        self._write_started = 0.0

    # --- screens ---------------------------------------------------------------------------

    def _screen_for(self, report: Report, force_main: bool = False) -> Screen[Any]:
        if force_main or not needs_explanation(report):
            return MainScreen(report, self.display_name, verdict(report), read_only=self.read_only)
        return ExplainScreen(report, self.display_name)

    def get_default_screen(self) -> Screen[Any]:
        # The first frame already shows the report (no blank screen first).
        return self._screen_for(self.report)

    @property
    def report_screen(self) -> Screen[Any] | None:
        """The main or explanation screen shown now (below any dialog)."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, MainScreen | ExplainScreen):
                return screen
        return None

    @property
    def main_screen(self) -> MainScreen | None:
        screen = self.report_screen
        return screen if isinstance(screen, MainScreen) else None

    def show_report(self, report: Report, *, force_main: bool = False) -> None:
        """Show ``report`` on the main screen, or switch to the screen it needs."""
        self.report = report
        main = self.main_screen
        wants_main = force_main or not needs_explanation(report)
        if main is not None and wants_main:
            main.show(report, self.display_name, verdict(report))
            return
        new = self._screen_for(report, force_main)
        while self.screen.is_modal:
            self.pop_screen()
        if len(self.screen_stack) > 1:
            self.switch_screen(new)
        else:  # the default screen cannot be switched away: cover it
            self.push_screen(new)

    def on_explain_screen_open_anyway(self, _message: ExplainScreen.OpenAnyway) -> None:
        self.show_report(self.report, force_main=True)

    def shown_path(self, path: Path) -> str:
        """``path`` as the user sees it: relative to the image's folder when it is there."""
        try:
            rel = path.resolve().relative_to(self.image.resolve().parent)
        except ValueError:
            return str(path)
        return str(Path(self.display_name).parent / rel)

    # --- actions ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "write":
            if self.read_only or self.main_screen is None or not self.report.is_vhdx:
                return False
            return None if self.busy else True
        if action == "reload":
            return None if self.busy else True
        return True

    def action_reload(self) -> None:
        if self.busy:
            return
        self.show_report(read_report(self.image))
        main = self.main_screen
        if main is not None:
            main.set_status(None)
        self.notify("Reloaded from disk.", timeout=2)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.read_only))

    def confirmation_for(self, action: WriteAction[Any]) -> tuple[Confirmation, Any]:
        """The confirmation to show for ``action`` now, and its plan (None when refused)."""
        plan = action.plan(self.report)
        if isinstance(plan, Refusal):
            return (
                Confirmation(
                    title=action.title,
                    question=action.question,
                    refusal=plan.reason,
                    notes=action.refusal_notes(plan),
                ),
                None,
            )
        busy_reason = in_use_reason(self.image)
        if busy_reason is not None:
            return (
                Confirmation(
                    title=action.title,
                    question=action.question,
                    lines=tuple(action.describe(plan)),
                    refusal=busy_reason,
                ),
                None,
            )
        from vhdxray.core import backup as core_backup

        backup = self.image.resolve().parent / core_backup.backup_name(self.image, action.id)
        return (
            Confirmation(
                title=action.title,
                question=action.question,
                lines=tuple(action.describe(plan)),
                backup=self.shown_path(backup),
            ),
            plan,
        )

    def action_write(self, action_id: str) -> None:
        action = WRITE_ACTIONS.get(action_id)
        if action is None or self.check_action("write", (action_id,)) is not True:
            return
        confirmation, plan = self.confirmation_for(action)

        def answered(confirmed: bool | None) -> None:
            if confirmed and plan is not None and not self.busy:
                self.start_write(action, plan)

        self.push_screen(ConfirmScreen(confirmation), answered)

    def start_write(self, action: WriteAction[Any], plan: Any) -> None:
        self._write_started = time.perf_counter()
        self.busy = True
        main = self.main_screen
        if main is not None:
            main.set_status(
                join(("Working: ", "bold"), f"{action.title.lower()}… (do not stop vhdxray now)"),
                "busy",
            )
        self._write_worker(action, plan)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group=WRITE_GROUP,
        description="write to the image",
    )
    def _write_worker(self, action: WriteAction[Any], plan: Any) -> WriteDone:
        return action.run(self.image, plan)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != WRITE_GROUP or event.state not in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            return
        self.busy = False
        if event.state == WorkerState.SUCCESS and isinstance(worker.result, WriteDone):
            self._write_succeeded(worker.result)
        elif event.state == WorkerState.ERROR and worker.error is not None:
            self._write_failed(worker.error)

    def _write_succeeded(self, done: WriteDone) -> None:
        self.last_write = done
        self.show_report(done.report)
        backup = self.shown_path(done.backup_path)
        main = self.main_screen
        if main is not None:
            main.set_status(
                join(
                    ("✓ ", "bold"),
                    safe(done.summary),
                    ("\nBackup: ", "bold"),
                    safe(backup),
                    ("\nUndo:   ", "bold"),
                    safe(f"vhdxray restore {backup}"),
                ),
                "done",
            )
        self.write_seconds = time.perf_counter() - self._write_started

    def _write_failed(self, error: BaseException) -> None:
        from vhdxray.core.update import UpdateVerificationFailed
        from vhdxray.core.writer import WriteFailed, WriteRefused

        self.last_error = error
        if isinstance(error, WriteRefused):
            title = "Refused: nothing was written"
            body = Group(safe(str(error)), Text(""), plain("The image is unchanged."))
        elif isinstance(error, WriteFailed | UpdateVerificationFailed):
            title = "The write FAILED part-way"
            parts: list[Text] = [safe(str(error)), Text("")]
            if error.backup_path is not None:
                backup = self.shown_path(error.backup_path)
                parts += [
                    plain("The bytes as they were before are saved in:", "bold"),
                    join("  ", safe(backup)),
                    plain("Put them back with:", "bold"),
                    join("  ", safe(f"vhdxray restore {backup}")),
                ]
            body = Group(*parts)
        else:
            title = "The write failed"
            body = Group(
                safe(f"{type(error).__name__}: {error}"),
                Text(""),
                plain("Reload (r) to see the image as it is on disk now."),
            )
        self.show_report(read_report(self.image))
        main = self.main_screen
        if main is not None:
            main.set_status(join(("✗ ", "bold"), safe(title)), "error")
        self.push_screen(ErrorScreen(title, body))

    # --- command palette ----------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if not self.read_only and self.main_screen is not None and self.report.is_vhdx:
            for action in WRITE_ACTIONS.values():
                yield SystemCommand(
                    action.title,
                    action.help,
                    lambda a=action.id: self.action_write(a),
                )
        yield SystemCommand("Reload", "Read the image from disk again", self.action_reload)
        yield SystemCommand("Help", "Keys and marks", self.action_help)
        main = self.main_screen
        if main is not None:
            for view, title, _key in VIEWS:
                yield SystemCommand(
                    f"Show {title}",
                    f"Switch to the {title.lower()} view",
                    lambda v=view: main.action_view(v),
                )


def run_app(image: Path, read_only: bool = False, display_name: str | None = None) -> int:
    """Open the app on ``image``; returns the process exit code."""
    app = VhdxrayApp(image, read_only=read_only, display_name=display_name)
    app.run()
    return app.return_code or 0
