"""JSON for the domain events, so they can cross a process boundary.

The leader replica's bridge produces the events; the other replicas' panels
receive them through Redis (agent_api.fanout). Decoding gives back values equal
to the encoded ones, nested dataclasses, enums, tuples and mappings included.

The codec is driven by the dataclasses' own type hints, so a field added to an
event in telephony.domain travels without touching this module. Only the
shapes the domain uses are supported: dataclasses, StrEnums, ``X | None``,
``tuple[X, ...]``, ``Mapping[str, str]`` and str/int/float/bool.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any, get_args, get_origin, get_type_hints

from telephony import domain
from telephony.domain import DomainEvent

TYPE_KEY = "type"

EVENT_TYPES: dict[str, type[Any]] = {cls.__name__: cls for cls in get_args(DomainEvent)}


def encode_event(event: DomainEvent) -> dict[str, Any]:
    """One event as a JSON-ready object, tagged with its class name."""
    name = type(event).__name__
    if EVENT_TYPES.get(name) is not type(event):
        raise ValueError(f"not a domain event: {type(event).__name__}")
    out: dict[str, Any] = {TYPE_KEY: name}
    out.update(_encode_dataclass(event))
    return out


def decode_event(data: Mapping[str, Any]) -> DomainEvent:
    """The event `encode_event` produced; ValueError if `data` is not one."""
    name = data.get(TYPE_KEY)
    cls = EVENT_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown domain event type {name!r}")
    fields = {k: v for k, v in data.items() if k != TYPE_KEY}
    event: DomainEvent = _decode(fields, cls)
    return event


def dumps_events(events: Sequence[DomainEvent]) -> str:
    return json.dumps([encode_event(e) for e in events], separators=(",", ":"))


def loads_events(text: str | bytes) -> list[DomainEvent]:
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("expected a JSON array of domain events")
    return [decode_event(item) for item in _objects(data)]


def _objects(items: list[Any]) -> list[Mapping[str, Any]]:
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("expected a JSON object per domain event")
    return items


# ------------------------------------------------------------------ encoding


def _encode_dataclass(value: Any) -> dict[str, Any]:
    return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_dataclass(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float):
        return value
    raise ValueError(f"cannot encode a {type(value).__name__}")


# ------------------------------------------------------------------ decoding


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls, vars(domain))
    return hints


def _decode(value: Any, hint: Any) -> Any:
    origin = get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        if value is None and type(None) in get_args(hint):
            return None
        options = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(options) != 1:
            raise ValueError(f"unsupported union {hint!r}")
        return _decode(value, options[0])
    if origin is tuple:
        args = get_args(hint)
        if len(args) != 2 or args[1] is not Ellipsis or not isinstance(value, list):
            raise ValueError(f"expected a list for {hint!r}")
        return tuple(_decode(item, args[0]) for item in value)
    if origin in (Mapping, dict):
        key_hint, value_hint = get_args(hint)
        if not isinstance(value, dict):
            raise ValueError(f"expected an object for {hint!r}")
        return {_decode(k, key_hint): _decode(v, value_hint) for k, v in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(value, hint)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    return _decode_scalar(value, hint)


def _decode_dataclass(value: Any, cls: type[Any]) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object for {cls.__name__}")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(value) - names
    if unknown:
        raise ValueError(f"unknown fields for {cls.__name__}: {sorted(unknown)}")
    try:
        return cls(**{name: _decode(item, hints[name]) for name, item in value.items()})
    except TypeError as err:  # a required field missing
        raise ValueError(f"{cls.__name__}: {err}") from err


def _decode_scalar(value: Any, hint: Any) -> Any:
    # A float field may hold an int (JSON keeps the distinction, so the value
    # comes back with the type it was encoded with).
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    raise ValueError(f"expected {getattr(hint, '__name__', hint)}, got {type(value).__name__}")
