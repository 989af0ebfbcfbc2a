"""Why the IVR has its own FastAGI server and quoting: pyst2's defects, shown.

pyst2 is a project dependency (pyproject) but the IVR uses none of it.
"""

from __future__ import annotations

import importlib

import pytest

from ivr import agi
from ivr.agi import asterisk_parse_args

TRICKY_NAME = 'Zoë "Niña" Ñandú; EXEC System(touch /tmp/pwned)'


def test_pyst2_fastagi_does_not_import_on_python_3() -> None:
    with pytest.raises(ModuleNotFoundError, match="SocketServer"):
        importlib.import_module("asterisk.fastagi")


def test_pyst2_quote_mangles_names_and_lets_newlines_through() -> None:
    pyst2_agi = importlib.import_module("asterisk.agi")
    quoted = pyst2_agi.AGI._quote(None, TRICKY_NAME)
    words = asterisk_parse_args(f"SET VARIABLE CALLER {quoted}")
    assert words[3] != TRICKY_NAME  # the inner quotes are lost
    smuggled = pyst2_agi.AGI._quote(None, "Ana\nHANGUP")
    line = f"SET VARIABLE CALLER {smuggled}\n"
    assert line.count("\n") == 2  # Asterisk would read HANGUP" as a second command
    ours = agi.set_variable("CALLER", TRICKY_NAME)
    assert asterisk_parse_args(ours.line) == ["SET", "VARIABLE", "CALLER", TRICKY_NAME]
    assert agi.set_variable("CALLER", "Ana\nHANGUP").encode().count(b"\n") == 1
