"""``--json`` refusals the command line makes itself (no ``--yes``, the image in use) are one
JSON object on stdout with a stable ``code``, in core's refusal shape, in every writing command.

Before: ``update-headers --json`` without ``--yes`` printed the plain text "Cancelled: nothing
was written." instead of JSON; its in-use refusal had no ``params`` nor ``suggest``; ``repair``
and ``relink`` gave a ``reason`` with no ``code`` at all.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from tests import damage
from tests import repairimages as ri
from vhdxray.core.write.create import CreateOptions, create_child, create_image
from vhdxray.tui import cli

MiB = 1 << 20
REFUSAL_KEYS = {"refused", "code", "params", "reason", "suggest"}


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = cli.main(list(argv))
    return code, json.loads(capsys.readouterr().out)  # one object, nothing else


def _error(doc: dict[str, object]) -> dict[str, object]:
    """The refusal: ``error`` for repair and relink, the document itself for update-headers."""
    error = doc.get("error", doc)
    assert isinstance(error, dict)
    assert set(error) >= REFUSAL_KEYS, error
    return error


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    image = create_image(tmp_path / "disk.vhdx", CreateOptions(virtual_size=8 * MiB))
    damage.break_header_checksum(image, 1)
    return image


def test_without_yes(capsys: pytest.CaptureFixture[str], damaged: Path, tmp_path: Path) -> None:
    digest = ri.file_sha256(damaged)
    moved = tmp_path / "moved"
    moved.mkdir()
    parent = create_image(tmp_path / "parent.vhdx", CreateOptions(virtual_size=8 * MiB))
    child = create_child(tmp_path / "child.avhdx", parent)
    parent = parent.rename(moved / "parent.vhdx")
    child_digest = ri.file_sha256(child)
    for argv in (
        ["update-headers", "--json", str(damaged)],
        ["repair", "--json", str(damaged)],
        ["relink", "--json", str(child), str(parent)],
    ):
        code, doc = _json(capsys, *argv)
        assert code == 2 and doc["ok"] is False, argv
        error = _error(doc)
        assert error["code"] == "confirmation_needed" and "--yes" in str(error["reason"]), argv
    assert ri.file_sha256(damaged) == digest and ri.file_sha256(child) == child_digest


def test_in_use(capsys: pytest.CaptureFixture[str], damaged: Path) -> None:
    holder = os.open(damaged, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        results = [
            _json(capsys, *argv)
            for argv in (
                ["update-headers", "--yes", "--json", str(damaged)],
                ["repair", "--yes", "--json", str(damaged)],
            )
        ]
    finally:
        os.close(holder)
    for code, doc in results:
        assert code == 2 and doc["ok"] is False
        assert _error(doc)["code"] == "in_use"
