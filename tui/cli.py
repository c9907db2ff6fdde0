"""The ``vhdxray`` command line.

``vhdxray IMAGE`` opens the app; the subcommands print reports or change an image. Textual
is imported only when the app is opened, so the scriptable commands start fast.

Exit codes, the same meaning in every command (each command's own list is
:attr:`Command.exits`, shown by ``vhdxray COMMAND --help`` and in the README's table):
0 success (``check``: no error finding); 1 the tool itself failed, or a write failed part-way;
2 ``check`` found errors, or a write was refused (a path that is not a regular file, a
confirmation declined, a bad argument); 3 the file is not a VHDX or cannot be read; 130
interrupted (ctrl+c).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from vhdxray import __version__
from vhdxray.core.format.record import record
from vhdxray.tui.console import confirm as _confirm
from vhdxray.tui.console import emit_json as _emit_json
from vhdxray.tui.console import err as _err
from vhdxray.tui.console import line as _line
from vhdxray.tui.console import mark_written as _mark_written
from vhdxray.tui.console import out as _out

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from pathlib import Path
    from typing import Any

    from vhdxray.core.analysis.reader import Report


EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_ERRORS = 2  # check: error findings; writes: refused
EXIT_REFUSED = 2
EXIT_NOT_VHDX = 3
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE: the output's reader went away

_SIZE = r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?\s*$"
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


class UsageError(Exception):
    pass


def parse_size(text: str) -> int:
    """``64M``, ``10G``, ``64T``, ``1.5GiB``, ``4096``: binary units, bytes when bare."""
    import re

    match = re.match(_SIZE, text, re.IGNORECASE)
    if not match:
        raise UsageError(f"cannot read the size {text!r} (examples: 64M, 10G, 64T)")
    number, unit, _ = match.groups()
    value = float(number) * _UNITS[unit.lower()]
    if value != int(value):
        raise UsageError(f"size {text!r} is not a whole number of bytes")
    return int(value)


# --- info / check -------------------------------------------------------------------


def cmd_report(args: argparse.Namespace | ReportArgs) -> int:
    parent = None if isinstance(args, ReportArgs) else getattr(args, "parent", None)
    if args.command == "check" and parent is not None:
        from vhdxray.tui import cli_repair

        assert not isinstance(args, ReportArgs)  # the plain form has no --parent
        return cli_repair.cmd_check_parent(args)
    from vhdxray.core.analysis.reader import read_report, read_report_from
    from vhdxray.core.format.findings import has_errors
    from vhdxray.core.source import ImageSource

    try:  # opened once: the report and the guest both read it (as scan does)
        source: ImageSource | None = ImageSource(args.image)
    except OSError:  # not a regular file, or it cannot be opened: the report says which
        source = None
    try:
        lookup = None
        if args.command == "check":
            # Checking a child asks for its chain: follow the locator (reads the parent).
            from vhdxray.core.analysis.checked import read_checked

            report, lookup = read_checked(args.image, source)
        elif source is None:
            report = read_report(args.image)
        else:
            report = read_report_from(source, os.fspath(args.image))
        guest = None
        if report.is_vhdx and not args.no_guest:
            from vhdxray.core.analysis.guest.image import inspect_image

            guest = inspect_image(args.image, report, source=source)
    finally:
        if source is not None:
            source.close()
    if args.json:
        from vhdxray.core.analysis.jsonout import report_json

        doc = report_json(report, guest, full=args.full)
        if guest is not None:
            from vhdxray.tui.guestwords import annotate_json

            annotate_json(doc, guest.guest, args.image)
        if lookup is not None:
            doc["parent_lookup"] = lookup.to_json()
        _emit_json(doc)
    else:
        from vhdxray.tui.textreport import render

        _out(render(report, findings=args.command == "check" or args.findings, guest=guest))
        if lookup is not None:
            from vhdxray.tui.cli_repair import lookup_lines

            for text in lookup_lines(lookup):
                _line(text)
    # Guest findings never change the exit code: it says whether the container is damaged.
    if not report.is_vhdx:
        return EXIT_NOT_VHDX
    if args.command == "check":
        return EXIT_ERRORS if has_errors(report.findings) else EXIT_OK
    return EXIT_OK


def not_vhdx_exit(report: Report, *, json_out: bool, name: str | None = None) -> int:
    """A write command named something it cannot write: say why and give its exit code.

    A directory, FIFO, socket or device is refused (2: nothing was opened for writing); a file
    that is not a VHDX or cannot be read is 3, as for ``info`` and ``check``. ``name``: the
    path to name in the message, for a command given more than one."""
    from vhdxray.core.analysis.reader import NOT_REGULAR
    from vhdxray.core.format.text import printable

    refused = report.kind == NOT_REGULAR
    if json_out:
        _emit_json(
            {
                "ok": False,
                "is_vhdx": False,
                "kind": report.kind,
                "refused": refused,
                "reason": report.description,
            }
        )
    else:
        named = "" if name is None else f"{name}: "
        _err(("refused: " if refused else "") + named + printable(report.description))
    return EXIT_REFUSED if refused else EXIT_NOT_VHDX


# --- update-headers -----------------------------------------------------------------


def cmd_update_headers(args: argparse.Namespace) -> int:
    """The registry's header repair, asked for by name: planned on a healthy image too."""
    from vhdxray.core.analysis.reader import read_report
    from vhdxray.core.analysis.verdict import header_sentence
    from vhdxray.core.write.locking import image_in_use
    from vhdxray.core.write.repair import Refused, plan_repairs, run_repairs
    from vhdxray.core.write.repairs import headers
    from vhdxray.tui.cli_repair import choice_text, options_from
    from vhdxray.tui.outcome import (
        CONFIRMATION_NEEDED,
        cli_text,
        exit_code,
        outcome_json,
        outcome_lines,
        refusal_json,
        shell_word,
    )

    report = read_report(args.image)
    if not report.is_vhdx:
        return not_vhdx_exit(report, json_out=args.json)
    kind = headers.KIND
    options = options_from(args, kind.options)
    repair_plan = plan_repairs(report, options, only=(kind.id,), requested=(kind.id,))
    item = repair_plan.item(kind.id)
    if item is None or isinstance(item, Refused):
        if args.json:
            doc: dict[str, object] = {"ok": False, "refused": True, "code": "nothing_to_do"}
            doc.update(params={}, reason="", suggest=[])
            if item is not None:
                plain = item.to_json()
                doc.update({k: plain[k] for k in ("code", "params", "reason", "suggest")})
            _emit_json(doc)
        elif item is not None:
            shown = [c.option for c in item.choices]
            _err(f"refused: {cli_text(item.reason, item.suggest, skip=shown)}")
            for c in item.choices:
                _err(f"  {choice_text(c)}")
        return EXIT_REFUSED
    requested = item.carry
    assert isinstance(requested, headers.Requested)
    plan = requested.plan
    if not args.json:
        _out("Header update plan:\n" + "".join(f"  {line}\n" for line in item.lines))
    if args.dry_run:
        if args.json:
            _emit_json({"ok": True, "dry_run": True, "plan": plan.to_json()})
        else:
            _out("Dry run: nothing was written.\n")
        return EXIT_OK
    in_use = image_in_use(args.image)
    if in_use is not None:
        if args.json:
            _emit_json({"ok": False, **refusal_json("in_use", in_use)})
        else:
            _err(f"refused: {in_use}")
        return EXIT_REFUSED
    if not args.yes and args.json:  # never a prompt, nor plain text, on a JSON stdout
        _emit_json({"ok": False, **refusal_json("confirmation_needed", CONFIRMATION_NEEDED)})
        return EXIT_REFUSED
    if not args.yes and not _confirm("Write these two headers?"):
        _out("Cancelled: nothing was written.\n")
        return EXIT_REFUSED
    _mark_written()  # from here the result must reach the user
    run = run_repairs(repair_plan, backup_dir=args.backup_dir)
    if run.error is not None:
        if args.json:
            _emit_json({"ok": False, **outcome_json(run.error)})
        else:
            for text in outcome_lines(run.error):
                _err(text)
        return exit_code(run.error)
    after = run.report
    backup = run.backups[-1]
    current = None if after is None else after.current_header
    if args.json:
        _emit_json(
            {"ok": True, "backup": str(backup), "plan": plan.to_json(), "current_header": current}
        )
    else:
        _line(f"Backup of the overwritten bytes: {backup}")
        _line(f"Done: {'' if after is None else header_sentence(after)}")
        _line(f"Undo with: vhdxray restore {shell_word(str(backup))}")
    return EXIT_OK


