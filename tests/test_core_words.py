"""Core's words name no command-line flag: refusals, findings and plans carry the choices they
suggest as data (:class:`vhdxray.core.outcome.Suggestion`), and each front end renders them
(the CLI as flags, the app as keys). Every string constant in core but docstrings is checked."""

from __future__ import annotations

import ast
import re
from itertools import pairwise
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "core"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring constants (module, class, function) of ``tree``."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
        # An attribute's docstring: a bare string right after an assignment.
        for field in ("body", "orelse"):
            stmts = getattr(node, field, None)
            if not isinstance(stmts, list):
                continue
            for before, stmt in pairwise(stmts):
                if (
                    isinstance(before, ast.Assign | ast.AnnAssign)
                    and isinstance(stmt, ast.Expr)
                    and isinstance(stmt.value, ast.Constant)
                ):
                    out.add(id(stmt.value))
    return out


def flag_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string constant but docstrings that names a ``--flag``."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skip
        and FLAG.search(node.value)
    ]


def test_the_check_finds_a_flag_and_skips_docstrings_and_comments() -> None:
    source = (
        '"""Module: ``--json`` is fine here."""\n'
        "X = 1\n"
        '"""Attribute doc: --full."""\n'
        "def f():\n"
        '    """Use --parent PATH."""\n'
        "    # a comment: --from-slot\n"
        '    return f"header {1} (--from-slot 1)", "a - b", "x--y"\n'
    )
    assert flag_strings(source) == [(7, " (--from-slot 1)")]


def test_core_strings_name_no_command_line_flag() -> None:
    found = [
        f"{path.relative_to(CORE)}:{line}: {text!r}"
        for path in sorted(CORE.rglob("*.py"))
        for line, text in flag_strings(path.read_text(encoding="utf-8"))
    ]
    assert found == []
