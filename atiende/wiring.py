"""The composition root: the one place where settings become components.

Everything else receives plain values and ready-made clients from here; no
other module reads the environment or builds a client of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from wsgiref.simple_server import WSGIServer
from zoneinfo import ZoneInfo

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.registry import Collector
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from sqlalchemy.engine import Engine

from agent_api.after_call import AfterCallWork
from agent_api.audit import AuditLog
from agent_api.callbacks import CallbackDesk
from agent_api.control_relay import ControlRelay
from agent_api.controls import DEFAULT_PAUSE_REASONS, AmiAgentControls, Send
from agent_api.fanout import RedisEventRelay, RelayedAgents
from agent_api.pending_cases import PendingCases, remind_forever
from agent_api.pop_lookup import StorePopLookup
from agent_api.redis_limits import RedisCounter
from agent_api.routes.figures import add_wallboard, reports_router
from agent_api.routes.kiosk_links import kiosk_links_router
from agent_api.routes.queue_alerts import queue_alerts_router
from agent_api.web.reportes import ReportSources
from agent_api.wrapups import WrapupStore
from agent_api.ws import PopHub
from atiende.panel_app import panel_app
from atiende.settings import ConfigurationError, CrmSettings, Settings
from citizen.calendar import BusinessHours, always_open
from crm_bridge.attention_writer import AttentionWriter
from crm_bridge.attentions import AttentionRepository
from crm_bridge.callback_results import CallbackResults
from crm_bridge.callback_rules import AttemptResult, CallbackPolicy
from crm_bridge.callbacks import CallbackQueue
from crm_bridge.contacts import ContactAttentions
from crm_bridge.db import make_engine, upgrade
from crm_bridge.history import PersonHistory
from crm_bridge.ivr_services import StoreIvrServices
from crm_bridge.mail_intake import Mailbox, MailIntake
from crm_bridge.mail_rules import AttachmentPolicy
from crm_bridge.mail_store import MailThreads, ThreadedEmailResponder
from crm_bridge.notifications import CitizenNotices
from crm_bridge.persons import PersonRegistry
from crm_bridge.recorder import AttentionRecorder
from crm_bridge.responders import Responder, SmtpResponder
from crm_bridge.sync.adapter import CrmAdapter
from crm_bridge.sync.outbox import OutboxStore, SyncFailures, track_changes
from crm_bridge.sync.rights import PersonRights
from crm_bridge.sync.runtime import SyncService, build_adapter
from crm_bridge.sync.sla_alerts import PeriodicScan, SlaAlerts
from crm_bridge.sync.worker import run_worker
from crm_bridge.ticket_rules import RequestType
from crm_bridge.tickets import TicketService
from crm_bridge.turns import TurnService
from dashboards import report_rollup
from dashboards.bridge_metrics import BridgeHealthCollector
from dashboards.callback_metrics import CallbackCollector
from dashboards.channel_figures import ChannelCollector
from dashboards.followup_metrics import FollowupCollector
from dashboards.indicator_metrics import IndicatorCollector
from dashboards.ivr_metrics import IvrCollector
from dashboards.kiosk import KioskLinks
from dashboards.kpi import QueueKpiDefinition, SlTreatment, kpi_definitions
from dashboards.mail_metrics import MailIntakeCollector
from dashboards.queue_alert_acks import QueueAlertAcks
from dashboards.queue_metrics import QueueMetrics, QueueMetricsCollector
from dashboards.walkin_metrics import WalkinBoardRows, WalkinCollector
from dashboards.wallboard import Wallboard
from ivr.flows import DEFAULT_FLOWS_DIR, FlowRegistry, load_flows
from ivr.server import FastAgiServer
from ivr.sounds import SynthesisedNames
from ivr.sounds import warn_missing as warn_missing_prompts
from telephony.agents import AgentSnapshot
from telephony.ami.actions import AmiAction, Ping
from telephony.ami.connection import AmiConnection
from telephony.ami.stream import Headers
from telephony.bridge import Bridge, DomainEventSink
from telephony.leadership import AlwaysLeader, Lease, RedisLease, lead
from telephony.queue_config import QueueConfig, load_queues_conf
from telephony.tracker import CallTracker

log = logging.getLogger(__name__)


def migrate(settings: Settings) -> None:
    upgrade(settings.database_url)


@dataclass
class BridgeService:
    """The AMI bridge with its store, built by `build_bridge`."""

    repository: AttentionRepository
    writer: AttentionWriter
    connection: AmiConnection
    tracker: CallTracker
    bridge: Bridge
    shutdown_grace: float = 60.0
    queue_metrics: QueueMetrics | None = None
    # The one clock of the live figures and the tracker's ticks (the demo's
    # simulated time, time.time otherwise).
    clock: Callable[[], float] = time.time
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Calls that were up when the bridge last stopped: the first resync
        # either finds them still up or closes them as lost during the outage.
        restored = await asyncio.to_thread(self.repository.in_progress, self.connection.system_name)
        if restored:
            log.info("restoring %d call(s) in progress from the store", len(restored))
        self.tracker.restore(restored)
        seen_until, ended_since = await asyncio.to_thread(
            self.repository.seen_until, self.connection.system_name
        )
        if seen_until is not None:
            self.tracker.resume_after_restart(seen_until, ended_since)
        await self.connection.start()
        self._task = asyncio.create_task(self.bridge.run(), name="bridge")

    async def stop(self) -> None:
        await self.connection.stop()
        if self._task is not None:
            # The stream ends once the connection is stopped and drained.
            try:
                await asyncio.wait_for(self._task, timeout=10)
            except TimeoutError:
                log.warning("bridge did not drain in time; cancelling")
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        await self.writer.close(give_up_after=self.shutdown_grace)
        self.repository.engine.dispose()

    @property
    def leading(self) -> bool:
        """Whether this replica's bridge was started (it holds the lease)."""
        return self._task is not None

    async def wait(self) -> None:
        if self._task is not None:
            await self._task

    async def caught_up(self, poll: float = 0.01) -> None:
        """Wait until every event Asterisk sent before now has been tracked.

        A Ping's reply travels behind every byte Asterisk wrote before it, so
        once it is answered every earlier event is in the queue; the bridge
        tracks an item as soon as it takes it off, so an empty queue is enough.
        Polling is fine here: this serves the demo and the tests, not the hot path.
        """
        while not self.connection.connected:  # noqa: ASYNC110
            await asyncio.sleep(poll)
        await self.connection.send(Ping())
        while self.connection.queue_depth:  # noqa: ASYNC110
            await asyncio.sleep(poll)
        await asyncio.sleep(0)


