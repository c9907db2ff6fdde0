"""jsontext.dumps writes what json.dumps(indent=N, ensure_ascii=True) writes (issue 9: the
report commands and the backups no longer import json, re and enum for it)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vhdxray.core.format.findings import Severity
from vhdxray.core.jsontext import dumps


def _reference(doc: object) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=True)


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from(list(Severity))
)
_DOCS = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(), inner, max_size=4)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(_DOCS)
def test_dumps_is_json_dumps(doc: object) -> None:
    assert dumps(doc) == _reference(doc)


@settings(max_examples=100, deadline=None)
@given(_DOCS, st.integers(min_value=0, max_value=4))
def test_dumps_with_any_indent_is_json_dumps(doc: object, indent: int) -> None:
    """The backups write with indent 1; the console with 2."""
    assert dumps(doc, indent) == json.dumps(doc, indent=indent, ensure_ascii=True)


@pytest.mark.parametrize(
    "doc",
    [
        {},
        [],
        {"a": {}, "b": [], "c": [{}], "d": [[]]},
        {'é€😀\x00\x1f"\\/': 'é€😀\x00\x1f"\\/\u2028'},
        [math.nan, math.inf, -math.inf, -0.0, 1e300, 1.5],
        [True, False, None, 0, -1, 2**70],
        {"severity": Severity.ERROR, Severity.WARNING: [Severity.INFO]},
        {3: "int key", 2.5: "float key", True: "bool key", None: "none key"},
    ],
)
def test_dumps_examples(doc: object) -> None:
    assert dumps(doc) == _reference(doc)


class _Odd:
    pass


def test_dumps_leaves_what_it_does_not_handle_to_json() -> None:
    with pytest.raises(TypeError) as ours:
        dumps({"a": [_Odd()]})
    with pytest.raises(TypeError) as reference:
        _reference({"a": [_Odd()]})
    assert str(ours.value) == str(reference.value)
    with pytest.raises(TypeError) as ours:
        dumps({(1, 2): 3})
    with pytest.raises(TypeError) as reference:
        _reference({(1, 2): 3})
    assert str(ours.value) == str(reference.value)
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        dumps({"loop": loop})
    deep: list[object] = []
    for _ in range(250):
        deep = [deep]
    assert dumps(deep) == _reference(deep)
