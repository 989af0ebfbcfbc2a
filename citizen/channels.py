"""The one vocabulary of attention channels (how the person reached the centre).

The Modelo de Atención a la Ciudadanía treats every channel as one attention
process: the store, the API, the reports, the metrics' labels and Grafana all
name a channel with these values, so a figure per channel means the same
everywhere. Delivery means of an answer to the person ("email", "sms", "log"
in crm_bridge.responders) are a different thing: how a message leaves, not
how the attention arrived.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Channel(StrEnum):
    TELEFONICO = "telefonico"
    PRESENCIAL = "presencial"
    CORREO = "correo"
    WEB = "web"
    CHAT = "chat"
    WHATSAPP = "whatsapp"


CHANNEL_LABELS: Mapping[Channel, str] = MappingProxyType(
    {
        Channel.TELEFONICO: "Teléfono",
        Channel.PRESENCIAL: "Presencial",
        Channel.CORREO: "Correo electrónico",
        Channel.WEB: "Web",
        Channel.CHAT: "Chat",
        Channel.WHATSAPP: "WhatsApp",
    }
)

# Names older data and people use for the same channels: the store said
# "phone" and tickets "email" before migration 0013.
_ALIASES: Mapping[str, Channel] = MappingProxyType(
    {
        "phone": Channel.TELEFONICO,
        "telefono": Channel.TELEFONICO,
        "email": Channel.CORREO,
        "correo electronico": Channel.CORREO,
        "mail": Channel.CORREO,
        "walk-in": Channel.PRESENCIAL,
    }
)


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def parse_channel(text: str) -> Channel:
    """`text` as a Channel: accents, case and the old names are accepted.

    ValueError for anything else, so a caller can turn it into its own error.
    """
    plain = _plain(text)
    alias = _ALIASES.get(plain)
    if alias is not None:
        return alias
    return Channel(plain)


def attention_system(channel: Channel) -> str:
    """The `system` half of a non-phone attention's key.

    Phone attentions are keyed by (Asterisk system name, Linkedid); others by
    this name and a generated id, so wrap-ups, surveys, tickets and the audit
    log, which all refer to an attention by that pair, work for every channel.
    """
    return f"atiende:{channel.value}"


def channel_label(value: str) -> str:
    """The Spanish label of a stored channel value (the value itself if unknown)."""
    try:
        return CHANNEL_LABELS[parse_channel(value)]
    except ValueError:
        return value