# --- restore ----------------------------------------------------------------------------


def cmd_restore(args: argparse.Namespace) -> int:
    from vhdxray.core.outcome import Refused, VhdxrayError
    from vhdxray.core.write.backup import BackupError
    from vhdxray.core.write.restore import plan_restore, run_restore
    from vhdxray.tui.outcome import reason_text

    try:
        plan = plan_restore(args.backup, args.image)
    except BackupError as exc:
        _err(f"refused: {exc}")
        return EXIT_REFUSED
    except Refused as exc:
        moved = ""
        if args.image is None and exc.code == "cannot_open":  # the path the backup recorded
            moved = "; if the image was moved or renamed, name it with --image PATH"
        _err(f"refused: {reason_text(exc)}{moved}")
        return EXIT_REFUSED
    for text in plan.describe():  # the image's path and the backup's own words: untrusted
        _line(text)
    if plan.ranges_to_restore == 0 and plan.truncate_to is None:
        _out("The image already holds the backed-up bytes: nothing to do.\n")
        return EXIT_OK
    if args.dry_run:
        _out("Dry run: nothing was written.\n")
        return EXIT_OK
    if not args.yes and not _confirm("Put the saved bytes back?"):
        _out("Cancelled: nothing was written.\n")
        return EXIT_REFUSED
    try:
        _mark_written()  # from here the result must reach the user
        result = run_restore(plan, backup_dir=args.backup_dir)
    except VhdxrayError as exc:
        if exc.refused:
            _err(f"refused: {reason_text(exc)} (nothing was written)")
            return EXIT_REFUSED
        saved = exc.backups[-1] if exc.backups else "no backup (nothing was written)"
        _err(f"FAILED: {exc}; the state before the restore is saved in {saved}")
        return EXIT_FAILURE
    if result is not None:
        _line(f"Restored. The bytes replaced by the restore are saved in {result.backup_path}")
    else:
        _out("Restored.\n")
    return EXIT_OK


