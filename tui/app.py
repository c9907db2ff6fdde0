"""The vhdxray app: one image, its two header slots side by side, and safe write actions.

Every write shares one flow (:meth:`VhdxrayApp.ask`):

1. a key, the command palette, the Repair… menu (``R``) or Enter on a finding names a write
   action of :data:`WRITE_ACTIONS`; the action proposes a dialog built from a plan of the
   loaded image (:class:`~vhdxray.tui.writeflow.Proposal`);
2. a :class:`ConfirmScreen` shows exactly what will be written and the backup file(s); or
   why nothing will be written (refused, image in use); or the choice the plan needs first
   (``1``/``2``, each with its consequences), which leads to the full confirmation;
3. ``y`` starts the job in a thread worker; meanwhile the app is busy and every write
   action and reload are disabled;
4. on success the image is re-read and the new state and every backup path (with the
   restore commands) are shown; on refusal or failure an error dialog says why and how to
   undo whatever was written, and the image is re-read.

The actions are the header update (``u``) and the repairs of :mod:`vhdxray.core.write.repair`
(:mod:`vhdxray.tui.repairs`): the log replay (``l``, also into a copy), clearing a stale
LogGuid, the region-table repair and the header repair; the truncation map is shown, never
"repaired". The repair planner reads the image, so it runs when the user asks (a key, the
palette, or a view that shows its results), never before the first paint.

Opening an image never writes to it. ``read_only`` hides every write action.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar, cast

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen

from vhdxray.core.analysis.reader import Report
from vhdxray.core.analysis.verdict import verdict
from vhdxray.core.format.record import record
from vhdxray.core.outcome import Refused as Refusal
from vhdxray.tui.outcome import app_text
from vhdxray.tui.safe_text import join, plain, safe
from vhdxray.tui.screens.firstscreen import needs_explanation
from vhdxray.tui.screens.main import VIEWS, MainScreen

# Only the first screen is imported at start-up (issue 9: first paint); every dialog, the
# repairs' words and the write flow are imported by the action that needs them.
if TYPE_CHECKING:
    from textual.widget import AwaitMount

    from vhdxray.core.write.repair import RepairOptions, RepairPlan
    from vhdxray.tui.screens.confirm import Offer
    from vhdxray.tui.screens.dialogs import MessageScreen
    from vhdxray.tui.screens.explain import ExplainScreen
    from vhdxray.tui.screens.progress import Finished
    from vhdxray.tui.widgets.findings import FindingsView
    from vhdxray.tui.writeflow import Job, Progress, Proposal, RepairRunFailed, WriteDone

P = TypeVar("P")
ScreenT = TypeVar("ScreenT", bound="Screen[Any]")

WRITE_GROUP = "write"

Options = Sequence[tuple[str, int | str]]


@record
class _PlanJob(Generic[P]):
    """A simple action's confirmed plan."""

    title: str
    plan: P
    runner: Callable[[Path, P], WriteDone]

    def run(self, image: Path, progress: Progress) -> WriteDone:
        return self.runner(image, self.plan)


@record
class WriteAction(Generic[P]):
    """One write the app can perform, planned purely and run in a worker thread."""

    id: str  # stable name: binding id, palette, and the backup file's operation name
    key: str | None  # None: no key of its own (the Repair… menu, the palette)
    title: str  # "Update headers": the Footer and the command palette
    help: str  # one line for the command palette
    question: str  # asked in the confirmation
    plan: Callable[[Report], P | Refusal]
    describe: Callable[[P], Sequence[str]]
    run: Callable[
        [Path, P], WriteDone
    ]  # blocking; raises the outcome model (Refused / WriteFailed)
    refusal_notes: Callable[[Refusal], tuple[str, ...]] = lambda _r: ()
    refusal_offers: Callable[[Refusal], tuple[Offer, ...]] = lambda _r: ()

    def offered(self, report: Report) -> bool:
        """Shown in the Footer for this image (the key works only when shown)."""
        return True

    def in_palette(self, app: VhdxrayApp) -> bool:
        return True

    def propose(self, app: VhdxrayApp, options: Options = ()) -> Proposal:
        from vhdxray.tui.screens.confirm import Confirmation
        from vhdxray.tui.writeflow import Proposal, in_use_reason

        plan = self.plan(app.report)
        if isinstance(plan, Refusal):
            return Proposal(
                Confirmation(
                    title=self.title,
                    question=self.question,
                    refusal=app_text(plan.reason, plan.suggest),
                    notes=self.refusal_notes(plan),
                    offers=self.refusal_offers(plan),
                ),
                None,
            )
        lines = tuple(self.describe(plan))
        busy_reason = in_use_reason(app.image)
        if busy_reason is not None:
            return Proposal(
                Confirmation(
                    title=self.title, question=self.question, lines=lines, refusal=busy_reason
                ),
                None,
            )
        from vhdxray.core.write import backup as core_backup

        backup = Path(core_backup.free_backup_file(app.image, self.id))
        return Proposal(
            Confirmation(
                title=self.title,
                question=self.question,
                lines=lines,
                backup=app.shown_path(backup),
            ),
            _PlanJob(self.title, plan, self.run),
        )


@record
class RepairAction:
    """One repair of :mod:`vhdxray.core.write.repair` (see :mod:`vhdxray.tui.repairs`)."""

    id: str
    key: str | None
    title: str
    help: str
    repair_id: str
    into_copy: bool = False
    footer: Callable[[Report], bool] = lambda _r: False

    def offered(self, report: Report) -> bool:
        return self.footer(report)

    def in_palette(self, app: VhdxrayApp) -> bool:
        """Listed in the palette when the image needs it (plans, when the palette opens)."""
        from vhdxray.tui import repairs

        plan = app.repair_plan_or_none()
        if plan is None:
            return False
        item = repairs.find_item(plan, self.repair_id)
        if item is None:
            return False
        if self.into_copy:
            return True
        from vhdxray.core.write.repair import Repair

        return isinstance(item, Repair) or bool(item.choices)

    def propose(self, app: VhdxrayApp, options: Options = ()) -> Proposal:
        from vhdxray.tui import repairs

        return repairs.propose_repair(
            app, self.repair_id, options=options, into_copy=self.into_copy
        )


