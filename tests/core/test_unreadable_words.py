"""A file that cannot be opened is told what to look at, not "Nothing to do with vhdxray";
a symbolic link whose target is gone (or a link loop) is named as a link."""

from __future__ import annotations

import os
from pathlib import Path

from vhdxray.core.analysis.reader import read_report
from vhdxray.core.analysis.verdict import verdict


def test_a_dangling_link_is_named_as_one(tmp_path: Path) -> None:
    link = tmp_path / "disk.vhdx"
    os.symlink(tmp_path / "gone" / "disk.vhdx", link)
    report = read_report(link)
    assert report.kind == "unreadable"
    assert "symbolic link to" in report.description and "gone" in report.description
    step = verdict(report).next_step
    assert "Nothing to do" not in step and "permission" in step


def test_a_link_loop_is_named_as_a_link(tmp_path: Path) -> None:
    os.symlink(tmp_path / "b.vhdx", tmp_path / "a.vhdx")
    os.symlink(tmp_path / "a.vhdx", tmp_path / "b.vhdx")
    assert "symbolic link to" in read_report(tmp_path / "a.vhdx").description


def test_a_missing_file_is_not_called_a_link(tmp_path: Path) -> None:
    report = read_report(tmp_path / "missing.vhdx")
    assert report.kind == "unreadable" and "link" not in report.description
    assert "Nothing to do" not in verdict(report).next_step


def test_a_folder_is_told_to_name_the_file_and_another_format_is_not_ours(tmp_path: Path) -> None:
    assert verdict(read_report(tmp_path)).next_step == "Name the image file itself."
    other = tmp_path / "disk.qcow2"
    other.write_bytes(b"QFI\xfb" + bytes(508))
    assert verdict(read_report(other)).next_step == "Nothing to do with vhdxray."
