"""Test doubles shipped beside the IVR: in-memory and failing services, and a fake Asterisk.

FakeAsterisk plays Asterisk's side of a FastAGI session over a real TCP
socket, with the environment and reply formats of the real captures
(/work/shared/asterisk-recordings/*.agi) and Asterisk's own argument splitting
(`ivr.agi.asterisk_parse_args`, after res_agi.c parse_args).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from ivr.agi import asterisk_parse_args
from ivr.exceptions import ServicesUnavailable
from ivr.services import Person, RequestStatus, document_ends_with

# ------------------------------------------------------------------------ services


@dataclass
class InMemoryIvrServices:
    """IvrServices over dicts; records every call made, in order."""

    persons_by_cedula: dict[str, Person] = field(default_factory=dict)
    persons_by_phone: dict[str, Person] = field(default_factory=dict)
    requests: dict[str, RequestStatus] = field(default_factory=dict)
    # Request number -> (phones on record of its person, their document): who
    # may hear its status. A request without an owner is read to nobody.
    owners: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)
    verifications: list[tuple[str, str]] = field(default_factory=list)
    waits: dict[str, float] = field(default_factory=dict)
    callbacks: list[tuple[str, str, str]] = field(default_factory=list)
    surveys: list[tuple[str, int]] = field(default_factory=list)
    calls: list[tuple[str, tuple[object, ...]]] = field(default_factory=list)

    async def find_person_by_cedula(self, cedula: str) -> Person | None:
        self.calls.append(("find_person_by_cedula", (cedula,)))
        return self.persons_by_cedula.get(cedula)

    async def find_person_by_phone(self, phone: str) -> Person | None:
        self.calls.append(("find_person_by_phone", (phone,)))
        return self.persons_by_phone.get(phone)

    async def request_status(
        self,
        number: str,
        *,
        caller_phone: str | None = None,
        document_digits: str | None = None,
    ) -> RequestStatus | None:
        # The keyed digits are never recorded, only whether they were given.
        how = "phone" if caller_phone else "document" if document_digits else "none"
        self.calls.append(("request_status", (number,)))
        self.verifications.append((number, how))
        owner = self.owners.get(number)
        if owner is None:
            return None
        phones, document = owner
        if (caller_phone and caller_phone in phones) or document_ends_with(
            document, document_digits
        ):
            return self.requests.get(number)
        return None

    async def expected_wait(self, queue: str) -> float:
        self.calls.append(("expected_wait", (queue,)))
        return self.waits.get(queue, 0.0)

    async def request_callback(self, linkedid: str, number: str, queue: str) -> None:
        self.calls.append(("request_callback", (linkedid, number, queue)))
        self.callbacks.append((linkedid, number, queue))

    async def record_survey(self, linkedid: str, score: int) -> None:
        self.calls.append(("record_survey", (linkedid, score)))
        self.surveys.append((linkedid, score))


@dataclass
class FailingIvrServices:
    """IvrServices whose database is down: every call raises ServicesUnavailable."""

    calls: list[str] = field(default_factory=list)

    def _fail(self, name: str) -> ServicesUnavailable:
        self.calls.append(name)
        return ServicesUnavailable("database unavailable")

    async def find_person_by_cedula(self, cedula: str) -> Person | None:
        raise self._fail("find_person_by_cedula")

    async def find_person_by_phone(self, phone: str) -> Person | None:
        raise self._fail("find_person_by_phone")

    async def request_status(
        self,
        number: str,
        *,
        caller_phone: str | None = None,
        document_digits: str | None = None,
    ) -> RequestStatus | None:
        raise self._fail("request_status")

    async def expected_wait(self, queue: str) -> float:
        raise self._fail("expected_wait")

    async def request_callback(self, linkedid: str, number: str, queue: str) -> None:
        raise self._fail("request_callback")

    async def record_survey(self, linkedid: str, score: int) -> None:
        raise self._fail("record_survey")


# ------------------------------------------------------------------- fake Asterisk

RECORDED_ENVIRONMENT: tuple[tuple[str, str], ...] = (
    # Order and values of a real session (sip_mixed.agi); per-call values are overridden.
    ("agi_network", "yes"),
    ("agi_network_script", "ivr"),
    ("agi_request", "agi://127.0.0.1:4573/ivr"),
    ("agi_channel", "PJSIP/pstn-00000000"),
    ("agi_language", "es"),
    ("agi_type", "PJSIP"),
    ("agi_uniqueid", "1795344853.0"),
    ("agi_version", "GIT-22-22.0.0-pre1-541-g69535d4837"),
    ("agi_callerid", "099123456"),
    ("agi_calleridname", "María Pérez"),
    ("agi_callingpres", "0"),
    ("agi_callingani2", "0"),
    ("agi_callington", "0"),
    ("agi_callingtns", "0"),
    ("agi_dnid", "ivr"),
    ("agi_rdnis", "unknown"),
    ("agi_context", "from-pstn"),
    ("agi_extension", "s"),
    ("agi_priority", "3"),
    ("agi_enhanced", "0.0"),
    ("agi_accountcode", ""),
    ("agi_threadid", "140178296977088"),
)

# Commands Asterisk still runs on a dead channel (the recordings: GET VARIABLE
# answered after HANGUP, STREAM FILE refused with 511).
DEAD_CHANNEL_COMMANDS = ("GET VARIABLE", "GET FULL VARIABLE", "SET VARIABLE", "VERBOSE", "HANGUP")

GET_DATA_USAGE = (
    "520-Invalid command syntax.  Proper usage follows:",
    "Stream the given <replaceable>file</replaceable>, and receive DTMF data.",
    "Returns the digits received from the channel at the other end.",
    "520 End of proper usage.",
)


@dataclass
class FakeCall:
    """One scripted caller.

    dtmf: one entry per GET DATA, in order: the digits keyed (ending with "#"
    means the caller pressed # to finish), "" or None for silence. Once
    exhausted, every GET DATA times out.
    hangup_at: 1-based index of the command during which the caller hangs up.
    missing_prompts: sound names with no file: STREAM FILE and GET DATA answer -1
    on a live channel, as Asterisk 22 does.
    hangup_before_reply_at: the caller hangs up just after this command did its
    work: its normal reply arrives preceded by the HANGUP line.
    close_at: index of the command after which Asterisk closes the socket unanswered.
    silent_at: index of the command Asterisk never answers (socket left open).
    reply_delay: seconds before each reply (a prompt playing, a caller thinking).
    """

    script: str = "ivr"
    caller_number: str = "099123456"
    caller_name: str = "María Pérez"
    uniqueid: str = "1795344853.0"
    linkedid: str | None = None
    channel: str = "PJSIP/pstn-00000000"
    dtmf: list[str | None] = field(default_factory=list)
    hangup_at: int | None = None
    hangup_before_reply_at: int | None = None
    close_at: int | None = None
    silent_at: int | None = None
    missing_prompts: frozenset[str] = frozenset()
    reply_delay: float = 0.0
    extra_env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class CallRecord:
    """What Asterisk saw of one session."""

    commands: list[str] = field(default_factory=list)
    parsed: list[list[str]] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    variable_log: list[tuple[str, str]] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    said_digits: list[str] = field(default_factory=list)
    hung_up_by_ivr: bool = False
    closed_by_server: bool = False

    def verbs(self) -> list[str]:
        return [" ".join(p[:2]).upper() for p in self.parsed]


def environment_block(call: FakeCall) -> bytes:
    values = dict(RECORDED_ENVIRONMENT)
    values.update(
        {
            "agi_network_script": call.script,
            "agi_request": f"agi://127.0.0.1:4573/{call.script}",
            "agi_channel": call.channel,
            "agi_uniqueid": call.uniqueid,
            "agi_callerid": call.caller_number,
            "agi_calleridname": call.caller_name,
        }
    )
    values.update(call.extra_env)
    text = "".join(f"{k}: {v}\n" for k, v in values.items()) + "\n"
    return text.encode("utf-8")


class FakeAsterisk:
    """Asterisk's side of FastAGI for one call, over a real TCP connection."""

    def __init__(self, call: FakeCall) -> None:
        self.call = call
        self.record = CallRecord()
        self._dtmf = list(call.dtmf)
        self._dead = False
        self._announce_hangup = False
        # Asterisk's view of the server's speed (bench.agi_latency): seconds
        # from the environment, then each reply, written to the next command
        # read, so they include the time the session waited on the server's loop.
        self.reply_gaps: list[float] = []
        self._sent_at: float | None = None

    async def run(self, host: str, port: int, limit_seconds: float = 10.0) -> CallRecord:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            async with asyncio.timeout(limit_seconds):
                writer.write(environment_block(self.call))
                await writer.drain()
                self._sent_at = time.perf_counter()
                await self._serve(reader, writer)
        except ConnectionError:
            self.record.closed_by_server = True  # reset: closed with our data unread
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return self.record

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = 0
        while True:
            raw = await reader.readline()
            if not raw:
                self.record.closed_by_server = True
                return
            if self._sent_at is not None:
                self.reply_gaps.append(time.perf_counter() - self._sent_at)
                self._sent_at = None
            index += 1
            line = raw.decode("utf-8").rstrip("\n")
            self.record.commands.append(line)
            words = asterisk_parse_args(line)
            self.record.parsed.append(words)
            if self.call.close_at == index:
                return
            if self.call.silent_at == index:
                await reader.read()  # until the server gives up and closes
                self.record.closed_by_server = True
                return
            hangs_now = self.call.hangup_at == index
            reply = self._reply(words, hangs_now)
            if hangs_now:
                self._dead = True
                self._announce_hangup = True
            elif self._announce_hangup:
                reply = ["HANGUP", *reply]
                self._announce_hangup = False
            if self.call.hangup_before_reply_at == index:
                reply = ["HANGUP", *reply]
                self._dead = True
            if self.call.reply_delay:
                await asyncio.sleep(self.call.reply_delay)
            writer.write("".join(r + "\n" for r in reply).encode("utf-8"))
            await writer.drain()
            self._sent_at = time.perf_counter()

    def _reply(self, words: list[str], hangs_now: bool) -> list[str]:
        upper = [w.upper() for w in words]
        verb = " ".join(upper[:2])
        if self._dead and not hangs_now and verb not in DEAD_CHANNEL_COMMANDS:  # noqa: SIM102
            if upper[:1] != ["HANGUP"]:
                return ["511 Command Not Permitted on a dead channel or intercept routine"]
        if upper[:1] == ["ANSWER"]:
            return ["200 result=0"]
        if upper[:1] == ["HANGUP"]:
            self.record.hung_up_by_ivr = True
            self._dead = True
            return ["200 result=1"]
        if verb == "STREAM FILE" and len(words) >= 4:
            self.record.prompts.append(words[2])
            if hangs_now:
                return ["200 result=-1 endpos=1200"]
            if words[2] in self.call.missing_prompts:
                return ["200 result=-1 endpos=0"]
            return ["200 result=0 endpos=3520"]
        if verb == "GET DATA":
            if len(words) < 3:
                return list(GET_DATA_USAGE)
            self.record.prompts.append(words[2])
            if hangs_now or words[2] in self.call.missing_prompts:
                # Asterisk 22 answers a missing prompt's GET DATA like a hangup.
                return ["200 result=-1"]
            max_digits = int(words[4]) if len(words) > 4 else 1024
            keyed = self._dtmf.pop(0) if self._dtmf else None
            if keyed is None or keyed == "":
                return ["200 result= (timeout)"]
            if keyed.endswith("#"):
                return [f"200 result={keyed[:-1]}"]
            if len(keyed) < max_digits:
                return [f"200 result={keyed} (timeout)"]
            return [f"200 result={keyed[:max_digits]}"]
        if verb in ("SAY DIGITS", "SAY NUMBER") and len(words) >= 4:
            self.record.said_digits.append(words[2])
            return ["200 result=-1" if hangs_now else "200 result=0"]
        if verb == "SET VARIABLE" and len(words) == 4:
            self.record.variables[words[2]] = words[3]
            self.record.variable_log.append((words[2], words[3]))
            return ["200 result=1"]
        if verb == "GET VARIABLE" and len(words) == 3:
            value = self._variable(words[2])
            return ["200 result=0"] if value is None else [f"200 result=1 ({value})"]
        if verb == "CHANNEL STATUS":
            # Refused on a dead channel (511, above); AST_STATE_UP otherwise.
            return ["200 result=6"]
        if upper[:1] == ["VERBOSE"]:
            return ["200 result=1"]
        return ["510 Invalid or unknown command"]

    def _variable(self, name: str) -> str | None:
        if name == "CHANNEL(linkedid)":
            return self.call.linkedid or self.call.uniqueid
        if name == "CALLERID(name)":
            return self.call.caller_name
        if name == "CALLERID(num)":
            return self.call.caller_number
        return self.record.variables.get(name)