def queue_configs(settings: Settings) -> dict[str, QueueConfig]:
    return load_queues_conf(settings.queues_conf) if settings.queues_conf else {}


def service_levels(settings: Settings, queues: dict[str, QueueConfig]) -> dict[str, int]:
    """Per-queue thresholds: queues.conf's servicelevel, overridden by settings."""
    levels = {name: q.service_level for name, q in queues.items() if q.service_level}
    levels.update(settings.service_levels)
    return levels


def build_bridge(
    settings: Settings,
    extra_sinks: Sequence[DomainEventSink] = (),
    engine: Engine | None = None,
    *,
    clock: Callable[[], float] = time.time,
    queues: Mapping[str, QueueConfig] | None = None,
    worklist: CallbackQueue | None = None,
) -> BridgeService:
    """`clock`: now for the live figures' windows, the longest wait and the
    tracker's wrap-up ticks (one clock for all); `queues`: the queues' settings
    when not read from ATIENDE_QUEUES_CONF (the demo's simulated PBX);
    `worklist`: the callback worklist the calls' results go to (the panel's,
    so its changes reach the agents; else one of its own)."""
    ami = settings.ami
    engine = engine or make_engine(settings.database_url)
    # With a CRM configured, final attentions get their outbox rows in the
    # same transaction (nothing lost between the database and the queue).
    repository = AttentionRepository(
        engine, phone_region=settings.phone_region, outbox=settings.crm.adapter != "none"
    )
    writer = AttentionWriter(
        repository,
        batch_size=settings.store.batch_size,
        flush_interval=settings.store.flush_interval,
    )
    connection = AmiConnection(
        host=ami.host,
        port=ami.port,
        username=ami.username,
        secret=ami.secret.get_secret_value(),
        system_name=ami.system_name,
        ping_interval=ami.ping_interval,
        ping_timeout=ami.ping_timeout,
        reconnect_min=ami.reconnect_min,
        reconnect_max=ami.reconnect_max,
        queue_size=ami.queue_size,
        connect_timeout=ami.connect_timeout,
    )
    queues = dict(queues) if queues is not None else queue_configs(settings)
    tracker = CallTracker(
        ami.system_name,
        wrapup_seconds={name: q.wrapup_seconds for name, q in queues.items()},
    )
    recorder = AttentionRecorder(writer, tracker.record_of)
    queue_metrics = QueueMetrics(
        kpi_definitions(
            queues,
            default_sl_seconds=settings.service_level_seconds,
            sl_seconds=service_levels(settings, queues),
            short_abandon_seconds=settings.kpi.short_abandon_seconds,
            default_sl_target=settings.kpi.sl_target,
            sl_targets=settings.kpi.sl_targets,
            treatment=SlTreatment(settings.kpi.sl_treatment),
            wrapup_seconds={name: q.wrapup_seconds for name, q in queues.items()},
        ),
        default=QueueKpiDefinition(
            service_level_seconds=settings.service_level_seconds,
            short_abandon_seconds=settings.kpi.short_abandon_seconds,
            sl_target=settings.kpi.sl_target,
            treatment=SlTreatment(settings.kpi.sl_treatment),
        ),
        window_seconds=settings.kpi.window_seconds,
        timezone=ZoneInfo(settings.kpi.timezone),
        clock=clock,
    )
    callback_sinks: list[DomainEventSink] = (
        [CallbackResults(worklist or callback_worklist(settings, engine))]
        if settings.callbacks.enabled
        else []
    )
    bridge = Bridge(
        connection,
        tracker,
        [recorder, queue_metrics, *callback_sinks, *extra_sinks],
        clock=clock,
        queue_log=ami.queue_log,
    )
    return BridgeService(
        repository,
        writer,
        connection,
        tracker,
        bridge,
        settings.store.shutdown_grace,
        queue_metrics=queue_metrics,
        clock=clock,
    )


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` while the block runs."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


_LOADED_FLOWS: dict[Path, FlowRegistry] = {}


def ivr_flows(settings: Settings) -> FlowRegistry:
    """The IVR flows: the operator's folder, or the ones shipped with Atiende.

    Parsed once per folder and shared (the IVR, the tickets' hours, the
    prompts); the registry itself re-reads files that change."""
    folder = settings.ivr.flows_dir or DEFAULT_FLOWS_DIR
    if folder not in _LOADED_FLOWS:
        _LOADED_FLOWS[folder] = load_flows(folder)
    return _LOADED_FLOWS[folder]


def callback_worklist(settings: Settings, engine: Engine) -> CallbackQueue:
    """The callback worklist with the configured policy and the centre's hours."""
    config = settings.callbacks
    policy = CallbackPolicy(
        max_attempts=config.max_attempts,
        retry_after={
            AttemptResult.NO_ANSWER: config.retry_no_answer_seconds,
            AttemptResult.BUSY: config.retry_busy_seconds,
            AttemptResult.AGENT_MISSED: 0.0,
        },
        target_seconds=config.target_seconds,
        claim_seconds=config.claim_seconds,
    )
    return CallbackQueue(
        engine, policy=policy, hours=business_hours(settings), phone_region=settings.phone_region
    )


def callback_collector(settings: Settings, engine: Engine) -> list[CallbackCollector]:
    """/metrics' callback backlog (none when callbacks are off)."""
    if not settings.callbacks.enabled:
        return []
    worklist = callback_worklist(settings, engine)
    queues = list(queue_configs(settings))
    return [CallbackCollector(lambda: worklist.backlog(queues))]


def business_hours(settings: Settings) -> BusinessHours | None:
    """The centre's hours and holidays: the ones the default IVR flow keeps, so
    that ticket due dates and the phone line count the same days."""
    flow = ivr_flows(settings).get("default")
    if flow is None:
        return None
    try:
        return flow.business_hours()
    except ValueError:
        # Hours are optional in a flow (ivr/README.md): that line is always open.
        log.info("IVR flow default has no hours node: business time is every hour")
        return always_open(settings.kpi.timezone)


def crm_adapter(settings: Settings) -> CrmAdapter | None:
    crm = settings.crm
    try:
        return _build_adapter(crm)
    except ValueError as err:
        raise ConfigurationError(f"ATIENDE_CRM__*: {err}") from err


def _build_adapter(crm: CrmSettings) -> CrmAdapter | None:
    return build_adapter(
        crm.adapter,
        vtiger_url=crm.vtiger_url,
        vtiger_username=crm.vtiger_username,
        vtiger_access_key=crm.vtiger_access_key.get_secret_value(),
        vtiger_contact_key_field=crm.vtiger_contact_key_field,
        vtiger_attention_module=crm.vtiger_attention_module,
        vtiger_ticket_key_field=crm.vtiger_ticket_key_field,
        vtiger_wrapup_mode=crm.vtiger_wrapup_mode,
        webhook_url=crm.webhook_url,
        webhook_secret=crm.webhook_secret.get_secret_value(),
        timeout=crm.timeout,
    )


def pending_cases(settings: Settings, engine: Engine) -> PendingCases:
    return PendingCases(engine, overdue_after=timedelta(hours=settings.api.followup_overdue_hours))


def citizen_notices(settings: Settings, engine: Engine) -> CitizenNotices:
    """The notices to persons about their tickets: by SMTP when a relay is
    configured (plain messages, not threaded into a conversation: nobody
    answers an automatic notice). No SMS gateway is configured yet: SMS
    notices, and email ones without SMTP, go to the log responder and say so
    (sent_via "log")."""
    smtp = smtp_responder(settings)
    return CitizenNotices(engine, responders=[] if smtp is None else [smtp])


def sla_alerts(settings: Settings, engine: Engine) -> SlaAlerts | None:
    if not settings.crm.sla_alerts:
        return None
    return SlaAlerts(
        engine,
        hours=business_hours(settings),
        warn_before=timedelta(hours=settings.crm.sla_warn_hours),
    )


@dataclass
class Background:
    """The CRM sync and the SLA scan that run beside the bridge."""

    stops: list[Callable[[], None]]
    # The failed-jobs list and retry of the running sync, for the panel's API.
    failures: SyncFailures | None = None

    def stop(self) -> None:
        for stop in reversed(self.stops):
            stop()


def start_background(settings: Settings, engine: Engine, adapter: CrmAdapter | None) -> Background:
    crm = settings.crm
    alerts = sla_alerts(settings, engine)
    stops: list[Callable[[], None]] = []
    failures: SyncFailures | None = None
    if adapter is not None:
        stops.append(track_changes(engine))
        redis = sync_redis(settings)
        if redis is not None:
            stops.append(redis.close)
        sync = SyncService(
            engine,
            adapter,
            redis=redis,
            queue_name=crm.queue,
            retry_intervals=crm.retry_intervals,
            job_timeout=crm.job_timeout,
            relay_interval=crm.relay_interval,
            stale_after=crm.stale_after,
            phone_region=settings.phone_region,
            sla_alerts=alerts,
            sla_interval=crm.sla_interval,
        )
        sync.start()
        stops.append(sync.stop)
        failures = sync.failures
    elif alerts is not None and not settings.redis_url:
        # No CRM: the SLA scan still runs (with Redis, `atiende worker` does it).
        scan = PeriodicScan(alerts.scan, crm.sla_interval)
        scan.start()
        stops.append(scan.stop)
    if adapter is None or not settings.redis_url:
        # Without `atiende worker` (it needs Redis and a CRM) the notices go
        # from here; with it, its RQ job sends them.
        notices = PeriodicScan(citizen_notices(settings, engine).send_due, crm.notices_interval)
        notices.start()
        stops.append(notices.stop)
    stops.append(start_reception_sweep(settings, engine, outbox=adapter is not None))
    return Background(stops, failures)


def start_reception_sweep(
    settings: Settings, engine: Engine, *, outbox: bool
) -> Callable[[], None]:
    """Receptions left without a turn close as cancelled (crm_bridge.turns); its stop."""
    walkin = settings.walkin
    turns = TurnService(
        engine,
        ContactAttentions(engine, phone_region=settings.phone_region, outbox=outbox),
        timezone=settings.kpi.timezone,
    )
    timeout = timedelta(minutes=walkin.reception_timeout_minutes)
    sweep = PeriodicScan(
        lambda: turns.close_abandoned_receptions(timeout),
        walkin.reception_sweep_interval,
        name="walkin-reception-sweep",
    )
    sweep.start()
    return sweep.stop


def smtp_responder(settings: Settings) -> SmtpResponder | None:
    """Plain SMTP to the configured relay, when there is one."""
    mail = settings.mail
    if not mail.smtp_host:
        return None
    sender = mail.sender or (mail.mailboxes[0].address if mail.mailboxes else None)
    if not sender:
        raise ConfigurationError(
            "ATIENDE_MAIL__SENDER: replies by email need a sender address (or a mailbox)"
        )
    return SmtpResponder(
        mail.smtp_host,
        mail.smtp_port,
        sender,
        username=mail.smtp_username,
        password=mail.smtp_password.get_secret_value() or None,
        starttls=mail.smtp_starttls,
        timeout=mail.timeout,
    )


def knowledge_responders(settings: Settings) -> list[Responder]:
    """What carries a trámite's information to the citizen ("difundir"): plain
    SMTP (not a ticket's thread) when configured; no SMS gateway is configured
    yet, so an SMS send is only logged."""
    smtp = smtp_responder(settings)
    return [] if smtp is None else [smtp]


def check_mail(settings: Settings) -> None:
    """Mail settings that cannot work, refused before anything starts."""
    mail = settings.mail
    if mail.smtp_host and not (mail.sender or mail.mailboxes):
        raise ConfigurationError(
            "ATIENDE_MAIL__SENDER: replies by email need a sender address (or a mailbox)"
        )
    names = [box.name for box in mail.mailboxes]
    if len(set(names)) != len(names):
        raise ConfigurationError("ATIENDE_MAIL__MAILBOXES: each mailbox needs a name of its own")


def mail_responders(settings: Settings, engine: Engine) -> list[Responder]:
    """The "email" responder of the tickets when SMTP is configured: replies
    threaded into the citizen's conversation, from the ticket's mailbox."""
    mail = settings.mail
    smtp = smtp_responder(settings)
    if smtp is None:
        return []
    return [
        ThreadedEmailResponder(
            smtp,
            MailThreads(engine),
            contacts=ContactAttentions(
                engine, phone_region=settings.phone_region, outbox=settings.crm.adapter != "none"
            ),
            mailbox_addresses={box.name: box.address for box in mail.mailboxes},
            default_mailbox=mail.mailboxes[0].name if mail.mailboxes else "",
        )
    ]


def mail_intake(settings: Settings, engine: Engine) -> MailIntake | None:
    """The IMAP intake of the configured mailboxes; None when there are none."""
    mail = settings.mail
    if not mail.mailboxes:
        return None
    hours = business_hours(settings)
    if hours is None:
        log.warning("mail intake off: tickets need the centre's hours (IVR flow 'default')")
        return None
    return MailIntake(
        engine,
        tickets=TicketService(
            engine, business_hours=hours, responders=mail_responders(settings, engine)
        ),
        contacts=ContactAttentions(
            engine, phone_region=settings.phone_region, outbox=settings.crm.adapter != "none"
        ),
        threads=MailThreads(engine),
        mailboxes=[
            Mailbox(
                name=box.name,
                address=box.address,
                organism=box.organism,
                unit=box.unit,
                host=box.host,
                port=box.port,
                security=box.security,
                username=box.username,
                password=box.password.get_secret_value(),
                folder=box.folder,
                request_type=RequestType(box.request_type),
                timeout=mail.timeout,
            )
            for box in mail.mailboxes
        ],
        policy=AttachmentPolicy(
            max_bytes=mail.max_attachment_bytes, max_count=mail.max_attachments
        ),
    )


def mail_collectors(intake: MailIntake | None) -> list[Collector]:
    """/metrics for the intake: messages per mailbox and outcome, failed reads."""
    if intake is None:
        return []
    return [MailIntakeCollector(intake.stats, [box.name for box in intake.mailboxes])]


def start_mail_intake(
    parts: contextlib.AsyncExitStack, settings: Settings, intake: MailIntake | None
) -> None:
    """Poll the mailboxes every ATIENDE_MAIL__POLL_INTERVAL seconds in a worker
    thread (imaplib blocks; the event loop never does); `parts` stops it."""
    if intake is None:
        return
    scan = PeriodicScan(intake.poll, settings.mail.poll_interval, name="mail-intake")
    scan.start()
    parts.push_async_callback(asyncio.to_thread, scan.stop)
    log.info(
        "mail intake: %d mailbox(es) every %gs",
        len(intake.mailboxes),
        settings.mail.poll_interval,
    )


def run_worker_command(settings: Settings) -> int:
    """`atiende worker`: CRM sync jobs and SLA scans on RQ, until SIGTERM."""
    adapter = crm_adapter(settings)
    if not settings.redis_url or adapter is None:
        log.error("atiende worker needs ATIENDE_REDIS_URL and a CRM adapter (ATIENDE_CRM__ADAPTER)")
        return 2
    migrate(settings)
    crm = settings.crm
    redis = SyncRedis.from_url(settings.redis_url)
    engine = make_engine(settings.database_url)
    try:
        return run_worker(
            redis,
            engine,
            adapter,
            queue_name=crm.queue,
            retry_intervals=crm.retry_intervals,
            job_timeout=crm.job_timeout,
            relay_interval=crm.relay_interval,
            stale_after=crm.stale_after,
            phone_region=settings.phone_region,
            sla_alerts=sla_alerts(settings, engine),
            sla_interval=crm.sla_interval,
            notices=citizen_notices(settings, engine),
            notices_interval=crm.notices_interval,
        )
    finally:
        engine.dispose()
        redis.close()


def sync_redis(settings: Settings) -> SyncRedis | None:
    """The CRM sync's (blocking) Redis client, when replicas share a Redis."""
    return SyncRedis.from_url(settings.redis_url) if settings.redis_url else None


def build_ivr(
    settings: Settings, engine: Engine, worklist: CallbackQueue | None = None
) -> FastAgiServer:
    """The FastAGI IVR, answering with the flows and the store's services; a
    callback it stores is announced on `worklist` (the panel's)."""
    ivr = settings.ivr
    flows = ivr_flows(settings)
    if ivr.sounds_dir is not None:
        warn_missing_prompts(ivr.sounds_dir, flows)
    services = StoreIvrServices(
        engine,
        system=settings.ami.system_name,
        phone_region=settings.phone_region,
        on_callback=None if worklist is None else worklist.announce,
    )
    return FastAgiServer(
        flows,
        services,
        host=ivr.host,
        port=ivr.port,
        allowed_networks=ivr.allowed_networks,
        reply_timeout=ivr.reply_timeout,
        fallback_queue=ivr.fallback_queue,
        name_voice=SynthesisedNames(ivr.names_dir) if ivr.names_dir else None,
    )


def public_limits_redis(settings: Settings) -> SyncRedis | None:
    """The public pages' attempt counts' (blocking) Redis client, when replicas
    share a Redis: short timeouts, so a Redis that is down refuses a page in
    about a second (agent_api.redis_limits) instead of holding it."""
    if not settings.redis_url:
        return None
    return SyncRedis.from_url(settings.redis_url, socket_connect_timeout=1.0, socket_timeout=1.0)


def panel_redis(settings: Settings) -> Redis | None:
    """The (asyncio) Redis client of a fan-out to every replica's panel: the
    pops' relay and the callback changes (agent_api.callback_push)."""
    if not settings.redis_url:
        return None
    # Keepalive and health checks: a subscription on a half-dead connection
    # would otherwise wait silently for messages that never come.
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2,
        socket_keepalive=True,
        health_check_interval=15,
    )


def panel_relay(settings: Settings, hub: PopHub) -> RedisEventRelay | None:
    """With replicas (Redis), the leader's events reach every replica's hub."""
    client = panel_redis(settings)
    if client is None:
        return None
    return RedisEventRelay(
        client,
        settings.ami.system_name,
        hub,
    )


def control_relay(settings: Settings) -> ControlRelay | None:
    """With replicas (Redis), a standby's agent controls go to the leader."""
    client = panel_redis(settings)
    return None if client is None else ControlRelay(client, settings.ami.system_name)


def bridge_lease(settings: Settings) -> Lease:
    """The bridge lease: in Redis when replicas share one, else always held."""
    if not settings.redis_url:
        return AlwaysLeader()
    return RedisLease(
        Redis.from_url(settings.redis_url),
        f"atiende:bridge-lease:{settings.ami.system_name}",
        settings.bridge_lease_seconds,
    )


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside `atiende serve`: the signals are serve's to handle."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


# Days the queue report's rollup is counted ahead at start (newest first).
REPORT_DAYS_AHEAD = 62


async def _count_recent_reports(engine: Engine, metrics: QueueMetrics, now: float) -> None:
    """Count recent days into the queue report's rollup, one day per worker
    thread call (stops between days when cancelled); a failure only logs."""
    end = int(now // 3600) + 1
    try:
        for day in range(REPORT_DAYS_AHEAD):
            last = end - 24 * day
            await asyncio.to_thread(
                report_rollup.prepare, engine, last - 24, last, metrics.definitions, metrics.default
            )
    except Exception:
        log.warning("counting recent days into the queue report's rollup failed", exc_info=True)


@dataclass
class Panel:
    """The agent panel: the pop hub (a bridge sink) and the web app."""

    hub: PopHub
    engine: Engine
    settings: Settings
    # The demo's simulated PBX: its queues (wrapuptime) and clock, so the
    # "Cierre" pause ends in simulated time; else queues.conf and the wall.
    acw_queues: Mapping[str, QueueConfig] | None = None
    acw_clock: Callable[[], float] = time.time
    acw_speed: float = 1.0
    # The callback worklist (None: callbacks off); the bridge's results and
    # the IVR's requests go through it, so its changes reach the agents.
    worklist: CallbackQueue | None = None
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    _app: FastAPI | None = None
    _wallboard_task: asyncio.Task[None] | None = None
    _rollup_task: asyncio.Task[None] | None = None
    _walkin_task: asyncio.Task[None] | None = None
    _followup_task: asyncio.Task[None] | None = None
    _listener: socket.socket | None = None
    _limits_redis: SyncRedis | None = None
    url: str = ""
    # With replicas (Redis): the leader's agents as relayed, and the controls
    # handed to the leader while this replica stands by (None: one replica).
    relayed_agents: RelayedAgents | None = None
    forward: ControlRelay | None = None

    def _agents(self, service: BridgeService) -> Callable[[], list[AgentSnapshot]]:
        """The agents as this replica knows them: its own tracker's while it
        leads, else the leader's as relayed (a standby's tracker is empty)."""
        relayed = self.relayed_agents
        if relayed is None:
            return service.tracker.agents

        def agents() -> list[AgentSnapshot]:
            return service.tracker.agents() if service.leading else relayed.snapshot()

        return agents

    def _send(self, service: BridgeService) -> Send:
        """Where an agent control goes: this replica's AMI session while it
        leads, else the leader's (agent_api.control_relay)."""
        forward = self.forward
        if forward is None:
            return service.connection.send

        async def send(action: AmiAction) -> Headers:
            if service.leading:
                return await service.connection.send(action)
            return await forward.send(action)

        return send

    async def start(self, service: BridgeService) -> None:
        api = self.settings.api
        # Port 0: a free port, whose own URL is then the allowed origin (unless
        # ATIENDE_API__ALLOWED_ORIGINS names them).
        # The socket is bound here, so a taken port is an OSError for serve's
        # exit stack (uvicorn would log it and call sys.exit inside its task).
        listener = _bind(api.host, api.port, "ATIENDE_API__PORT")
        port = listener.getsockname()[1]
        self._listener = listener
        origins = api.origins(port)
        self.url = f"http://{api.host}:{port}/"
        self.hub.record_of = service.tracker.record_of
        secret = api.secret_key.get_secret_value() if api.secret_key else None
        if secret is None:
            log.warning("ATIENDE_API__SECRET_KEY unset: a restart will log every agent out")
            secret = secrets.token_urlsafe(48)
        hours = business_hours(self.settings)
        controls = AmiAgentControls(self._send(service), originate_context=api.originate_context)
        agents = self._agents(service)
        queues = queue_configs(self.settings)
        acw_queues = self.acw_queues if self.acw_queues is not None else queues
        self._limits_redis = public_limits_redis(self.settings)
        app = panel_app(
            engine=self.engine,
            hub=self.hub,
            controls=controls,
            after_call=AfterCallWork(
                controls,
                per_queue={name: q.wrapup_seconds for name, q in acw_queues.items()},
                default_seconds=api.wrapup_max_seconds,
                clock=self.acw_clock,
                speed=self.acw_speed,
            ),
            queue_names=list(queues),
            agents_snapshot=agents,
            state_clock=service.clock,
            secret_key=secret,
            allowed_origins=origins,
            pause_reasons=api.pause_reasons or DEFAULT_PAUSE_REASONS,
            tickets=(
                TicketService(
                    self.engine,
                    business_hours=hours,
                    responders=mail_responders(self.settings, self.engine),
                )
                if hours is not None
                else None
            ),
            pending_cases=pending_cases(self.settings, self.engine),
            sla_alerts=sla_alerts(self.settings, self.engine),
            responders=knowledge_responders(self.settings),
            rights=PersonRights(
                self.engine,
                phone_region=self.settings.phone_region,
                sync_to_crm=self.settings.crm.adapter != "none",
            ),
            phone_region=self.settings.phone_region,
            timezone=api.timezone,
            cookie_secure=api.cookie_secure,
            trusted_proxies=api.trusted_proxies,
            max_body_bytes=api.max_body_bytes,
            walkin_outbox=self.settings.crm.adapter != "none",
            callbacks=self._callback_desk(controls, agents),
            callback_redis=panel_redis(self.settings),
            system=self.settings.ami.system_name,
            public_counter=(
                None if self._limits_redis is None else RedisCounter(self._limits_redis)
            ),
        )
        if service.queue_metrics is not None:
            self._add_figures(app, service.queue_metrics, service, agents)
        self._followup_task = asyncio.create_task(
            remind_forever(app.state.pending_cases, self.hub, api.followup_interval),
            name="pending-case-reminders",
        )
        self._app = app
        # log_config=None: uvicorn's records go through the process's one
        # (control-character-escaping) handler, not handlers of its own.
        config = uvicorn.Config(
            app,
            host=api.host,
            port=port,
            log_level="warning",
            lifespan="on",
            log_config=None,
            # Forwarded headers are trusted by the app, from the configured proxies only.
            proxy_headers=False,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[listener]), name="agent-panel")
        while not self._server.started and not self._task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()  # raises what stopped it (a taken port...)
        log.info("agent panel on %s (API docs: %sapi/docs)", self.url, self.url)

    def _callback_desk(
        self, controls: AmiAgentControls, agents: Callable[[], list[AgentSnapshot]]
    ) -> Callable[[AuditLog], CallbackDesk] | None:
        config = self.settings.callbacks
        if not config.enabled:
            return None
        worklist = self.worklist or callback_worklist(self.settings, self.engine)

        def build(audit: AuditLog) -> CallbackDesk:
            return CallbackDesk(
                worklist,
                controls,
                agents,
                self.engine,
                audit,
                context=config.context,
                caller_id=config.caller_id,
            )

        return build

    def _add_figures(
        self,
        app: FastAPI,
        metrics: QueueMetrics,
        service: BridgeService,
        agents: Callable[[], list[AgentSnapshot]],
    ) -> None:
        """The reports and the built-in wallboard, on the panel's app and sessions."""
        app.include_router(
            reports_router(
                self.engine,
                timezone=ZoneInfo(self.settings.kpi.timezone),
                definitions=metrics.definitions,
                default=metrics.default,
            )
        )
        app.state.report_sources = ReportSources(
            self.engine,
            ZoneInfo(self.settings.kpi.timezone),
            metrics.definitions,
            metrics.default,
        )
        walkin = WalkinBoardRows(
            TurnService(
                self.engine, ContactAttentions(self.engine), timezone=self.settings.kpi.timezone
            ).live_facts
        )
        wallboard = Wallboard(metrics, agents, clock=service.clock, walkin=walkin.rows)
        self._walkin_task = asyncio.create_task(walkin.run(), name="wallboard-walkin")
        kiosk = KioskLinks(self.engine)
        add_wallboard(app, wallboard, kiosk)
        app.include_router(kiosk_links_router(kiosk))
        acks = QueueAlertAcks(self.engine)
        app.include_router(queue_alerts_router(acks))
        # What /supervision reads beside the API.
        app.state.wallboard, app.state.queue_alert_acks = wallboard, acks
        app.state.kiosk_links = kiosk
        self._wallboard_task = asyncio.create_task(wallboard.run(), name="wallboard")
        self._rollup_task = asyncio.create_task(
            _count_recent_reports(self.engine, metrics, service.clock()), name="report-rollup"
        )

    def attach_crm_failures(self, failures: SyncFailures | None) -> None:
        """The CRM sync starts after the panel: its failed-jobs API follows it."""
        if self._app is not None:
            self._app.state.followup.crm_failures = failures

    async def stop(self) -> None:
        for task in (
            self._wallboard_task,
            self._rollup_task,
            self._followup_task,
            self._walkin_task,
        ):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            # A server that failed to start already said why (serve re-raises it).
            with contextlib.suppress(Exception):
                await self._task
        if self._listener is not None:
            self._listener.close()
        if self._limits_redis is not None:
            self._limits_redis.close()
        await self.hub.close()


class StartupError(Exception):
    """A part of `atiende serve` could not start (a port taken...); the message
    names it and its variable. The parts already started have been stopped."""


def _bind(host: str, port: int, variable: str) -> socket.socket:
    """A listening TCP socket on host:port (0: a free port)."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(128)
    except OSError as err:
        listener.close()
        raise StartupError(f"{variable}: cannot listen on {host}:{port}: {err.strerror}") from err
    return listener


def build_panel(settings: Settings, engine: Engine) -> Panel:
    """The pop hub and the panel app; pass `panel.hub` to build_bridge as a sink."""
    registry = PersonRegistry(engine, phone_region=settings.phone_region)
    hub = PopHub(
        StorePopLookup(engine, registry, PersonHistory(engine), AuditLog(engine)),
        on_wrapup_due=WrapupStore(engine).start,
    )
    worklist = callback_worklist(settings, engine) if settings.callbacks.enabled else None
    return Panel(hub, engine, settings, worklist=worklist)


async def start_panel(
    parts: contextlib.AsyncExitStack, panel: Panel, service: BridgeService
) -> None:
    """Start the panel on `service`; `parts` stops it (also if it fails half-way)."""
    parts.push_async_callback(panel.stop)
    await panel.start(service)


async def start_ivr(
    parts: contextlib.AsyncExitStack, ivr: FastAgiServer, settings: Settings
) -> None:
    """Start the FastAGI IVR; `parts` stops it. A taken port is a StartupError."""
    try:
        await ivr.start()
    except OSError as err:
        where = f"{settings.ivr.host}:{settings.ivr.port}"
        raise StartupError(f"ATIENDE_IVR__PORT: cannot listen on {where}: {err.strerror}") from err
    parts.push_async_callback(ivr.stop)
    log.info("IVR (FastAGI) on %s:%d", settings.ivr.host, ivr.port)


def start_metrics_part(
    parts: contextlib.AsyncExitStack,
    settings: Settings,
    service: BridgeService,
    extra: Sequence[Collector] = (),
) -> WSGIServer | None:
    """/metrics (start_metrics), shut down and closed by `parts`."""
    metrics = start_metrics(settings, service, extra)
    if metrics is not None:
        parts.callback(metrics.server_close)
        parts.callback(metrics.shutdown)
    return metrics


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or `stop` is set).

    Exits with status 3 if another replica took the bridge lease from this
    one while it was recording: its supervisor restarts it as a standby.
    """
    stop = stop or asyncio.Event()
    # Everything is built (and its configuration checked) before anything
    # touches the database or a port.
    adapter = crm_adapter(settings)
    check_mail(settings)
    engine = make_engine(settings.database_url)
    panel = build_panel(settings, engine) if settings.api.enabled else None
    relay = panel_relay(settings, panel.hub) if panel is not None else None
    panel_sinks: list[DomainEventSink] = [] if panel is None else [relay or panel.hub]
    worklist = panel.worklist if panel is not None else None
    service = build_bridge(settings, panel_sinks, engine=engine, worklist=worklist)
    forward = control_relay(settings)
    if relay is not None:
        relay.record_of = service.tracker.record_of
    if panel is not None and relay is not None:
        panel.relayed_agents, panel.forward = relay.agents, forward
    ivr = build_ivr(settings, engine, worklist) if settings.ivr.enabled else None
    # One exit stack: each part is registered as it starts, so whatever
    # fails (a port taken...) stops the ones already running, last first.
    # The demo (atiende.demo) starts the same parts with the same helpers.
    async with contextlib.AsyncExitStack() as parts:
        parts.callback(engine.dispose)
        # The writer's thread runs from the bridge's construction; stopping a
        # bridge that never led only flushes and closes it.
        parts.push_async_callback(service.stop)
        await asyncio.to_thread(migrate, settings)
        if panel is not None:
            await start_panel(parts, panel, service)
        if ivr is not None:
            await start_ivr(parts, ivr, settings)
        if relay is not None:
            parts.push_async_callback(relay.close)
            await relay.start()
        if forward is not None:
            parts.push_async_callback(forward.close)

        async def start_leading() -> None:
            await service.start()
            # The other replicas' panels: this tracker's agents, this AMI session.
            if relay is not None:
                relay.lead(service.tracker.agents)
            if forward is not None:
                await forward.serve(service.connection.send)

        followup = FollowupCollector(
            alerts=SlaAlerts(engine, hours=None) if settings.crm.sla_alerts else None,
            outbox=OutboxStore(engine).stats if adapter is not None else None,
            overdue_followups=pending_cases(settings, engine).overdue_count,
            notices=citizen_notices(settings, engine).counts,
        )
        ivr_metrics = [IvrCollector(ivr.missing_prompts)] if ivr is not None else []
        indicators = IndicatorCollector(engine, window_days=settings.kpi.indicator_window_days)
        # Walk-in turns of today, per service point and topic (no personal data).
        walkin = WalkinCollector(
            TurnService(
                engine, ContactAttentions(engine), timezone=settings.kpi.timezone
            ).live_facts
        )
        channels = ChannelCollector(engine, window_days=settings.kpi.indicator_window_days)
        callbacks = callback_collector(settings, engine)
        intake = mail_intake(settings, engine)
        start_metrics_part(
            parts,
            settings,
            service,
            [
                followup,
                indicators,
                channels,
                walkin,
                *ivr_metrics,
                *callbacks,
                *mail_collectors(intake),
            ],
        )
        background = start_background(settings, engine, adapter)
        parts.push_async_callback(asyncio.to_thread, background.stop)
        start_mail_intake(parts, settings, intake)
        if panel is not None:
            panel.attach_crm_failures(background.failures)
        log.info(
            "bridge for AMI %s:%d as %r (system %r)",
            settings.ami.host,
            settings.ami.port,
            settings.ami.username,
            settings.ami.system_name,
        )
        # What start built (modules, flows, the app, the clients) lives as long
        # as the process: frozen out of the collector, a full collection no
        # longer walks it. With only the IVR's start-up objects one such
        # collection held the loop 36 ms of CPU in bench.agi_latency (issue 12).
        gc.freeze()
        leadership = asyncio.create_task(
            lead(
                bridge_lease(settings),
                start_leading,
                interval=settings.bridge_lease_seconds / 3,
                stopping=stop,
            ),
            name="bridge-lease",
        )
        with stop_on_signals(stop):
            await asyncio.wait(
                [leadership, asyncio.create_task(stop.wait())],
                return_when=asyncio.FIRST_COMPLETED,
            )
        stop.set()
        lost = await leadership
        log.info("stopping")
    if lost:
        raise SystemExit(3)


def metrics_registry(service: BridgeService, extra: Sequence[Collector] = ()) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    for collector in extra:
        registry.register(collector)
    registry.register(BridgeHealthCollector(service.connection, service.writer, service.bridge))
    if service.queue_metrics is not None:
        registry.register(QueueMetricsCollector(service.queue_metrics, service.tracker.agents))
    return registry


def start_metrics(
    settings: Settings, service: BridgeService, extra: Sequence[Collector] = ()
) -> WSGIServer | None:
    """Serve /metrics in a thread of its own (scrapes never touch the loop)."""
    if not settings.metrics_port:
        return None
    try:
        server, _thread = start_http_server(
            settings.metrics_port, settings.metrics_host, registry=metrics_registry(service, extra)
        )
    except OSError as err:
        where = f"{settings.metrics_host}:{settings.metrics_port}"
        raise StartupError(
            f"ATIENDE_METRICS_PORT: cannot listen on {where}: {err.strerror}"
        ) from err
    log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)
    return server
