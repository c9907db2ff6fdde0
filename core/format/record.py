"""``@record``: frozen, slotted, typed value classes without the cost of ``dataclasses``.

Importing :mod:`dataclasses` pulls in ``inspect``, ``ast``, ``dis`` and ``tokenize``, and each
``@dataclass(frozen=True, slots=True)`` then costs about a millisecond to build on this kind of
machine: with some thirty of them on the ``check`` path, that was most of the command's start-up
(issue 9). ``@record`` builds the same shape of class from the annotations in a fraction of
that: ``__slots__``, an ``__init__`` taking the fields in order (defaults allowed), ``__repr__``,
``__eq__`` and ``__hash__`` over the fields, ``__match_args__``, and no assignment after
``__init__``. Type checkers see it as a frozen dataclass (``dataclass_transform``).

Not supported (nothing here needs them): inheritance between records, ``field()``,
``__post_init__``, mutable defaults (a default is shared, so use immutable ones).

Use :func:`replace` and :func:`fields` from here. The functions of :mod:`dataclasses`
(``replace``, ``fields``, ``asdict``, ``is_dataclass``) also work on records, for code written
against dataclasses: the first time one of them looks, ``__dataclass_fields__`` is built
(importing :mod:`dataclasses` then, never on the check path).
"""

from __future__ import annotations

from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")

_MISSING: Any = object()


class FrozenRecordError(AttributeError):
    """Raised on an attempt to set or delete a field of a record."""


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenRecordError(f"cannot assign to field {name!r} of {type(self).__name__}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field {name!r} of {type(self).__name__}")


def _is_class_var(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar", "Final", "typing.Final"))


@dataclass_transform(frozen_default=True, eq_default=True)
def record(cls: type[T]) -> type[T]:
    """Turn ``cls`` (a plain class with annotated fields) into a frozen slotted record."""
    ns = dict(cls.__dict__)
    annotations: dict[str, object] = ns.get("__annotations__", {})
    names = tuple(n for n, a in annotations.items() if not _is_class_var(a))
    defaults = {n: ns.pop(n) for n in names if n in ns}
    ns.pop("__dict__", None)
    ns.pop("__weakref__", None)
    ns["__slots__"] = names
    ns["__match_args__"] = names

    params, body = [], []
    seen_default = False
    glb: dict[str, Any] = {"_set": object.__setattr__}
    for n in names:
        if n in defaults:
            glb[f"_d_{n}"] = defaults[n]
            params.append(f"{n}=_d_{n}")
            seen_default = True
        elif seen_default:
            raise TypeError(f"{cls.__name__}: field {n!r} without default follows one with")
        else:
            params.append(n)
        body.append(f" _set(self, {n!r}, {n})")
    fields = ", ".join(f"self.{n}" for n in names)
    as_tuple = f"({fields},)" if names else "()"
    src = (
        f"def __init__(self, {', '.join(params)}):\n"
        + ("\n".join(body) if body else " pass")
        + "\n"
        + f"def _astuple(self):\n return {as_tuple}\n"
    )
    exec(src, glb)
    astuple = glb["_astuple"]

    def __eq__(self: object, other: object) -> bool:
        if other.__class__ is self.__class__:
            return bool(astuple(self) == astuple(other))
        return NotImplemented

    def __hash__(self: object) -> int:
        return hash(astuple(self))

    def __repr__(self: object) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        return f"{type(self).__qualname__}({inner})"

    init = glb["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    ns["__init__"] = init
    ns["__eq__"] = __eq__
    ns["__hash__"] = __hash__
    ns.setdefault("__repr__", __repr__)
    ns["__setattr__"] = _frozen_setattr
    ns["__delattr__"] = _frozen_delattr
    ns["__getstate__"] = astuple
    ns["__setstate__"] = _setstate
    ns["__replace__"] = _replace
    ns["_record_fields"] = names
    ns["_record_defaults"] = defaults
    ns["__dataclass_fields__"] = _DataclassFields()
    new: type[T] = type(cls.__name__, cls.__bases__, ns)
    new.__qualname__ = cls.__qualname__
    return new


class _DataclassFields:
    """``__dataclass_fields__`` made on first use, so that :mod:`dataclasses` functions accept
    records without the check path importing :mod:`dataclasses`."""

    def __get__(self, obj: object, owner: type) -> dict[str, Any]:
        import dataclasses

        made: dict[str, Any] = {}
        defaults: dict[str, object] = owner._record_defaults  # type: ignore[attr-defined]
        annotations: dict[str, object] = getattr(owner, "__annotations__", {})
        for name in owner._record_fields:  # type: ignore[attr-defined]
            made_field: Any = dataclasses.field(default=defaults.get(name, dataclasses.MISSING))
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
