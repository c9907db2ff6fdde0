"""Terminal output for the scriptable commands: every line passes through ``printable`` so
nothing from an image (creator, parent paths) reaches the terminal as a control sequence."""

from __future__ import annotations

import json
import sys
from typing import Any

from vhdxray.core.format.text import printable


def out(text: str) -> None:
    """Write ``text`` as is (callers pass text already made printable, or our own)."""
    sys.stdout.write(text)
    sys.stdout.flush()


def line(text: str = "") -> None:
    out(printable(text) + "\n")


def err(text: str) -> None:
    sys.stderr.write(f"vhdxray: {printable(text)}\n")


def emit_json(doc: dict[str, Any]) -> None:
    """One JSON object; ``ensure_ascii`` keeps every non-ASCII character escaped."""
    out(json.dumps(doc, indent=2, ensure_ascii=True) + "\n")


def confirm(question: str) -> bool:
    """Ask on the terminal; never treat piped input as consent (``--yes`` is for scripts)."""
    if not sys.stdin.isatty():
        err("not a terminal: pass --yes to confirm non-interactively")
        return False
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
