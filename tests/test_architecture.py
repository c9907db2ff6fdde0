"""The layers (docs/ARCHITECTURE.md): format imports nothing from analysis or write, analysis
nothing from write, core nothing from the front ends. Rules that must exist once:
tests/test_one_place.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests import damage
from tests.logwrite import write_log_entries
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format.header import CurrentReason
from vhdxray.core.write.create import CreateOptions, create_image

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "core/format": ("vhdxray.core.analysis", "vhdxray.core.write", "vhdxray.tui"),
    "core/analysis": ("vhdxray.core.write", "vhdxray.tui"),
    "core/write": ("vhdxray.tui",),
    "core": ("vhdxray.tui", "textual", "rich"),
}


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports, at any depth (lazy imports inside functions too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
    return out


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_import_boundaries(folder: str) -> None:
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for name in imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[folder]):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, bad


def test_logwrite_finds_the_log_as_the_reader_does(tmp_path: Path) -> None:
    """Equal sequence numbers but different headers: no header is current, so there is no log
    to write into (it used to take slot 1 on any tie)."""
    image = create_image(tmp_path / "tie.vhdx", CreateOptions(virtual_size=8 << 20))
    seq = damage.header_field(image, 2, "sequence_number")
    damage.set_header_field(image, 1, "sequence_number", seq)
    damage.set_header_field(image, 1, "log_offset", 2 << 20)
    report = read_report(image)
    assert report.header_choice is not None
    assert report.header_choice.reason is CurrentReason.EQUAL_DIFFERENT
    with pytest.raises(ValueError, match="no current header"):
        write_log_entries(image, [(0, bytes(4096))])
