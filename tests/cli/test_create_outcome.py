"""``vhdxray create`` speaks the outcome model: a refusal (the path exists, a bad geometry, an
unusable parent) exits 2 with nothing written; a write that fails part-way exits 1 and leaves
no partial file."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from vhdxray.core.outcome import RefusalCode, Refused
from vhdxray.core.write import create as create_module
from vhdxray.core.write.create import CreateError, CreateOptions, create_image
from vhdxray.tui.cli import main

MiB = 1 << 20


def test_refusals_are_the_outcome_models(tmp_path: Path) -> None:
    path = create_image(tmp_path / "a.vhdx", CreateOptions(virtual_size=64 * MiB))
    with pytest.raises(CreateError) as exists:
        create_image(path, CreateOptions(virtual_size=64 * MiB))
    assert isinstance(exists.value, Refused) and exists.value.code is RefusalCode.OUTPUT_EXISTS
    with pytest.raises(Refused) as bad:
        create_image(tmp_path / "b.vhdx", CreateOptions(virtual_size=64 * MiB, block_size=3 * MiB))
    assert bad.value.code is RefusalCode.UNSUPPORTED_GEOMETRY
    assert not (tmp_path / "b.vhdx").exists()


def test_cli_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "new.vhdx"
    assert main(["create", str(target), "--size", "64M"]) == 0
    assert main(["create", str(target), "--size", "64M"]) == 2  # exists: refused
    assert "already exists" in capsys.readouterr().err

    def no_space(fd: int, offset: int, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(create_module, "pwrite_all", no_space)
    full = tmp_path / "full.vhdx"
    assert main(["create", str(full), "--size", "64M"]) == 1  # a write failed
    err = capsys.readouterr().err
    assert "FAILED" in err and "No space left" in err and "partial file was removed" in err
    assert not full.exists()
    assert not [p for p in tmp_path.iterdir() if p.name not in ("new.vhdx",)]


def test_export_to_a_name_too_long_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The output cannot even be created: nothing was written, so it is a refusal (exit 4,
    ``cannot_open``), not a failure part-way."""
    import json

    image = create_image(tmp_path / "a.vhdx", CreateOptions(virtual_size=64 * MiB))
    too_long = tmp_path / ("x" * 300 + ".raw")
    assert main(["export", str(image), str(too_long), "--json"]) == 4
    doc = json.loads(capsys.readouterr().out)
    assert doc["refused"] == "cannot_open"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.vhdx"]
