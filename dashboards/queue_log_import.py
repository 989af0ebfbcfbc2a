"""Load an Asterisk queue_log (the centre's history before Atiende) into
the attention store, so the historical reports cover it.

Format: epoch|uniqueid|queue|agent|event|data... (with
`log_membername_as_agent = yes` the agent column is the member name).
Each caller's uniqueid becomes an attention keyed (system, uniqueid), the
key the live bridge uses too; rows are inserted with ON CONFLICT DO
NOTHING, so importing the same file twice, or a file that overlaps what the
bridge already stored, adds nothing and never overwrites a live record.

Events used (the data columns as Asterisk writes them):
ENTERQUEUE url|callerid|position; CONNECT holdtime|bridged uniqueid|ringtime;
COMPLETEAGENT / COMPLETECALLER holdtime|calltime|origposition;
TRANSFER extension|context|holdtime|calltime|origposition;
ABANDON position|origposition|waittime; EXITWITHTIMEOUT and EXITEMPTY
position|origposition|waittime; EXITWITHKEY key|position|origposition|waittime;
JOINEMPTY. Member lines: PAUSE reason / UNPAUSE become paused agent
intervals (per member and queue; the member name stands for the interface,
which queue_log does not carry), closed early by REMOVEMEMBER; a pause still
open at the end of the file is left out. Other member states are not
imported (queue_log does not record them).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite

from crm_bridge.attentions import AttentionRepository, attention_values
from crm_bridge.db import make_engine
from crm_bridge.exceptions import RecordRejectedError
from crm_bridge.models import Attention
from telephony.domain import (
    AgentInterval,
    AgentState,
    CallKey,
    CallRecord,
    HangupSide,
    Outcome,
    QueueLeg,
)

BATCH = 1000
# A call whose last leg ended this long ago (log time) can no longer be
# transferred into another queue: it is written and forgotten, so memory
# stays bounded on a year of history.
SETTLE_SECONDS = 3600.0

_EXITS = {
    "EXITWITHTIMEOUT": (Outcome.EXIT_TIMEOUT, 2),
    "EXITWITHKEY": (Outcome.EXIT_KEY, 3),
    "EXITEMPTY": (Outcome.EXIT_EMPTY, 2),
}


@dataclass(slots=True)
class _Call:
    uniqueid: str
    caller: str
    legs: list[QueueLeg] = field(default_factory=list)
    ended_at: float | None = None
    hangup: HangupSide = HangupSide.UNKNOWN
    last_at: float = 0.0


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _apply(call: _Call, at: float, queue: str, agent: str, event: str, data: list[str]) -> None:
    call.last_at = at
    if event in ("ENTERQUEUE", "JOINEMPTY"):
        position = _int(data[2]) if len(data) > 2 else 0
        leg = QueueLeg(queue, at, position)
        if event == "JOINEMPTY":
            leg = replace(leg, outcome=Outcome.JOIN_EMPTY, left_at=at, wait_seconds=0.0)
            call.ended_at = at
        call.legs.append(leg)
        return
    if not call.legs:
        return
    leg = call.legs[-1]
    if event == "CONNECT":
        wait = _float(data[0]) if data else None
        leg = replace(leg, agent=agent, answered_at=at, wait_seconds=wait, outcome=Outcome.ANSWERED)
    elif event in ("COMPLETEAGENT", "COMPLETECALLER"):
        talk = _float(data[1]) if len(data) > 1 else None
        leg = replace(leg, talk_seconds=talk, left_at=at)
        call.ended_at = at
        call.hangup = HangupSide.AGENT if event == "COMPLETEAGENT" else HangupSide.CALLER
    elif event == "TRANSFER":
        talk = _float(data[3]) if len(data) > 3 else None
        leg = replace(leg, outcome=Outcome.TRANSFERRED, talk_seconds=talk, left_at=at)
        call.ended_at = at
    elif event == "ABANDON":
        wait = _float(data[2]) if len(data) > 2 else None
        abandon_position = _int(data[0]) if data else None
        leg = replace(
            leg,
            outcome=Outcome.ABANDONED,
            wait_seconds=wait,
            left_at=at,
            abandon_position=abandon_position,
        )
        call.ended_at = at
        call.hangup = HangupSide.CALLER
    elif event in _EXITS:
        outcome, index = _EXITS[event]
        wait = _float(data[index]) if len(data) > index else None
        leg = replace(leg, outcome=outcome, wait_seconds=wait, left_at=at)
        call.ended_at = at
        call.hangup = HangupSide.SYSTEM
    else:
        return
    call.legs[-1] = leg


def to_record(call: _Call, system: str) -> CallRecord:
    """The attention of one queue_log call (its last leg gives outcome, wait and talk)."""
    last = call.legs[-1]
    answered = [leg.answered_at for leg in call.legs if leg.answered_at is not None]
    outcome = last.outcome
    return CallRecord(
        key=CallKey(system, call.uniqueid),
        caller_number=call.caller,
        caller_name="",
        arrived_at=call.legs[0].joined_at,
        outcome=outcome,
        hangup_side=call.hangup,
        queue_joined_at=call.legs[0].joined_at,
        answered_at=answered[0] if answered else None,
        ended_at=call.ended_at,
        legs=tuple(call.legs),
        wait_seconds=last.wait_seconds,
        talk_seconds=last.talk_seconds,
    )


class PauseCollector:
    """Paused spans from queue_log member lines."""

    def __init__(self, system: str) -> None:
        self._system = system
        self._open: dict[tuple[str, str], tuple[float, str | None]] = {}
        self.closed: list[AgentInterval] = []

    def feed(self, at: float, queue: str, agent: str, event: str, data: list[str]) -> None:
        member = (agent, queue)
        if event == "PAUSE":
            reason = data[0] if data and data[0] else None
            self._open.setdefault(member, (at, reason))
        elif event in ("UNPAUSE", "REMOVEMEMBER"):
            began = self._open.pop(member, None)
            if began is not None and at >= began[0]:
                self.closed.append(
                    AgentInterval(
                        self._system,
                        agent,
                        agent,
                        AgentState.PAUSED,
                        began[0],
                        at,
                        reason=began[1],
                        queue=None if queue == "NONE" else queue,
                    )
                )


def parse_calls(
    lines: Iterable[str], system: str, pauses: PauseCollector | None = None
) -> Iterator[CallRecord]:
    """Records in the order their calls settle; the rest at the end of the input.
    Member lines go to `pauses` when given."""
    open_calls: dict[str, _Call] = {}
    newest = 0.0
    for raw in lines:
        parts = raw.rstrip("\r\n").split("|")
        if len(parts) < 5:
            continue
        at = _float(parts[0])
        uniqueid, queue, agent, event = parts[1:5]
        if at is None:
            continue
        if uniqueid in ("NONE", "MANAGER") or queue == "NONE":
            if pauses is not None and agent != "NONE":
                pauses.feed(at, queue, agent, event, parts[5:])
            continue
        data = parts[5:]
        call = open_calls.get(uniqueid)
        if call is None:
            if event not in ("ENTERQUEUE", "JOINEMPTY"):
                continue  # the call entered before this file starts
            caller = data[1] if len(data) > 1 else ""
            call = open_calls[uniqueid] = _Call(uniqueid, caller)
        _apply(call, at, queue, agent, event, data)
        if at - newest > SETTLE_SECONDS / 4:
            newest = at
            settled = [
                key
                for key, c in open_calls.items()
                if c.ended_at is not None and at - c.last_at > SETTLE_SECONDS
            ]
            for key in settled:
                yield to_record(open_calls.pop(key), system)
    for call in open_calls.values():
        if call.legs:
            yield to_record(call, system)


def _insert(engine: Engine) -> Any:
    if engine.dialect.name == "postgresql":
        return postgresql.insert(Attention).on_conflict_do_nothing(
            index_elements=[Attention.system, Attention.linkedid]
        )
    return sqlite.insert(Attention).on_conflict_do_nothing(
        index_elements=[Attention.system, Attention.linkedid]
    )


@dataclass(frozen=True, slots=True)
class ImportResult:
    read: int  # calls found in the file
    inserted: int  # new attentions
    rejected: int  # calls the store refused (no usable time)
    pauses: int = 0  # paused spans found (stored unless already there)


def import_records(
    engine: Engine,
    records: Iterable[CallRecord],
    *,
    phone_region: str = "UY",
    on_batch: Callable[[int], None] | None = None,
) -> ImportResult:
    stmt = _insert(engine)
    read = inserted = rejected = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal inserted
        if batch:
            with engine.begin() as conn:
                result = conn.execute(stmt, batch)
                inserted += max(result.rowcount, 0)
            if on_batch is not None:
                on_batch(len(batch))
            batch.clear()

    now = datetime.now(UTC)
    for record in records:
        read += 1
        try:
            batch.append(attention_values(record, phone_region=phone_region, now=now))
        except RecordRejectedError:
            rejected += 1
            continue
        if len(batch) >= BATCH:
            flush()
    flush()
    return ImportResult(read, inserted, rejected)


class ProgressBar:
    """A one-line bar on a terminal (by bytes read); silent when not a TTY."""

    def __init__(self, total: int, stream: IO[str] = sys.stderr, width: int = 30) -> None:
        self._total = max(total, 1)
        self._stream = stream
        self._width = width
        self._done = 0
        self._shown = -1.0
        self._tty = stream.isatty()

    def advance(self, amount: int) -> None:
        self._done += amount
        now = time.monotonic()
        if self._tty and now - self._shown >= 0.2:
            self._shown = now
            self._draw()

    def _draw(self) -> None:
        share = min(self._done / self._total, 1.0)
        filled = int(share * self._width)
        bar = "#" * filled + "-" * (self._width - filled)
        self._stream.write(f"\rqueue_log [{bar}] {share * 100:5.1f} %")
        self._stream.flush()

    def close(self) -> None:
        if self._tty:
            self._done = self._total
            self._draw()
            self._stream.write("\n")
            self._stream.flush()


def _lines(handle: IO[bytes], progress: ProgressBar) -> Iterator[str]:
    for raw in handle:
        progress.advance(len(raw))
        yield raw.decode("utf-8", errors="replace")


def import_queue_log(
    path: Path,
    engine: Engine,
    system: str,
    *,
    phone_region: str = "UY",
    progress_stream: IO[str] = sys.stderr,
) -> ImportResult:
    progress = ProgressBar(path.stat().st_size, progress_stream)
    pauses = PauseCollector(system)
    try:
        with path.open("rb") as handle:
            result = import_records(
                engine,
                parse_calls(_lines(handle, progress), system, pauses),
                phone_region=phone_region,
            )
    finally:
        progress.close()
    for start in range(0, len(pauses.closed), BATCH):
        AttentionRepository(engine).add_intervals(pauses.closed[start : start + BATCH])
    return replace(result, pauses=len(pauses.closed))


def import_queue_log_main(
    path: str | Path,
    database_url: str,
    system: str,
    *,
    phone_region: str = "UY",
    out: IO[str] = sys.stdout,
    err: IO[str] = sys.stderr,
) -> int:
    """`atiende import-queue-log FILE`: exit status 0 on success, 1 on a bad file.

    Wire it in atiende/cli.py as::

        sub = commands.add_parser("import-queue-log", help="...")
        sub.add_argument("file")
        sub.add_argument("--system", default=<the bridge's system name>)
        ...
        return import_queue_log_main(args.file, database_url, args.system)
    """
    file = Path(path)
    if not file.is_file():
        err.write(f"import-queue-log: {file} is not a file\n")
        return 1
    engine = make_engine(database_url)
    try:
        result = import_queue_log(
            file, engine, system, phone_region=phone_region, progress_stream=err
        )
    finally:
        engine.dispose()
    out.write(
        f"{result.read} calls read, {result.inserted} attentions added, "
        f"{result.read - result.inserted - result.rejected} already stored, "
        f"{result.rejected} rejected, {result.pauses} pauses\n"
    )
    return 0


__all__: Sequence[str] = (
    "ImportResult",
    "import_queue_log",
    "import_queue_log_main",
    "parse_calls",
)
