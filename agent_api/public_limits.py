"""Attempts per key in a window, for the public pages (no login to tie them to).

The rule lives here, pure, once: a `Rule` is a name, a limit and a window; an
attempt is refused when the count of attempts in its key's window, this one
included, is over the limit, and the wait is what is left of that window. The
window opens at a key's first attempt and lasts `window_seconds`, whatever
happens in it (refused attempts count too, and do not prolong it): at most
`limit` attempts pass per window, so `limit` per `window_seconds` on
average, and twice that in the worst case across the end of one window and
the start of the next.

Counting is a store's only job (`AttemptCounter`: add one attempt to each key,
atomically, and say how many it has and how long its window has left):
`agent_api.redis_limits.RedisCounter` when replicas share a Redis, so they
share the counts and a restart keeps them; `MemoryCounter` below for one
process with no Redis (the demo, SQLite-only setups, most tests).

Keys never carry personal data: `PublicLimits` turns each one (a client
address, a ticket number) into an HMAC under the server's secret, so what a
store holds names no address or number, and cannot be reversed by hashing
the (small, enumerable) space of request numbers or IPv4 addresses.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

KEY_PREFIX = "atiende:limit:"


class LimitsUnavailable(Exception):
    """The counts could not be read or written (Redis down): refuse, never guess."""


@dataclass(frozen=True)
class Rule:
    """At most `limit` attempts per key in a window of `window_seconds`."""

    name: str
    limit: int
    window_seconds: float

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_seconds <= 0:
            raise ValueError("a limit of at least one attempt in a positive window")
        if not self.name.isidentifier():
            raise ValueError("a rule's name is part of a store key: letters, digits, _")

    def wait(self, attempts: int, seconds_left: float) -> int | None:
        """None when the attempts so far (this one included) are within the limit,
        else the whole seconds (at least 1) until the window ends."""
        if attempts <= self.limit:
            return None
        return max(1, math.ceil(seconds_left))


class AttemptCounter(Protocol):
    """Adds one attempt to each (key, window seconds) as one atomic step;
    returns each key's (attempts in its window, seconds the window has left).
    Raises LimitsUnavailable when it cannot count."""

    def add(self, keys: Sequence[tuple[str, float]]) -> list[tuple[int, float]]: ...


class MemoryCounter:
    """The counts in this process: for one process with no Redis."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        # key -> (attempts, when its window ends)
        self._counts: dict[str, tuple[int, float]] = {}

    def add(self, keys: Sequence[tuple[str, float]]) -> list[tuple[int, float]]:
        out: list[tuple[int, float]] = []
        with self._lock:
            now = self._clock()
            for key, window in keys:
                attempts, ends = self._counts.get(key, (0, now + window))
                if ends <= now:
                    attempts, ends = 0, now + window
                self._counts[key] = (attempts + 1, ends)
                out.append((attempts + 1, ends - now))
            if len(self._counts) > self._max_keys:
                for key in [k for k, (_, ends) in self._counts.items() if ends <= now]:
                    del self._counts[key]
        return out


@dataclass(frozen=True)
class PublicLimits:
    """The public pages' rules, counted by one store under keys keyed by a secret."""

    counter: AttemptCounter
    secret: str
    # Every post counts (a form sent back with errors too): room for a few
    # corrections, and for a shared address (an office, a mobile carrier's NAT).
    submissions: Rule = Rule("submissions", 10, 600)
    lookups_per_address: Rule = Rule("lookups_per_address", 10, 600)
    # Per (address, ticket number): a stranger guessing one ticket's document
    # locks out only himself, never its owner writing from elsewhere.
    lookups_per_ticket: Rule = Rule("lookups_per_ticket", 5, 3600)
    # Per number from all addresses: far above what an owner needs, it still
    # stops a guess spread over many addresses (numbers are sequential).
    lookups_per_number: Rule = Rule("lookups_per_number", 50, 3600)

    def key(self, rule: Rule, *parts: str) -> str:
        """The store key of `parts` under `rule`: the rule's name and an HMAC, nothing else."""
        digest = hmac.new(
            self.secret.encode(),
            b"\x00".join(
                [b"atiende-public-limits", rule.name.encode(), *(p.encode() for p in parts)]
            ),
            hashlib.sha256,
        ).hexdigest()
        return f"{KEY_PREFIX}{rule.name}:{digest[:40]}"

    def check(self, *checks: tuple[Rule, tuple[str, ...]]) -> int | None:
        """Count one attempt under each (rule, key parts); the longest wait any
        rule asks for, or None when all allow. Blocking (a store may be over
        the network): call it from a thread. Every rule is counted even when
        another refuses, so hammering one key cannot spare the others."""
        counts = self.counter.add(
            [(self.key(rule, *parts), rule.window_seconds) for rule, parts in checks]
        )
        waits = [
            wait
            for (rule, _), (attempts, left) in zip(checks, counts, strict=True)
            if (wait := rule.wait(attempts, left)) is not None
        ]
        return max(waits) if waits else None

    def submission(self, address: str) -> int | None:
        return self.check((self.submissions, (address,)))

    def lookup(self, address: str, number: str | None) -> int | None:
        """A tracking attempt from `address`, for `number` when it is a well-formed one."""
        checks: list[tuple[Rule, tuple[str, ...]]] = [(self.lookups_per_address, (address,))]
        if number is not None:
            checks.append((self.lookups_per_ticket, (address, number)))
            checks.append((self.lookups_per_number, (number,)))
        return self.check(*checks)
