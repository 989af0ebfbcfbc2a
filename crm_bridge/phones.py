"""Caller numbers: E.164 normalisation and masking for logs.

Asterisk hands over whatever the trunk sent as caller ID: "anonymous",
"<unknown>", empty strings, names in the number field, national or
international formats. Normalisation never raises; anything that is not a
valid number of the numbering plan becomes None and the raw value is kept
by the caller.
"""

from __future__ import annotations

import functools
import re

import phonenumbers

# Digits with the punctuation people and trunks put around them. Anything else
# (letters, "<unknown>") is not a number: phonenumbers would otherwise turn
# vanity letters into digits or pick digits out of garbage.
_DIALLABLE = re.compile(r"^\+?[0-9 ().\-/]+$")
# Longer than any real number with prefixes; keeps the parser from chewing on junk.
_MAX_LENGTH = 32


# Parsing costs about 0.1 ms, the largest part of converting a record; the
# same caller comes back in every snapshot of a call and across calls.
@functools.lru_cache(maxsize=8192)
def normalise_number(raw: str | None, region: str) -> str | None:
    """The E.164 form of `raw` read with `region`'s dialling rules, or None."""
    if raw is None:
        return None
    candidate = raw.strip()
    if not candidate or len(candidate) > _MAX_LENGTH or not _DIALLABLE.match(candidate):
        return None
    try:
        parsed = phonenumbers.parse(candidate, region.upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_number(raw: str | None) -> str:
    """What a log may show of a caller number: only its last three characters."""
    if not raw:
        return "<none>"
    visible = raw[-3:] if len(raw) > 3 else ""
    return "*" * (len(raw) - len(visible)) + visible