@record
class RestoreJob:
    """A confirmed restore of one backup file."""

    plan: Any  # vhdxray.core.write.restore.RestorePlan (loaded on use)
    shown: str
    title: str = "Restore a backup"

    def run(self, image: Path, progress: Progress) -> WriteDone:
        from vhdxray.core.write.restore import run_restore
        from vhdxray.tui.writeflow import WriteDone

        progress.label = f"restoring {self.shown}"
        result = run_restore(self.plan)
        after = load_report(image)
        backups = (result.backup_path,) if result is not None else ()
        summary = f"Restored from {self.shown}: the image holds its bytes from before that write."
        return WriteDone(report=after, backups=backups, summary=summary)


def _update_headers_plan(report: Report) -> Any:
    """The registry's header repair, asked for by name (planned on a healthy image too): the
    one header-update path, shared with ``update-headers`` and the repair engine."""
    from vhdxray.core.write.repair import Refused, RepairOptions, plan_repairs
    from vhdxray.core.write.repairs import headers

    kind_id = headers.KIND.id
    plan = plan_repairs(report, RepairOptions(), only=(kind_id,), requested=(kind_id,))
    item = plan.item(kind_id)
    if item is None:  # pragma: no cover - a requested update is always planned or refused
        return Refusal("nothing_to_do", "nothing to update")
    if isinstance(item, Refused):
        return Refusal(item.code, item.reason, item.params, suggest=item.suggest)
    return plan


def _update_headers_run(path: Path, plan: RepairPlan) -> WriteDone:
    from vhdxray.core.analysis.verdict import header_sentence
    from vhdxray.core.write.repair import run_repairs  # the writer is loaded on first use
    from vhdxray.tui.writeflow import WriteDone

    run = run_repairs(plan)
    if run.error is not None:
        raise run.error
    after = run.report if run.report is not None else load_report(path)
    hplan = plan.repairs[0].carry.plan  # type: ignore[attr-defined]
    summary = (
        f"Headers updated: slot {hplan.first.slot} got sequence {hplan.first.sequence_number}, "
        f"slot {hplan.second.slot} got {hplan.second.sequence_number}. {header_sentence(after)}"
    )
    return WriteDone(report=after, backups=run.backups, summary=summary)


def _update_headers_notes(refusal: Refusal) -> tuple[str, ...]:
    if refusal.code == "no_current_header":
        return (
            "Rebuild the headers from a slot you choose with s here (or R, Repair…): both slots "
            "are shown side by side and each choice says what it changes.",
        )
    if refusal.code == "log_replay_pending":
        return (
            "Replay the log first: press l here (or l on the main screen, or R for every "
            "repair). The replay updates both headers itself, so no separate header update is "
            "needed afterwards.",
        )
    return ()


def _update_headers_offers(refusal: Refusal) -> tuple[Offer, ...]:
    from vhdxray.tui import repairs
    from vhdxray.tui.screens.confirm import Offer

    if refusal.code == "no_current_header":
        return (
            Offer(
                key="s",
                button="Choose a slot",
                label="rebuild both headers from a slot you choose",
                action=repairs.action_for(repairs.HEADERS),
            ),
        )
    if refusal.code == "log_replay_pending":
        return (
            Offer(
                key="l",
                button="Replay the log",
                label="open the log replay (its own confirmation follows)",
                action=repairs.action_for(repairs.REPLAY),
            ),
        )
    return ()


UPDATE_HEADERS: WriteAction[Any] = WriteAction(
    id="update-headers",
    key="u",
    title="Update headers",
    help="Rewrite both header slots (MS-VHDX 2.2.2.1 double update), after a confirmation",
    question="Write these two headers?",
    plan=_update_headers_plan,
    describe=lambda plan: plan.repairs[0].lines,
    run=_update_headers_run,
    refusal_notes=_update_headers_notes,
    refusal_offers=_update_headers_offers,
)


def _has_finding(codes: tuple[str, ...]) -> Callable[[Report], bool]:
    def offered(report: Report) -> bool:
        return any(f.code in codes for f in report.findings)

    return offered


def _repair_actions() -> tuple[RepairAction, ...]:
    """One action per registered repair kind (and its "into a copy" variant), from the
    kinds' declarations: no repair is named here."""
    from vhdxray.core.write.repairs import kinds

    out: list[RepairAction] = []
    for k in kinds():
        out.append(
            RepairAction(
                id=k.action,
                key=k.key,
                title=k.label,
                help=k.help,
                repair_id=k.id,
                footer=_has_finding(k.finding_codes) if k.key else lambda _r: False,
            )
        )
        if k.copy_action is not None:
            out.append(
                RepairAction(
                    id=k.copy_action,
                    key=None,
                    title=k.copy_label,
                    help=k.copy_help,
                    repair_id=k.id,
                    into_copy=True,
                )
            )
    return tuple(out)


REPAIR_ACTIONS: tuple[RepairAction, ...] = _repair_actions()

WRITE_ACTIONS: dict[str, WriteAction[Any] | RepairAction] = {
    UPDATE_HEADERS.id: UPDATE_HEADERS,
    **{a.id: a for a in REPAIR_ACTIONS},
}


def write_action(action_id: str) -> WriteAction[Any] | RepairAction | None:
    """The registered action, or an ad-hoc one for a repair id the planner knows
    (``repair:ID``) but this app has no entry for."""
    action = WRITE_ACTIONS.get(action_id)
    if action is None:  # a kind registered after start-up (a plug-in, a test)
        action = next((a for a in _repair_actions() if a.id == action_id), None)
    if action is None and action_id.startswith("repair:"):
        rid = action_id.removeprefix("repair:")
        return RepairAction(id=action_id, key=None, title=rid, help=rid, repair_id=rid)
    return action


_frozen = False


