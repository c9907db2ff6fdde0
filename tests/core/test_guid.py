"""core/format/guid.py: the bytes-backed GUID behaves as uuid.UUID does (it replaced it on the
check path, so that check does not import uuid and platform)."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
import uuid
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vhdxray.core.format.guid import (
    BytesGuid,
    guid_from_int,
    guid_from_text,
    new_guid,
    read_guid,
)

sixteen = st.binary(min_size=16, max_size=16)


@given(sixteen, sixteen)
def test_a_parsed_guid_equals_uuid_in_every_way_used(raw: bytes, other: bytes) -> None:
    g, u = read_guid(raw), uuid.UUID(bytes_le=raw)
    assert isinstance(cast(object, g), BytesGuid)  # uuid.UUID to type checkers
    assert (str(g), g.int, g.bytes, g.bytes_le, g.hex) == (
        str(u),
        u.int,
        u.bytes,
        u.bytes_le,
        u.hex,
    )
    assert g == u and u == g and (g != u) is False and hash(g) == hash(u)
    assert {g: 1}[u] == 1 and u in {g}
    h, v = read_guid(other), uuid.UUID(bytes_le=other)
    assert (g == h) == (u == v) and (g < h) == (u < v) and (g <= v) == (u <= v)
    assert (g > h) == (u > v) and (g >= v) == (u >= v)
    assert sorted([g, h]) == sorted([u, v])


def test_read_guid_takes_an_offset_and_a_memoryview() -> None:
    raw = bytes(range(40))
    assert read_guid(memoryview(raw), 8) == uuid.UUID(bytes_le=raw[8:24])


@given(st.integers(min_value=0, max_value=(1 << 128) - 1))
def test_from_int_and_text_equal_uuid(value: int) -> None:
    u = uuid.UUID(int=value)
    assert guid_from_int(value) == u
    for text in (str(u), str(u).upper(), "{" + str(u) + "}", u.hex, u.urn):
        assert guid_from_text(text) == uuid.UUID(text)


@pytest.mark.parametrize(
    "text",
    ["", "nope", "0" * 31, "0" * 33, "g" * 32, "{" + "0" * 30 + "}", "+" + "1" * 31, "1_" * 16],
)
def test_text_is_refused_or_accepted_exactly_as_uuid_does(text: str) -> None:
    try:
        expected: uuid.UUID | None = uuid.UUID(text)
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(ValueError):
            guid_from_text(text)
    else:
        assert guid_from_text(text) == expected


def test_out_of_range_ints_are_refused() -> None:
    for value in (-1, 1 << 128):
        with pytest.raises(ValueError):
            guid_from_int(value)


def test_new_guids_are_version_4_and_distinct() -> None:
    made = [new_guid() for _ in range(50)]
    assert len(set(made)) == 50
    for g in made:
        u = uuid.UUID(str(g))
        assert (u.version, u.variant) == (4, uuid.RFC_4122)


def test_immutable_copyable_picklable() -> None:
    g = read_guid(os.urandom(16))
    with pytest.raises(TypeError):
        g.bytes_le = b""  # type: ignore[misc]
    assert copy.copy(g) == g and copy.deepcopy(g) == g and pickle.loads(pickle.dumps(g)) == g
    assert g != "not a guid" and g != 5


def test_the_check_path_does_not_import_uuid_or_platform(tmp_path: object) -> None:
    code = (
        "import sys, vhdxray.core.analysis.reader, vhdxray.core.analysis.jsonout, "
        "vhdxray.core.format.layout; "
        "bad = [m for m in ('uuid', 'platform', 'dataclasses') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
