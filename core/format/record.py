"""``@record``: frozen, slotted, typed value classes without the cost of ``dataclasses``.

Importing :mod:`dataclasses` pulls in ``inspect``, ``ast``, ``dis`` and ``tokenize``, and each
``@dataclass(frozen=True, slots=True)`` then costs about a millisecond to build on this kind of
machine: with some thirty of them on the ``check`` path, that was most of the command's start-up
(issue 9). ``@record`` builds the same shape of class from the annotations in a fraction of
that: ``__slots__``, an ``__init__`` taking the fields in order (defaults allowed), ``__repr__``,
``__eq__`` and ``__hash__`` over the fields, ``__match_args__``, and no assignment after
``__init__``. Type checkers see it as a frozen dataclass (``dataclass_transform``).

``@mutable_record`` is the same without the freezing (and, like a non-frozen dataclass,
unhashable), for results that probes fill in as they go. A default that must not be shared
(a list, a dict) is given as ``field(default_factory=list)``, as with dataclasses.

Not supported (nothing here needs them): inheritance between records, ``__post_init__``,
other ``field()`` options.

Use :func:`replace` and :func:`fields` from here. The functions of :mod:`dataclasses`
(``replace``, ``fields``, ``asdict``, ``is_dataclass``) also work on records, for code written
against dataclasses: the first time one of them looks, ``__dataclass_fields__`` is built
(importing :mod:`dataclasses` then, never on the check path).

``StrEnum`` is :class:`enum.StrEnum` for type checkers and, at run time, a small class with
the same behaviour for what vhdxray does with its enums (members that are their ``str``
values, ``.name``/``.value``, lookup by value, iteration in order, ``repr``, pickling and
copying to the same member). Importing :mod:`enum` and creating an enum class cost about as
much as the rest of a small ``check`` (issue 9); creating one of these costs microseconds.
Not supported (nothing here needs them): ``auto()``, aliases, ``Flag``, subclassing an
enum that has members.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import compress, repeat
from operator import attrgetter, not_
from types import CodeType, FunctionType

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and enum are never imported at run time (a few ms of start-up each)
    from enum import StrEnum as StrEnum
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_: object) -> Callable[[T], T]:
        """At run time the decorator only marks the function for type checkers: a no-op."""
        return lambda function: function

    class _StrEnumType(type):
        """The class of a run-time :class:`StrEnum`: makes the members, looks them up."""

        def __new__(mcls, name, bases, ns):
            body = {}
            members = {}
            for key, value in ns.items():
                if key[0] != "_" and isinstance(value, str):
                    members[key] = value
                else:
                    body[key] = value
            if members and any(b._member_map_ for b in bases if isinstance(b, _StrEnumType)):
                raise TypeError(f"{name}: cannot extend an enum that has members")
            cls = super().__new__(mcls, name, bases, body)
            by_name = {}
            by_value = {}
            new_member = str.__new__
            set_class_attribute = type.__setattr__
            for key, value in members.items():
                if value in by_value:
                    raise ValueError(f"{name}: {key!r} repeats the value {value!r}")
                member = new_member(cls, value)
                member.__dict__.update(_name_=key, _value_=str(value))
                by_name[key] = by_value[value] = member
                set_class_attribute(cls, key, member)
            type.__setattr__(cls, "_member_map_", by_name)
            type.__setattr__(cls, "_value2member_map_", by_value)
            return cls

        def __call__(cls, value):
            try:
                return cls._value2member_map_[value]
            except (KeyError, TypeError):
                raise ValueError(f"{value!r} is not a valid {cls.__qualname__}") from None

        def __iter__(cls):
            return iter(cls._member_map_.values())

        def __reversed__(cls):
            return reversed(cls._member_map_.values())

        def __len__(cls):
            return len(cls._member_map_)

        def __contains__(cls, value):
            if not isinstance(value, StrEnum):  # as enum does in Python 3.11
                raise TypeError(
                    f"unsupported operand type(s) for 'in': {type(value).__qualname__!r} "
                    f"and {type(cls).__qualname__!r}"
                )
            return isinstance(value, cls) and value._name_ in cls._member_map_

        def __getitem__(cls, name):
            return cls._member_map_[name]

        @property
        def __members__(cls):
            from types import MappingProxyType

            return MappingProxyType(cls._member_map_)

        def __setattr__(cls, name, value):
            if name in cls.__dict__.get("_member_map_", ()):
                raise AttributeError(f"cannot reassign member {name!r}")
            super().__setattr__(name, value)

        def __delattr__(cls, name):
            if name in cls.__dict__.get("_member_map_", ()):
                raise AttributeError(f"cannot delete member {name!r}")
            super().__delattr__(name)

        def __repr__(cls):
            return f"<enum {cls.__name__!r}>"

    class StrEnum(str, metaclass=_StrEnumType):
        """Members are ``str`` (their value); see the module's docstring."""

        @property
        def name(self):
            return self._name_

        @property
        def value(self):
            return self._value_

        def __repr__(self):
            return f"<{type(self).__name__}.{self._name_}: {self._value_!r}>"

        __str__ = str.__str__
        __format__ = str.__format__

        def __reduce_ex__(self, protocol):
            return type(self), (self._value_,)

        def __copy__(self):
            return self

        def __deepcopy__(self, memo):
            return self

        def __setattr__(self, name, value):
            if name in ("_name_", "_value_") and name in self.__dict__:
                raise AttributeError(f"cannot assign to {name!r} of an enum member")
            super().__setattr__(name, value)


