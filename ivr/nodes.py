"""Node types of a flow, as frozen dataclasses (built from YAML by ivr.flows).

Each node names the nodes that follow it by id; ivr.flows checks every id exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from citizen.calendar import BusinessHours


@dataclass(frozen=True, slots=True)
class Play:
    """Play prompts in order, then go on."""

    id: str
    prompts: tuple[str, ...]
    next: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Play the privacy notice and set ATIENDE_NOTICE_VERSION to the version heard."""

    id: str
    prompts: tuple[str, ...]
    version: str
    next: str


@dataclass(frozen=True, slots=True)
class MenuOption:
    next: str
    label: str


@dataclass(frozen=True, slots=True)
class Retry:
    """How a node that reads digits handles silence and wrong input."""

    attempts: int = 3
    no_input_prompt: str = "atiende/no-se-recibio-opcion"
    invalid_prompt: str = "atiende/opcion-invalida"


@dataclass(frozen=True, slots=True)
class Menu:
    """Read one choice; each digit leads somewhere, its label goes into ATIENDE_IVR_PATH."""

    id: str
    prompt: str
    options: Mapping[str, MenuOption]
    fallback: str
    timeout_ms: int = 5000
    retry: Retry = field(default_factory=Retry)


@dataclass(frozen=True, slots=True)
class Collect:
    """Read several digits, validate them and keep them under `store`."""

    id: str
    prompt: str
    store: str
    next: str
    fallback: str
    min_digits: int = 1
    max_digits: int = 1
    validator: str = "digits"  # digits | cedula | year
    min_value: int | None = None
    max_value: int | None = None
    timeout_ms: int = 6000
    retry: Retry = field(default_factory=Retry)


@dataclass(frozen=True, slots=True)
class Identify:
    """Look the caller up by a collected cédula or by the calling number."""

    id: str
    by: str  # cedula | phone
    found: str
    not_found: str
    cedula_from: str = "cedula"
    on_error: str | None = None


@dataclass(frozen=True, slots=True)
class Verification:
    """How a status lookup checks the caller (see RequestStatusLookup)."""

    prompt: str
    digits: int = 4
    timeout_ms: int = 8000
    retry: Retry = Retry()


@dataclass(frozen=True, slots=True)
class RequestStatusLookup:
    """Read a request's status back, to a verified caller only: number digits,
    then the status prompt.

    The calling number is tried first (a phone on record of the request's
    person); otherwise the caller keys the last digits of that person's
    document, a bounded number of times. Those digits travel in the service
    request only: they are never kept in the call's state or set on the channel.
    """

    id: str
    year_from: str
    number_from: str
    statuses: Mapping[str, str]
    unknown_status_prompt: str
    intro_prompt: str
    next: str
    not_found: str
    on_error: str | None = None
    verify: Verification = Verification("atiende/verificar-documento")


@dataclass(frozen=True, slots=True)
class Hours:
    """Branch on business hours (holidays included)."""

    id: str
    hours: BusinessHours
    open: str
    closed: str


@dataclass(frozen=True, slots=True)
class CallbackOffer:
    """Offered before queueing when the expected wait is above a threshold."""

    threshold_seconds: float
    offer_prompt: str
    confirm_prompt: str
    accept_digit: str = "1"
    timeout_ms: int = 5000


@dataclass(frozen=True, slots=True)
class Queue:
    """Hand the call to a queue: ATIENDE_* variables, then back to the dialplan."""

    id: str
    queue: str
    priority: int = 0
    max_wait: int = 300
    topic: str | None = None
    callback: CallbackOffer | None = None


@dataclass(frozen=True, slots=True)
class Transfer:
    """Hand the call to an extension (ATIENDE_TRANSFER), then back to the dialplan."""

    id: str
    extension: str


@dataclass(frozen=True, slots=True)
class SetValues:
    """Set channel variables and/or the topic of the call."""

    id: str
    next: str
    variables: Mapping[str, str] = field(default_factory=dict)
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class Branch:
    """Go to the node matching the call's topic (or a collected value)."""

    id: str
    on: str  # "topic", "person" (identified or not) or a collected value's name
    cases: Mapping[str, str]
    default: str


@dataclass(frozen=True, slots=True)
class RecordSurvey:
    """Store a collected 1..5 score on this call's attention."""

    id: str
    score_from: str
    next: str
    on_error: str | None = None


@dataclass(frozen=True, slots=True)
class ConfirmPerson:
    """Ask the caller matched by phone to confirm who they are, by first name:
    "si usted es <nombre>, marque 1". Without a voice for names, `prompt` asks
    without the name. Not confirmed: the match is dropped."""

    id: str
    confirmed: str
    not_confirmed: str
    prompt: str
    name_intro_prompt: str
    name_outro_prompt: str
    accept_digit: str = "1"
    timeout_ms: int = 5000


@dataclass(frozen=True, slots=True)
class Callback:
    """Store a request to call the caller back for `queue`, confirm it and hang up
    (out of hours). A caller with no usable number goes to `unavailable`."""

    id: str
    queue: str
    confirm_prompt: str
    unavailable: str
    on_error: str | None = None


@dataclass(frozen=True, slots=True)
class Hangup:
    id: str


Node = (
    Play
    | Notice
    | Menu
    | Collect
    | Identify
    | RequestStatusLookup
    | Hours
    | Queue
    | Transfer
    | SetValues
    | Branch
    | RecordSurvey
    | ConfirmPerson
    | Callback
    | Hangup
)


def targets(node: Node) -> list[str]:
    """Every node id this node may lead to (for validation)."""
    match node:
        case Play() | Notice() | SetValues() | RecordSurvey():
            out = [node.next]
        case Menu():
            out = [o.next for o in node.options.values()] + [node.fallback]
        case Collect():
            out = [node.next, node.fallback]
        case Identify():
            out = [node.found, node.not_found]
        case RequestStatusLookup():
            out = [node.next, node.not_found]
        case Hours():
            out = [node.open, node.closed]
        case Branch():
            out = [*node.cases.values(), node.default]
        case ConfirmPerson():
            out = [node.confirmed, node.not_confirmed]
        case Callback():
            out = [node.unavailable]
        case Queue() | Transfer() | Hangup():
            out = []
    on_error = getattr(node, "on_error", None)
    if on_error is not None:
        out.append(on_error)
    return out


def prompts(node: Node) -> list[str]:
    """Every prompt this node may play (for validation and the text catalogue)."""
    match node:
        case Play() | Notice():
            return list(node.prompts)
        case Menu() | Collect():
            return [node.prompt, node.retry.no_input_prompt, node.retry.invalid_prompt]
        case RequestStatusLookup():
            check = node.verify
            return [
                node.intro_prompt,
                node.unknown_status_prompt,
                *node.statuses.values(),
                check.prompt,
                check.retry.no_input_prompt,
                check.retry.invalid_prompt,
            ]
        case ConfirmPerson():
            return [node.prompt, node.name_intro_prompt, node.name_outro_prompt]
        case Callback():
            return [node.confirm_prompt]
        case Queue():
            if node.callback is None:
                return []
            return [node.callback.offer_prompt, node.callback.confirm_prompt]
        case _:
            return []
