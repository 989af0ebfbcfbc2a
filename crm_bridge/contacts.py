"""Attentions that do not come through Asterisk: walk-ins, email, the web form, chat.

They live in the same `attentions` table as calls, so typification, wrap-up
(attention_wrapups), person, tickets, survey (call_surveys and survey_score),
the person's history and the CRM sync treat every channel alike. Each is keyed
by (citizen.channels.attention_system(channel), a generated id), never by an
Asterisk Linkedid, so the bridge's upserts and resyncs, which work per Asterisk
system, never touch them.

They carry no queue legs: the phone queue figures (the hourly rollup reads
legs) stay exactly those of Asterisk's queue_log. Where the contact happened
(the service point, the mailbox) and what it was about go in `variables`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from citizen.channels import Channel, attention_system
from crm_bridge.db import session_factory
from crm_bridge.exceptions import InvalidValueError, NotFoundError
from crm_bridge.models import Attention
from crm_bridge.phones import normalise_number
from crm_bridge.store_access import translate_error
from crm_bridge.sync.outbox import add_attention_rows
from telephony.domain import CallKey, HangupSide, Outcome

# Variables a non-phone attention may carry (the IVR's names where they mean the same).
TOPIC_VARIABLE = "ATIENDE_TOPIC"
POINT_VARIABLE = "ATIENDE_POINT"
_FINAL = frozenset(
    {
        Outcome.ANSWERED,
        Outcome.ABANDONED,
        Outcome.IVR_COMPLETED,
        Outcome.TRANSFERRED,
        Outcome.CANCELLED,
    }
)
_VARIABLE_LENGTH = 200


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise InvalidValueError("contact times must be timezone-aware")
    return moment.astimezone(UTC)


def _seconds(start: datetime | None, end: datetime) -> float | None:
    return None if start is None else max(0.0, (end - start).total_seconds())


class ContactAttentions:
    """Opens, answers and closes non-phone attentions."""

    def __init__(self, engine: Engine, *, phone_region: str = "UY", outbox: bool = False) -> None:
        """`outbox`: a closed attention also gets a CRM outbox row in the same
        transaction, as the bridge's final call records do."""
        self._engine = engine
        self._sessions = session_factory(engine)
        self._phone_region = phone_region
        self._outbox = outbox

    def open(
        self,
        channel: Channel,
        *,
        arrived_at: datetime,
        person_id: int | None = None,
        caller_number: str = "",
        caller_name: str = "",
        variables: Mapping[str, str] | None = None,
    ) -> CallKey:
        """A new attention in progress; its key for the wrap-up, ticket and survey."""
        if channel is Channel.TELEFONICO:
            # Calls are the bridge's, keyed by Asterisk's Linkedid.
            raise InvalidValueError("phone attentions are recorded by the AMI bridge")
        key = CallKey(system=attention_system(channel), linkedid=uuid.uuid4().hex)
        arrived = _aware(arrived_at)
        row = Attention(
            system=key.system,
            linkedid=key.linkedid,
            channel=channel.value,
            caller_number_raw=caller_number.replace("\x00", ""),
            caller_number=normalise_number(caller_number, self._phone_region),
            caller_name=caller_name.replace("\x00", ""),
            arrived_at=arrived,
            queue_joined_at=None,
            answered_at=None,
            ended_at=None,
            ivr_path=[],
            queues=[],
            queue=None,
            agent=None,
            agents=[],
            legs=[],
            wait_seconds=None,
            talk_seconds=None,
            outcome=Outcome.IN_PROGRESS.value,
            hangup_side=HangupSide.UNKNOWN.value,
            variables={
                str(k)[:64]: str(v).replace("\x00", "")[:_VARIABLE_LENGTH]
                for k, v in (variables or {}).items()
            },
            person_id=person_id,
            created_at=arrived,
            updated_at=arrived,
        )
        try:
            with self._sessions.begin() as session:
                session.add(row)
        except SQLAlchemyError as err:
            raise translate_error(err, f"opening a {channel.value} attention") from err
        return key

    def answer(
        self,
        key: CallKey,
        *,
        agent: str,
        at: datetime,
        variables: Mapping[str, str] | None = None,
    ) -> None:
        """Someone of the centre started attending: the wait ends here.

        `variables` are added to the attention's (who serves a walk-in, for need to know)."""
        moment = _aware(at)

        def change(row: Attention, _session: Session) -> None:
            if variables:
                row.variables = {
                    **(row.variables or {}),
                    **{
                        str(k)[:64]: str(v).replace("\x00", "")[:_VARIABLE_LENGTH]
                        for k, v in variables.items()
                    },
                }
            if row.answered_at is None:
                row.answered_at = moment
                row.wait_seconds = _seconds(row.arrived_at, moment)
            row.agent = agent
            if agent not in row.agents:
                row.agents = [*row.agents, agent]

        self._change(key, change, "answering")

    def close(
        self,
        key: CallKey,
        *,
        at: datetime,
        outcome: Outcome = Outcome.ANSWERED,
        only_if: Callable[[Session, Attention], bool] | None = None,
    ) -> bool:
        """The attention ended; `outcome` ABANDONED for a person who left unattended.

        `only_if` runs in the closing transaction with the attention's row
        locked; when it says no, nothing changes. True when this call closed it."""
        if outcome not in _FINAL:
            raise InvalidValueError(f"{outcome.value!r} does not end an attention")
        moment = _aware(at)
        closed = False

        def change(row: Attention, session: Session) -> None:
            nonlocal closed
            if row.ended_at is not None:
                return  # closing twice (a retried request) changes nothing
            if only_if is not None and not only_if(session, row):
                return
            closed = True
            row.ended_at = moment
            row.outcome = outcome.value
            if outcome is Outcome.ANSWERED and row.answered_at is not None:
                row.talk_seconds = _seconds(row.answered_at, moment)
            elif outcome is Outcome.ABANDONED:
                row.wait_seconds = _seconds(row.arrived_at, moment)

        self._change(key, change, "closing", final=True)
        return closed

    def link_person(self, key: CallKey, person_id: int | None) -> None:
        def change(row: Attention, _session: Session) -> None:
            row.person_id = person_id

        self._change(key, change, "linking a person to")

    def _change(
        self,
        key: CallKey,
        change: Callable[[Attention, Session], None],
        what: str,
        *,
        final: bool = False,
    ) -> None:
        query = (
            select(Attention)
            .where(Attention.system == key.system, Attention.linkedid == key.linkedid)
            .with_for_update()
        )
        try:
            with self._sessions.begin() as session:
                row = session.scalars(query).first()
                if row is None:
                    raise NotFoundError(f"no attention {key.system}/{key.linkedid}")
                was_open = row.ended_at is None
                change(row, session)
                row.updated_at = datetime.now(UTC)
                session.flush()
                if final and was_open and row.ended_at is not None and self._outbox:
                    add_attention_rows(session.connection(), [(key.system, key.linkedid)])
        except SQLAlchemyError as err:
            raise translate_error(err, f"{what} an attention") from err
