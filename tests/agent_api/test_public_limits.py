"""The public pages' counting rule (agent_api.public_limits), with no store but memory."""

from __future__ import annotations

import pytest

from agent_api.public_limits import KEY_PREFIX, MemoryCounter, PublicLimits, Rule


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_rule_allows_its_limit_then_asks_for_the_rest_of_the_window() -> None:
    rule = Rule("r", 3, 600)
    assert [rule.wait(n, 500.0) for n in (1, 2, 3)] == [None, None, None]
    assert rule.wait(4, 499.2) == 500
    assert rule.wait(9, 0.01) == 1  # never "wait 0 seconds"
    with pytest.raises(ValueError):
        Rule("r", 0, 600)
    with pytest.raises(ValueError):
        Rule("r", 1, 0)
    with pytest.raises(ValueError):
        Rule("a:b", 1, 1)  # the name is part of a key


def test_the_window_opens_at_the_first_attempt_and_refusals_do_not_prolong_it() -> None:
    clock = Clock()
    limits = PublicLimits(
        counter=MemoryCounter(clock=clock), secret="s", submissions=Rule("submissions", 2, 60)
    )
    assert limits.submission("198.51.100.7") is None
    clock.now += 10
    assert limits.submission("198.51.100.7") is None
    clock.now += 10
    assert limits.submission("198.51.100.7") == 40
    clock.now += 39
    assert limits.submission("198.51.100.7") == 1
    clock.now += 1  # the window that opened at the first attempt is over
    assert limits.submission("198.51.100.7") is None
    assert limits.submission("203.0.113.9") is None  # another address, its own count


def test_every_rule_is_counted_even_when_one_refuses() -> None:
    limits = PublicLimits(
        counter=MemoryCounter(),
        secret="s",
        lookups_per_address=Rule("lookups_per_address", 100, 600),
        lookups_per_ticket=Rule("lookups_per_ticket", 1, 3600),
        lookups_per_number=Rule("lookups_per_number", 3, 3600),
    )
    assert limits.lookup("198.51.100.7", "2026-000001") is None
    # Refused per (address, number), yet counted per number too:
    assert limits.lookup("198.51.100.7", "2026-000001") is not None
    assert limits.lookup("198.51.100.7", "2026-000001") is not None
    assert limits.lookup("203.0.113.9", "2026-000001") is not None  # the number's ceiling
    assert limits.lookup("203.0.113.9", None) is None  # no number: the address alone


def test_keys_name_the_rule_and_an_hmac_never_the_address_or_number() -> None:
    one, other = PublicLimits(MemoryCounter(), "secret-1"), PublicLimits(MemoryCounter(), "s-2")
    key = one.key(one.lookups_per_ticket, "198.51.100.7", "2026-000123")
    assert key.startswith(f"{KEY_PREFIX}lookups_per_ticket:")
    assert "2026-000123" not in key and "198.51.100.7" not in key and "." not in key
    assert len(key.rsplit(":", 1)[1]) == 40
    # The digest depends on the secret (no dictionary of numbers or IPv4
    # addresses reverses it) and on where each part ends.
    assert key != other.key(other.lookups_per_ticket, "198.51.100.7", "2026-000123")
    assert key != one.key(one.lookups_per_ticket, "198.51.100.72026-000123")
    assert key != one.key(one.lookups_per_number, "198.51.100.7", "2026-000123")
