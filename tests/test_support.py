"""The shared test support itself: the skip allow-list guard, free ports, the relay."""

from __future__ import annotations

import socket

import pytest

from tests.support.ports import free_port
from tests.support.skips import ALLOWED, STRICT_ENV, allowed
from tests.support.tcp import TcpRelay

SKIPPING = """
import pytest

def test_quietly_skipped():
    pytest.skip("nobody installed the thing")

def test_allowed():
    pytest.skip("root reads files whatever their mode")

def test_runs():
    assert True
"""


def test_a_skip_off_the_allow_list_fails_a_strict_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(SKIPPING)
    monkeypatch.setenv(STRICT_ENV, "1")
    result = pytester.runpytest_inprocess("-p", "tests.support.skips", "-rs")
    result.assert_outcomes(passed=1, skipped=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*skips not on the allow-list (FAIL the run)*"])
    result.stdout.fnmatch_lines(["*test_quietly_skipped: nobody installed the thing"])
    assert "test_allowed: root reads" not in result.stdout.str()


def test_without_strict_the_skip_is_reported_but_passes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(SKIPPING)
    monkeypatch.delenv(STRICT_ENV, raising=False)
    result = pytester.runpytest_inprocess("-p", "tests.support.skips")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"*would fail with {STRICT_ENV}=1*"])


def test_the_allow_list_is_short_and_every_entry_says_why() -> None:
    assert len(ALLOWED) <= 5
    assert all(len(why) > 40 for why in ALLOWED.values())
    assert not allowed("Debian's chromium is not installed (apt-get install -y chromium)")


def test_free_ports_are_free() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_the_relay_cuts_and_restores_a_connection() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        relay = TcpRelay(None, server.getsockname())
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", relay.port), timeout=2).close()
        with relay:
            client = socket.create_connection(("127.0.0.1", relay.port), timeout=2)
            upstream, _ = server.accept()
            client.sendall(b"ping")
            assert upstream.recv(4) == b"ping"
        # Stopped: the open connection is cut and new ones are refused.
        client.settimeout(2)
        assert client.recv(4) == b""
        client.close()
        upstream.close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", relay.port), timeout=2).close()
        relay.start()
        try:
            again = socket.create_connection(("127.0.0.1", relay.port), timeout=2)
            upstream, _ = server.accept()
            again.sendall(b"pong")
            assert upstream.recv(4) == b"pong"
            again.close()
            upstream.close()
        finally:
            relay.stop()
        assert relay.connections == 2