# --- create -----------------------------------------------------------------------------


def cmd_create(args: argparse.Namespace) -> int:
    from vhdxray.core.outcome import WriteFailed
    from vhdxray.core.write.create import CreateError, CreateOptions, create_child, create_image

    try:
        if args.parent is not None:
            path = create_child(args.path, args.parent)
        else:
            if args.size is None:
                raise UsageError("--size is required (unless --parent is given)")
            opts = CreateOptions(
                virtual_size=parse_size(args.size),
                block_size=parse_size(args.block_size),
                fixed=args.fixed,
                logical_sector_size=args.logical_sector,
                physical_sector_size=args.physical_sector,
            )
            path = create_image(args.path, opts)
    except CreateError as exc:  # refused: nothing was written
        _err(str(exc))
        return EXIT_REFUSED
    except WriteFailed as exc:  # the partial file was removed
        _err(f"FAILED: {exc}")
        return EXIT_FAILURE
    _line(f"Created {path}")
    return EXIT_OK


# --- the app ------------------------------------------------------------------------------


def demo_image() -> Path:
    """A small dynamic image with data and a damaged header slot 1, made fresh each time."""
    import tempfile
    from pathlib import Path

    from vhdxray.tui.demo import make_demo_image

    folder = Path(tempfile.mkdtemp(prefix="vhdxray-demo-"))
    return make_demo_image(folder / "demo.vhdx")


