"""Fixtures for the AMI connection tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from telephony.ami.protocol import AmiProtocol


@pytest.fixture
def protocol_factory() -> Callable[[], asyncio.Protocol]:
    """The protocol the bridge runs in production, given explicitly to each connection."""
    return AmiProtocol
