"""Test doubles shipped with the API (like telephony.ami.testing)."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent_api.exceptions import AgentApiError


@dataclass
class RecordingControls:
    """AgentControls that records calls; `refuse` makes the next ones raise."""

    calls: list[tuple[str, ...]] = field(default_factory=list)
    refuse: AgentApiError | None = None

    def _record(self, *call: str) -> None:
        self.calls.append(call)
        if self.refuse is not None:
            raise self.refuse

    async def log_in(self, interface: str, queue: str, member_name: str) -> None:
        self._record("log_in", interface, queue, member_name)

    async def log_out(self, interface: str, queue: str) -> None:
        self._record("log_out", interface, queue)

    async def pause(self, interface: str, reason: str) -> None:
        self._record("pause", interface, reason)

    async def unpause(self, interface: str) -> None:
        self._record("unpause", interface)

    async def call(self, interface: str, number: str, caller_id: str) -> None:
        self._record("call", interface, number, caller_id)

    async def spy(self, listener: str, target: str, mode: str) -> None:
        self._record("spy", listener, target, mode)
