"""``vhdxray relink CHILD PARENT``: point a differencing child at its parent's new place.

Exit codes, as in :mod:`vhdxray.tui.cli`: 0 relinked (or ``--dry-run``); 2 refused (identity
or geometry mismatch, pending log, in use: nothing written); 1 a write failed part-way (the
printed backups undo it); 3 the child is not a VHDX or cannot be read.
"""

from __future__ import annotations

import argparse
from typing import Any

from vhdxray.tui.console import confirm as _confirm
from vhdxray.tui.console import emit_json as _emit_json
from vhdxray.tui.console import err as _err
from vhdxray.tui.console import line as _line
from vhdxray.tui.console import mark_written as _mark_written
from vhdxray.tui.outcome import (
    CONFIRMATION_NEEDED,
    exit_code,
    outcome_json,
    outcome_lines,
    refusal_json,
    shell_word,
)

EXIT_OK = 0
EXIT_REFUSED = 2
EXIT_NOT_VHDX = 3


def add_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("child", help="the differencing disk (.avhdx/.vhdx) whose parent moved")
    s.add_argument("parent", help="the parent at its new place")
    s.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    s.add_argument("--dry-run", action="store_true", help="show the new locator, write nothing")
    s.add_argument(
        "--ignore-id-mismatch",
        action="store_true",
        help="relink even when the parent's DataWriteGuid is not the one the child was made "
        "against (the parent was modified: the child's data may read wrong; expert)",
    )
    s.add_argument("--backup-dir", help="where to write the backups (default: beside the child)")
    s.add_argument("--json", action="store_true", help="print one JSON object")


_RISK = (
    "WARNING: --ignore-id-mismatch: the parent's DataWriteGuid differs from the one the child "
    "was linked to, so the parent's data changed after the child was made (or it is another "
    "disk). The child stores only the blocks written to it; every other block is read from "
    "the parent, so the guest may see a mix of old and new data: a corrupt file system. Only "
    "go on when you know the parent's data did not change (e.g. only its headers were "
    "rewritten by a tool that renewed DataWriteGuid)."
)


def run(args: argparse.Namespace) -> int:
    from vhdxray.core.analysis.reader import read_report
    from vhdxray.core.write.outcome import Refused, VhdxrayError
    from vhdxray.core.write.repairs import relink

    child = read_report(args.child)
    if not child.is_vhdx:  # 2 for a directory, FIFO or device (as every write), else 3
        from vhdxray.tui.cli import not_vhdx_exit

        return not_vhdx_exit(child, json_out=args.json, name=str(args.child))
    doc: dict[str, Any] = {"child": str(args.child), "parent": str(args.parent)}

    def finish(code: int, **extra: Any) -> int:
        if args.json:
            doc.update(extra, ok=code == EXIT_OK, exit_code=code)
            _emit_json(doc)
        return code

    plan = relink.plan_relink(child, args.parent, ignore_id_mismatch=args.ignore_id_mismatch)
    if isinstance(plan, Refused):
        if not args.json:
            for text in outcome_lines(plan):
                _err(text)
        return finish(exit_code(plan), error=outcome_json(plan))
    doc["plan"] = plan.to_json()
    if not args.json:
        _line(f"Relink {plan.child} to {plan.parent}:")
        if plan.id_mismatch:
            _line(_RISK)
        else:
            _line(
                "The parent has the DataWriteGuid the child was linked to: it was moved, not "
                "modified, so relinking is safe."
            )
        for key, old, new in plan.changes:
            _line(
                f"  {key}: {old if old is not None else '(none)'} -> "
                f"{new if new is not None else '(removed)'}"
            )
        _line(
            "Steps: update both headers (new FileWriteGuid), write the new locator into free "
            "space of the metadata region, then switch its table entry to it; each write is "
            "backed up, fsynced and read back."
        )
    if args.dry_run:
        if not args.json:
            _line("Dry run: nothing was written.")
        return finish(EXIT_OK, dry_run=True)
    if not args.yes:
        if args.json:
            return finish(
                EXIT_REFUSED,
                reason=CONFIRMATION_NEEDED,
                error=refusal_json("confirmation_needed", CONFIRMATION_NEEDED),
            )
        if not _confirm("Rewrite the child's parent locator?"):
            _line("Cancelled: nothing was written.")
            return EXIT_REFUSED
    try:
        _mark_written()  # from here the result must reach the user
        done = relink.run_relink(plan, backup_dir=args.backup_dir)
    except VhdxrayError as exc:
        if not args.json:
            for text in outcome_lines(exc):
                _err(text)
        return finish(exit_code(exc), error=outcome_json(exc))
    backups = [str(b) for b in done.backups]
    if not args.json:
        _line("Done: the child now points at its parent.")
        _line("Backups (undo by restoring them newest first):")
        for b in reversed(backups):
            _line(f"  vhdxray restore {shell_word(b)}")
    return finish(EXIT_OK, backups=backups)
