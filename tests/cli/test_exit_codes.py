"""Every command documents every exit code it can return, in --help and in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.isolated import run_main
from vhdxray.tui.cli import COMMANDS, parser_for

README = Path(__file__).resolve().parents[2] / "README.md"


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_exit_codes_are_in_help_and_readme(name: str) -> None:
    exits = COMMANDS[name].exits
    assert exits, f"{name} documents no exit code"
    for code in re.findall(r"(?:^|; )(\d+) ", exits):
        assert code in {"0", "1", "2", "3", "4"}  # export: 4 refused (its own scheme)
    assert f"exit codes: {exits}" in _flat(parser_for(name).format_help())
    rows = [
        line for line in README.read_text().splitlines() if line.startswith(f"| `vhdxray {name} ")
    ]
    assert rows, f"no README row for {name}"
    for row in rows:
        assert row.rstrip(" |").endswith(exits), row


def test_update_headers_codes_match_what_it_returns(tmp_path: Path) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a disk image\n" * 100)
    outcome = run_main(
        [
            ["update-headers", "--yes", str(tmp_path)],  # a directory
            ["update-headers", "--yes", str(text_file)],  # not a VHDX
            ["update-headers", "--yes", str(tmp_path / "missing.vhdx")],  # unreadable
            ["update-headers", "--from-slot", "7", str(text_file)],  # a bad argument
        ],
        timeout=60,
    )
    codes = [code for code, _ in outcome.results]
    assert codes == [2, 3, 3, 2], outcome.results
    exits = COMMANDS["update-headers"].exits
    assert "2 refused, declined or not a regular file" in exits
    assert "3 not a VHDX / unreadable" in exits
