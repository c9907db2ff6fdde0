"""The main screen: file facts and verdict on top, the views in tabs, a status line, the Footer.

The views that show what the repair planner found (the log replay preview in the log view,
the truncation map in the BAT view, each finding's repair, the parent link in the metadata
view) are filled the first time one of them is opened: the planner reads the image, so it
never runs before the first paint. ``plan_source`` (from the app) plans, or returns None.

Only the first tab's view (the headers) is composed for the first frame; every other view is
made when its tab is first shown, with the report (and the plan) already in it, and kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.console import RenderableType
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static, Tab, TabbedContent, TabPane, Tabs
from textual.worker import Worker, WorkerState

from vhdxray.core.analysis.reader import Report
from vhdxray.core.analysis.verdict import Verdict
from vhdxray.tui.chainstatus import (
    MISSING,
    MODIFIED,
    MOVED,
    NOT_CHILD,
    ParentStatus,
    parent_status,
)
from vhdxray.tui.safe_text import plain
from vhdxray.tui.screens.steady import SteadyScreen
from vhdxray.tui.widgets.headers import HeadersView
from vhdxray.tui.widgets.info import InfoBar
from vhdxray.tui.widgets.keysfooter import REPORT_EXTRAS, KeysFooter
from vhdxray.tui.widgets.lazytabs import LazyTabbedContent
from vhdxray.tui.widgets.richstatic import RichStatic

if TYPE_CHECKING:
    from textual.widget import Widget

    from vhdxray.core.analysis.guest.image import GuestOutcome
    from vhdxray.core.write.repair import RepairPlan
    from vhdxray.tui.widgets.findings import FindingsView
    from vhdxray.tui.widgets.sections import Renderer, SectionView

# (tab id, title, key)
VIEWS: tuple[tuple[str, str, str], ...] = (
    ("headers", "Headers", "1"),
    ("regions", "Region tables", "2"),
    ("metadata", "Metadata", "3"),
    ("log", "Log", "4"),
    ("bat", "BAT", "5"),
    ("findings", "Findings", "6"),
    ("hex", "Hex", "7"),
    ("chain", "Chain", "8"),
)

# Tab labels: short enough that all fit in 80 columns (the Chain tab only for a child).
TAB_LABELS = {"regions": "Regions"}


def section_renderer(view: str) -> Renderer:
    """The renderer of a section view (imported with the view, when its tab is first shown)."""
    if view == "hex":
        from vhdxray.tui.widgets.hexview import hex_renderable

        return hex_renderable
    from vhdxray.tui.widgets import sections

    renderers: dict[str, Renderer] = {
        "regions": sections.regions_renderable,
        "metadata": sections.metadata_renderable,
        "log": sections.log_renderable,
        "bat": sections.bat_renderable,
    }
    return renderers[view]


# Views that show what the planner found; opening one plans (once per loaded image).
PLANNED_VIEWS = frozenset({"metadata", "log", "bat", "findings"})

FOOTER_EXTRAS = REPORT_EXTRAS

PlanSource = Callable[[], "RepairPlan | None"]

GUEST_GROUP = "guest"

RELINK = "chain.relink"  # the registry's relink repair (the Chain view's k)
RELINKABLE = frozenset({MOVED, MISSING, MODIFIED})


def findings_label(report: Report) -> str:
    """The Findings tab's label: how many findings, or how many errors."""
    errors = len(report.errors)
    return f"6 Findings ({len(report.findings)})" if not errors else f"6 Findings ({errors} ✗)"


def look_inside(report: Report) -> tuple[Report, GuestOutcome]:
    """Guest triage of ``report``'s image (what ``check`` does; reads, never writes)."""
    from vhdxray.core.analysis.guest.image import inspect_image

    return report, inspect_image(report.path, report)


