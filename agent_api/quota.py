"""Open WebSockets per session and per user (see agent_api.sockets)."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator


class TooManySockets(Exception):
    pass


class SocketQuota:
    """Open sockets per session and per user, across every socket route."""

    def __init__(self, *, per_session: int = 8, per_user: int = 16) -> None:
        self.per_session = per_session
        self.per_user = per_user
        self._sessions: Counter[str] = Counter()
        self._users: Counter[int] = Counter()

    @contextlib.contextmanager
    def hold(self, user_id: int, session_id: str) -> Iterator[None]:
        """One socket's place for the block; TooManySockets when none is left.

        Taken before the handshake is accepted, with no await in between, so
        parallel handshakes cannot all pass the check.
        """
        if self._sessions[session_id] >= self.per_session or self._users[user_id] >= self.per_user:
            raise TooManySockets(f"user {user_id} has too many sockets open")
        self._sessions[session_id] += 1
        self._users[user_id] += 1
        try:
            yield
        finally:
            self._sessions[session_id] -= 1
            self._users[user_id] -= 1
            if self._sessions[session_id] <= 0:
                del self._sessions[session_id]
            if self._users[user_id] <= 0:
                del self._users[user_id]
