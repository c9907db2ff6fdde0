"""A fixed disk is allocated on the host, as `create --fixed`'s help says ("fully allocated"):
its payload is reserved at creation, not left as a sparse file that a full host disk breaks
later; a dynamic disk stays small."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.outcome import WriteFailed
from vhdxray.core.write.create import CreateOptions, create_image

MiB = layout.MiB
needs_fallocate = pytest.mark.skipif(
    not hasattr(os, "posix_fallocate"), reason="no posix_fallocate on this platform"
)


@needs_fallocate
def test_a_fixed_disk_is_allocated_and_a_dynamic_one_is_not(tmp_path: Path) -> None:
    fixed = create_image(tmp_path / "fixed.vhdx", CreateOptions(32 * MiB, fixed=True))
    dynamic = create_image(tmp_path / "dynamic.vhdx", CreateOptions(32 * MiB))
    fixed_st, dynamic_st = fixed.stat(), dynamic.stat()
    assert fixed_st.st_blocks * 512 >= 32 * MiB
    assert dynamic_st.st_blocks * 512 < 8 * MiB
    report = read_report(fixed)
    assert report.is_vhdx and not [f for f in report.findings if f.severity == "error"]


@needs_fallocate
def test_no_room_for_a_fixed_disk_fails_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    target = tmp_path / "fixed.vhdx"
    with pytest.raises(WriteFailed, match="No space left"):
        create_image(target, CreateOptions(32 * MiB, fixed=True))
    assert list(tmp_path.iterdir()) == []


@needs_fallocate
def test_a_filesystem_without_fallocate_still_gets_its_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))

    monkeypatch.setattr(os, "posix_fallocate", unsupported)
    image = create_image(tmp_path / "fixed.vhdx", CreateOptions(32 * MiB, fixed=True))
    assert read_report(image).is_vhdx
