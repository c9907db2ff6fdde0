"""fileio.path_text, path_name and path_join: the write path names files by str, as
``pathlib.Path`` wrote them (its messages, JSON and backup names did not change, issue 9)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vhdxray.core.fileio import path_join, path_name, path_text

pytestmark = pytest.mark.skipif(os.name != "posix", reason="Windows uses pathlib itself")

# Separators, dots and a few names, odd ones included (spaces, a newline, a NUL, non-ASCII).
PIECES = st.sampled_from(["/", "//", "///", ".", "..", "a", "b.vhdx", " ", "\n", "\x00", "é", "-"])
PATHS = st.lists(PIECES, max_size=8).map("".join)

CASES = [
    "",
    ".",
    "./",
    "/",
    "//",
    "///",
    "//x/y",
    "///x//y/",
    "a/./b/",
    "./a/../b",
    "dirty.vhdx",
    "./copy.vhdx",
    "backups//",
    ".hidden",
    "a/.",
    "x" * 300,
]


@pytest.mark.parametrize("text", CASES)
def test_path_text_is_what_pathlib_writes(text: str) -> None:
    assert path_text(text) == str(Path(text))
    assert path_text(Path(text)) == str(Path(text))
    assert path_name(text) == Path(text).name


@given(PATHS)
def test_path_text_and_name_match_pathlib(text: str) -> None:
    assert path_text(text) == str(Path(text))
    assert path_name(text) == Path(text).name


@given(PATHS, st.sampled_from(["n.json", ".n", "a/b", "/abs", "..", "é\n"]))
def test_path_join_matches_pathlib(folder: str, name: str) -> None:
    assert path_join(folder, name) == str(Path(folder) / name)