class MainScreen(SteadyScreen):
    """Everything about one VHDX image."""

    shows_report: ClassVar[bool] = True  # the app's report_screen

    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, f"view('{view}')", title, show=False, id=f"view-{view}")
            for view, title, key in VIEWS
        ),
        Binding("i", "inside", "Inside", show=False, id="inside"),
        Binding("k", "relink", "Relink", id="relink", tooltip="Point this child at its parent"),
    ]

    def __init__(
        self,
        report: Report,
        name: str,
        v: Verdict,
        *,
        read_only: bool = False,
        plan_source: PlanSource | None = None,
    ) -> None:
        super().__init__()
        self._initial = (report, name, v)
        self.read_only = read_only
        self.plan_source = plan_source
        self.report = report
        self.plan_shown: RepairPlan | None = None  # the plan the views show now
        self.parent_status: ParentStatus | None = None  # a child's parent (the Chain view)
        self.guest_outcome: GuestOutcome | None = None  # what is inside, once looked at
        # The views made so far (view -> widget): the first tab's at once, every other one
        # when its tab is first shown (issue 9: the first frame composes one view, not eight).
        self._views: dict[str, Widget] = {}
        self._status_of: Report | None = None  # the report parent_status was found for
        self._chain_pane = False  # the Chain tab is made for the first child shown
        # The first focus goes to the headers view when the screen is composed. Textual's
        # default ("*") would focus the tab strip first, restyle it, and restyle it again
        # when on_mount moves the focus (about 45 MIr, 3% of the first paint). Later
        # resumes keep Textual's default (see on_mount). Textual reads it per screen.
        self.AUTO_FOCUS = "#headers-view"  # type: ignore[misc]

    def compose(self) -> ComposeResult:
        report = self._initial[0]
        self._find_parent(report)
        yield InfoBar(id="info")
        with LazyTabbedContent(initial="tab-headers", id="views"):
            for view, title, key in VIEWS:
                if view == "chain" and not self.is_child:
                    continue
                label = f"{key} {TAB_LABELS.get(view, title)}"
                if view == "findings":
                    label = findings_label(report)
                self._chain_pane |= view == "chain"
                with TabPane(label, id=f"tab-{view}"):
                    if view == "headers":
                        yield self._new_view(view)
        yield RichStatic(id="status", classes="-empty")
        yield KeysFooter(FOOTER_EXTRAS)

    def _new_view(self, view: str) -> Widget:
        """The widget of ``view``, made (and remembered) now; filled by :meth:`_fill`."""
        widget: Widget
        if view == "headers":
            widget = HeadersView(id="headers-view")
        elif view == "findings":
            from vhdxray.tui.widgets.findings import FindingsView

            widget = FindingsView(id="view-findings")
        else:
            from vhdxray.tui.widgets.sections import SectionView

            renderer = self._chain_body if view == "chain" else section_renderer(view)
            widget = SectionView(renderer, id=f"view-{view}")
        self._views[view] = widget
        return widget

    async def _show_view(self, view: str) -> None:
        """Make ``view``'s widget the first time its tab is shown: filled before it is
        mounted, so its first frame shows the report."""
        if view in self._views:
            return
        widget = self._new_view(view)
        self._fill(view)
        await self.query_one(TabbedContent).get_pane(f"tab-{view}").mount(widget)

    def _chain_body(self, report: Report) -> RenderableType:
        if not self.is_child:
            return plain("")
        from vhdxray.tui.widgets.chainview import chain_renderable

        return chain_renderable(report, self.parent_status, writable=not self.read_only)

    def on_mount(self) -> None:
        if self.read_only:
            self.query_one(InfoBar).border_title = plain("read-only: write actions are hidden")
        self.show(*self._initial)
        if self.focused is None:  # no auto focus (the app had no focus)
            self.query_one(HeadersView).focus()
        self.AUTO_FOCUS = None  # type: ignore[misc]  # the app's (Textual's "*") from now on

    def show(self, report: Report, name: str, v: Verdict) -> None:
        """Fill every view from ``report``."""
        self.report = report
        self.plan_shown = None
        self._find_parent(report)
        self.refresh_bindings()  # the Chain view's k follows the parent's status
        self.query_one(InfoBar).show(
            report, name, v, self.parent_status, writable=not self.read_only
        )
        for view in self._views:
            self._fill(view)
        tabs = self.query_one(TabbedContent)
        findings_tab = tabs.get_tab("tab-findings")
        label = findings_label(report)
        if findings_tab.label_text != label:  # composed with the first report's
            findings_tab.label = label
        if self.is_child and not self._chain_pane:  # the first child shown here
            self._chain_pane = True
            view, title, key = VIEWS[-1]
            tabs.add_pane(TabPane(f"{key} {TAB_LABELS.get(view, title)}", id=f"tab-{view}"))
        elif self._chain_pane:
            if self.is_child:
                tabs.show_tab("tab-chain")
            else:
                tabs.hide_tab("tab-chain")
        if self.active_view in PLANNED_VIEWS:
            self.show_plan()
        self.guest_outcome = None
        self.call_after_refresh(self._fit_tabs)  # after a Chain tab added or shown
        if report.is_vhdx:
            if self.guest_inline:
                self._guest_done(*look_inside(report))
            else:
                self.call_after_refresh(self._start_guest, report)

    def _fit_tabs(self) -> None:
        """Tight tabs (one column of padding, not two) when the row would not fit: a child's
        eight tabs need 82 columns, and Textual scrolls a row that does not fit, cutting off
        the first tab's key."""
        tabs = self.query_one(TabbedContent).query_one(Tabs)
        shown = [tab for tab in tabs.query(Tab) if not tab.has_class("-hidden")]
        needed = sum(tab.label.cell_length + 2 for tab in shown)
        tabs.set_class(needed > self.app.size.width, "-tight")

    def on_resize(self) -> None:
        self._fit_tabs()

    # --- the guest layer, looked at after the first paint --------------------------------------

    guest_inline: ClassVar[bool] = False
    """Look inside before the frame is drawn instead of in a worker after it (the snapshot
    tests and the screenshots, whose frames must not depend on a thread's timing)."""

    def _start_guest(self, report: Report) -> None:
        # Not once the app is quitting (q pressed before the first frame was up): a thread
        # cannot be cancelled, and the app would wait for the look to end before it exits.
        if report is self.report and not getattr(self.app, "_exit", False):
            self.run_worker(
                lambda: look_inside(report),
                thread=True,
                group=GUEST_GROUP,
                exclusive=True,
                exit_on_error=False,
                description="look inside the virtual disk",
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == GUEST_GROUP and event.state == WorkerState.SUCCESS:
            result: Any = event.worker.result
            self._guest_done(*result)

    def _guest_done(self, report: Report, outcome: GuestOutcome) -> None:
        """Name the guest layer in the headline (for the report still shown only)."""
        if report is not self.report:
            return
        from vhdxray.tui.widgets.inside import headline as inside_headline

        self.guest_outcome = outcome
        info = self.query_one(InfoBar)
        info.show_guest(outcome.guest)
        info.border_subtitle = plain(inside_headline(report, outcome))

    def _find_parent(self, report: Report) -> None:
        """``parent_status`` of ``report`` (found once per report read)."""
        if report is not self._status_of:
            self._status_of = report
            self.parent_status = parent_status(report) if report.is_vhdx else None

    @property
    def is_child(self) -> bool:
        """A differencing disk (the Chain view is shown)."""
        return self.parent_status is not None and self.parent_status.kind != NOT_CHILD

    @property
    def active_view(self) -> str:
        return (self.query_one(TabbedContent).active or "tab-headers").removeprefix("tab-")

    def _findings_hint(self, plan: RepairPlan | None) -> str | None:
        if self.read_only or plan is None:
            return None
        if plan.repairs or any(r.choices for r in plan.refusals):
            return "↑/↓ select a finding, Enter: its repair   R: every repair"
        return "No finding has a repair."

    def show_plan(self) -> None:
        """Plan (through the app) if not done for this report, and show the results."""
        if self.plan_source is None or self.plan_shown is not None:
            return
        plan = self.plan_source()
        if plan is None or plan.report is not self.report:
            return
        self.plan_shown = plan
        for view in PLANNED_VIEWS & self._views.keys():
            self._fill(view)

    def _fill(self, view: str) -> None:
        """Show the report (and the plan, once made) in ``view``'s widget."""
        report, plan, widget = self.report, self.plan_shown, self._views[view]
        if view == "headers":
            cast("HeadersView", widget).show(report)
        elif view == "findings":
            from vhdxray.tui.repairs import finding_repairs

            repairs = None if plan is None or self.read_only else finding_repairs(plan)
            findings = cast("FindingsView", widget)
            findings.show(report, repairs, hint=self._findings_hint(plan))
        else:
            extra = None if plan is None else self._plan_extra(view, plan)
            cast("SectionView", widget).show(report, extra)

    def _plan_extra(self, view: str, plan: RepairPlan) -> RenderableType | None:
        """What the planner found, below a section view: the log replay's preview, the
        truncation map, a child's parent locator."""
        from vhdxray.tui.widgets.repairviews import (
            locator_renderable,
            replay_preview_renderable,
            truncation_renderable,
        )

        if view == "log" and plan.replay is not None:
            hint = None if self.read_only else "l = replay the log (a confirmation comes first)"
            hint = hint if plan.replay.blockers == () else None
            return replay_preview_renderable(plan.replay, hint=hint)
        if view == "bat" and plan.truncation is not None:
            return truncation_renderable(plan.truncation, bat_unread=self.report.bat is None)
        meta = self.report.metadata
        if view == "metadata" and meta is not None and meta.has_parent:
            from vhdxray.core.analysis.chain import describe_locator

            return locator_renderable(describe_locator(self.report, self.report.path))
        return None

    @on(TabbedContent.TabActivated)
    async def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        view = (event.pane.id or "").removeprefix("tab-")
        if view in PLANNED_VIEWS:
            self.show_plan()
        await self._show_view(view)
        if self.active_view != view:  # another tab was chosen meanwhile
            return
        widget = self._views[view]
        if view == "findings":
            cast("FindingsView", widget).focus_list()
        else:
            widget.focus()

    def set_status(self, text: RenderableType | None, kind: str = "") -> None:
        """The line above the Footer: busy, done (with the backup path) or empty."""
        status = self.query_one("#status", Static)
        for k in ("busy", "done", "error"):
            status.set_class(kind == k, f"-{k}")
        status.set_class(text is None, "-empty")
        status.update(text if text is not None else "")

    def set_busy(self, busy: bool) -> None:
        self.query_one(HeadersView).loading = busy

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "relink":  # a child whose parent moved, is missing or was modified
            status = self.parent_status
            if self.read_only or status is None or status.kind not in RELINKABLE:
                return False
            return None if getattr(self.app, "busy", False) else True
        return True

    def action_relink(self) -> None:
        """The relink repair from the Chain view: a parent found moved is confirmed as it
        is; a missing one is chosen first; a modified one gets the repair's refusal and its
        choices (another file, or the risk spelt out)."""
        from vhdxray.core.write.repairs import kind
        from vhdxray.tui.screens.confirm import Offer

        relink = kind(RELINK)
        status = self.parent_status
        app: Any = self.app
        if relink is None or status is None or self.check_action("relink", ()) is not True:
            return
        if status.kind == MOVED and status.path is not None:
            app.ask(relink.action, (("parent", str(status.path)),))
        elif status.kind == MISSING:
            label = "choose the parent at its new place"
            app.ask_path(Offer("k", "Relink", label, relink.action, ask_path="parent"))
        else:
            app.ask(relink.action)

    def action_inside(self) -> None:
        """Look inside the virtual disk (its own screen; the headline then names the layer)."""
        if not self.report.is_vhdx:
            return
        from vhdxray.tui.widgets.inside import InsideScreen

        screen = InsideScreen(self.report, self._initial[1], self.guest_outcome)
        if self.guest_outcome is None:  # looked at now: the headline names the layer too
            self._guest_done(self.report, screen.outcome)
        self.app.push_screen(screen)

    def action_view(self, view: str) -> None:
        if view == "chain" and not self.is_child:
            self.notify("This is not a differencing disk: it has no parent.", timeout=3)
            return
        self.query_one(TabbedContent).active = f"tab-{view}"
