"""The public pages' attempt counts in Redis (agent_api.public_limits' store
when replicas share a Redis): every replica counts under the same keys, and
a restart of the API keeps the counts.

One MULTI/EXEC transaction per page request, one round trip: for each key,
`SET key 0 PX window NX` opens its window at the first attempt (the expiry is
set in the same command, so no key is ever left without one), `INCR` counts
the attempt, `PTTL` says what is left of the window. The blocking client,
called from a worker thread (as the CRM sync's is): the event loop never
waits on Redis, and short socket timeouts (set in atiende.wiring) make a
Redis that is down a quick LimitsUnavailable rather than a hung page. After
a failure the counter refuses at once for `pause_seconds` without trying
Redis: during an outage a flood of public posts would otherwise hold every
worker thread for a timeout each, and the panel's own work shares them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from redis import Redis
from redis.exceptions import RedisError

from agent_api.public_limits import LimitsUnavailable


class RedisCounter:
    """AttemptCounter over a (blocking) Redis client; keys come hashed from PublicLimits."""

    def __init__(
        self,
        redis: Redis,
        *,
        pause_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._pause = pause_seconds
        self._clock = clock
        self._resume_at = float("-inf")

    def add(self, keys: Sequence[tuple[str, float]]) -> list[tuple[int, float]]:
        if self._clock() < self._resume_at:
            raise LimitsUnavailable("Redis failed moments ago")
        pipe = self._redis.pipeline(transaction=True)
        for key, window in keys:
            pipe.set(key, 0, px=max(1, round(window * 1000)), nx=True)
            pipe.incr(key)
            pipe.pttl(key)
        try:
            replies = pipe.execute()
        except (RedisError, OSError) as err:
            self._resume_at = self._clock() + self._pause
            raise LimitsUnavailable(type(err).__name__) from err
        out: list[tuple[int, float]] = []
        for index, (_key, window) in enumerate(keys):
            attempts, left_ms = int(replies[3 * index + 1]), int(replies[3 * index + 2])
            # -1/-2 cannot follow SET PX in the same transaction; if someone
            # altered the key by hand, count the whole window as left.
            out.append((attempts, left_ms / 1000 if left_ms >= 0 else window))
        return out
