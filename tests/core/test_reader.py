"""The whole reader on every real image, on non-VHDX files and on truncated files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests import damage
from tests.imagefiles import REAL_DIR
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.analysis.verdict import verdict
from vhdxray.core.format import layout
from vhdxray.core.format.header import CurrentReason
from vhdxray.core.format.identifier import parse_identifier
from vhdxray.core.format.region import parse_region_table

# name: (disk type, current header, replay needed, error codes expected)
REAL = {
    "dissect-fixed": ("fixed", 2, False),
    "dissect-dynamic": ("dynamic", 2, False),
    "dissect-differencing": ("differencing", 2, False),
    "velociraptor": ("dynamic", 2, False),
    "discutils-log-replay": ("dynamic", 2, True),
    "qemu-dirtylog": ("dynamic", 2, True),
    "qemu-disk2vhd": ("dynamic", None, False),
    "qemu-dynamic-1g": ("dynamic", 2, False),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_every_real_image(real_image: Callable[[str], Path], name: str) -> None:
    disk_type, current, replay = REAL[name]
    report = read_report(real_image(name))
    assert report.is_vhdx and report.disk_type == disk_type
    assert report.current_header == current
    assert report.log is not None and report.log.replay_needed is replay
    errors = {f.code for f in report.errors}
    assert errors == ({"log.replay_needed"} if replay else set()), report.errors
    v = verdict(report)
    if replay:
        assert "A log replay is pending: do not update headers yet." in v.headline
    assert v.level == ("error" if replay else "ok" if name != "qemu-disk2vhd" else "warning")


def test_disk2vhd_identical_headers(real_image: Callable[[str], Path]) -> None:
    report = read_report(real_image("qemu-disk2vhd"))
    assert report.header_choice is not None
    assert report.header_choice.reason is CurrentReason.EQUAL_IDENTICAL
    assert report.effective_header is not None and report.effective_header.sequence_number == 1
    assert "identical" in verdict(report).headline


def test_stale_entries_of_the_hyper_v_image(real_image: Callable[[str], Path]) -> None:
    report = read_report(real_image("qemu-dynamic-1g"))
    log = report.log
    assert log is not None and not log.replay_needed and log.active is None
    assert len(log.stale_entries) == 2
    assert all(e.checksum_ok for e in log.stale_entries)


def test_avhdx_parent_locator(real_image: Callable[[str], Path]) -> None:
    report = read_report(real_image("dissect-differencing"))
    assert report.metadata is not None and report.metadata.parent_locator is not None
    loc = report.metadata.parent_locator
    assert loc.parent_linkage is not None
    assert loc.get("relative_path") or loc.get("absolute_win32_path")


def test_libvhdi_structure_samples() -> None:
    folder = REAL_DIR / "libvhdi-structures"
    if not folder.exists():
        pytest.skip("../shared is absent")
    ident, findings = parse_identifier((folder / "file_identifier.1").read_bytes())
    assert ident.signature_ok and ident.creator == "Microsoft Windows 10.0.19041.0"
    assert not findings
    # 80 bytes of a region table: entries parse, but a 64 KiB CRC cannot be checked.
    table = parse_region_table((folder / "region_table.1").read_bytes(), 1)
    assert table.signature_ok and not table.present and not table.valid
    assert {e.name for e in table.entries} == {"BAT", "Metadata"}


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"", "empty"),
        (b"QFI\xfb" + bytes(2000), "qcow2"),
        (b"KDMV" + bytes(2000), "vmdk"),
        (bytes(510) + b"\x55\xaa" + bytes(4096), "raw-mbr"),
        (bytes(512) + b"EFI PART" + bytes(4096), "raw-gpt"),
        (bytes(64 * 1024), "zeros"),
        (b"hello, world\n" * 100, "unknown"),
        (bytes(1000) + b"conectix" + bytes(504), "vhd"),
    ],
)
def test_not_a_vhdx_says_what_it_is(tmp_path: Path, content: bytes, kind: str) -> None:
    path = tmp_path / "f.img"
    path.write_bytes(content)
    report = read_report(path)
    assert not report.is_vhdx and report.kind == kind
    assert [f.code for f in report.findings] == ["file.not_vhdx"]
    assert verdict(report).level == "not_vhdx"


def test_unreadable(tmp_path: Path) -> None:
    assert read_report(tmp_path / "missing.vhdx").kind == "unreadable"
    directory = read_report(tmp_path)  # never opened: refused from its stat
    assert directory.kind == "not_regular"
    assert [f.code for f in directory.findings] == ["file.not_regular"]
    assert "it is a directory" in directory.description


@pytest.mark.parametrize(
    ("size", "codes"),
    [
        (
            100 * 1024,
            {
                "file.truncated",
                "header.slot2.missing",
                "region.copy1.missing",
                "region.copy2.missing",
                "region.none_valid",
            },
        ),
        (600 * 1024, {"file.truncated", "region.past_eof"}),
        (3 * layout.MiB, {"region.past_eof"}),
    ],
)
def test_truncations(qemu_image: Callable[..., Path], size: int, codes: set[str]) -> None:
    path = qemu_image("64M", "block_size=1M")
    damage.truncate(path, size)
    report = read_report(path)
    assert report.is_vhdx
    found = {f.code for f in report.errors}
    assert codes <= found, found


def test_file_identifier_wiped_but_structures_intact(qemu_image: Callable[..., Path]) -> None:
    path = qemu_image("64M")
    damage.write_at(path, 0, bytes(1024))
    report = read_report(path)
    assert report.is_vhdx and report.current_header is not None
    assert "identifier.signature" in {f.code for f in report.errors}
