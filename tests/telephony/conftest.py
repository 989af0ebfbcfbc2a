"""Fixtures for the AMI connection tests: the protocol the connection runs.

telephony.ami.protocol.AmiProtocol is the real one; until it exists in the
work tree a stand-in with the same contract (feed_event for every event, in
order, then panoramisk's own handling; `parser.malformed`) is used.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from typing import Any

import pytest
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from telephony.ami.parser import AmiParser


class StandInProtocol(AMIProtocol):  # type: ignore[misc]
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.parser = AmiParser()

    def data_received(self, data: bytes) -> None:
        for headers in self.parser.feed(data):
            if "Event" in headers:
                self.factory.feed_event(headers)
            self.handle_message(Message(dict(headers)))


@pytest.fixture
def protocol_factory() -> Callable[[], Any]:
    try:
        module = importlib.import_module("telephony.ami.protocol")
    except ImportError:
        return StandInProtocol
    factory: Callable[[], Any] = module.AmiProtocol
    return factory
