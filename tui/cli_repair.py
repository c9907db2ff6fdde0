"""``vhdxray repair IMAGE`` and ``vhdxray check CHILD --parent PARENT``.

``repair`` plans every repair that applies (:mod:`vhdxray.core.write.repair`), shows the plan, asks
(unless ``--yes``), carries it out in a safe order and prints every backup it made, newest
first, with the ``vhdxray restore`` line that undoes it. ``--dry-run`` also lists every page a
log replay would write and whether it already holds its logged bytes.

Exit codes, as in :mod:`vhdxray.tui.cli` (listed per command in its ``COMMANDS``): 0 done or
nothing to do; 2 something was refused (even when other repairs were done; the output says
which), the confirmation was declined, the image is not a regular file, or, for ``check
--parent``, the chain is not consistent; 1 a write failed part-way (restore the printed
backups); 3 the file is not a VHDX or cannot be read.

Every string taken from an image (paths in a parent locator, creator) goes through
:func:`vhdxray.core.format.text.printable` before it is printed.
"""

from __future__ import annotations

from types import SimpleNamespace

from vhdxray.core.format.findings import Severity
from vhdxray.tui.console import confirm as _confirm
from vhdxray.tui.console import emit_json as _emit_json
from vhdxray.tui.console import err as _err
from vhdxray.tui.console import line as _line
from vhdxray.tui.console import mark_written as _mark_written
from vhdxray.tui.outcome import (
    CONFIRMATION_NEEDED,
    cli_text,
    flag,
    reason_text,
    refusal_json,
    shell_word,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

    from vhdxray.core.analysis.chain import ParentLookup
    from vhdxray.core.progress import Progress
    from vhdxray.core.write.repair import Choice, Repair, RepairOptions, RepairPlan
    from vhdxray.core.write.repairs import OptionSpec
    from vhdxray.tui.console import ProgressLine

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_REFUSED = 2
EXIT_NOT_VHDX = 3
EXIT_CANCELLED = 130


# --- the registry's options as flags (the one place a repair option becomes a flag) ----------


def add_option_arguments(s: argparse.ArgumentParser, specs: Iterable[OptionSpec]) -> None:
    """One flag per declared repair option, typed by its kind (a slot or copy number, a
    path, an on/off flag)."""
    from vhdxray.core.write.repairs import OptionKind

    for spec in specs:
        dest = spec.name
        if spec.kind is OptionKind.FLAG:
            s.add_argument(flag(spec.name), dest=dest, action="store_true", help=spec.help)
        elif spec.kind is OptionKind.PATH:
            s.add_argument(flag(spec.name), dest=dest, metavar="PATH", help=spec.help)
        else:
            s.add_argument(
                flag(spec.name), dest=dest, type=int, choices=spec.values, help=spec.help
            )


def options_from(
    args: argparse.Namespace | SimpleNamespace,
    specs: Iterable[OptionSpec],
    *,
    into_copy: bool = False,
) -> RepairOptions:
    """The :class:`RepairOptions` the declared flags in ``args`` give."""
    from vhdxray.core.write.repair import RepairOptions

    values = {spec.name: getattr(args, spec.name, None) for spec in specs}
    return RepairOptions(into_copy=into_copy, **values)


def choice_text(c: Choice) -> str:
    """A planner's choice as the flag that makes it (a flag option takes no value)."""
    from vhdxray.core.write.repairs import OptionKind, option_specs

    spec = next((s for s in option_specs() if s.name == c.option), None)
    if spec is not None and spec.kind is OptionKind.FLAG:
        return f"choose with {flag(c.option)}: {c.label}"
    value = "PATH" if c.value is None else str(c.value)
    return f"choose with {flag(c.option)} {value}: {c.label}"


def add_arguments(s: argparse.ArgumentParser) -> None:
    """The ``repair`` subcommand's arguments: the common ones, then every option the
    registered repair kinds declare."""
    from vhdxray.core.write.repairs import option_specs

    s.add_argument("image")
    s.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    s.add_argument(
        "--dry-run",
        action="store_true",
        help="show the plan (and every page a log replay writes), write nothing",
    )
    s.add_argument(
        "--output",
        metavar="COPY",
        help="repair a new copy at COPY; the original is left untouched",
    )
    add_option_arguments(s, option_specs())
    s.add_argument("--backup-dir", help="where to write the backups (default: beside the image)")
    s.add_argument("--json", action="store_true", help="print one JSON object")


_COMMON_FLAGS = ("yes", "dry_run", "json")
_COMMON_VALUES = ("output", "backup_dir")


def fast_args(args_list: Sequence[str]) -> SimpleNamespace | None:
    """``repair``'s arguments (``args_list`` starts with the command's name) parsed by hand,
    as :func:`add_arguments` declares them, when they take the plain form: one image, flags
    and options given once each and spelled out, values as separate words. Anything else
    (``--help``, ``--opt=value``, an abbreviation, ``--``, a value that starts with ``-``, a
    slot that is not 1 or 2...) returns None and goes to argparse, which gives its usual
    messages. Building the argparse parser of ``repair`` (argparse, gettext, locale, shutil,
    and a formatter per flag) costs more than the whole analysis of most images (issue 9)."""
    if args_list[:1] != ["repair"]:
        return None
    argv = args_list[1:]
    from vhdxray.core.write.repairs import OptionKind, option_specs

    specs = {flag(s.name): s for s in option_specs()}
    values: dict[str, Any] = {name: False for name in _COMMON_FLAGS}
    values.update({name: None for name in _COMMON_VALUES})
    values.update({s.name: False if s.kind is OptionKind.FLAG else None for s in specs.values()})
    seen: set[str] = set()
    images: list[str] = []
    words = iter(argv)
    for word in words:
        if not word.startswith("-"):
            images.append(word)
            continue
        if word in seen:
            return None
        seen.add(word)
        name = word[2:].replace("-", "_")
        spec = specs.get(word)
        if word != flag(name):
            return None
        if name in _COMMON_FLAGS or (spec is not None and spec.kind is OptionKind.FLAG):
            values[name] = True
            continue
        if name not in _COMMON_VALUES and spec is None:
            return None
        value = next(words, None)
        if value is None or value.startswith("-") or not value:
            return None
        if spec is not None and spec.values is not None:
            if not value.isdecimal() or int(value) not in spec.values:
                return None
            values[name] = int(value)
        else:
            values[name] = value
    if len(images) != 1:
        return None
    return SimpleNamespace(command="repair", image=images[0], **values)


def add_check_parent_argument(check_parser: argparse.ArgumentParser) -> None:
    """Add ``--parent PARENT`` to the ``check`` subcommand."""
    check_parser.add_argument(
        "--parent",
        metavar="PARENT",
        help="check the differencing chain: does IMAGE belong to PARENT?",
    )


# --- repair ---------------------------------------------------------------------------------


def _print_plan(plan: RepairPlan, *, dry_run: bool) -> None:
    if plan.repairs:
        _line("Repairs planned, in this order:")
        for n, r in enumerate(plan.repairs, 1):
            _line(f"  {n}. {r.title} [{r.id}]")
            for text in r.lines:
                _line(f"       {text}")
    if plan.refusals:
        _line("Not repaired:")
        for f in plan.refusals:
            reason = cli_text(f.reason, f.suggest, skip=[c.option for c in f.choices])
            _line(f"  - {f.title} [{f.id}]: {reason}")
            for text in f.lines:
                _line(f"       {text}")
            for c in f.choices:
                _line(f"       {choice_text(c)}")
    for note in plan.notes:
        _line(f"Note: {note}")
    if dry_run and plan.replay is not None:
        _line("Log replay, page by page (pending = will be written, applied = already holds")
        _line("the logged bytes, superseded = a later descriptor rewrites it):")
        for page in plan.replay.pages:
            _line(f"  {page.describe()}")
        if plan.replay.extend_to is not None:
            _line(f"  the file grows from {plan.replay.file_size} to {plan.replay.extend_to} bytes")


def _print_backups(backups: tuple[str, ...]) -> None:
    if not backups:
        return
    _line("Backups of every byte overwritten (undo by restoring them newest first):")
    for b in reversed(backups):
        _line(f"  vhdxray restore {shell_word(b)}")


def cmd_repair(args: argparse.Namespace | SimpleNamespace) -> int:
    from vhdxray.core.analysis.reader import read_report
    from vhdxray.core.outcome import RefusalCode, Refused
    from vhdxray.core.write.repair import plan_repairs, run_repairs
    from vhdxray.core.write.repairs import option_specs

    report = read_report(args.image)
    if not report.is_vhdx:
        from vhdxray.tui.cli import not_vhdx_exit

        return not_vhdx_exit(report, json_out=args.json)
    output = getattr(args, "output", None)
    options = options_from(args, option_specs(), into_copy=output is not None)
    plan = plan_repairs(report, options)
    doc: dict[str, Any] = {
        "image": str(args.image),
        "output": output,
        "dry_run": bool(args.dry_run),
        "plan": plan.to_json() if args.json else None,  # printed only with --json
        "run": None,
    }
    refused_code = EXIT_REFUSED if plan.refusals else EXIT_OK

    def finish(code: int, **extra: Any) -> int:
        if args.json:
            doc.update(extra)
            doc["ok"] = code == EXIT_OK
            doc["exit_code"] = code
            _emit_json(doc)
        return code

    if not args.json:
        where = f" (into the copy {output})" if output else ""
        _line(f"Repair plan for {args.image}{where}:")
        if plan.nothing_to_do:
            _line("Nothing to repair: no finding has a repair.")
        _print_plan(plan, dry_run=args.dry_run)
    if plan.nothing_to_do:
        return finish(EXIT_OK)
    if args.dry_run:
        if not args.json:
            _line("Dry run: nothing was written.")
        return finish(refused_code)
    if not plan.repairs:
        if not args.json:
            _line("Nothing can be repaired: see the reasons above.")
        return finish(EXIT_REFUSED)
    if output is None:
        from vhdxray.core.write.locking import image_in_use

        in_use = image_in_use(args.image)
        if in_use is not None:
            if not args.json:
                _err(f"refused: {in_use}")
            return finish(EXIT_REFUSED, reason=in_use, error=refusal_json("in_use", in_use))
    if not args.yes:
        if args.json:
            return finish(
                EXIT_REFUSED,
                reason=CONFIRMATION_NEEDED,
                error=refusal_json("confirmation_needed", CONFIRMATION_NEEDED),
            )
        what = f"into {output}" if output else "in place"
        if not _confirm(f"Carry out {len(plan.repairs)} repair(s) {what}?"):
            _line("Cancelled: nothing was written.")
            return EXIT_REFUSED

    tracker, bar, stop_watching = _watch(args)

    def progress(repair: Repair) -> None:
        if tracker is not None and bar is not None:
            bar.end()
            tracker.start(0)  # the copy's bar is done; the steps' own writes are not shown
        if not args.json:
            _line(f"... {repair.title}")

    _mark_written()  # from here the result must reach the user
    if tracker is not None and output is not None:
        _line(f"Copying {args.image} to {output} (ctrl+c cancels and removes the copy)")
    try:
        run = run_repairs(
            plan, output=output, backup_dir=args.backup_dir, progress=progress, tracker=tracker
        )
    finally:
        stop_watching()
    if args.json:
        doc["run"] = run.to_json()
    if not args.json:
        for step in run.steps:
            for text in step.lines:
                _line(f"    {text}")
        if run.copied_from is not None:
            _line(
                f"The repairs were made on the copy {run.target}; {run.copied_from} is unchanged."
            )
        _print_backups(run.backups)
    if run.error is not None:
        if isinstance(run.error, Refused) and run.error.code is RefusalCode.CANCELLED:
            if not args.json:
                _err(f"cancelled at {run.failed_step}: {reason_text(run.error)}")
            return finish(EXIT_CANCELLED)
        if not args.json:
            kind = "refused" if run.error.refused else "FAILED"
            _err(f"{kind} at {run.failed_step}: {reason_text(run.error)}")
            if not run.error.refused:
                _err("restore the backups above (newest first) to undo what was written")
        return finish(EXIT_REFUSED if run.error.refused else EXIT_FAILURE)
    after = run.report
    remaining = [] if after is None else [f for f in after.findings if f.severity is Severity.ERROR]
    if not args.json:
        if remaining:
            _line(
                f"Done. {len(remaining)} error finding(s) remain: "
                + ", ".join(f.code for f in remaining[:6])
                + " (see vhdxray check)."
            )
        else:
            _line("Done: no error finding remains.")
    if after is not None and args.json:
        doc["remaining_errors"] = [f.to_json() for f in remaining]
        doc["current_header"] = after.current_header
    return finish(refused_code)


def _watch(
    args: argparse.Namespace | SimpleNamespace,
) -> tuple[Progress | None, ProgressLine | None, Callable[[], None]]:
    """On a terminal (and without ``--json``): a progress line for the copy of ``--output``,
    and ctrl+c that cancels at the next safe step (the copy is removed; a step is never cut in
    the middle) instead of stopping wherever Python is; a second ctrl+c stops at once.
    Elsewhere nothing is watched, and a script's SIGINT stops the command as before (130)."""
    import sys

    if args.json or not sys.stderr.isatty():
        return None, None, lambda: None
    import signal

    from vhdxray.core.progress import Progress
    from vhdxray.tui.console import ProgressLine

    bar = ProgressLine()
    tracker = Progress(on_update=bar)

    def on_sigint(signum: int, frame: object) -> None:
        if tracker.cancelled:
            raise KeyboardInterrupt
        tracker.cancel()
        bar.end()
        _err("stopping at the next safe step (ctrl+c again stops at once)")

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread
        return tracker, bar, bar.end

    def stop_watching() -> None:
        bar.end()
        signal.signal(signal.SIGINT, previous)

    return tracker, bar, stop_watching


# --- check CHILD (the parent found through the locator) ------------------------------------


def lookup_lines(lookup: ParentLookup) -> list[str]:
    """The parent lookup of ``check CHILD`` in words (paths come from the image: printed
    through ``line``, which makes them printable)."""
    from vhdxray.core.analysis import chain
    from vhdxray.core.format.text import clip

    lines = ["Parent lookup (through the parent locator):"]
    for c in lookup.candidates:
        value = clip(c.value)
        if c.problem is not None:
            lines.append(f"  {c.key} = {value}: parent path cannot be used here: {c.problem}")
        elif c.local_path is None:
            lines.append(f"  {c.key} = {value}: cannot be mapped to a path here")
        else:
            where = "a file is there" if c.exists else "nothing there"
            lines.append(f"  {c.key} = {value} -> {clip(str(c.local_path))}: {where}")
    if lookup.status == chain.FOUND:
        lines.append(f"The parent is {lookup.path} (via {lookup.key}); the chain is consistent.")
    elif lookup.status == chain.MISSING:
        lines.append(
            "The parent is missing here. If it was moved, check it with `vhdxray check CHILD "
            "--parent PARENT` and point the child at it with `vhdxray relink CHILD PARENT`."
        )
    elif lookup.status == chain.MODIFIED:
        lines.append(
            "Parent modified: its DataWriteGuid is not the one the child was linked to. Do not "
            "relink; find the parent as it was when the child was made (a backup or snapshot)."
        )
    if lookup.check is not None and lookup.status != chain.FOUND:
        lines.extend(lookup.check.describe())
    return lines


# --- check --parent -------------------------------------------------------------------------


def cmd_check_parent(args: argparse.Namespace) -> int:
    """``vhdxray check CHILD --parent PARENT``: 0 consistent, 2 not, 3 unreadable."""
    from vhdxray.core.analysis.chain import check_chain, describe_locator
    from vhdxray.core.analysis.reader import read_report

    child = read_report(args.image)
    parent = read_report(args.parent)
    if not child.is_vhdx or not parent.is_vhdx:
        bad = child if not child.is_vhdx else parent
        if args.json:
            _emit_json({"consistent": False, "is_vhdx": False, "path": bad.path})
        else:
            _err(f"{bad.path}: {bad.description}")
        return EXIT_NOT_VHDX
    result = check_chain(child, parent, child_path=args.image, parent_path=args.parent)
    guest = None
    if result.consistent and not getattr(args, "no_guest", False):
        from vhdxray.core.analysis.guest.image import inspect_image

        guest = inspect_image(args.image, child, parents=[args.parent])
    if args.json:
        doc = result.to_json()
        doc["locator"] = describe_locator(child, args.image)
        if guest is not None:
            from vhdxray.tui.guestwords import annotate_json

            doc["guest"] = None if guest.guest is None else guest.guest.to_json()
            doc["guest_error"] = guest.error_json()
            annotate_json(doc, guest.guest, args.image)
        _emit_json(doc)
    else:
        _line(f"Child:  {args.image}")
        _line(f"Parent: {args.parent}")
        for text in describe_locator(child, args.image):
            _line(text)
        for text in result.describe():
            _line(text)
        if guest is not None:
            from vhdxray.tui.guestwords import inside_lines

            for text in inside_lines(guest.guest, args.image, guest.error_code, guest.error):
                _line(text)
    return EXIT_OK if result.consistent else EXIT_REFUSED
