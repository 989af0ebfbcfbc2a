"""Logging of the `atiende` process: one record per line, whatever the data.

Log lines carry values that come from outside (a Linkedid from Asterisk, a
URL path, an AGI variable). A CR or LF in one of them would start a new line
that looks like a record of its own (a forged CRITICAL), and ANSI escapes
would rewrite an operator's terminal. The formatter escapes every control
character in the message, and indents the lines of a traceback, so that
every line that starts at column 0 is the start of a real record.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from logging import _SysExcInfoType

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# C0 controls (tab included), DEL and the C1 controls; plus the Unicode line
# and paragraph separators some viewers break lines on.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# In a traceback, newlines are the structure; anything else is escaped.
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    if char == "\t":
        return "\\t"
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """`text` with every control character written as an escape (\\n, \\x1b...)."""
    return _CONTROL.sub(_escape_one, text)


def _indent_block(text: str) -> str:
    escaped = _CONTROL_BUT_NEWLINE.sub(_escape_one, text)
    return "\n".join("    " + line for line in escaped.split("\n"))


class SafeFormatter(logging.Formatter):
    """A Formatter whose records cannot break out of their line."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: _SysExcInfoType) -> str:
        return _indent_block(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indent_block(super().formatStack(stack_info))


def configure_logging(level: str | int = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """Install the one handler of the process on the root logger (replacing any)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter(FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # Alembic narrates every plugin it loads at INFO.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return handler
