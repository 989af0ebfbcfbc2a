"""Attempts per key in a sliding window, for the public pages (no login to tie them to).

Like agent_api.auth.LoginRateLimiter it counts under a lock before the work
is done, so parallel requests cannot all pass the check; unlike it, it counts
every attempt, not failures: a public form has no "success" that would
take one back. Keys are the client's address (behind a reverse proxy,
ATIENDE_API__TRUSTED_PROXIES makes it the forwarded one) or a ticket number.
In memory: one process serves the pages.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class AttemptWindow:
    """At most `limit` attempts per key in the last `window_seconds`."""

    def __init__(
        self,
        *,
        limit: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("a limit of at least one attempt in a positive window")
        self.limit = limit
        self._window = window_seconds
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}

    def hit(self, key: str) -> int | None:
        """Count an attempt; None when allowed, else seconds until the next one is."""
        with self._lock:
            now = self._clock()
            times = self._seen.setdefault(key, deque())
            while times and times[0] <= now - self._window:
                times.popleft()
            if len(times) >= self.limit:
                return max(1, int(times[0] + self._window - now) + 1)
            times.append(now)
            if len(self._seen) > self._max_keys:
                self._prune(now)
            return None

    def _prune(self, now: float) -> None:
        for key in [k for k, t in self._seen.items() if not t or t[-1] <= now - self._window]:
            del self._seen[key]


def first_refusal(*checks: tuple[AttemptWindow, str]) -> int | None:
    """Hit each (window, key); the longest wait asked for, or None when all allow.

    Every window is counted even when an earlier one refuses, so hammering one
    key cannot spare the other.
    """
    waits = [wait for window, key in checks if (wait := window.hit(key)) is not None]
    return max(waits) if waits else None
