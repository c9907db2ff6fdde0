"""@record: frozen slotted value classes (core/format/record.py)."""

from __future__ import annotations

import copy
import enum
import json
import pickle
import warnings
from pathlib import Path
from typing import Any, ClassVar, Final, cast

import pytest

from vhdxray.core.format import record as record_module
from vhdxray.core.format.record import (
    FrozenRecordError,
    StrEnum,
    field,
    fields,
    mutable_record,
    record,
    replace,
)


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
    assert Point(1) != Point(2) and Point(1) != cast(object, Other(1))  # same values, other class
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert repr(Point(1)) == "Point(x=1, y=7, label='p')"
    assert Point.__doc__ == "A docstring kept."
    assert not hasattr(p, "__dict__") and vars(Point)["__slots__"] == ("x", "y", "label")
    assert Point.__match_args__ == ("x", "y", "label")
    with pytest.raises(FrozenRecordError):
        p.x = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.y
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Point(1, z=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values for argument 'y'"):
        Point(1, 2, y=3)  # type: ignore[misc]
    with pytest.raises(TypeError):
        Point(1, 2, "a", 4)  # type: ignore[call-arg]
    assert Point.__init__.__qualname__ == "Point.__init__"
    assert Point(label="k", x=3) == Point(3, 7, "k")
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


@mutable_record
class Bag:
    name: str
    items: list[int] = field(default_factory=list)
    tags: dict[str, bool] = field(default_factory=dict)
    size: int = 0


def test_mutable_record_fields_can_be_set_and_factories_are_fresh() -> None:
    a, b = Bag("a"), Bag("b")
    a.items.append(1)
    a.size = 5
    assert (a.items, b.items, a.tags is b.tags, a.size) == ([1], [], False, 5)
    assert Bag("a", [1], {}, 5) == a and Bag("a") != a
    assert repr(Bag("x")) == "Bag(name='x', items=[], tags={}, size=0)"
    assert Bag("x", items=[2]).items == [2]
    assert not hasattr(a, "__dict__")
    with pytest.raises(TypeError):
        hash(a)
    with pytest.raises(AttributeError):
        a.other = 1  # type: ignore[attr-defined]
    assert replace(a, name="c") == Bag("c", [1], {}, 5)


def test_a_frozen_record_takes_a_factory_default_too() -> None:
    @record
    class Holder:
        values: tuple[int, ...] = field(default_factory=tuple)

    assert Holder().values == () and Holder((1,)).values == (1,)


def test_dataclasses_functions_accept_mutable_records_with_factories() -> None:
    import dataclasses

    assert dataclasses.asdict(Bag("a", [1])) == {"name": "a", "items": [1], "tags": {}, "size": 0}
    assert dataclasses.replace(Bag("a"), size=2) == Bag("a", size=2)


# --- StrEnum: enum.StrEnum's behaviour without importing enum --------------------------------


class Real(enum.StrEnum):
    """Colours."""

    RED = "red"
    GREEN = "green"  # a comment
    DOTTED = "a.b"

    def shout(self) -> str:
        return self.value.upper()


class Light(StrEnum):
    """Colours."""

    RED = "red"
    GREEN = "green"  # a comment
    DOTTED = "a.b"

    def shout(self) -> str:
        return self.value.upper()


def test_strenum_is_not_the_enum_module_at_run_time() -> None:
    from vhdxray.core.format.findings import Severity
    from vhdxray.core.outcome import RefusalCode

    assert not issubclass(Severity, enum.Enum)
    assert not issubclass(RefusalCode, enum.Enum)


def test_strenum_behaves_as_enum_strenum() -> None:
    for cls in (Real, Light):
        red = cls.RED
        assert [m.name for m in cls] == ["RED", "GREEN", "DOTTED"]
        assert [m.value for m in cls] == ["red", "green", "a.b"]
        assert [type(m.value) for m in cls] == [str, str, str]
        assert len(cls) == 3
        assert list(reversed(cls)) == list(cls)[::-1]
        assert list(cls.__members__) == ["RED", "GREEN", "DOTTED"]
        assert cls["GREEN"] is cls.GREEN
        assert cls("red") is red
        assert cls(red) is red
        assert isinstance(red, str) and isinstance(red, cls)
        assert red == "red" and hash(red) == hash("red") and {"red": 1}[red] == 1
        assert str(red) == "red" and type(str(red)) is str
        assert f"{red}|{red:>5}" == "red|  red"
        assert red.shout() == "RED"
        assert red in cls and cls.DOTTED in cls
        assert sorted(cls) == [cls.DOTTED, cls.GREEN, red]
        assert pickle.loads(pickle.dumps(red)) is red
        assert copy.copy(red) is red and copy.deepcopy({"k": red})["k"] is red
        assert cls.__doc__ == "Colours."
    assert repr(Real.RED) == "<Real.RED: 'red'>"
    assert repr(Light.RED) == "<Light.RED: 'red'>"
    assert json.dumps([Real.RED, {Real.GREEN: 1}]) == json.dumps([Light.RED, {Light.GREEN: 1}])


def test_strenum_refuses_as_enum_strenum() -> None:
    for cls in (Real, Light):
        with pytest.raises(ValueError, match=r"^'blue' is not a valid "):
            cls("blue")
        with pytest.raises(ValueError, match=r"^\['red'\] is not a valid "):
            cls(["red"])  # type: ignore[arg-type]
        with pytest.raises(KeyError):
            cls["red"]
        with pytest.raises(AttributeError):
            cls.RED = "x"  # type: ignore[misc]
        with pytest.raises(AttributeError):
            del cls.RED
        with pytest.raises(TypeError), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # enum's, about Python 3.12
            _ = "red" in cls  # type: ignore[operator]
    with pytest.raises(ValueError) as from_light:
        Light("blue")
    with pytest.raises(ValueError) as from_real:
        Real("blue")
    assert str(from_light.value) == str(from_real.value).replace("Real", "Light")


# --- the __init__ templates compiled with the package ------------------------------------


def test_the_generated_init_templates_are_current() -> None:
    import importlib.util

    script = Path(__file__).resolve().parents[2] / "scripts" / "gen_record_inits.py"
    spec = importlib.util.spec_from_file_location("gen_record_inits", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.TARGET.read_text() == module.source(), "run scripts/gen_record_inits.py"


@pytest.mark.parametrize("count", [0, 1, 2, 7, record_module.INIT_TEMPLATES_MAX])
def test_each_template_is_what_compiling_its_source_gives(count: int) -> None:
    made: dict[str, Any] = {}
    exec(record_module.init_template_source(count), {"_set": object.__setattr__}, made)
    compiled = made["__init__"].__code__
    template = record_module._template(count)
    for attr in ("co_code", "co_consts", "co_names", "co_varnames", "co_argcount", "co_name"):
        assert getattr(template, attr) == getattr(compiled, attr), attr


def test_a_record_with_more_fields_than_the_templates() -> None:
    count = record_module.INIT_TEMPLATES_MAX + 3
    names = [f"f{i}" for i in range(count)]
    cls = type("Wide", (), {"__annotations__": dict.fromkeys(names, "int"), "f1": 5})
    with pytest.raises(TypeError, match="follows one with"):
        record(cls)
    cls = type("Wide", (), {"__annotations__": dict.fromkeys(names, "int")})
    made: Any = record(cls)
    wide = made(*range(count))
    assert [getattr(wide, n) for n in names] == list(range(count))
    with pytest.raises(TypeError, match=r"Wide.__init__\(\) missing 1 required positional"):
        made(*range(count - 1))


def test_class_vars_and_finals_are_not_fields_with_string_or_evaluated_annotations() -> None:
    """Both ways annotations come: as strings (``from __future__ import annotations``, every
    vhdxray module) and as objects (a module without it)."""
    body = (
        "@record\n"
        "class Made:\n"
        "    LIMIT: ClassVar[int] = 3\n"
        "    NAME: Final = 'n'\n"
        "    a: int\n"
        "    b: str = 'b'\n"
    )
    for future in ("from __future__ import annotations\n", ""):
        namespace: dict[str, Any] = {"record": record, "ClassVar": ClassVar, "Final": Final}
        # dont_inherit: this test module's own future import must not apply to the class
        exec(compile(future + body, "<record test>", "exec", dont_inherit=True), namespace)
        cls = namespace["Made"]
        assert all(isinstance(a, str) for a in cls.__annotations__.values()) == bool(future)
        assert fields(cls) == ("a", "b")
        made = cls(1)
        assert (made.a, made.b, cls.LIMIT, cls.NAME) == (1, "b", 3, "n")
