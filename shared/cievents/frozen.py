"""Frozen dataclass instances built on the hot path without their generated ``__init__``.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, one call
a field: for a 30-field ``BuildEvent`` that is most of what turning a payload into an event
costs, on every message. ``new(cls, values)`` makes the same instance (equal, hashed,
printed, copied and replaced alike) by filling its ``__dict__`` at once, defaults and
default factories included, and refuses what ``__init__`` would refuse: an unknown field,
a required one missing. Only for plain dataclasses (no ``__post_init__``, no slots).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["new"]

T = TypeVar("T")


class _Shape:
    __slots__ = ("defaults", "factories", "names", "required")

    def __init__(self, cls: type[Any]) -> None:
        if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
            raise TypeError(f"{cls.__name__}: frozen.new needs a dataclass without __post_init__")
        if hasattr(cls, "__slots__"):
            raise TypeError(f"{cls.__name__}: frozen.new needs instances with a __dict__")
        init = [f for f in dataclasses.fields(cls) if f.init]
        self.names = frozenset(f.name for f in init)
        self.defaults = {f.name: f.default for f in init if f.default is not dataclasses.MISSING}
        self.factories: dict[str, Callable[[], Any]] = {
            f.name: f.default_factory for f in init if f.default_factory is not dataclasses.MISSING
        }
        self.required = self.names - self.defaults.keys() - self.factories.keys()


_shapes: dict[type[Any], _Shape] = {}
_lock = threading.Lock()


def _shape(cls: type[Any]) -> _Shape:
    shape = _shapes.get(cls)
    if shape is None:
        with _lock:
            shape = _shapes.get(cls) or _Shape(cls)
            _shapes[cls] = shape
    return shape


def new(cls: type[T], values: dict[str, Any]) -> T:
    """``cls(**values)`` for a dataclass ``cls``, without running its ``__init__``.

    ``values`` becomes the instance's ``__dict__`` when it names every field: pass a dict
    made for the call (a literal), never one kept and changed afterwards."""
    shape = _shape(cls)
    if not shape.names.issuperset(values):
        unknown = ", ".join(sorted(set(values) - shape.names))
        raise TypeError(f"{cls.__name__}: unexpected field(s) {unknown}")
    state = values
    if len(values) != len(shape.names):
        if not shape.required.issubset(values):
            missing = ", ".join(sorted(shape.required - set(values)))
            raise TypeError(f"{cls.__name__}: missing field(s) {missing}")
        state = {**shape.defaults, **values}
        for name, factory in shape.factories.items():
            if name not in values:
                state[name] = factory()
    instance: T = cls.__new__(cls)
    object.__setattr__(instance, "__dict__", state)
    return instance
