"""Backups are untrusted input: ``vhdxray restore`` on a crafted backup file.

A zlib bomb, ranges that do not fit the image, deep JSON nesting and wrong shapes are all
"refused" (exit 2) with a reason, before anything large is decompressed, with and without
``--dry-run``, in bounded memory (measured in the child process, see tests/isolated.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.isolated import run_main
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.format import layout
from vhdxray.core.write.backup import BackupError, read_backup
from vhdxray.core.write.create import CreateOptions, create_image
from vhdxray.core.write.update import HeaderUpdatePlan, plan_header_update, run_header_update

MiB = layout.MiB
BOMB_SIZE = 1 << 30  # what the bomb inflates to: 1 GiB of zeros
MEMORY_BOUND = 100 * MiB  # the whole child process: Python, vhdxray, the image's metadata


@pytest.fixture
def real_backup(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A real backup of a header update on a small image, and its JSON document."""
    image = create_image(tmp_path / "disk.vhdx", CreateOptions(virtual_size=8 * MiB))
    plan = plan_header_update(read_report(image))
    assert isinstance(plan, HeaderUpdatePlan)
    backup = Path(run_header_update(image, plan, backup_dir=tmp_path).result.backup_path)
    return backup, json.loads(backup.read_text())


def zlib_bomb(size: int) -> bytes:
    """``size`` zero bytes (a multiple of 1 MiB, at least 3 MiB) zlib-compressed, made without
    holding or deflating them all.

    After a full flush deflate starts afresh and byte-aligned, so the same MiB of zeros
    compresses to the same bytes every time: the stream is that piece repeated, closed by a
    final block and the Adler-32 of all the zeros (A stays 1, B is the count mod 65521)."""
    zeros = bytes(MiB)
    packer = zlib.compressobj(9)
    first = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    piece = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    assert packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH) == piece
    last = packer.compress(zeros) + packer.flush()
    adler = (size % 65521) << 16 | 1
    return first + piece * (size // MiB - 2) + last[:-4] + adler.to_bytes(4, "big")


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """1 GiB of zeros, zlib-compressed (about 1 MiB); the construction is checked on 5 MiB."""
    assert zlib.decompress(zlib_bomb(5 * MiB)) == bytes(5 * MiB)
    return zlib_bomb(BOMB_SIZE)


def _write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


def _restore(backup: Path) -> tuple[list[tuple[int, str]], int]:
    outcome = run_main(
        [["restore", "--yes", "--dry-run", str(backup)], ["restore", "--yes", str(backup)]]
    )
    return outcome.results, outcome.peak_bytes


def test_zlib_bomb_is_refused_in_bounded_memory(
    real_backup: tuple[Path, dict[str, Any]], tmp_path: Path, bomb: bytes
) -> None:
    _, doc = real_backup
    assert len(bomb) < 2 * MiB
    r = doc["ranges"][0]
    r["before_zlib_b64"] = base64.b64encode(bomb).decode()  # still declares 4 KiB
    results, peak = _restore(_write(tmp_path / "bomb.json", doc))
    for code, text in results:
        assert code == 2, text
        assert "does not hold its declared length" in text
    assert peak < MEMORY_BOUND, peak


def test_range_declaring_more_than_the_image_is_refused_before_decompressing(
    real_backup: tuple[Path, dict[str, Any]], tmp_path: Path, bomb: bytes
) -> None:
    _, doc = real_backup
    r = doc["ranges"][0]
    r["length"] = BOMB_SIZE
    r["before_zlib_b64"] = base64.b64encode(bomb).decode()
    r["before_sha256"] = "0" * 64  # not checked: the length is refused first
    results, peak = _restore(_write(tmp_path / "big.json", doc))
    for code, text in results:
        assert code == 2, text
        assert "does not fit the image" in text and "ends past" in text
    assert peak < MEMORY_BOUND, peak


def test_ranges_adding_up_to_more_than_the_image_are_refused(
    real_backup: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    _, doc = real_backup
    size = Path(doc["image"]).stat().st_size
    piece = size // 4
    data = bytes(piece)
    one = {
        "offset": 0,
        "length": piece,
        "before_sha256": hashlib.sha256(data).hexdigest(),
        "after_sha256": hashlib.sha256(data).hexdigest(),
        "before_zlib_b64": base64.b64encode(zlib.compress(data)).decode(),
    }
    doc["ranges"] = [one] * 5  # each fits; together 5/4 of the image
    results, _ = _restore(_write(tmp_path / "many.json", doc))
    for code, text in results:
        assert code == 2, text
        assert "its ranges hold" in text


@pytest.mark.parametrize(
    "payload",
    [
        "[" * 200_000 + "]" * 200_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        "9" * 10_000,  # an integer too long to convert
        "\xff\xfe not utf-8",
        '{"format": "vhdxray-backup", "version": 1, "ranges": {"deep": ' + "[" * 50_000 + "]",
    ],
    ids=["nested-lists", "nested-objects", "huge-int", "not-utf8", "nested-inside"],
)
def test_malformed_json_is_not_a_backup(tmp_path: Path, payload: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(payload.encode("latin-1"))
    results, _ = _restore(path)
    for code, text in results:
        assert code == 2, text
        assert "not a vhdxray backup" in text
        assert "RecursionError" not in text and "internal error" not in text


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.update(ranges={"x": 1}), "'ranges' is not a list"),
        (lambda d: d["ranges"].__setitem__(0, [1, 2]), "range 0 is not an object"),
        (lambda d: d["ranges"][0].update(offset=-5), "range 0 offset is not a byte count"),
        (lambda d: d["ranges"][0].update(length="4096"), "range 0 length is not a byte count"),
        (lambda d: d.update(image=["x"]), "image is not a string"),
        (lambda d: d.pop("size_before"), "no 'size_before'"),
        (lambda d: d["ranges"][0].update(before_zlib_b64="!!"), "cannot be decoded"),
        (lambda d: d.update(version={"a": [1]}), "format version 'dict'"),
    ],
)
def test_wrong_shapes_are_refused_with_the_reason(
    real_backup: tuple[Path, dict[str, Any]], tmp_path: Path, change: Any, reason: str
) -> None:
    _, doc = real_backup
    change(doc)
    path = _write(tmp_path / "shape.json", doc)
    with pytest.raises(BackupError) as caught:
        read_backup(path)
    assert reason in str(caught.value)


def test_the_real_backup_still_reads(real_backup: tuple[Path, dict[str, Any]]) -> None:
    backup, doc = real_backup
    loaded = read_backup(backup, image_size=Path(doc["image"]).stat().st_size)
    assert [r[0] for r in loaded.ranges] == [r["offset"] for r in doc["ranges"]]
    assert all(len(r[1]) == d["length"] for r, d in zip(loaded.ranges, doc["ranges"], strict=True))


def test_a_huge_file_is_not_read_as_a_backup(tmp_path: Path) -> None:
    """A disk image passed as BACKUP by mistake: refused from its size, never read whole."""
    from vhdxray.core.write.backup import MAX_BACKUP_FILE

    path = tmp_path / "big.json"
    with open(path, "wb") as f:
        f.write(b"{")
        f.truncate(MAX_BACKUP_FILE + 1)  # sparse
    results, peak = _restore(path)
    for code, text in results:
        assert code == 2, text
        assert "not a vhdxray backup" in text
    assert peak < MEMORY_BOUND, peak
