"""`value` and `keyword_value`: the class decorators of the bridge's per-event values.

The bridge builds a typed AMI event for every event it keeps and domain
events, agent intervals and call records as calls move: thousands a second on
a busy Asterisk. A `@dataclass(frozen=True)` pays for its immutability at run
time on every one of them: its `__init__` stores each field through
`object.__setattr__`: a six-field event costs about 12,700 machine
instructions to build on CPython 3.11, against 2,300 for a slots class with
a plain `__init__` called by position. A `value` class is a slots dataclass
with the same fields, defaults, equality, hash (of the fields, as a frozen
dataclass's), repr and `dataclasses` introspection, whose `__init__` stores
its fields directly.

Its immutability is checked where it costs nothing: mypy sees the class as
frozen (`dataclass_transform(frozen_default=True)`), so assigning a field is
a type error in checked code; at run time nothing refuses it.
`keyword_value` is the same, built by keyword only (the AMI events, whose
adjacent `str` fields a positional call could swap unseen).
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field
from typing import TYPE_CHECKING, TypeVar

_T = TypeVar("_T")

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform

    @dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
    def value(cls: type[_T]) -> type[_T]:
        """A frozen slots dataclass, for the type checker."""

else:

    def value(cls):
        # unsafe_hash: hashed by its fields like a frozen dataclass (a
        # mutable dataclass would otherwise get no hash at all).
        return dataclass(slots=True, unsafe_hash=True)(cls)


if TYPE_CHECKING:

    @dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(field, Field))
    def keyword_value(cls: type[_T]) -> type[_T]:
        """A frozen slots dataclass built by keyword only, for the type checker."""

else:

    def keyword_value(cls):
        # For classes with several adjacent fields of one type (the AMI
        # events): a keyword-only __init__, so none can be swapped by position.
        return dataclass(slots=True, unsafe_hash=True, kw_only=True)(cls)
