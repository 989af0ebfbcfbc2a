"""One active bridge per Asterisk, however many replicas run.

Replicas of `atiende serve` for the same Asterisk system take a lease in
Redis; only the holder connects to AMI and records calls, the others wait
(their IVR and metrics serve as usual). The holder renews its lease well
before it expires; a replica that dies stops renewing, the lease runs out
and a standby takes over, restoring the calls in progress from the store and
resyncing from Asterisk, so the outage loses nothing that can be known.

With no Redis (the embedded default) there is one replica and it always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Extend or release the lease only if it is still ours (an expired lease may
# already belong to another replica).
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class Lease(Protocol):
    async def acquire(self) -> bool: ...

    async def renew(self) -> bool: ...

    async def release(self) -> None: ...


class AlwaysLeader:
    """A single replica: it leads from the start and never loses the lead."""

    async def acquire(self) -> bool:
        return True

    async def renew(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class RedisLease:
    """A lease on `key` in Redis, held for `ttl` seconds unless renewed."""

    def __init__(self, redis: Redis, key: str, ttl: float) -> None:
        self._redis = redis
        self.key = key
        self.ttl_ms = max(1, int(ttl * 1000))
        self.token = uuid.uuid4().hex
        self._held = False

    async def acquire(self) -> bool:
        self._held = bool(await self._redis.set(self.key, self.token, nx=True, px=self.ttl_ms))
        return self._held

    async def renew(self) -> bool:
        renewed = await self._redis.eval(_RENEW, 1, self.key, self.token, self.ttl_ms)
        self._held = bool(renewed)
        return self._held

    async def release(self) -> None:
        if self._held:
            self._held = False
            await self._redis.eval(_RELEASE, 1, self.key, self.token)


async def lead(
    lease: Lease,
    start: Callable[[], Awaitable[None]],
    *,
    interval: float,
    stopping: asyncio.Event,
) -> bool:
    """Wait for `lease`, run `start` once it is ours, keep renewing it.

    Returns True if the lease was lost while leading (another replica may be
    recording already: the caller must stop its bridge at once; `atiende
    serve` exits so that its supervisor restarts it as a standby), False when
    `stopping` was set. Redis unreachable: a leader keeps leading (the
    store's idempotent writes make a second recorder harmless, a gap in
    recording is not), a standby keeps waiting.
    """
    leading = False
    try:
        while not stopping.is_set():
            try:
                if leading:
                    if not await lease.renew():
                        log.error("bridge lease lost to another replica")
                        return True
                elif await lease.acquire():
                    log.info("bridge lease acquired: this replica records the calls")
                    leading = True
                    await start()
            except (RedisError, OSError) as err:
                log.warning("bridge lease: Redis unavailable (%s); keeping the current role", err)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=interval)
        return False
    finally:
        if leading:
            with contextlib.suppress(RedisError, OSError):
                await lease.release()