def _freeze_startup_objects() -> None:
    """Move every object made so far (the modules, classes and functions the imports made,
    which live as long as the process) out of the cyclic garbage collector's reach, once per
    process (:func:`gc.freeze`). Each full collection would otherwise walk them all again:
    before the first frame that cost about 80 MIr (5% of the start-up), for no garbage.
    Objects made later (widgets, reports) are collected as before."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


class VhdxrayApp(App[int]):
    """Inspect one VHDX image and run safe repairs on it."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    SCREENS_CSS_PATH = Path(__file__).with_name("screens.tcss")
    """The other screens' rules: added by :meth:`screen_css` when the first screen other than
    the main screen is made, so the main screen's first frame does not parse them (about
    20 MIr). They only select those screens and their widgets, and come after app.tcss's rules,
    as they did in one file."""
    _screens_css = False
    TITLE = "vhdxray"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(a.key, f"write('{a.id}')", a.title, id=a.id, tooltip=a.help)
            for a in WRITE_ACTIONS.values()
            if a.key is not None
        ),
        Binding(
            "R",
            "repair_menu",
            "Repair…",
            id="repair",
            key_display="R",
            tooltip="Every repair this image needs, each with its confirmation",
        ),
        Binding("r", "reload", "Reload", id="reload", tooltip="Read the image from disk again"),
        Binding(
            "e",
            "export",
            "Export",
            id="export",
            tooltip="Copy the virtual disk into a new raw or VHDX file (the image is only read)",
        ),
        Binding("o", "open", "Open", id="open", tooltip="Open another image"),
        Binding(
            "O",
            "open_copy",
            "Open copy",
            id="open-copy",
            key_display="O",
            tooltip="Open the copy the last repair made",
        ),
        Binding(
            "b", "backups", "Backups", id="backups", tooltip="This image's backups; restore one"
        ),
        Binding("T", "change_theme", "Theme", id="theme", show=False, key_display="T"),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("escape", "back_to_fleet", "Back to the list", id="fleet"),
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
        fleet: Sequence[Path] | None = None,
    ) -> None:
        _freeze_startup_objects()
        super().__init__()
        self.image = Path(image)
        self.read_only = read_only
        self.display_name = display_name if display_name is not None else str(image)
        self.fleet = None if fleet is None else [Path(f) for f in fleet]
        """Folders listed on the fleet screen (the first screen); Enter opens an image."""
        if report is None:
            report = fleet_placeholder(self.image) if self.fleet else load_report(self.image)
        self.report: Report = report
        self.last_write: WriteDone | None = None
        self.last_error: BaseException | None = None
        self.write_seconds: float | None = None  # from confirmation to refreshed view
        self._write_started = 0.0
        self._plans: dict[RepairOptions, RepairPlan] = {}
        self._plans_for: Report | None = None
        self.last_hangup_state: str | None = None  # what a hang-up said it left behind
        self.hard_exit_cleanups = []

    def refresh(
        self, *, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        """Textual asks the app for a layout of the screen shown when a screen is removed (a
        dialog closed) and after a suspend: a whole layout of the main screen each time a
        dialog closes. Its size did not change (a resize lays it out by itself) and whatever
        changed on it while it was covered asked for its own layout (kept until it is shown
        again): a repaint is all that is left to do."""
        return super().refresh(repaint=repaint, layout=False, recompose=recompose)

    # --- screens ---------------------------------------------------------------------------

    def _screen_for(self, report: Report, force_main: bool = False) -> Screen[Any]:
        if force_main or not needs_explanation(report):
            return MainScreen(
                report,
                self.display_name,
                verdict(report),
                read_only=self.read_only,
                plan_source=self.repair_plan_or_none,
            )
        from vhdxray.tui.screens.explain import ExplainScreen

        return ExplainScreen(report, self.display_name)

    def get_default_screen(self) -> Screen[Any]:
        if self.fleet:
            from vhdxray.tui.screens.fleet import FleetScreen

            return self.screen_css(FleetScreen(self.fleet))
        # The first frame already shows the report (no blank screen first).
        return self.screen_css(self._screen_for(self.report))

    def screen_css(self, screen: ScreenT) -> ScreenT:
        """``screen``, the other screens' rules added to the stylesheet first if it needs them
        (any screen but the main screen), before it or any of its widgets is styled."""
        if not self._screens_css and not isinstance(screen, MainScreen):
            self._screens_css = True
            path = self.SCREENS_CSS_PATH
            self.stylesheet.add_source(
                path.read_text(encoding="utf-8"), read_from=(str(path), ""), is_default_css=False
            )
        return screen

    def _get_screen(self, screen: Screen[Any] | str) -> tuple[Screen[Any], AwaitMount]:
        # Every pushed or switched-to screen comes through here before it is registered.
        return super()._get_screen(screen if isinstance(screen, str) else self.screen_css(screen))

    def open_image(self, path: Path) -> None:
        """From the fleet screen: show one image's own screen (Escape comes back)."""
        self.image = Path(path)
        self.display_name = str(path)
        self.report = load_report(self.image)
        self.last_write, self.last_error = None, None
        self.push_screen(self._screen_for(self.report))

    def action_back_to_fleet(self) -> None:
        while len(self.screen_stack) > 1 and self.report_screen is not None:
            self.pop_screen()

    @property
    def report_screen(self) -> Screen[Any] | None:
        """The main or explanation screen shown now (below any dialog; a fleet list opened
        over an image hides it)."""
        for screen in reversed(self.screen_stack):
            if getattr(screen, "shows_report", False):  # MainScreen, ExplainScreen
                return cast("Screen[Any]", screen)
            if getattr(screen, "lists_images", False):
                return None
        return None

    def open_folder(self, folder: Path) -> None:
        """``o`` on a folder: the fleet list of every image in it, in place of what was
        shown (Enter opens an image, Escape comes back to the list)."""
        from vhdxray.tui.screens.fleet import FleetScreen

        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.fleet = [Path(folder)]
        self.image = Path(folder)
        self.display_name = str(folder)
        self.report = fleet_placeholder(self.image)
        self.last_write, self.last_error = None, None
        self.push_screen(FleetScreen(self.fleet))

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

    def shown_path(self, path: str | Path) -> str:
        """``path`` as the user sees it: relative to the image's folder when it is there."""
        try:
            rel = Path(path).resolve().relative_to(self.image.resolve().parent)
        except ValueError:
            return str(path)
        return str(Path(self.display_name).parent / rel)

    # --- the repair planner -------------------------------------------------------------------

    def repair_plan(self, options: RepairOptions | None = None) -> RepairPlan:
        """The repair plan of the loaded image (read-only; cached until the image is re-read)."""
        from vhdxray.core.write.repair import RepairOptions, plan_repairs

        options = RepairOptions() if options is None else options
        if self._plans_for is not self.report:
            self._plans = {}
            self._plans_for = self.report
        plan = self._plans.get(options)
        if plan is None:
            plan = plan_repairs(self.report, options)
            self._plans[options] = plan
        return plan

    def repair_plan_or_none(self) -> RepairPlan | None:
        """:meth:`repair_plan`, or None (and a notice) when planning itself fails."""
        if not self.report.is_vhdx:
            return None
        try:
            return self.repair_plan()
        except Exception as exc:  # a planner bug must not take the app down
            self.notify(
                f"Planning the repairs failed: {type(exc).__name__}: {exc}",
                title="Repair planner",
                severity="error",
                markup=False,
            )
            return None

    # --- actions ----------------------------------------------------------------------------

    def _writable(self) -> bool:
        return not self.read_only and self.main_screen is not None and self.report.is_vhdx

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "write":
            action_obj = write_action(str(parameters[0])) if parameters else None
            if not self._writable() or action_obj is None:
                return False
            if not action_obj.offered(self.report):
                return False
            return None if self.busy else True
        if action == "repair_menu":
            if not self._writable():
                return False
            return None if self.busy else True
        if action == "reload":
            if self.fleet and self.report_screen is None:
                return False  # the fleet screen rescans with its own key
            return None if self.busy else True
        if action == "backups" and self.report_screen is None:
            return False  # the fleet list: no one image
        if action in ("open", "backups"):
            return None if self.busy else True
        if action == "export":
            if self.main_screen is None or not self.report.is_vhdx:
                return False
            return None if self.busy else True
        if action == "back_to_fleet":
            if not self.fleet or self.report_screen is None:
                return False
            return None if self.busy else True
        if action == "open_copy":
            copy = self.last_write.copy if self.last_write is not None else None
            if copy is None or not copy.exists():
                return False
            return None if self.busy else True
        return True

    async def action_quit(self) -> None:
        """q / ctrl+q: refused while a write runs (the image is locked and part-way through a
        step); the write finishes or fails on its own, then q quits."""
        if self.busy:
            self.notify(
                "A write is in progress: wait for it to finish, or press Esc or c to cancel "
                "it at its next safe step; then q quits. Quitting now would stop vhdxray "
                "between two writes of a repair.",
                title="Cannot quit now",
                severity="warning",
            )
            return
        await super().action_quit()

    def action_reload(self) -> None:
        if self.busy:
            return
        self.show_report(load_report(self.image))
        main = self.main_screen
        if main is not None:
            main.set_status(None)
        self.notify("Reloaded from disk.", timeout=2)

    def switch_image(self, path: Path) -> None:
        """Show ``path`` instead of the current image (``o``, ``O``); from the fleet screen,
        open it over the fleet. A folder opens the fleet list."""
        if Path(path).is_dir():
            self.open_folder(Path(path))
            return
        if self.report_screen is None:
            self.open_image(path)
            return
        self.image = Path(path)
        self.display_name = str(path)
        self.last_write = None
        main = self.main_screen
        self.show_report(load_report(self.image))
        main = self.main_screen
        if main is not None:
            main.set_status(None)
        self.notify(f"Opened {self.display_name}", timeout=3, markup=False)

    def action_open(self) -> None:
        if self.busy:
            return

        from vhdxray.tui.screens.openimage import OpenImageScreen

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.switch_image(path)

        self.push_screen(OpenImageScreen(self.image.resolve().parent), chosen)

    def action_open_copy(self) -> None:
        if self.check_action("open_copy", ()) is not True or self.last_write is None:
            return
        copy = self.last_write.copy
        if copy is not None:
            self.switch_image(copy)

    def action_backups(self) -> None:
        if self.busy:
            return
        from vhdxray.tui.backuplist import list_backups
        from vhdxray.tui.screens.backups import BackupsScreen

        entries = list_backups(self.image)
        read_only = self.read_only or not self.report.is_vhdx

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.ask_restore(path)

        self.push_screen(BackupsScreen(entries, self.display_name, read_only), chosen)

    def ask_restore(self, backup: Path) -> None:
        """The restore's confirmation (or why not), then the restore in the worker."""
        from vhdxray.core.write.backup import BackupError
        from vhdxray.core.write.restore import plan_restore
        from vhdxray.core.write.writer import WriteRefused
        from vhdxray.tui.screens.confirm import Confirmation, ConfirmScreen
        from vhdxray.tui.writeflow import in_use_reason

        title = "Restore a backup"
        question = "Put the saved bytes back into the image?"
        try:
            plan = plan_restore(backup, self.image)
        except (WriteRefused, BackupError, OSError, ValueError) as exc:
            confirmation = Confirmation(title=title, question=question, refusal=str(exc))
            self.push_screen(ConfirmScreen(confirmation))
            return
        lines = [f"From {self.shown_path(backup)}", *plan.describe()[1:]]
        busy_reason = in_use_reason(self.image)
        if not plan.plan.writes and plan.truncate_to is None:
            refusal: str | None = "the image already holds the bytes from before that write"
        else:
            refusal = busy_reason
        confirmation = Confirmation(
            title=title,
            question=question,
            lines=tuple(lines),
            refusal=refusal,
            notes=(
                "The bytes the restore replaces are saved first in a new backup, so the "
                "restore can be undone too.",
            ),
        )
        job = RestoreJob(plan, self.shown_path(backup))

        def answered(result: bool | Offer | None) -> None:
            if result is True and not self.busy and refusal is None:
                self.start_write(job)

        self.push_screen(ConfirmScreen(confirmation), answered)

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """Save an SVG of the screen in $VHDXRAY_SCREENSHOT_DIR (or the current folder)."""
        import os

        folder = path or os.environ.get("VHDXRAY_SCREENSHOT_DIR") or os.getcwd()
        try:
            saved = self.save_screenshot(filename, folder)
        except OSError as exc:
            self.notify(
                f"The screenshot could not be saved in {folder}: {exc.strerror or exc}",
                title="Screenshot",
                severity="error",
                markup=False,
            )
            return
        self.notify(f"Saved {saved}", title="Screenshot", markup=False)

    def action_help(self) -> None:
        from vhdxray.tui.screens.dialogs import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.read_only))

    def action_write(self, action_id: str) -> None:
        if self.check_action("write", (action_id,)) is not True:
            return
        self.ask(action_id)

    def ask(self, action_id: str, options: Options = ()) -> None:
        """Show the dialog of write action ``action_id`` (with choice ``options``)."""
        from vhdxray.tui.screens.confirm import ConfirmScreen, Offer
        from vhdxray.tui.screens.dialogs import ErrorScreen

        action = write_action(action_id)
        if action is None or not self._writable() or self.busy:
            return
        try:
            proposal = action.propose(self, options)
        except Exception as exc:  # planning read the image: an I/O error must not crash
            self.last_error = exc
            self.push_screen(
                ErrorScreen(
                    "Planning failed: nothing was written",
                    Group(safe(f"{type(exc).__name__}: {exc}"), Text(""), plain("Reload (r).")),
                )
            )
            return

        def answered(result: bool | Offer | None) -> None:
            if isinstance(result, Offer) and result.ask_path is not None:
                self.ask_path(result)
            elif isinstance(result, Offer):
                self.ask(result.action, result.options)
            elif result and proposal.job is not None and not self.busy:
                self.start_write(proposal.job)

        self.push_screen(ConfirmScreen(proposal.confirmation), answered)

    def ask_path(self, offer: Offer) -> None:
        """An offer whose option is a path (relink's parent): pick the file, then the
        action's dialog with it."""
        from vhdxray.tui.screens.openimage import OpenImageScreen

        name = offer.ask_path
        assert name is not None

        def chosen(path: Path | None) -> None:
            if path is not None and path.is_dir():
                self.notify(f"{path} is a folder: choose a file.", severity="warning", markup=False)
            elif path is not None:
                self.ask(offer.action, (*offer.options, (name, str(path))))

        title = offer.label[:1].upper() + offer.label[1:]
        self.push_screen(
            OpenImageScreen(self.image.resolve().parent, title, files_only=True), chosen
        )

    def action_repair_menu(self) -> None:
        if self.check_action("repair_menu", ()) is not True:
            return
        from vhdxray.tui import repairs
        from vhdxray.tui.screens.repairmenu import RepairMenuScreen

        plan = self.repair_plan_or_none()
        if plan is None:
            return
        copy_plan = None
        kinds_with_copy = {a.repair_id for a in REPAIR_ACTIONS if a.into_copy}
        if any(r.id in kinds_with_copy for r in plan.refusals):
            from vhdxray.core.write.repair import RepairOptions

            copy_plan = self.repair_plan(RepairOptions(into_copy=True))
        items = repairs.menu_items(plan, copy_plan)

        def chosen(action_id: str | None) -> None:
            if action_id is not None:
                self.ask(action_id)

        self.push_screen(RepairMenuScreen(items, plan.notes), chosen)

    def on_findings_view_repair_requested(self, message: FindingsView.RepairRequested) -> None:
        """Enter on a finding: its repair's dialog, or why it has none."""
        if not self._writable() or self.busy:
            return
        plan = self.repair_plan_or_none()
        if plan is None:
            return
        code = message.finding.code
        item = plan.for_finding(code)
        if item is None:
            self.notify(
                f"{code}: vhdxray has no repair for this finding.",
                title="No repair",
                markup=False,
            )
            return
        from vhdxray.tui import repairs

        self.ask(repairs.action_for(item.id))

    def start_write(self, job: Job) -> None:
        """Run ``job`` in a worker behind the progress dialog (Escape / c cancels)."""
        from vhdxray.tui.backuplist import backup_files
        from vhdxray.tui.screens.progress import ProgressScreen

        self._write_started = time.perf_counter()
        self.busy = True
        self._progress(job.title.lower())
        before = set(backup_files(self.image))
        output: Path | None = getattr(job, "output", None)

        def work(progress: Progress) -> WriteDone:
            return job.run(self.image, progress)

        def finished(outcome: Finished[WriteDone] | None) -> None:
            self.busy = False
            if outcome is None:
                return
            if outcome.cancelled:
                self._write_cancelled(outcome.progress, before, output)
            elif outcome.error is not None:
                self._write_failed(outcome.error)
            elif outcome.result is not None:
                self._write_succeeded(outcome.result)
            if self.terminal_lost:
                self._exit_after_hangup(self._write_state(outcome, before, output))

        note = (
            "Cancel removes the new copy; the original is never written."
            if output is not None
            else "Cancel stops between safe steps: the result says exactly what was written."
        )
        self.push_screen(ProgressScreen(job.title, work, group=WRITE_GROUP, note=note), finished)

    def _progress(self, what: str) -> None:
        main = self.main_screen
        if main is not None:
            main.set_status(
                join(("Working: ", "bold"), safe(what), "… (Esc or c cancels safely)"),
                "busy",
            )

    def _write_cancelled(self, progress: Progress, before: set[Path], output: Path | None) -> None:
        """Say exactly what the cancelled write left behind."""
        from vhdxray.tui.backuplist import backup_files
        from vhdxray.tui.screens.dialogs import MessageScreen
        from vhdxray.tui.screens.progress import amount

        report = load_report(self.image)
        new = [b for b in backup_files(self.image) if b not in before]
        parts: list[RenderableType] = []
        if output is not None:
            gone = not output.exists()
            title = "Cancelled: the copy was removed" if gone else "Cancelled"
            parts.append(
                plain(
                    "The original image is unchanged (it was only read); the partial copy "
                    + ("was deleted." if gone else f"is left at {self.shown_path(output)}.")
                )
            )
        elif not new:
            title = "Cancelled: nothing was written"
            parts.append(plain("Cancelled before anything was written: the image is unchanged."))
        else:
            title = "Cancelled part-way"
            if report.log is not None and report.log.replay_needed:
                parts.append(
                    plain(
                        f"The log is still pending: {amount(progress.done, progress.unit)} of "
                        f"{amount(progress.total, progress.unit)} of its pages were written. "
                        "Nothing is lost: replaying again (l) finishes the job, and Hyper-V or "
                        "QEMU replay it themselves when they open the image."
                    )
                )
            else:
                parts.append(plain("Some steps were written before the cancel."))
            parts += self._restore_lines(
                new, "Backups of what was written (undo in this order, or press b):"
            )
        self.show_report(report)
        main = self.main_screen
        if main is not None:
            main.set_status(join(("■ ", "bold"), safe(title)), "error")
        self.write_seconds = time.perf_counter() - self._write_started
        self.tell(MessageScreen(title, Group(*parts)))

    def _restore_lines(self, backups: Sequence[str | Path], heading: str) -> list[Text]:
        """Every backup, newest first (the Backups view, b, restores each)."""
        lines = [plain(heading, "bold")]
        for backup in reversed(backups):
            lines.append(join("  ", safe(self.shown_path(backup))))
        return lines

    def _write_succeeded(self, done: WriteDone) -> None:
        from vhdxray.core.analysis.checked import with_chain_findings
        from vhdxray.tui.screens.confirm import hanging

        self.last_write = done
        self.show_report(with_chain_findings(self.image, done.report)[0])
        main = self.main_screen
        if main is not None:
            parts: list[RenderableType] = [join(("✓ ", "bold"), safe(done.summary))]
            if done.lines:
                parts.append(hanging(done.lines))
            if len(done.backups) == 1:
                backup = self.shown_path(done.backups[0])
                parts += [
                    join(("Backup: ", "bold"), safe(backup)),
                    join(("Undo:   ", "bold"), "press b (Backups), then Enter on it"),
                ]
            elif done.backups:
                parts += self._restore_lines(
                    done.backups,
                    "Backups, newest first (to undo, press b and restore them in this order):",
                )
            main.set_status(Group(*parts), "done")
        self.write_seconds = time.perf_counter() - self._write_started

    def _write_failed(self, error: BaseException) -> None:
        from vhdxray.core.write.outcome import VhdxrayError
        from vhdxray.tui.screens.dialogs import ErrorScreen
        from vhdxray.tui.writeflow import RepairRunFailed

        self.last_error = error
        if isinstance(error, RepairRunFailed):
            title, body = self._repair_failure(error)
        elif isinstance(error, VhdxrayError) and error.refused:
            title = "Refused: nothing was written"
            body = Group(safe(str(error)), Text(""), plain("The image is unchanged."))
        elif isinstance(error, VhdxrayError):
            title = "The write FAILED part-way"
            parts: list[Text] = [safe(str(error)), Text("")]
            if error.backups:
                backup = self.shown_path(error.backups[-1])
                parts += [
                    plain("The bytes as they were before are saved in:", "bold"),
                    join("  ", safe(backup)),
                    plain("Put them back: press b (Backups), then Enter on it.", "bold"),
                ]
            body = Group(*parts)
        else:
            title = "The write failed"
            body = Group(
                safe(f"{type(error).__name__}: {error}"),
                Text(""),
                plain("Reload (r) to see the image as it is on disk now."),
            )
        self.show_report(load_report(self.image))
        main = self.main_screen
        if main is not None:
            main.set_status(join(("✗ ", "bold"), safe(title)), "error")
        self.tell(ErrorScreen(title, body))

    def _repair_failure(self, failure: RepairRunFailed) -> tuple[str, Group]:
        run = failure.run
        error = run.error
        refused = error is not None and error.refused
        if refused and not run.backups:
            title = "Refused: nothing was written"
        elif refused:
            title = "Refused part-way: the steps before were written"
        else:
            title = "The repair FAILED part-way"
        step = run.failed_step or "?"
        parts: list[Text] = [safe(str(error)), plain(f"(step: {step})", "dim"), Text("")]
        for s in run.steps:
            for line in s.lines:
                parts.append(join(("done: ", "bold"), safe(line)))
        if run.backups:
            parts += self._restore_lines(
                run.backups,
                "Every byte written so far is saved; undo it with these, in this order:",
            )
            parts.append(Text(""))
        if failure.copy is not None:
            if run.copied_from is not None:
                parts.append(
                    join(
                        "The original is unchanged; the copy ",
                        safe(self.shown_path(failure.copy)),
                        " is left as it is: delete it, or run the repair on it (vhdxray "
                        "repair COPY).",
                    )
                )
            else:
                parts.append(plain("The original is unchanged; no copy was made."))
        elif not run.backups:
            parts.append(plain("The image is unchanged."))
        else:
            parts.append(
                plain(
                    "Running the repair again finishes the job (each step re-reads the image); "
                    "or undo with the commands above. Reload (r) to see the image as it is now."
                )
            )
        return title, Group(*parts)

    # --- export (e) ----------------------------------------------------------------------------

    def action_export(self) -> None:
        """Ask for the output file, then export in a worker behind the progress dialog."""
        if self.check_action("export", ()) is not True:
            return
        from vhdxray.tui.screens.export import ExportRequest, ExportScreen

        notes: list[str] = []
        if any(f.code == "chain.missing" for f in self.report.findings):
            notes.append(
                "The parent is missing: the sectors this child leaves to it are zero-filled "
                "and listed as gaps."
            )
        if any(
            f.code == "file.truncated" or f.code.endswith("past_eof") for f in self.report.findings
        ):
            notes.append("The file is cut short: what lies past its end is zero-filled and listed.")

        def chosen(request: ExportRequest | None) -> None:
            if request is not None and not self.busy:
                self.start_export(request.output, request.fmt)

        self.push_screen(ExportScreen(self.image, notes), chosen)

    def start_export(self, output: Path, fmt: str) -> None:
        from vhdxray.tui.exportflow import ExportDone, run_export
        from vhdxray.tui.screens.progress import ProgressScreen

        self.busy = True
        self._progress(f"exporting to {output.name}")
        image = self.image

        def work(progress: Progress) -> ExportDone:
            return run_export(image, output, fmt, progress)

        def finished(outcome: Finished[ExportDone] | None) -> None:
            self.busy = False
            if outcome is not None:
                self._export_finished(outcome, output)
                if self.terminal_lost:
                    self._exit_after_hangup(self._export_state(outcome, output))

        self.push_screen(
            ProgressScreen(
                "Export the virtual disk",
                work,
                group="export",
                note="Cancel removes the partial file; the image is only read.",
            ),
            finished,
        )

    def _export_finished(self, outcome: Finished[Any], output: Path) -> None:
        from vhdxray.tui import exportflow
        from vhdxray.tui.screens.dialogs import ErrorScreen, MessageScreen
        from vhdxray.tui.writeflow import WriteDone

        main = self.main_screen
        shown = self.shown_path(output)
        if outcome.cancelled or outcome.error is not None:
            left = exportflow.leftovers(output)
            if outcome.cancelled:
                title = "Export cancelled" + ("" if left else ": the partial file was removed")
                body: RenderableType = exportflow.cancelled_renderable(shown, left)
            else:
                title, body = self._export_error(outcome.error, left)
            if main is not None:
                main.set_status(join(("■ ", "bold"), safe(title)), "error")
            self.tell(MessageScreen(title, body) if outcome.cancelled else ErrorScreen(title, body))
            return
        done = outcome.result
        if not isinstance(done, exportflow.ExportDone):
            return
        if done.result.format == "vhdx":  # O opens it, as it opens the copy a repair made
            self.last_write = WriteDone(
                report=self.report, backups=(), summary="", copy=done.output
            )
        title = exportflow.summary_title(done)
        if main is not None:
            more = "; press O to open it" if done.result.format == "vhdx" else ""
            main.set_status(join(("✓ ", "bold"), safe(f"{title}: {shown}{more}")), "done")
        body = exportflow.summary_renderable(done, self.display_name, self.shown_path)
        self.tell(MessageScreen(title, body))

    def _export_error(
        self, error: BaseException | None, left: Sequence[Path]
    ) -> tuple[str, RenderableType]:
        if isinstance(error, Refusal):  # the outcome model: opening or exporting refused
            return "Export refused: nothing was written", Group(
                safe(app_text(error.reason, error.suggest)),
                Text(""),
                plain("The image is unchanged."),
            )
        title = "Export failed"
        gone = (
            "The partial file was removed."
            if not left
            else "Still on disk: " + ", ".join(str(p) for p in left)
        )
        return title, Group(
            safe(f"{type(error).__name__}: {error}"),
            Text(""),
            plain(gone),
            plain("The image was only read and is unchanged."),
        )

    def guest_report(self) -> Any:
        """What is inside the image, when it has been looked at (None otherwise)."""
        main = self.main_screen
        outcome = None if main is None else main.guest_outcome
        return None if outcome is None else outcome.guest

    # --- the terminal closed (SIGHUP) while a write runs ---------------------------------------

    watch_hangup = False
    """Handle SIGHUP (set by :func:`run_app`; tests drive :meth:`hang_up` themselves)."""
    terminal_lost = False
    _panic_pending: tuple[RenderableType, ...] | None = None

    def on_mount(self) -> None:
        if self.watch_hangup:
            import asyncio
            import signal

            with suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.hang_up)

    def hang_up(self) -> None:
        """The terminal is gone. Like q during a write, vhdxray does not stop between two
        writes: the running write is cancelled through its progress (core stops at its next
        safe step, or finishes), then the app exits and says what state it left, on stderr
        (if it still goes anywhere) and in a log file."""
        self.terminal_lost = True
        if not self.busy:
            self._exit_after_hangup("no write was running; nothing was changed")
            return
        self._cancel_running()

    def panic(self, *renderables: RenderableType) -> None:
        """A closed terminal also ends Textual's input thread (a panic): during a write that
        waits for the write to stop at a safe step, as a hang-up does."""
        if self.busy:
            self.terminal_lost = True
            self._panic_pending = renderables
            self._cancel_running()
            return
        super().panic(*renderables)

    def tell(self, dialog: MessageScreen) -> None:
        """Show how a write ended (not when the terminal is gone: the app is exiting and the
        hang-up log says it instead)."""
        if not self.terminal_lost:
            self.push_screen(dialog)

    def _cancel_running(self) -> None:
        from vhdxray.tui.screens.progress import ProgressScreen

        for screen in self.screen_stack:
            if isinstance(screen, ProgressScreen):
                screen.action_cancel()

    def hangup_log_path(self) -> Path:
        """Where the hang-up's outcome is written: $VHDXRAY_LOG, or next to the image."""
        import os

        named = os.environ.get("VHDXRAY_LOG")
        if named:
            return Path(named)
        folder = self.image if self.image.is_dir() else self.image.parent
        return folder / f"{self.image.name}.vhdxray-hangup.log"

    def _exit_after_hangup(self, state: str) -> None:
        import sys

        line = f"vhdxray: the terminal was closed (SIGHUP): {state}"
        with suppress(OSError, ValueError):
            print(line, file=sys.__stderr__, flush=True)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with suppress(OSError), open(self.hangup_log_path(), "a", encoding="utf-8") as log:
            log.write(f"{stamp} {self.display_name}: {line}\n")
        self.last_hangup_state = line
        if self.watch_hangup:  # a real terminal, gone: never hang while Textual restores it
            self._exit_hard_later(129)
        pending, self._panic_pending = self._panic_pending, None
        if pending is not None:
            super().panic(*pending)
        else:
            self.exit(return_code=129)

    hard_exit_grace = 5.0  # seconds Textual gets to wind down after a hang-up
    hard_exit_cleanups: list[Callable[[], object]]
    """What must still happen if the process is ended hard (the demo's folder)."""

    def _exit_hard_later(self, code: int) -> None:
        """End the process if Textual has not within :attr:`hard_exit_grace` seconds.

        With the terminal gone, Textual's shutdown writes the escape sequences that restore it
        to a writer thread that may have died on the closed terminal, and blocks on its full
        queue forever (seen: an app alive, spinning, minutes after tmux killed its session).
        The write has ended and its state is logged by now, so nothing is lost by ending the
        process; the cleanups (the demo's folder) run first."""
        import os
        import threading

        def end() -> None:
            time.sleep(self.hard_exit_grace)
            for cleanup in self.hard_exit_cleanups:
                with suppress(Exception):
                    cleanup()
            os._exit(code)

        threading.Thread(target=end, name="vhdxray-hangup-exit", daemon=True).start()

    def _write_state(
        self, outcome: Finished[WriteDone], before: set[Path], output: Path | None
    ) -> str:
        """What a write that ended after a hang-up left behind, in one plain line."""
        from vhdxray.tui.backuplist import backup_files

        new = [b for b in backup_files(self.image) if b not in before]
        undo = (
            "; undo with " + ", then ".join(f"vhdxray restore {b}" for b in reversed(new))
            if new
            else ""
        )
        if outcome.cancelled and output is not None:
            if output.exists():
                return f"cancelled; the partial copy {output} is left (delete it)"
            return f"cancelled; the partial copy {output} was removed; the original is unchanged"
        if outcome.cancelled:
            if not new:
                return f"cancelled before anything was written; {self.image} is unchanged"
            return f"cancelled part-way; {self.image} was partly written{undo}"
        if outcome.error is not None:
            return f"the write failed: {outcome.error}{undo}"
        done = outcome.result
        copy = f" (the copy: {done.copy})" if done is not None and done.copy else ""
        summary = done.summary if done is not None else "the write completed"
        summary = summary.replace(" Press O to open the copy.", "")  # no keys left to press
        return f"the write completed: {summary}{copy}{undo}"

    def _export_state(self, outcome: Finished[Any], output: Path) -> str:
        from vhdxray.tui.exportflow import leftovers

        left = leftovers(output)
        if outcome.cancelled or outcome.error is not None:
            what = "export cancelled" if outcome.cancelled else f"export failed: {outcome.error}"
            if left:
                return f"{what}; still on disk: {', '.join(str(p) for p in left)}"
            return f"{what}; the partial file was removed; the image is unchanged"
        return f"export completed: {output}"

    # --- command palette ----------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every action once, by name (Textual's own Keys panel is left out: Help lists the
        keys; its Screenshot is ours: it says where the file went)."""
        if self._writable():
            for action in WRITE_ACTIONS.values():
                if isinstance(action, RepairAction) and not action.in_palette(self):
                    continue
                title = (
                    action.title if isinstance(action, WriteAction) else f"Repair: {action.title}"
                )
                yield SystemCommand(
                    title,
                    action.help,
                    lambda a=action.id: self.action_write_any(a),
                )
            yield SystemCommand(
                "Repair…",
                "Every repair this image needs, each with its confirmation",
                self.action_repair_menu,
            )
        if self.check_action("export", ()) is True:
            yield SystemCommand(
                "Export…",
                "Copy the virtual disk into a new raw or VHDX file; the image is only read (e)",
                self.action_export,
            )
        yield SystemCommand("Open…", "Open another image or a folder (o)", self.action_open)
        if self.check_action("open_copy", ()) is True:
            yield SystemCommand(
                "Open the copy", "Open the copy the repair made (O)", self.action_open_copy
            )
        yield SystemCommand("Backups", "This image's backups; restore one (b)", self.action_backups)
        yield SystemCommand("Reload", "Read the image from disk again (r)", self.action_reload)
        yield SystemCommand("Help", "Keys and marks (?)", self.action_help)
        yield SystemCommand("Theme", "Change the colours (T)", self.action_change_theme)
        yield SystemCommand(
            "Screenshot",
            "Save an SVG of this screen in the current folder (or $VHDXRAY_SCREENSHOT_DIR)",
            lambda: self.set_timer(0.1, self.action_screenshot),
        )
        main = self.main_screen
        if main is not None:
            for view, title, key in VIEWS:
                if view == "chain" and not main.is_child:
                    continue
                yield SystemCommand(
                    f"Show {title}",
                    f"Switch to the {title.lower()} view ({key})",
                    lambda v=view: main.action_view(v),
                )
        yield SystemCommand("Quit", "Quit vhdxray (q)", self.action_quit)

    def action_write_any(self, action_id: str) -> None:
        """From the palette: any registered action, with or without a key of its own."""
        if self._writable() and not self.busy:
            self.ask(action_id)


def load_report(path: Path) -> Report:
    """The image as ``check`` reads it: a differencing disk's missing or wrong parent is an
    error finding (the Findings tab and the headline agree with ``check``)."""
    from vhdxray.core.analysis.checked import read_checked

    return read_checked(path)[0]


def fleet_placeholder(folder: Path) -> Report:
    """The app's report while the fleet screen shows a folder and no image is open."""
    return Report(path=str(folder), file_size=0, kind="folder", description="A folder.")


def run_app(
    image: Path,
    read_only: bool = False,
    display_name: str | None = None,
    cleanup: Callable[[], object] | None = None,
) -> int:
    """Open the app on ``image``, or on the fleet screen when it is a folder. ``cleanup``
    also runs if a hang-up has to end the process hard (the caller runs it otherwise)."""
    fleet = [image] if image.is_dir() else None
    app = VhdxrayApp(image, read_only=read_only, display_name=display_name, fleet=fleet)
    app.watch_hangup = True
    if cleanup is not None:
        app.hard_exit_cleanups.append(cleanup)
    try:
        app.run()
    except OSError:  # the terminal went away while Textual restored it
        if not app.terminal_lost:
            raise
    return app.return_code or 0


__all__ = [
    "REPAIR_ACTIONS",
    "UPDATE_HEADERS",
    "WRITE_ACTIONS",
    "RepairAction",
    "VhdxrayApp",
    "WriteAction",
    "run_app",
    "write_action",
]
