"""Backup names: anything already at a predicted name (a dangling symbolic link too) is skipped,
and a link is never followed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.write import backup as backup_module
from vhdxray.core.write.create import CreateOptions, create_image
from vhdxray.core.write.update import HeaderUpdatePlan, plan_header_update, run_header_update


@pytest.fixture
def fixed_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backup names without the clock (the real ones carry the second they were made)."""
    monkeypatch.setattr(
        backup_module, "backup_name", lambda image, op: f"{Path(image).name}.backup-{op}.json"
    )


@pytest.mark.skipif(os.name != "posix", reason="symbolic links need POSIX here")
def test_dangling_link_and_file_at_predicted_names_are_skipped(
    tmp_path: Path, fixed_names: None
) -> None:
    image = create_image(tmp_path / "disk.vhdx", CreateOptions(virtual_size=8 * layout.MiB))
    first = Path(backup_module.free_backup_file(image, "update-headers"))
    assert first.name == "disk.vhdx.backup-update-headers.json"
    target = tmp_path / "elsewhere" / "written-through-the-link"
    (tmp_path / "elsewhere").mkdir()
    first.symlink_to(target)  # dangling: exists() is False, but the name is taken
    second = Path(backup_module.free_backup_file(image, "update-headers"))
    assert second.name == "disk.vhdx.backup-update-headers-2.json"
    second.write_bytes(b"someone else's file")

    plan = plan_header_update(read_report(image))
    assert isinstance(plan, HeaderUpdatePlan)
    outcome = run_header_update(image, plan, backup_dir=tmp_path)
    written = Path(outcome.result.backup_path)
    assert written.name == "disk.vhdx.backup-update-headers-3.json"
    assert not target.exists()  # the link was not followed
    assert first.is_symlink() and os.readlink(first) == str(target)
    assert second.read_bytes() == b"someone else's file"
    assert backup_module.read_backup(written).operation == "update-headers"


@pytest.mark.skipif(os.name != "posix", reason="symbolic links need POSIX here")
def test_a_name_taken_between_choosing_and_creating_is_skipped(
    tmp_path: Path, fixed_names: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process creates the chosen name just before the exclusive create."""
    image = create_image(tmp_path / "disk.vhdx", CreateOptions(virtual_size=8 * layout.MiB))
    real_free = backup_module.free_backup_file
    raced: list[str] = []

    def racing(img: str, op: str, directory: str | None = None) -> str:
        path = real_free(img, op, directory)
        if not raced:
            os.symlink(tmp_path / "nowhere", path)
            raced.append(path)
        return path

    monkeypatch.setattr(backup_module, "free_backup_file", racing)
    plan = plan_header_update(read_report(image))
    assert isinstance(plan, HeaderUpdatePlan)
    written = Path(run_header_update(image, plan, backup_dir=tmp_path).result.backup_path)
    assert raced and written != Path(raced[0])
    assert written.name == "disk.vhdx.backup-update-headers-2.json"
    assert not (tmp_path / "nowhere").exists()


def test_backup_digests_are_hashlibs() -> None:
    """The backups' SHA-256 (a built-in module, no OpenSSL at start-up) is hashlib's."""
    import hashlib
    import random

    from vhdxray.core.write.backup import sha256_hex

    rng = random.Random(9)
    for size in (0, 1, 55, 56, 64, 4096, 65537):
        data = rng.randbytes(size)
        assert sha256_hex(data) == hashlib.sha256(data).hexdigest()
