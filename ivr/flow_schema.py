"""The YAML shape of a flow node, as typed pydantic models: one model per node
type, chosen by `type` (a discriminated union), every field typed and bounded,
unknown fields refused. `parse_node_spec` turns pydantic's errors into one
FlowError that names the file, the node and the field.

ivr.flows turns a validated spec into the engine's frozen node dataclasses
(ivr.nodes) and checks what needs the whole flow (targets exist) or the disk
(calendar files).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from citizen.calendar import WEEKDAYS
from ivr.agi import is_sound_name
from ivr.exceptions import FlowError

ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
QUEUE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
EXTENSION = re.compile(r"^[A-Za-z0-9_+*#-]{1,32}$")
CHANNEL_VAR = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
# Values end up in the dialplan (GotoIf expressions, Queue arguments): keep them plain.
SAFE_VALUE = re.compile(r"^[\w .:/@+-]{0,128}$")
DIGIT_KEY = re.compile(r"^[0-9*#]$")


def _as_text(value: Any) -> Any:
    # YAML reads `version: 2026` or `extension: 4001` as numbers: they are text here.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{what}: invalid value {value!r}")
        return value

    return AfterValidator(check)


def _sound(value: str) -> str:
    if not is_sound_name(value):
        raise ValueError(f"not a valid sound name: {value!r}")
    return value


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Text = Annotated[str, BeforeValidator(_as_text)]
NodeRef = Annotated[str, BeforeValidator(_as_text)]
Sound = Annotated[str, AfterValidator(_sound)]
Sounds = Annotated[tuple[Sound, ...], BeforeValidator(_listed), Field(min_length=1)]
ValueName = Annotated[str, _matching(ID, "a lower-case word")]
Queue = Annotated[str, _matching(QUEUE, "a queue name")]
Plain = Annotated[Text, _matching(SAFE_VALUE, "letters, digits, spaces and .:/@+- only")]
Digit = Annotated[Text, _matching(DIGIT_KEY, "one key: 0-9, * or #")]
Timeout = Annotated[StrictInt, Field(ge=500, le=60_000)]
Attempts = Annotated[StrictInt, Field(ge=1, le=5)]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PlaySpec(Spec):
    type: Literal["play"]
    prompts: Sounds
    next: NodeRef


class NoticeSpec(Spec):
    type: Literal["notice"]
    prompts: Sounds
    version: Plain
    next: NodeRef


class MenuOptionSpec(Spec):
    next: NodeRef
    label: Plain | None = None


class Retrying(Spec):
    attempts: Attempts = 3
    no_input_prompt: Sound = "atiende/no-se-recibio-opcion"
    invalid_prompt: Sound = "atiende/opcion-invalida"


class MenuSpec(Retrying):
    type: Literal["menu"]
    prompt: Sound
    options: Annotated[dict[Digit, NodeRef | MenuOptionSpec], Field(min_length=1)]
    fallback: NodeRef
    timeout_ms: Timeout = 5000

    @model_validator(mode="after")
    def _labels(self) -> MenuSpec:
        for digit, option in self.options.items():
            if isinstance(option, MenuOptionSpec) and option.label and "," in option.label:
                raise ValueError(f"option {digit}: a label has no commas")
        return self


class CollectSpec(Retrying):
    type: Literal["collect"]
    prompt: Sound
    store: ValueName
    next: NodeRef
    fallback: NodeRef
    validator: Literal["digits", "cedula", "year"] = "digits"
    min_digits: Annotated[StrictInt, Field(ge=1, le=32)] = 1
    max_digits: Annotated[StrictInt, Field(ge=1, le=32)] | None = None
    min_value: StrictInt | None = None
    max_value: StrictInt | None = None
    timeout_ms: Timeout = 6000

    @model_validator(mode="after")
    def _digits(self) -> CollectSpec:
        if self.max_digits is not None and self.max_digits < self.min_digits:
            raise ValueError("max_digits is below min_digits")
        return self


class IdentifySpec(Spec):
    type: Literal["identify"]
    by: Literal["cedula", "phone"]
    found: NodeRef
    not_found: NodeRef
    cedula_from: ValueName = "cedula"
    on_error: NodeRef | None = None


class VerifySpec(Retrying):
    """Who may hear a status: a caller whose number is a phone on record of the
    request's person, or who keys the last `digits` digits of that person's
    document (never stored). `attempts` bounds the tries per call."""

    prompt: Sound
    digits: Annotated[StrictInt, Field(ge=3, le=4)] = 4
    timeout_ms: Timeout = 8000


class RequestStatusSpec(Spec):
    type: Literal["request_status"]
    year_from: ValueName
    number_from: ValueName
    statuses: dict[Text, Sound]
    unknown_status_prompt: Sound
    intro_prompt: Sound
    verify: VerifySpec
    next: NodeRef
    # No such request, or the caller could not be verified (told apart to nobody).
    not_found: NodeRef
    on_error: NodeRef | None = None


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
assert set(Weekday.__args__) == set(WEEKDAYS)  # type: ignore[attr-defined]


class HoursSpec(Spec):
    type: Literal["hours"]
    timezone: Text = "America/Montevideo"
    schedule: dict[Weekday, Annotated[tuple[Text, ...], BeforeValidator(_listed)]]
    national_holidays: StrictBool = True
    calendar: Text | None = None
    open: NodeRef
    closed: NodeRef


class CallbackOfferSpec(Spec):
    threshold_seconds: Annotated[StrictInt, Field(ge=0, le=86_400)]
    offer_prompt: Sound
    confirm_prompt: Sound
    accept_digit: Digit = "1"
    timeout_ms: Timeout = 5000


class QueueSpec(Spec):
    type: Literal["queue"]
    queue: Queue
    priority: Annotated[StrictInt, Field(ge=0, le=100)] = 0
    max_wait: Annotated[StrictInt, Field(ge=1, le=86_400)] = 300
    topic: Plain | None = None
    callback: CallbackOfferSpec | None = None


class TransferSpec(Spec):
    type: Literal["transfer"]
    extension: Annotated[Text, _matching(EXTENSION, "an extension")]


class SetSpec(Spec):
    type: Literal["set"]
    next: NodeRef
    variables: dict[Annotated[str, _matching(CHANNEL_VAR, "upper-case names")], Plain] = {}
    topic: Plain | None = None


class BranchSpec(Spec):
    type: Literal["branch"]
    on: Text
    cases: dict[Text, NodeRef]
    default: NodeRef


class RecordSurveySpec(Spec):
    type: Literal["record_survey"]
    score_from: ValueName
    next: NodeRef
    on_error: NodeRef | None = None


class ConfirmPersonSpec(Spec):
    type: Literal["confirm_person"]
    confirmed: NodeRef
    not_confirmed: NodeRef
    prompt: Sound
    name_intro_prompt: Sound
    name_outro_prompt: Sound
    accept_digit: Digit = "1"
    timeout_ms: Timeout = 5000


class CallbackSpec(Spec):
    type: Literal["callback"]
    queue: Queue
    confirm_prompt: Sound
    unavailable: NodeRef
    on_error: NodeRef | None = None


class HangupSpec(Spec):
    type: Literal["hangup"]


NodeSpec = Annotated[
    PlaySpec
    | NoticeSpec
    | MenuSpec
    | CollectSpec
    | IdentifySpec
    | RequestStatusSpec
    | HoursSpec
    | QueueSpec
    | TransferSpec
    | SetSpec
    | BranchSpec
    | RecordSurveySpec
    | ConfirmPersonSpec
    | CallbackSpec
    | HangupSpec,
    Field(discriminator="type"),
]
_NODE = TypeAdapter[Any](NodeSpec)


def _problem(error: Any) -> str:
    """One pydantic error as a sentence naming the field (without the type tag)."""
    loc = [str(part) for part in error["loc"][1:]]  # [0] is the node type
    field = ".".join(loc)
    kind = error["type"]
    if kind == "missing":
        return f"missing '{field}'"
    if kind == "extra_forbidden":
        return f"unknown field(s): {field}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"'{field}': {message}" if field else message


def parse_node_spec(source: str, node_id: str, raw: Any) -> Any:
    """The validated spec of one node; FlowError naming file, node and field."""
    if not ID.fullmatch(node_id):
        raise FlowError(source, node_id, "node ids are lower-case words (a-z, 0-9, _)")
    if not isinstance(raw, dict):
        raise FlowError(source, node_id, "a node must be a mapping")
    data = {str(k): v for k, v in raw.items()}
    kind = data.get("type")
    if kind is None:
        raise FlowError(source, node_id, "missing 'type'")
    try:
        return _NODE.validate_python(data)
    except ValidationError as err:
        first = err.errors()[0]
        if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
            raise FlowError(source, node_id, f"unknown node type {kind!r}") from None
        problems = "; ".join(_problem(e) for e in err.errors()[:3])
        raise FlowError(source, node_id, problems) from None
