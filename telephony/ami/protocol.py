"""The AMI protocol used by panoramisk's Manager (`protocol_factory=AmiProtocol`).

panoramisk's own protocol decodes each TCP read separately (a UTF-8 character
split across two reads is lost) and builds a slow `Message` for every event.
This one parses with `AmiParser` and hands plain header mappings to the
manager's `feed_event`; only what answers a pending action becomes a
panoramisk `Message`, so `send_action` futures resolve exactly as before.
Sending, closing and connection loss are panoramisk's (inherited).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from telephony.ami.parser import AmiParser
from telephony.ami.stream import Headers


class AmiProtocol(AMIProtocol):  # type: ignore[misc]  # panoramisk is untyped
    """panoramisk protocol with a correct, faster reader.

    Every event goes to `factory.feed_event(headers)` when the factory has
    one (list events answering an action too); without it (a stock
    Manager) events are dispatched the panoramisk way, as `Message` objects.
    """

    parser: AmiParser
    version: str | None

    def __init__(
        self,
        *,
        max_message_bytes: int = 1 << 20,
        accept: Callable[[bytes], bool] | None = None,
    ) -> None:
        super().__init__()
        self.parser = AmiParser(max_message_bytes=max_message_bytes, accept=accept)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # A protocol object serves one connection, but be safe if reused.
        self.parser = AmiParser(
            max_message_bytes=self.parser.max_message_bytes, accept=self.parser.accept
        )

    def data_received(self, data: bytes) -> None:
        factory = self.factory
        stream = getattr(factory, "save_stream", None)
        if stream:
            self._save(stream, data)
        parser = self.parser
        messages = parser.feed(data)
        if self.version is None and parser.banner is not None:
            self.version = parser.banner
            self.log.info("AMI protocol version: %r", self.version)
        feed_event = getattr(factory, "feed_event", None)
        responses: dict[str, Any] = self.responses
        for headers in messages:
            if "Event" in headers:
                if responses and _answers_action(headers, responses):
                    if feed_event is not None:
                        feed_event(headers)
                    self.handle_message(_to_message(headers))
                elif feed_event is not None:
                    feed_event(headers)
                    event = headers["Event"]
                    if len(event) == 8 and event.lower() == "shutdown":
                        # As panoramisk does; what follows a shutdown is moot.
                        self.connection_lost(_to_message(headers))
                        return
                else:
                    self.handle_message(_to_message(headers))
            else:
                self.handle_message(_to_message(headers))

    def _save(self, stream: Any, data: bytes) -> None:
        """panoramisk's `save_stream` option: keep the raw bytes (debugging aid)."""
        if hasattr(stream, "write"):
            stream.write(data)
        else:
            with open(stream, "ab") as fd:
                fd.write(data)


def _answers_action(headers: Headers, responses: dict[str, Any]) -> bool:
    command_id = headers.get("CommandID")
    if command_id is not None and command_id in responses:
        return True
    action_id = headers.get("ActionID")
    return action_id is not None and action_id in responses


def _to_message(headers: Headers) -> Message:
    """The panoramisk shape: repeated headers as lists, command output as content."""
    fields: dict[str, str | list[str]] = {
        key: value.split("\n") if "\n" in value and key != "Output" else value
        for key, value in headers.items()
    }
    if "Result" in headers:  # panoramisk unquotes AGI results
        fields["Result"] = unquote(headers["Result"]).strip()
    content = ""
    if headers.get("Response") == "Follows" and "Output" in headers:
        content = headers["Output"]
    return Message(fields, content)
