"""Traffic for the simulator: who calls, when, what they key, how long they wait.

Pure and seeded: the same `TrafficProfile` and seed give the same callers.
Arrivals are a Poisson process; each caller keys a menu option (or nothing),
then, for the real IVR, a cédula; patience and talk times are exponential
around their means (bounded), as in contact-centre models (Erlang A).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from citizen.cedula import check_digit
from telephony.simulator.model import CallerSpec

FIRST_NAMES = (
    "María", "José", "Lucía", "Martín", "Sofía", "Joaquín", "Valentina", "Agustín",
    "Camila", "Nicolás", "Florencia", "Matías", "Inés", "Germán", "Zoë", "Begoña",
)  # fmt: skip
LAST_NAMES = (
    "Pérez", "Rodríguez", "Fernández", "González", "Núñez", "Martínez", "López",
    "Sánchez", "Díaz", "Gómez", "Suárez", "Álvarez", "Ñandú", "Peña", "Muñoz",
)  # fmt: skip

# The centre's agents (extension, member name) per queue; names carry accents
# on purpose: they must reach the panels intact.
DEFAULT_QUEUES: dict[str, list[tuple[str, str]]] = {
    "consultas": [("4001", "Ana Gómez"), ("4002", "Bruno Núñez"), ("4004", "Diego Rodríguez")],
    "reclamos": [("4003", "Carla Pérez"), ("4005", "Elena Muñoz")],
}
PAUSE_REASONS = ("Almuerzo", "Capacitación", "Baño", "Reunión", "Tarea administrativa")


def make_cedula(rng: random.Random) -> str:
    body = str(rng.randint(1_000_000, 6_999_999))
    return f"{body}{check_digit(body)}"


@dataclass(frozen=True)
class KnownPerson:
    """A person on file: calls from them present this name, number and cédula."""

    name: str
    number: str
    cedula: str


def sample_persons(count: int, *, seed: int = 7) -> list[KnownPerson]:
    rng = random.Random(seed)
    people: dict[str, KnownPerson] = {}
    while len(people) < count:
        cedula = make_cedula(rng)
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        people[cedula] = KnownPerson(name, f"09{rng.randint(1_000_000, 9_999_999)}", cedula)
    return list(people.values())


@dataclass(frozen=True)
class TrafficProfile:
    calls_per_minute: float = 6.0
    # Menu key -> share of callers; "" keys nothing and hangs up in the IVR.
    menu_keys: dict[str, float] = field(
        default_factory=lambda: {"1": 0.55, "2": 0.3, "0": 0.07, "": 0.08}
    )
    # Stub IVR (no FastAGI server): the queue each key leads to.
    stub_routes: dict[str, str] = field(
        default_factory=lambda: {"1": "consultas", "2": "reclamos", "0": "consultas"}
    )
    mean_patience: float = 60.0
    min_patience: float = 4.0
    max_patience: float = 300.0
    ivr_hangup_patience: float = 3.0  # callers who key nothing leave soon
    mean_talk: float = 45.0
    min_talk: float = 10.0
    max_talk: float = 600.0
    key_delay: tuple[float, float] = (1.0, 4.0)
    # With the real IVR, the menu is preceded by prompts; keys go after them.
    ivr_lead_seconds: float = 0.0
    mobile_share: float = 0.7
    known_share: float = 0.6  # callers who are persons on file (when any are given)
    survey_share: float = 0.7  # answered callers who key a score in the survey
    # Agent pauses: mean seconds between pauses of one agent, and their length.
    mean_seconds_between_pauses: float = 900.0
    mean_pause_seconds: float = 120.0


@dataclass(frozen=True)
class Arrival:
    at: float
    caller: CallerSpec


@dataclass(frozen=True)
class PauseChange:
    at: float
    extension: str
    paused: bool
    reason: str


class Traffic:
    """Draws arrivals and agent pauses from a profile."""

    def __init__(
        self,
        profile: TrafficProfile,
        *,
        seed: int = 1,
        with_cedula: bool = False,
        known: Sequence[KnownPerson] = (),
    ) -> None:
        self.profile = profile
        self.rng = random.Random(seed)
        self.with_cedula = with_cedula
        self.known = list(known)
        self._next_pause: dict[str, float] = {}

    def arrivals(self, start: float, until: float) -> list[Arrival]:
        """Poisson arrivals in [start, until)."""
        rate = self.profile.calls_per_minute / 60.0
        out: list[Arrival] = []
        if rate <= 0:
            return out
        at = start + self.rng.expovariate(rate)
        while at < until:
            out.append(Arrival(at, self.caller()))
            at += self.rng.expovariate(rate)
        return out

    def caller(self) -> CallerSpec:
        p, rng = self.profile, self.rng
        person = rng.choice(self.known) if self.known and rng.random() < p.known_share else None
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        cedula = make_cedula(rng)
        if rng.random() < p.mobile_share:
            number = f"09{rng.randint(1_000_000, 9_999_999)}"
        else:
            number = f"2{rng.randint(1_000_000, 9_999_999)}"
        if person is not None:
            name, number, cedula = person.name, person.number, person.cedula
        keys, weights = zip(*p.menu_keys.items(), strict=True)
        key = rng.choices(keys, weights)[0]
        entered: tuple[str, ...] = (key,)
        if self.with_cedula:
            if key in ("1", "2"):
                entered = (key, cedula)
            if key and rng.random() < p.survey_share:
                # Keyed at the survey's prompt, if an agent answered.
                entered = (*entered, str(rng.choices("12345", (1, 1, 2, 4, 5))[0]))
        patience = _bounded(rng.expovariate(1 / p.mean_patience), p.min_patience, p.max_patience)
        if not key:
            patience = p.ivr_hangup_patience
        talk = _bounded(rng.expovariate(1 / p.mean_talk), p.min_talk, p.max_talk)
        delay = p.ivr_lead_seconds + rng.uniform(*p.key_delay)
        return CallerSpec(
            number=number,
            name=name,
            keys=entered,
            delay=round(delay, 1),
            patience=round(patience),
            talk=round(talk),
            queue=p.stub_routes.get(key, ""),
        )

    def pauses(self, extensions: list[str], start: float, until: float) -> list[PauseChange]:
        """Each agent pauses now and then with a reason, and comes back."""
        p, rng = self.profile, self.rng
        out: list[PauseChange] = []
        if p.mean_seconds_between_pauses <= 0:
            return out
        for extension in extensions:
            # Windows follow each other: a pause never overlaps the last one.
            at = self._next_pause.get(extension)
            if at is None:
                at = start + rng.expovariate(1 / p.mean_seconds_between_pauses)
            while at < until:
                reason = rng.choice(PAUSE_REASONS)
                length = max(10.0, rng.expovariate(1 / p.mean_pause_seconds))
                out.append(PauseChange(at, extension, True, reason))
                out.append(PauseChange(at + length, extension, False, ""))
                at += length + rng.expovariate(1 / p.mean_seconds_between_pauses)
            self._next_pause[extension] = at
        return sorted(out, key=lambda change: change.at)


def _bounded(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))
