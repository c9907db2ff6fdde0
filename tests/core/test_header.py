"""Header slots: parsing, serialising, validity and the current-header rule (§2.2.2)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests import damage
from tests.imagefiles import REAL_DIR
from vhdxray.core.format import layout
from vhdxray.core.format.checksum import CHECK_VALUE, crc32c
from vhdxray.core.format.header import (
    CurrentReason,
    check_headers,
    choose_current,
    differing_fields,
    parse_header,
    serialise_header,
)

G1 = uuid.UUID("11111111-2222-3333-4444-555555555555")
G2 = uuid.UUID("66666666-7777-8888-9999-aaaaaaaaaaaa")


def make(seq: int, *, log_guid: uuid.UUID = layout.ZERO_GUID) -> bytes:
    return serialise_header(
        sequence_number=seq,
        file_write_guid=G1,
        data_write_guid=G2,
        log_guid=log_guid,
        log_length=layout.MiB,
        log_offset=layout.MiB,
    )


def test_crc32c_check_value() -> None:
    assert crc32c(b"123456789") == CHECK_VALUE


def test_libvhdi_sample_header_is_valid() -> None:
    sample = REAL_DIR / "libvhdi-structures" / "image_header.1"
    if not sample.exists():
        pytest.skip("../shared is absent")
    h = parse_header(sample.read_bytes(), 1)
    assert h.valid and h.signature_ok and h.checksum_ok
    assert h.sequence_number == 6
    assert h.log_guid == layout.ZERO_GUID
    assert (h.log_offset, h.log_length) == (layout.MiB, layout.MiB)
    assert h.version == 1 and h.log_version == 0


def test_serialise_round_trip_and_layout() -> None:
    raw = make(42, log_guid=G1)
    assert len(raw) == layout.HEADER_SIZE
    assert raw[:4] == b"head"
    assert raw[16:32] == G1.bytes_le  # mixed-endian GUID on disk
    assert not any(raw[80:])
    h = parse_header(raw, 2)
    assert h.valid and h.reserved_zero
    assert (h.sequence_number, h.file_write_guid, h.data_write_guid, h.log_guid) == (42, G1, G2, G1)
    assert (h.version, h.log_version) == (1, 0)


def test_checksum_mismatch_reports_both_values() -> None:
    raw = bytearray(make(5))
    raw[100] = 1  # reserved byte: checksum now wrong
    h = parse_header(bytes(raw), 1)
    assert h.signature_ok and not h.checksum_ok and not h.valid
    assert h.checksum != h.computed_checksum
    (reason,) = h.invalid_reasons()
    assert f"0x{h.checksum:08x}" in reason and f"0x{h.computed_checksum:08x}" in reason


def test_wrong_signature_is_invalid_even_with_good_crc() -> None:
    raw = bytearray(make(5))
    raw[0:4] = b"HEAD"
    from vhdxray.core.format.checksum import checksum_with_field_zeroed

    raw[4:8] = checksum_with_field_zeroed(raw, 4).to_bytes(4, "little")
    h = parse_header(bytes(raw), 1)
    assert h.checksum_ok and not h.signature_ok and not h.valid


def test_short_slot_is_not_present() -> None:
    h = parse_header(make(5)[:100], 2)
    assert not h.present and not h.valid
    assert "ends before" in h.invalid_reasons()[0]


@pytest.mark.parametrize(
    ("seq1", "ok1", "seq2", "ok2", "current", "reason"),
    [
        (5, True, 9, False, 1, CurrentReason.ONLY_VALID),  # only valid wins over a higher seq
        (9, False, 5, True, 2, CurrentReason.ONLY_VALID),
        (7, True, 6, True, 1, CurrentReason.HIGHER_SEQUENCE),
        (6, True, 7, True, 2, CurrentReason.HIGHER_SEQUENCE),
        (0, True, 0, False, 1, CurrentReason.ONLY_VALID),  # a single valid header with seq 0
        (3, False, 4, False, None, CurrentReason.NONE_VALID),
    ],
)
def test_current_header_rule(
    seq1: int, ok1: bool, seq2: int, ok2: bool, current: int | None, reason: CurrentReason
) -> None:
    def slot(seq: int, ok: bool, n: int) -> bytes:
        raw = bytearray(make(seq))
        if not ok:
            raw[200] ^= 0xFF
        return bytes(raw)

    h1, h2 = parse_header(slot(seq1, ok1, 1), 1), parse_header(slot(seq2, ok2, 2), 2)
    choice = choose_current(h1, h2)
    assert (choice.current, choice.reason) == (current, reason)
    assert choice.explain((h1, h2))


def test_equal_sequence_identical_is_no_current_header() -> None:
    h1, h2 = parse_header(make(1), 1), parse_header(make(1), 2)
    choice = choose_current(h1, h2)
    assert choice.current is None and choice.reason is CurrentReason.EQUAL_IDENTICAL
    codes = {f.code: f for f in check_headers((h1, h2), choice)}
    assert codes["header.equal_sequence_identical"].severity == "warning"
    assert "identical" in choice.explain((h1, h2))


def test_equal_sequence_different_is_an_error() -> None:
    h1 = parse_header(make(4), 1)
    h2 = parse_header(make(4, log_guid=G1), 2)
    choice = choose_current(h1, h2)
    assert choice.reason is CurrentReason.EQUAL_DIFFERENT
    assert differing_fields(h1, h2) == ("checksum", "log_guid")
    codes = {f.code: f for f in check_headers((h1, h2), choice)}
    assert codes["header.equal_sequence_different"].severity == "error"
    assert "log_guid" in codes["header.equal_sequence_different"].message


def _patched(seq: int, **fields: int) -> bytes:
    import struct

    from vhdxray.core.format.checksum import checksum_with_field_zeroed

    raw = bytearray(make(seq, log_guid=G1 if fields.pop("log_guid", 0) else layout.ZERO_GUID))
    for name, value in fields.items():
        off, fmt = damage.header_field_format(name)
        struct.pack_into(fmt, raw, off, value)
    raw[4:8] = checksum_with_field_zeroed(raw, 4).to_bytes(4, "little")
    return bytes(raw)


def test_version_is_a_file_error_not_slot_validity() -> None:
    h1, h2 = parse_header(_patched(1), 1), parse_header(_patched(2, version=2), 2)
    assert h2.valid  # the spec's validity ignores the version (QEMU does not)
    choice = choose_current(h1, h2)
    assert choice.current == 2
    codes = {f.code for f in check_headers((h1, h2), choice)}
    assert "header.version" in codes


def test_log_version_matters_only_with_a_log_guid() -> None:
    h1 = parse_header(_patched(1), 1)
    quiet = parse_header(_patched(2, log_version=3), 2)
    loud = parse_header(_patched(2, log_version=3, log_guid=1), 2)
    codes_quiet = {
        f.code: f.severity for f in check_headers((h1, quiet), choose_current(h1, quiet))
    }
    codes_loud = {f.code: f.severity for f in check_headers((h1, loud), choose_current(h1, loud))}
    assert codes_quiet.get("header.log_version_unused") == "warning"
    assert "header.log_version" not in codes_quiet
    assert codes_loud["header.log_version"] == "error"


def test_non_zero_reserved_bytes_in_a_valid_slot_warn(tmp_path: Path) -> None:
    raw = bytearray(make(8))
    raw[1000] = 7
    from vhdxray.core.format.checksum import checksum_with_field_zeroed

    raw[4:8] = checksum_with_field_zeroed(raw, 4).to_bytes(4, "little")
    h1, h2 = parse_header(bytes(raw), 1), parse_header(make(7), 2)
    assert h1.valid and not h1.reserved_zero
    codes = {f.code for f in check_headers((h1, h2), choose_current(h1, h2))}
    assert "header.slot1.reserved" in codes


def test_sequence_near_overflow_warns() -> None:
    h1 = parse_header(make((1 << 64) - 1), 1)
    h2 = parse_header(make(3), 2)
    codes = {f.code for f in check_headers((h1, h2), choose_current(h1, h2))}
    assert "header.sequence_overflow" in codes
