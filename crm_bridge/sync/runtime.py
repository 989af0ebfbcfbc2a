"""What the composition root builds for the CRM sync, from plain values.

`build_adapter` picks the adapter; `SyncService` runs the outbox relay inside
`atiende serve` and, without Redis, the in-process runner too. With Redis the
jobs run in `atiende worker` processes (worker.run_worker), which also relay,
so a worker alone recovers the outbox after a crash of both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from redis import Redis
from sqlalchemy import Engine

from crm_bridge.sync.adapter import CrmAdapter
from crm_bridge.sync.jobs import CrmSync
from crm_bridge.sync.outbox import Dispatcher, OutboxRelay, OutboxStore, SyncFailures
from crm_bridge.sync.sla_alerts import PeriodicScan, SlaAlerts
from crm_bridge.sync.vtiger import VtigerAdapter
from crm_bridge.sync.webhook import WebhookAdapter
from crm_bridge.sync.worker import (
    DEFAULT_JOB_TIMEOUT,
    DEFAULT_RETRY_INTERVALS,
    QUEUE_NAME,
    InProcessRunner,
    RqDispatcher,
)

log = logging.getLogger(__name__)

ADAPTER_KINDS = ("none", "vtiger", "webhook")


def build_adapter(
    kind: str,
    *,
    vtiger_url: str | None = None,
    vtiger_username: str = "admin",
    vtiger_access_key: str = "",
    vtiger_contact_key_field: str = "cf_atiende_key",
    vtiger_attention_module: str = "PBXManager",
    vtiger_ticket_key_field: str = "cf_atiende_key",
    vtiger_wrapup_mode: str = "comment",
    webhook_url: str | None = None,
    webhook_secret: str = "",
    timeout: float = 10.0,
) -> CrmAdapter | None:
    """The configured adapter, or None when the CRM sync is off (kind "none")."""
    if kind == "none":
        return None
    if kind == "vtiger":
        if not vtiger_url or not vtiger_access_key:
            raise ValueError("the vTiger adapter needs a URL and an access key")
        if vtiger_wrapup_mode not in ("comment", "description"):
            raise ValueError("the vTiger wrap-up mode is comment or description")
        return VtigerAdapter(
            vtiger_url,
            vtiger_username,
            vtiger_access_key,
            contact_key_field=vtiger_contact_key_field,
            attention_module=vtiger_attention_module,
            ticket_key_field=vtiger_ticket_key_field,
            wrapup_mode="description" if vtiger_wrapup_mode == "description" else "comment",
            timeout=timeout,
        )
    if kind == "webhook":
        if not webhook_url:
            raise ValueError("the webhook adapter needs a URL")
        return WebhookAdapter(webhook_url, webhook_secret, timeout=timeout)
    raise ValueError(f"unknown CRM adapter {kind!r} (one of {', '.join(ADAPTER_KINDS)})")


class SyncService:
    """The relay (and, without Redis, the jobs) inside a long-running process."""

    def __init__(
        self,
        engine: Engine,
        adapter: CrmAdapter,
        *,
        redis: Redis | None = None,
        queue_name: str = QUEUE_NAME,
        retry_intervals: Sequence[int] = DEFAULT_RETRY_INTERVALS,
        job_timeout: int = DEFAULT_JOB_TIMEOUT,
        relay_interval: float = 5.0,
        stale_after: float = 600.0,
        phone_region: str = "UY",
        sla_alerts: SlaAlerts | None = None,
        sla_interval: float = 60.0,
    ) -> None:
        """`redis`: the client of the composition root (which closes it), or None
        to run the jobs in this process. `sla_alerts`: scanned here every
        `sla_interval` seconds when there is no Redis (with Redis the workers
        schedule the scan as an RQ job)."""
        self._adapter = adapter
        self._runner: InProcessRunner | None = None
        dispatcher: Dispatcher
        if redis is not None:
            dispatcher = RqDispatcher(
                redis,
                queue_name=queue_name,
                retry_intervals=retry_intervals,
                job_timeout=job_timeout,
            )
        else:
            sync = CrmSync(engine, adapter, phone_region=phone_region)
            self._runner = InProcessRunner(sync, retry_intervals=retry_intervals)
            dispatcher = self._runner
            # This process's memory is the whole queue: a row not in it is lost.
            stale_after = 0.0
        self.dispatcher = dispatcher
        self.relay = OutboxRelay(engine, dispatcher, stale_after=stale_after)
        self.failures = SyncFailures(OutboxStore(engine), dispatcher)
        self._relay_interval = relay_interval
        self._scans: PeriodicScan | None = None
        if sla_alerts is not None and self._runner is not None:
            self._scans = PeriodicScan(sla_alerts.scan, sla_interval)

    @property
    def in_process(self) -> bool:
        return self._runner is not None

    def start(self) -> None:
        if self._runner is not None:
            self._runner.start()
        # The first pass re-reads the outbox: what an earlier process left is handed over.
        self.relay.start(self._relay_interval)
        if self._scans is not None:
            self._scans.start()
        log.info(
            "CRM sync (%s) started: %s",
            self._adapter.name,
            "jobs in this process" if self.in_process else "jobs on RQ (atiende worker)",
        )

    def stop(self) -> None:
        if self._scans is not None:
            self._scans.stop()
        self.relay.stop()
        if self._runner is not None:
            self._runner.stop()
        self._adapter.close()