def on_a_terminal() -> bool:
    """The app draws on stdout and reads keys from stdin: both must be a terminal."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def cmd_app(args: argparse.Namespace) -> int:
    if not on_a_terminal():
        # Drawn into a file or a pipe, the app writes escape sequences there and waits for keys
        # no one sees: ``vhdxray IMAGE > report.txt`` seemed to hang.
        raise UsageError(
            "the app needs a terminal (stdin and stdout); for a report in a file or a pipe use "
            "`vhdxray info IMAGE` or `vhdxray check IMAGE` (--json for a script)"
        )
    if args.demo:
        import shutil

        image = demo_image()

        def remove_demo() -> None:
            shutil.rmtree(image.parent, ignore_errors=True)

        try:
            from vhdxray.tui.app import run_app

            return run_app(image, read_only=args.read_only, cleanup=remove_demo)
        finally:  # the demo's folder (image, backups) goes when the app ends, however it ends
            remove_demo()
    if args.image is None:
        raise UsageError("name an image to open, or use --demo (see vhdxray --help)")
    from pathlib import Path

    from vhdxray.tui.app import run_app

    return run_app(Path(args.image), read_only=args.read_only)


# --- parsing ------------------------------------------------------------------------------


@record
class Command:
    """One subcommand: its help line and two ``module:function`` names, imported only when run.

    ``arguments(parser)`` adds the subcommand's arguments; ``run(args) -> int`` carries it out and
    returns the exit code. A new command is a module with those two functions and one line in
    :data:`COMMANDS`; no other subcommand's parser is built, so start-up stays cheap.
    """

    help: str
    arguments: str
    run: str
    exits: str = ""
    """Every exit code the command can return, in words (``--help`` and the README)."""
    fast: str = ""
    """Optional ``module:function`` that parses the command's plain forms by hand (``(argv,
    the command's name first) -> args or None``; None: argparse parses them), so they need no
    parser at all."""


COMMANDS: dict[str, Command] = {
    "info": Command(
        "print what the image holds",
        "vhdxray.tui.cli:args_info",
        "vhdxray.tui.cli:cmd_report",
        "0; 3 not a VHDX / unreadable / not a regular file",
        "vhdxray.tui.cli:fast_report_args",
    ),
    "check": Command(
        "print findings; exit 2 when there is an error",
        "vhdxray.tui.cli:args_check",
        "vhdxray.tui.cli:cmd_report",
        "0 no container error (with --parent: consistent); 2 container errors, a differencing "
        "disk's parent missing or changed (with --parent: not consistent); 3 either file not a "
        "VHDX / unreadable / not a regular file",
        "vhdxray.tui.cli:fast_report_args",
    ),
    "update-headers": Command(
        "rewrite both headers (MS-VHDX 2.2.2.1)",
        "vhdxray.tui.cli:args_update_headers",
        "vhdxray.tui.cli:cmd_update_headers",
        "0 done (--dry-run: planned); 2 refused, declined or not a regular file (nothing "
        "written); 3 not a VHDX / unreadable; 1 a write failed (restore the printed backup)",
    ),
    "restore": Command(
        "put back the bytes saved in a backup file",
        "vhdxray.tui.cli:args_restore",
        "vhdxray.tui.cli:cmd_restore",
        "0 restored or nothing to do; 2 refused (not a vhdxray backup, does not fit the image, "
        "the image changed, not a regular file) or declined; 1 the restore failed",
    ),
    "create": Command(
        "write a new, spec-correct image",
        "vhdxray.tui.cli:args_create",
        "vhdxray.tui.cli:cmd_create",
        "0 created; 2 refused (the path exists, a bad size, an unusable parent); 1 a write "
        "failed (the partial file is removed)",
    ),
    "relink": Command(
        "point a differencing child at its moved parent (checks the parent's identity)",
        "vhdxray.tui.cli_relink:add_arguments",
        "vhdxray.tui.cli_relink:run",
        "0 done (--dry-run: planned); 2 refused (identity or geometry mismatch, pending log, in "
        "use, not a regular file) or declined, nothing written; 3 not a VHDX / unreadable; "
        "1 a write failed (restore the printed backups)",
    ),
    "repair": Command(
        "repair what can be repaired: log replay, region tables, stale LogGuid, headers",
        "vhdxray.tui.cli_repair:add_arguments",
        "vhdxray.tui.cli_repair:cmd_repair",
        "0 done or nothing to do; 2 something refused, declined or not a regular file; "
        "3 not a VHDX / unreadable; 1 a write failed (restore the printed backups)",
        "vhdxray.tui.cli_repair:fast_args",
    ),
    "export": Command(
        "copy the virtual disk out (raw or a new VHDX), reading only",
        "vhdxray.tui.cli_export:add_arguments",
        "vhdxray.tui.cli_export:run",
        "0 complete and exact; 2 written, with gaps (zero-filled and listed); 3 not a VHDX / "
        "unreadable / not a regular file; 4 refused, nothing written; 1 failed (the partial "
        "file is removed)",
    ),
    "scan": Command(
        "check every image under some folders, read-only (JSON lines with --json)",
        "vhdxray.tui.cli_scan:add_arguments",
        "vhdxray.tui.cli_scan:run",
        "0 nothing needs fixing; 2 an image has an error finding, cannot be read, or is named "
        "like a VHDX and is not one (directories, FIFOs, sockets and devices are skipped)",
    ),
}


def _resolve(target: str) -> Callable[..., Any]:
    import importlib

    module, _, name = target.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


def _parser_app() -> argparse.ArgumentParser:
    import argparse

    p = argparse.ArgumentParser(
        prog="vhdxray",
        description="Inspect and safely repair VHDX disk images. "
        f"Commands: {', '.join(COMMANDS)} (vhdxray COMMAND --help).",
    )
    p.add_argument("image", nargs="?", help="image to open in the app")
    p.add_argument("--demo", action="store_true", help="open a built-in demo image")
    p.add_argument("--read-only", action="store_true", help="hide every write action")
    p.add_argument("--version", action="version", version=f"vhdxray {__version__}")
    return p


def parser_for(name: str) -> argparse.ArgumentParser:
    """The parser of one subcommand (and only that one)."""
    import argparse

    command = COMMANDS[name]
    stopped = "; 129/143 SIGHUP/SIGTERM (partial output removed)" if name in _WRITING else ""
    epilog = (
        f"exit codes: {command.exits}; 1 vhdxray itself failed; 130 interrupted (any command); "
        "141 its output pipe was closed" + stopped
    )
    p = argparse.ArgumentParser(prog=f"vhdxray {name}", description=command.help, epilog=epilog)
    p.set_defaults(command=name)
    _resolve(command.arguments)(p)
    return p


def _report_arguments(s: argparse.ArgumentParser) -> None:
    import argparse

    s.add_argument("image")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.add_argument(
        "--full",
        action="store_true",
        help="in JSON, every stale log entry (by default the first 100, with the counts)",
    )
    s.add_argument("--findings", action="store_true", help=argparse.SUPPRESS)
    s.add_argument(
        "--no-guest",
        action="store_true",
        help="do not look inside the virtual disk (partitions, filesystems)",
    )


def args_info(s: argparse.ArgumentParser) -> None:
    _report_arguments(s)


def args_check(s: argparse.ArgumentParser) -> None:
    from vhdxray.tui import cli_repair

    _report_arguments(s)
    cli_repair.add_check_parent_argument(s)


def args_update_headers(s: argparse.ArgumentParser) -> None:
    from vhdxray.core.write.repairs import headers
    from vhdxray.tui.cli_repair import add_option_arguments

    s.add_argument("image")
    s.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    s.add_argument("--dry-run", action="store_true", help="show the plan, write nothing")
    add_option_arguments(s, headers.KIND.options)
    s.add_argument("--backup-dir", help="where to write the backup (default: beside the image)")
    s.add_argument("--json", action="store_true", help="print one JSON object")


def args_restore(s: argparse.ArgumentParser) -> None:
    s.add_argument("backup", help="a .vhdxray-backup-*.json file a write printed")
    s.add_argument("--image", help="the image (default: the path recorded in the backup)")
    s.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    s.add_argument("--dry-run", action="store_true", help="show what would be put back")
    s.add_argument(
        "--backup-dir",
        help="where to save the bytes the restore replaces (default: beside the image)",
    )


def args_create(s: argparse.ArgumentParser) -> None:
    s.add_argument("path")
    s.add_argument("--size", help="virtual size, e.g. 64M, 10G, 64T")
    s.add_argument("--block-size", default="32M", help="1M..256M, a power of two (default 32M)")
    s.add_argument("--fixed", action="store_true", help="fixed (fully allocated) image")
    s.add_argument("--logical-sector", type=int, choices=(512, 4096), default=512)
    s.add_argument("--physical-sector", type=int, choices=(512, 4096), default=4096)
    s.add_argument("--parent", help="make a differencing child of this image")


@record
class ReportArgs:
    """The arguments of ``info``/``check`` when they are given in the plain form."""

    command: str
    image: str
    json: bool
    findings: bool
    full: bool
    no_guest: bool
    parent: None = None


_REPORT_FLAGS = frozenset({"--json", "--findings", "--full", "--no-guest"})


def fast_report_args(args_list: Sequence[str]) -> ReportArgs | None:
    """``info``/``check`` with one image and only their flags (no values), parsed by hand.

    Building an argparse parser costs more than the whole analysis of most images (argparse's
    help formatter imports ``shutil``, ``gettext`` and ``locale``), so the scriptable report path
    skips it. Anything else (``--help``, ``--parent``, ``--``, an option given twice, a second
    positional) returns None and goes through argparse, which gives the usual messages.
    """
    if len(args_list) < 2 or args_list[0] not in ("info", "check"):
        return None
    rest = args_list[1:]
    flags = [a for a in rest if a.startswith("-")]
    positional = [a for a in rest if not a.startswith("-")]
    if len(positional) != 1 or len(set(flags)) != len(flags) or not set(flags) <= _REPORT_FLAGS:
        return None
    return ReportArgs(
        args_list[0],
        positional[0],
        "--json" in flags,
        "--findings" in flags,
        "--full" in flags,
        "--no-guest" in flags,
    )


def run() -> int:
    """The ``vhdxray`` program (the console script and ``python -m vhdxray``): :func:`main`,
    then ready the process to end. Tests call :func:`main` itself."""
    import gc

    if sys.argv[1:2] in (["info"], ["check"]):
        # One bounded analysis, then the process ends: its garbage is freed by reference
        # counting. The cycle collector's passes over the young objects (mostly the modules
        # being imported) cost 2-3 % of a small check and would free some 200-270 objects
        # whatever the image (the classes @record replaces), measured on a 512 MiB BAT, a
        # 10 GiB dirty log and guest-heavy real images; peak RSS is unchanged (issue 9).
        gc.disable()
    code = main()
    # The process ends now: moving every object to the permanent generation spares the
    # interpreter's last collections from walking all of them (about 7 ms after a repair).
    gc.freeze()
    return code


# The commands that make or change files: a SIGHUP or SIGTERM there unwinds like ctrl+c.
_WRITING = frozenset({"update-headers", "restore", "create", "relink", "repair", "export"})


def _stop_like_ctrl_c(stopped: list[int]) -> Callable[[], None]:
    """SIGHUP (the terminal or the SSH session closed) and SIGTERM (``kill``, ``timeout``, a
    service stopping) end a writing command as ctrl+c does, so its clean-up runs: a partial
    export or repair copy (a hidden file beside OUTPUT, as large as what was copied) is
    removed instead of left behind. A signal that is ignored (``nohup``) stays ignored. The
    exit code is then 128 + the signal's number, as for a process the signal ended.
    Returns the function that puts the previous handlers back."""
    if TYPE_CHECKING:
        import signal
    else:  # the C module: ``signal`` imports enum, kept off the write path (issue 9)
        import _signal as signal

    def stop(signum: int, frame: object) -> None:
        from vhdxray.tui import console

        if not stopped:
            stopped.append(signum)
            console.stopped_by = signum  # for a document printed on the way out
        raise KeyboardInterrupt

    previous: list[tuple[int, Any]] = []
    for name in ("SIGHUP", "SIGTERM"):
        sig = getattr(signal, name, None)
        if sig is None:  # Windows has no SIGHUP
            continue
        try:
            if signal.getsignal(sig) is signal.SIG_DFL:
                previous.append((sig, signal.signal(sig, stop)))
        except ValueError:  # not the main thread (a test's)
            break

    def put_back() -> None:
        for sig, handler in previous:
            signal.signal(sig, handler)

    return put_back


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    from vhdxray.tui import console

    console.reset()
    stopped: list[int] = []
    put_back: Callable[[], None] | None = None
    if args_list and args_list[0] in _WRITING:
        put_back = _stop_like_ctrl_c(stopped)
    try:
        code = _main(args_list)
    finally:
        if put_back is not None:
            put_back()
    return 128 + stopped[0] if stopped else code


def _main(args_list: list[str]) -> int:
    try:
        if args_list and args_list[0] in COMMANDS:
            command = COMMANDS[args_list[0]]
            args = _resolve(command.fast)(args_list) if command.fast else None
            if args is None:
                args = parser_for(args_list[0]).parse_args(args_list[1:])
            return int(_resolve(command.run)(args))
        args = _parser_app().parse_args(args_list)
        return cmd_app(args)
    except UsageError as exc:
        _err(str(exc))
        return EXIT_REFUSED
    except KeyboardInterrupt:
        from vhdxray.tui import console

        _err("interrupted")
        code = console.stopped_exit(130)
        one_object = bool(args_list) and args_list[0] != "scan"  # scan writes JSON lines
        if one_object and "--json" in args_list and not console.json_emitted:
            # A script reading --json gets its one object even now (stdout was empty).
            reason = "interrupted before the command finished: check the image again"
            _emit_json({"ok": False, "interrupted": True, "reason": reason, "exit_code": code})
        return code
    except BrokenPipeError:
        # The reader went away (`| head`): what was printed is incomplete, and a write that
        # had not started never will. Exit as a process stopped by SIGPIPE does, quietly.
        from vhdxray.tui import console

        console.silence_stdout()
        return EXIT_PIPE_CLOSED
    except Exception as exc:  # the tool's own failure: a message, not a traceback
        if os.environ.get("VHDXRAY_DEBUG"):
            raise
        _err(f"internal error: {type(exc).__name__}: {exc} (set VHDXRAY_DEBUG=1 for details)")
        return EXIT_FAILURE
