"""Rules that exist once (issue 8, "each rule once"): a grep of the product's source for stray
copies. Each test names the one place; a copy coming back elsewhere fails it.

- the table of header fields: core/format/header.py HEADER_FIELDS;
- the current-header sentence: header.HeaderChoice.explain;
- the Disk2VHD equal-sequence tie (which slot describes the file): header.effective_header,
  asked through updatebase.source_slot by every header update;
- making a new file (exclusive create, removed on error, fsync file and folder):
  core/fileio.py NewFile.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from vhdxray.core.format.header import HEADER_FIELDS

ROOT = Path(__file__).resolve().parents[1]
HEADER_PY = "core/format/header.py"
FILEIO_PY = "core/fileio.py"


def product_files() -> Iterator[tuple[str, str]]:
    """(path relative to the repository, text) of every product module, and the test helpers
    that write images (they must follow the reader's rules too)."""
    paths = [*ROOT.joinpath("core").rglob("*.py"), *ROOT.joinpath("tui").rglob("*.py")]
    paths += [ROOT / "tests" / "logwrite.py", ROOT / "tests" / "damage.py"]
    for path in sorted(paths):
        yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def string_literals(text: str) -> list[str]:
    """Every string constant of the module (f-string pieces included), docstrings excluded:
    what the program says, not what its comments explain."""
    tree = ast.parse(text)
    skip = _docstrings(tree)
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


# --- the header field table -------------------------------------------------------------------

NAMES = {f.name for f in HEADER_FIELDS} | {f.attr for f in HEADER_FIELDS}
HEADER_ONLY_NAMES = {"SequenceNumber", "FileWriteGuid", "DataWriteGuid"}  # no other structure


def test_the_field_table_matches_the_spec() -> None:
    """The table is complete and its offsets tile the 80 defined bytes (MS-VHDX 2.2.2)."""
    spans = sorted((f.offset, f.size) for f in HEADER_FIELDS)
    assert [f.name for f in sorted(HEADER_FIELDS, key=lambda f: f.offset)] == [
        "Signature",
        "Checksum",
        "SequenceNumber",
        "FileWriteGuid",
        "DataWriteGuid",
        "LogGuid",
        "LogVersion",
        "Version",
        "LogLength",
        "LogOffset",
    ]
    end = 0
    for offset, size in spans:
        assert offset == end
        end += size
    assert end == 80


def test_the_header_field_list_exists_once() -> None:
    """No module but header.py lists the header fields by name: a module holding most of their
    names (or a name only a header has, as a label) is a copy of the table."""
    copies = []
    for rel, text in product_files():
        if rel == HEADER_PY:
            continue
        found = NAMES.intersection(string_literals(text))
        if len(found) >= 6 or HEADER_ONLY_NAMES & found:
            copies.append(f"{rel}: {sorted(found)}")
        if "16s16s16s" in text:
            copies.append(f"{rel}: the header's struct layout")
    assert copies == [], "iterate header.HEADER_FIELDS instead:\n" + "\n".join(copies)


def test_the_grep_finds_a_copy() -> None:
    """The check above fails on the kind of copy it replaced."""
    copy = 'ROWS = ("SequenceNumber", "FileWriteGuid", "DataWriteGuid", "LogGuid")\n'
    assert HEADER_ONLY_NAMES & set(string_literals(copy))
    spans = "SPANS = ((16, 16, 'file_write_guid'), (32, 16, 'data_write_guid'))\n"
    assert {"file_write_guid", "data_write_guid"} <= NAMES.intersection(string_literals(spans))


# --- the current-header sentence --------------------------------------------------------------

SENTENCE = re.compile(
    r"no header is current:|neither slot is current|the only valid header|disk2vhd"
    r"|is current: both are valid|is current \(sequence|is current; both slots are valid",
    re.IGNORECASE,
)


def sentence_copies() -> list[str]:
    hits = []
    for rel, text in product_files():
        if rel == HEADER_PY:
            continue
        hits += [f"{rel}: {s!r}" for s in string_literals(text) if SENTENCE.search(s)]
    return hits


def test_the_current_header_sentence_exists_once() -> None:
    """Which header is current and why is said by HeaderChoice.explain only; the verdict, the
    text report, the app's panels and headline, the repair dialogs and the update summaries
    all call it (and --json gives its code, current_header_reason)."""
    assert sentence_copies() == [], "call HeaderChoice.explain instead"


def test_the_sentence_check_finds_a_copy() -> None:
    copy = 'f"No header is current: both are identical with sequence {seq} (Disk2VHD)"'
    assert any(SENTENCE.search(s) for s in string_literals(copy))


# --- the equal-sequence tie ----------------------------------------------------------------------

TIE = re.compile(r"EQUAL_IDENTICAL[^\n]*\n(?:[^\n]*\n){0,2}[^\n]*return (?:1|headers\[0\])")
SEQUENCE_COMPARE = re.compile(
    r"\bh[12]\.sequence_number\s*(?:==|!=|<=?|>=?)\s*h[12]\.sequence_number"
)


def test_the_equal_sequence_tie_is_decided_once() -> None:
    """Only header.py compares the slots' sequence numbers and turns 'byte-identical, equal
    sequence' into a slot (effective_header); every other module asks it."""
    hits = []
    for rel, text in product_files():
        if rel == HEADER_PY:
            continue
        if TIE.search(text) or SEQUENCE_COMPARE.search(text) or "field_bytes() ==" in text:
            hits.append(rel)
    assert hits == []


def _only_forwards_to(func: ast.FunctionDef, callee: str) -> bool:
    body = [
        s
        for s in func.body
        if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        and not isinstance(s, ast.ImportFrom)
    ]
    if len(body) != 1 or not isinstance(body[0], ast.Return):
        return False
    call = body[0].value
    if not isinstance(call, ast.Call):
        return False
    name = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
    return name == callee


def test_the_source_slot_rule_has_no_aliases() -> None:
    """updatebase.source_slot is called by its name: no wrapper under another name (they used
    to be header_from_slot, replay_from_slot, source_slot_of), so a grep finds every user."""
    aliases = []
    for rel, text in product_files():
        for node in ast.walk(ast.parse(text)):
            if (
                isinstance(node, ast.FunctionDef)
                and node.name != "source_slot"
                and _only_forwards_to(node, "source_slot")
            ):
                aliases.append(f"{rel}: {node.name}")
    assert aliases == []
    definitions = [
        rel for rel, text in product_files() if re.search(r"^def source_slot\(", text, re.M)
    ]
    assert definitions == ["core/analysis/updatebase.py"]


def test_the_alias_check_finds_a_wrapper() -> None:
    wrapper = ast.parse(
        "def replay_from_slot(r, s):\n    '''doc'''\n    return source_slot(r, s)\n"
    )
    func = wrapper.body[0]
    assert isinstance(func, ast.FunctionDef) and _only_forwards_to(func, "source_slot")


# --- making a new file --------------------------------------------------------------------------

NEW_FILE_PARTS = re.compile(r"\bO_EXCL\b|\bcreate_new\(|\bfsync_dir\(")
PUBLISH = "core/write/export.py"  # fsyncs the folder again after the rename that publishes


@pytest.mark.parametrize("rel_text", list(product_files()), ids=lambda rt: rt[0])
def test_new_files_are_made_by_newfile(rel_text: tuple[str, str]) -> None:
    """Exclusive create, fsync of the folder and removal on error are fileio.NewFile's; other
    modules create files with it (export.py also fsyncs the folder after publishing)."""
    rel, text = rel_text
    if rel == FILEIO_PY:
        return
    code = "\n".join(line.split("#")[0] for line in text.splitlines())
    code = re.sub(r'"""(?:.|\n)*?"""', "", code)  # docstrings may explain O_EXCL
    found = set(NEW_FILE_PARTS.findall(code))
    if rel == PUBLISH:
        found.discard("fsync_dir(")
    assert not found, f"{rel} uses {sorted(found)}: use fileio.NewFile"