_MISSING: Any = object()


class _Factory:
    """The default of a field made fresh for each record (``field(default_factory=...)``)."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], T]) -> T:
    """A field whose default is ``default_factory()``, called for each new record."""
    return _Factory(default_factory)  # type: ignore[return-value]


class FrozenRecordError(AttributeError):
    """Raised on an attempt to set or delete a field of a record."""


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenRecordError(f"cannot assign to field {name!r} of {type(self).__name__}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field {name!r} of {type(self).__name__}")


_CLASS_VAR_PREFIXES = ("ClassVar", "typing.ClassVar", "Final", "typing.Final")


def _is_class_var(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(_CLASS_VAR_PREFIXES)


def _field_names(annotations: dict[str, object]) -> tuple[str, ...]:
    """The annotated names that are fields (not ClassVar or Final), in order. Annotations are
    strings where the module has ``from __future__ import annotations`` (all of vhdxray's):
    those are tested with C-level iteration, which is most of the cost of a record's fields."""
    values: Any = annotations.values()  # strings, once the all() below says so
    if all(map(str.__instancecheck__, values)):
        keep = map(not_, map(str.startswith, values, repeat(_CLASS_VAR_PREFIXES)))
        return tuple(compress(annotations, keep))
    return tuple(n for n, a in annotations.items() if not _is_class_var(a))


@dataclass_transform(frozen_default=True, eq_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    """Turn ``cls`` (a plain class with annotated fields) into a frozen slotted record."""
    return _build(cls, frozen=True)


@dataclass_transform(frozen_default=False, eq_default=True, field_specifiers=(field,))
def mutable_record(cls: type[T]) -> type[T]:
    """Turn ``cls`` into a slotted record whose fields may be assigned (not hashable)."""
    return _build(cls, frozen=False)


def _build(cls: type[T], *, frozen: bool) -> type[T]:
    ns = dict(cls.__dict__)
    annotations: dict[str, object] = ns.get("__annotations__", {})
    names = _field_names(annotations)
    defaults = {n: ns.pop(n) for n in names if n in ns}
    ns.pop("__dict__", None)
    ns.pop("__weakref__", None)
    ns["__slots__"] = names
    ns["__match_args__"] = names

    values: list[object] = []  # the defaults of the trailing parameters, in order
    factories: list[tuple[str, Callable[[], object]]] = []
    for n in names:
        default = defaults.get(n, _MISSING)
        if isinstance(default, _Factory):
            factories.append((n, default.make))
            values.append(_MISSING)
        elif default is not _MISSING:
            values.append(default)
        elif values:
            raise TypeError(f"{cls.__name__}: field {n!r} without default follows one with")
    init = _init_function(names, tuple(values), f"{cls.__qualname__}.__init__")
    if factories:
        init = _with_factories(init, tuple(factories))
    astuple = _tuple_getter(names)

    def __getstate__(self: object) -> tuple[object, ...]:
        return astuple(self)

    def __eq__(self: object, other: object) -> bool:
        if other.__class__ is self.__class__:
            return bool(astuple(self) == astuple(other))
        return NotImplemented

    def __hash__(self: object) -> int:
        return hash(astuple(self))

    def __repr__(self: object) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        return f"{type(self).__qualname__}({inner})"

    ns["__init__"] = init
    ns["__eq__"] = __eq__
    ns["__hash__"] = __hash__ if frozen else None
    ns.setdefault("__repr__", __repr__)
    if frozen:
        ns["__setattr__"] = _frozen_setattr
        ns["__delattr__"] = _frozen_delattr
    ns["__getstate__"] = __getstate__
    ns["__setstate__"] = _setstate
    ns["__replace__"] = _replace
    ns["_record_fields"] = names
    ns["_record_defaults"] = defaults
    ns["__dataclass_fields__"] = _DataclassFields()
    new: type[T] = type(cls.__name__, cls.__bases__, ns)
    new.__qualname__ = cls.__qualname__
    return new


_TEMPLATES: dict[int, CodeType] = {}
_PLAIN_CONSTS: set[int] = set()
"""Counts whose template's constants are exactly ``(None, "_0", "_1", ...)`` (all of them, as
generated): a class's constants are then ``(None, *names)``, with no renaming pass."""
_INIT_GLOBALS: dict[str, object] = {"_set": object.__setattr__}
INIT_TEMPLATES_MAX = 24  # core/format/_record_inits.py holds the templates up to this many fields


def init_template_source(count: int, name: str = "__init__") -> str:
    """The source of the ``__init__`` template for ``count`` fields (parameters ``_0``...)."""
    params = "".join(f", _{i}" for i in range(count))
    body = "; ".join(f"_set(self, '_{i}', _{i})" for i in range(count)) or "pass"
    return f"def {name}(self{params}): {body}\n"  # one line: the generated file stays compact


def _template(count: int) -> CodeType:
    """The template for ``count`` fields: compiled with the package (``_record_inits``, read
    from its ``.pyc``) up to :data:`INIT_TEMPLATES_MAX` fields, compiled here beyond."""
    template = _TEMPLATES.get(count)
    if template is None:
        if count <= INIT_TEMPLATES_MAX:
            from vhdxray.core.format import _record_inits

            template = _record_inits.INITS[count].__code__.replace(co_name="__init__")
        else:
            made: dict[str, Any] = {}
            exec(init_template_source(count), {"_set": object.__setattr__}, made)
            template = made["__init__"].__code__
        _TEMPLATES[count] = template
        if template.co_consts == (None, *(f"_{i}" for i in range(count))):
            _PLAIN_CONSTS.add(count)
    return template


def _init_function(
    names: tuple[str, ...], defaults: tuple[object, ...], qualname: str
) -> Callable[..., None]:
    """``def __init__(self, <names>): object.__setattr__(self, "<name>", <name>) ...``.

    Compiling that source for each class was most of the cost of a record (about 0.2 ms a
    class here, dozens of classes on the check path). Instead there is one template per number
    of fields, compiled ahead with the package (compiling even one per count of fields cost
    about 0.3 ms each, a dozen counts on the check path), and each class gets a copy of its
    code object with the parameter names and the attribute-name constants replaced: the same
    bytecode, the same signature (keywords, defaults, error messages) as the compiled source
    would have.
    """
    template = _template(len(names))
    if len(names) in _PLAIN_CONSTS:
        consts: tuple[object, ...] = (None, *names)
    else:
        rename = {f"_{i}": n for i, n in enumerate(names)}
        consts = tuple(rename.get(c, c) if isinstance(c, str) else c for c in template.co_consts)
    code = template.replace(co_varnames=("self", *names), co_consts=consts, co_qualname=qualname)
    function = FunctionType(code, _INIT_GLOBALS, "__init__", defaults or None)
    function.__qualname__ = qualname
    return function


def _with_factories(
    init: Callable[..., None], factories: tuple[tuple[str, Callable[[], object]], ...]
) -> Callable[..., None]:
    """``init``, then each factory field left at its placeholder gets a fresh value."""

    def __init__(self: object, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)
        for name, make in factories:
            if getattr(self, name) is _MISSING:
                object.__setattr__(self, name, make())

    __init__.__qualname__ = init.__qualname__
    return __init__


def _tuple_getter(names: tuple[str, ...]) -> Callable[[object], tuple[object, ...]]:
    """The fields of a record as a tuple (for equality, hashing and pickling)."""
    if len(names) >= 2:
        return attrgetter(*names)
    if names:
        name = names[0]
        return lambda self: (getattr(self, name),)
    return lambda self: ()


class _DataclassFields:
    """``__dataclass_fields__`` made on first use, so that :mod:`dataclasses` functions accept
    records without the check path importing :mod:`dataclasses`."""

    def __get__(self, obj: object, owner: type) -> dict[str, Any]:
        import dataclasses

        made: dict[str, Any] = {}
        defaults: dict[str, object] = owner._record_defaults  # type: ignore[attr-defined]
        annotations: dict[str, object] = getattr(owner, "__annotations__", {})
        for name in owner._record_fields:  # type: ignore[attr-defined]
            default = defaults.get(name, dataclasses.MISSING)
            made_field: Any = (
                dataclasses.field(default_factory=default.make)
                if isinstance(default, _Factory)
                else dataclasses.field(default=default)
            )
            made_field.name = name
            made_field.type = annotations.get(name)
            made_field._field_type = dataclasses._FIELD  # type: ignore[attr-defined]
            made[name] = made_field
        type.__setattr__(owner, "__dataclass_fields__", made)
        return made


def _setstate(self: object, state: tuple[object, ...]) -> None:
    for name, value in zip(type(self)._record_fields, state, strict=True):  # type: ignore[attr-defined]
        object.__setattr__(self, name, value)


def _replace(self: T, **changes: object) -> T:
    names: tuple[str, ...] = type(self)._record_fields  # type: ignore[attr-defined]
    unknown = set(changes) - set(names)
    if unknown:
        raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
    values = {n: changes[n] if n in changes else getattr(self, n) for n in names}
    return type(self)(**values)


def replace(obj: T, **changes: object) -> T:
    """A copy of the record ``obj`` with some fields changed (like ``dataclasses.replace``)."""
    return _replace(obj, **changes)


def fields(obj: object) -> tuple[str, ...]:
    """The field names of a record class or instance, in order."""
    cls = obj if isinstance(obj, type) else type(obj)
    names: tuple[str, ...] = cls._record_fields  # type: ignore[attr-defined]
    return names
