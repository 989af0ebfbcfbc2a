"""The FastAGI server: accepts Asterisk's connections and runs a flow per call.

The port is an API open to whoever can reach it, so: peers outside the
allow-list are closed at once; the agi_* environment is capped in size and
time; text that is not AGI ends the session; every agi_* value is untrusted.
Each session is its own task and never blocks another; a session whose peer
goes silent ends on the per-command reply timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping

from ivr.agi import AgiEnvironment, EnvironmentParser, decode_line, set_variable
from ivr.exceptions import (
    AgiCommandError,
    AgiHangup,
    AgiProtocolError,
    AgiTimeout,
    FlowRuntimeError,
)
from ivr.flows import FlowRegistry, is_plain_value
from ivr.runner import FALLBACK_SOUND, MissingPrompts, NameVoice, run_flow
from ivr.services import IvrServices
from ivr.session import AgiSession, CommandLatency

log = logging.getLogger(__name__)

Handler = Callable[[AgiSession], Awaitable[None] | None]
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_ROUTES: Mapping[str, str] = {"ivr": "default", "survey": "survey"}
LOOPBACK: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
PEERS_KEPT = 1024


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class FastAgiServer:
    """FastAGI on (host, port), routing `agi://host/<script>` to flows or handlers.

    routes maps a script name to a flow name of `flows` (a script equal to a flow
    name also works); handlers maps a script name to a plain function or a
    coroutine function taking the AgiSession (for special routes).
    """

    def __init__(
        self,
        flows: FlowRegistry,
        services: IvrServices,
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        allowed_networks: Iterable[str | IpNetwork] = LOOPBACK,
        routes: Mapping[str, str] = DEFAULT_ROUTES,
        handlers: Mapping[str, Handler] | None = None,
        env_max_bytes: int = 8192,
        env_timeout: float = 5.0,
        reply_timeout: float = 60.0,
        service_timeout: float = 3.0,
        clock: Callable[[], dt.datetime] = _utc_now,
        latency: CommandLatency | None = None,
        max_sessions: int = 5000,
        fallback_queue: str | None = None,
        name_voice: NameVoice | None = None,
    ) -> None:
        self.flows = flows
        self.services = services
        self.host = host
        self._port = port
        self.allowed_networks: tuple[IpNetwork, ...] = tuple(
            ipaddress.ip_network(n, strict=False) if isinstance(n, str) else n
            for n in allowed_networks
        )
        self.routes = dict(routes)
        self.handlers = dict(handlers or {})
        self.env_max_bytes = env_max_bytes
        self.env_timeout = env_timeout
        self.reply_timeout = reply_timeout
        self.service_timeout = service_timeout
        self.clock = clock
        self.latency = latency
        self.max_sessions = max_sessions
        if fallback_queue is not None and not is_plain_value(fallback_queue):
            raise ValueError("fallback_queue must be a plain queue name")
        self.fallback_queue = fallback_queue
        self.name_voice = name_voice
        self.sessions_started = 0
        self.sessions_finished = 0
        # Prompts Asterisk could not play on a live channel (for /metrics).
        self.missing_prompts = MissingPrompts()
        self.missing_prompts.seed(
            p for name in flows.names() if (f := flows.get(name)) for p in f.all_prompts()
        )
        self.missing_prompts.seed([FALLBACK_SOUND])
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._peers_seen: dict[str, bool] = {}

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port 0)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    @property
    def active_sessions(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self._port, limit=self.env_max_bytes, backlog=2048
        )
        log.info("FastAGI listening on %s:%s", self.host, self.port)

    async def stop(self, grace: float = 2.0) -> None:
        """Stop accepting, give running sessions `grace` seconds, then cancel them."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        if tasks:
            _, still_running = await asyncio.wait(tasks, timeout=grace)
            for task in still_running:
                task.cancel()
            await asyncio.gather(*still_running, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def peer_allowed(self, host: str) -> bool:
        # The same few Asterisk hosts connect all day: the answer is kept per
        # host (ipaddress parsing and matching cost ~10 us a call).
        allowed = self._peers_seen.get(host)
        if allowed is None:
            allowed = self._peer_in_networks(host)
            if len(self._peers_seen) < PEERS_KEPT:
                self._peers_seen[host] = allowed
        return allowed

    def _peer_in_networks(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.allowed_networks)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            # Only stop() cancels sessions. asyncio's stream callback calls
            # task.exception() on this task, which would log a cancelled task as
            # an error: end it normally instead.
            log.debug("FastAGI session cancelled by stop()")
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) else ""
        if not self.peer_allowed(host):
            log.warning("FastAGI connection from %s refused: not in the allow-list", host)
            writer.close()
            return
        if len(self._tasks) > self.max_sessions:
            log.error(
                "FastAGI connection from %s refused: %d sessions running", host, self.max_sessions
            )
            writer.close()
            return
        self.sessions_started += 1
        try:
            env = await self._read_environment(reader)
            if env is None:
                return
            session = AgiSession(
                reader, writer, env, reply_timeout=self.reply_timeout, latency=self.latency
            )
            try:
                await self._route(session)
            except (AgiHangup, AgiTimeout, AgiProtocolError):
                raise
            except Exception:
                await self._fall_back(session)
                raise
            finally:
                session.end()
        except AgiHangup as err:
            log.info("FastAGI session ended by hangup: %s", err)
        except AgiTimeout as err:
            log.warning("FastAGI session from %s timed out: %s", host, err)
        except AgiProtocolError as err:
            log.warning("FastAGI session from %s is not AGI: %s", host, err)
        except (FlowRuntimeError, AgiCommandError) as err:
            log.error("IVR flow failed: %s", err)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("FastAGI session failed")
        finally:
            self.sessions_finished += 1
            writer.close()

    async def _fall_back(self, session: AgiSession) -> None:
        """A broken flow must not drop the caller: hand the call to the fallback queue."""
        if self.fallback_queue is None or session.hung_up:
            return
        with contextlib.suppress(AgiHangup, AgiTimeout, AgiProtocolError, OSError):
            await session.send(set_variable("ATIENDE_QUEUE", self.fallback_queue))
            log.warning("call handed to fallback queue %s", self.fallback_queue)

    async def _read_environment(self, reader: asyncio.StreamReader) -> AgiEnvironment | None:
        """The agi_* block, or None when the peer left, went slow or sent too much."""
        parser = EnvironmentParser()
        received = 0
        try:
            async with asyncio.timeout(self.env_timeout):
                while True:
                    try:
                        raw = await reader.readline()
                    except ValueError as err:
                        raise AgiProtocolError("environment line too long") from err
                    if not raw or not raw.endswith(b"\n"):
                        log.info("FastAGI peer closed before sending its environment")
                        return None
                    received += len(raw)
                    if received > self.env_max_bytes:
                        raise AgiProtocolError("environment larger than allowed")
                    env = parser.feed(decode_line(raw))
                    if env is not None:
                        if env.ignored_lines:
                            log.warning("ignored %d malformed environment lines", env.ignored_lines)
                        return env
        except TimeoutError:
            log.warning("FastAGI peer too slow to send its environment")
            return None

    async def _route(self, session: AgiSession) -> None:
        # agi://host/ivr?x=1 arrives as "ivr?x=1": the route is the path part.
        script = session.env.script.split("?", 1)[0]
        handler = self.handlers.get(script)
        if handler is not None:
            result = handler(session)
            if inspect.isawaitable(result):
                await result
            return
        flow_name = self.routes.get(script, script)
        flow = self.flows.get(flow_name)
        if flow is None:
            log.error("no IVR flow for FastAGI script %r", script[:64])
            return
        await run_flow(
            session,
            flow,
            self.services,
            self.clock(),
            self.service_timeout,
            self.missing_prompts,
            self.name_voice,
        )
