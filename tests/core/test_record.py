"""@record: frozen slotted value classes (core/format/record.py)."""

from __future__ import annotations

import copy
import pickle

import pytest

from vhdxray.core.format.record import FrozenRecordError, fields, record, replace


@record
class Point:
    """A docstring kept."""

    x: int
    y: int = 7
    label: str = "p"

    @property
    def total(self) -> int:
        return self.x + self.y


@record
class Other:
    x: int
    y: int = 7
    label: str = "p"


def test_record_behaves_like_a_frozen_slotted_dataclass() -> None:
    p = Point(1)
    assert (p.x, p.y, p.label, p.total) == (1, 7, "p", 8)
    assert Point(1, label="q") == Point(x=1, y=7, label="q")
    assert Point(1) != Point(2) and Point(1) != Other(1)  # same values, other class
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert repr(Point(1)) == "Point(x=1, y=7, label='p')"
    assert Point.__doc__ == "A docstring kept."
    assert not hasattr(p, "__dict__") and Point.__slots__ == ("x", "y", "label")
    assert Point.__match_args__ == ("x", "y", "label")
    with pytest.raises(FrozenRecordError):
        p.x = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.y  # type: ignore[misc]
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    match p:
        case Point(1, y):
            assert y == 7
        case _:
            pytest.fail("pattern matching on fields")


def test_replace_fields_copy_and_pickle() -> None:
    p = Point(1, 2, "a")
    assert replace(p, y=5) == Point(1, 5, "a") and p.y == 2
    with pytest.raises(TypeError):
        replace(p, z=1)
    assert fields(p) == fields(Point) == ("x", "y", "label")
    assert copy.copy(p) == p and copy.deepcopy(p) == p
    assert pickle.loads(pickle.dumps(p)) == p


def test_a_field_without_default_after_one_with_is_refused() -> None:
    class Bad:
        a: int = 1
        b: int

    with pytest.raises(TypeError):
        record(Bad)


def test_dataclasses_functions_accept_records() -> None:
    import dataclasses

    p = Point(1, 2, "a")
    assert dataclasses.is_dataclass(p)
    assert dataclasses.replace(p, label="b") == Point(1, 2, "b")
    assert [f.name for f in dataclasses.fields(p)] == ["x", "y", "label"]
    assert dataclasses.asdict(p) == {"x": 1, "y": 2, "label": "a"}
    assert dataclasses.replace(Other(3), y=1) == Other(3, 1)
