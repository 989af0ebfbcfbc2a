"""Runtime configuration, read once by the composition root (atiende.wiring).

Every field can be set with an environment variable prefixed `ATIENDE_`;
nested groups use a double underscore: `ATIENDE_AMI__HOST=10.0.0.5`.
Nothing but the composition root reads these: components receive plain values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(Exception):
    """Settings that cannot work together; the message names the variables."""


class AmiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = "atiende"
    secret: SecretStr = SecretStr("atiende")
    # Part of every call's key: Asterisk restarts its uniqueid counters.
    system_name: str = Field(default="asterisk", min_length=1, max_length=64)
    ping_interval: float = Field(default=5.0, gt=0)
    ping_timeout: float = Field(default=3.0, gt=0)
    reconnect_min: float = Field(default=0.5, gt=0)
    reconnect_max: float = Field(default=30.0, gt=0)
    # Bounded queue between the socket and the tracker.
    queue_size: int = Field(default=50_000, ge=100)
    connect_timeout: float = Field(default=5.0, gt=0)
    # Asterisk's queue_log, if readable here (shared volume): after a restart
    # of serve or an AMI outage, calls that ended unseen take their answer,
    # wait, talk and hangup side from it instead of bounds.
    queue_log: Path | None = None


class StoreSettings(BaseModel):
    batch_size: int = Field(default=500, ge=1)
    flush_interval: float = Field(default=0.2, gt=0)
    # How long a stopping bridge waits for an unreachable database before it
    # gives up on the writes still pending (and logs them as lost).
    shutdown_grace: float = Field(default=60.0, gt=0)


class KpiSettings(BaseModel):
    """How queue KPIs are computed (see dashboards.kpi for the definitions)."""

    # Callers who hang up before this many seconds are short abandons, kept
    # out of the abandonment rate and the service level; 0 turns it off.
    short_abandon_seconds: float = Field(default=5.0, ge=0)
    # Service-level target (share of calls, 0-1), default and per queue.
    sl_target: float = Field(default=0.8, ge=0, le=1)
    sl_targets: dict[str, float] = Field(default_factory=dict)
    # asterisk (ServicelevelPerf), asterisk_sl2 (ServicelevelPerf2) or
    # penalise_late_abandons.
    sl_treatment: Literal["asterisk", "asterisk_sl2", "penalise_late_abandons"] = "asterisk"
    # The sliding window of the live SL and abandonment metrics, and the time
    # zone whose midnight starts the "today" window.
    window_seconds: int = Field(default=900, ge=60, le=86_400)
    timezone: str = "America/Montevideo"
    # The rolling window of the quality indicators on /metrics (CSAT, first
    # contact resolution, complaints, ticket SLA: dashboards.indicator_metrics).
    indicator_window_days: int = Field(default=7, ge=1, le=400)


class IvrSettings(BaseModel):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=4573, ge=0, le=65535)
    # Peers allowed to open FastAGI sessions (Asterisk's address); others are
    # closed at once.
    allowed_networks: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    # Folder of flow files (*.yaml); unset: the flows shipped with Atiende.
    flows_dir: Path | None = None
    # Asterisk's sounds folder as Atiende sees it: `atiende prompts` builds and
    # checks the flows' prompts there; serve warns at start about missing ones.
    sounds_dir: Path | None = None
    # Where the IVR synthesises callers' first names for "si usted es ...":
    # a folder Asterisk reads as sounds/es/atiende-nombres. Unset: the IVR asks
    # without saying the name.
    names_dir: Path | None = None
    # Queue a call goes to if a flow fails on a bug: no caller is left stranded.
    fallback_queue: str | None = "consultas"
    # Longer than the longest prompt (the privacy notice).
    reply_timeout: float = Field(default=120.0, gt=0)


class CrmSettings(BaseModel):
    """CRM sync (crm_bridge.sync). Jobs run on RQ when `redis_url` is set, in-process otherwise."""

    # none: no outbox rows are written and nothing is synced.
    adapter: Literal["none", "vtiger", "webhook"] = "none"
    vtiger_url: str | None = None  # https://crm.example.gub.uy (webservice.php is appended)
    vtiger_username: str = "admin"
    vtiger_access_key: SecretStr = SecretStr("")
    # The Contacts custom field holding Atiende's key (e.g. cf_853, label "Atiende key").
    vtiger_contact_key_field: str = "cf_atiende_key"
    vtiger_attention_module: str = "PBXManager"
    # The HelpDesk custom field holding a ticket's Atiende key (like the contacts' one).
    vtiger_ticket_key_field: str = "cf_atiende_key"
    # Where a wrap-up goes: a ModComments note on the call record ("comment")
    # or the call record's description ("description", for a module with one).
    vtiger_wrapup_mode: Literal["comment", "description"] = "comment"
    webhook_url: str | None = None
    webhook_secret: SecretStr = SecretStr("")
    timeout: float = Field(default=10.0, gt=0)
    queue: str = "atiende-crm"
    # Seconds before each retry (exponential); the job fails for good after the last.
    retry_intervals: list[int] = Field(
        default_factory=lambda: [10, 30, 90, 270, 810, 2430, 3600, 3600], min_length=1
    )
    job_timeout: int = Field(default=120, ge=5)
    relay_interval: float = Field(default=5.0, gt=0)
    # An outbox row enqueued this long ago whose job Redis no longer has is enqueued again.
    stale_after: float = Field(default=600.0, gt=0)
    # SLA alerts on tickets: scan every sla_interval seconds; "por vencer" once no
    # more than sla_warn_hours of business time is left before the due date.
    sla_alerts: bool = True
    sla_interval: float = Field(default=60.0, gt=0)
    sla_warn_hours: float = Field(default=4.0, ge=0)
    # Notices to persons about their tickets (crm_bridge.notifications): the
    # due ones are sent every notices_interval seconds.
    notices_interval: float = Field(default=30.0, gt=0)


class MailboxSettings(BaseModel):
    """One organism's or unit's mailbox, read over IMAP by the email intake."""

    # Short name for logs and the store (never the address): [a-z0-9_-].
    name: str = Field(pattern=r"^[a-z0-9_-]{1,64}$")
    address: str = Field(min_length=3, max_length=254)  # replies go out from it
    organism: str = Field(min_length=1, max_length=32)  # organism code
    unit: str | None = Field(default=None, max_length=32)  # unit code in it
    host: str
    port: int = Field(default=993, ge=1, le=65535)
    # ssl: IMAPS (993); starttls: upgrade on 143; none: only for a local test server.
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str
    password: SecretStr
    folder: str = "INBOX"
    request_type: Literal["consulta", "sugerencia", "queja", "reclamo"] = "consulta"


class MailSettings(BaseModel):
    """Email: mailboxes read into tickets, and SMTP for the replies written on them."""

    mailboxes: list[MailboxSettings] = Field(default_factory=list)
    poll_interval: float = Field(default=60.0, gt=0)
    # Unset: replies cannot go by email (the ticket's other channels remain).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr = SecretStr("")
    # From of replies on tickets that did not come by email; unset: the first mailbox's.
    sender: str | None = None
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    max_attachments: int = Field(default=10, ge=0, le=50)
    timeout: float = Field(default=30.0, gt=0)


class ApiSettings(BaseModel):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Signs the panel's session cookies: set it (32+ characters) in
    # production; unset, a random key is made at start and a restart logs
    # everyone out.
    secret_key: SecretStr | None = None
    # Origins allowed to open the panel's WebSocket. Unset: the panel's own
    # URL at the configured host and port (see `origins`).
    allowed_origins: list[str] | None = None
    # Secure cookies need HTTPS: true in production behind TLS.
    cookie_secure: bool = False
    # Unset: the panel's own list (agent_api.controls.DEFAULT_PAUSE_REASONS).
    pause_reasons: list[str] | None = None
    # After-call work: longest "Cierre" pause when the queue sets no wrapuptime.
    wrapup_max_seconds: float = Field(default=120.0, gt=0, le=3600)
    # Reverse proxies (addresses or networks) whose X-Forwarded-For names the
    # client; empty: the peer's address is the client's (login limits use it).
    trusted_proxies: list[str] = Field(default_factory=list)
    # Largest request body in bytes (the catalog import allows 5 MiB).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Dialplan context that click-to-call originates into.
    originate_context: str = "from-agents"
    # Pending cases (wrap-ups "pendiente"): overdue, and escalated to the
    # supervisors, this long after their follow-up time; checked every
    # followup_interval seconds (the agent is reminded when one comes due).
    followup_overdue_hours: float = Field(default=4.0, gt=0)
    followup_interval: float = Field(default=60.0, gt=0)
    timezone: str = "America/Montevideo"

    def origins(self, port: int) -> list[str]:
        """The configured origins, else the panel's own URL on `port` (the
        bound one: ATIENDE_API__PORT=0 picks it at start), in both its
        127.0.0.1 and localhost forms when the host is a loopback or any one."""
        if self.allowed_origins is not None:
            return list(self.allowed_origins)
        hosts = [self.host]
        if self.host in ("127.0.0.1", "localhost", "0.0.0.0", "::", "::1"):
            hosts = ["127.0.0.1", "localhost"]
        return [f"http://{host}:{port}" for host in hosts]


class CallbackSettings(BaseModel):
    """The callback worklist (crm_bridge.callback_rules.CallbackPolicy)."""

    enabled: bool = True
    # Dialplan context the callback's Originate runs once the agent answers
    # (deploy/asterisk/extensions.conf [atiende-callback]).
    context: str = Field(default="atiende-callback", min_length=1, max_length=80)
    # The centre's caller ID the citizen sees: '"Atención Ciudadana" <08001234>'.
    caller_id: str = Field(default='"Atencion Ciudadana" <08001234>', max_length=80)
    max_attempts: int = Field(default=3, ge=1, le=20)
    retry_no_answer_seconds: float = Field(default=1800.0, ge=0)
    retry_busy_seconds: float = Field(default=600.0, ge=0)
    # Open time from due within which a completed callback is within target.
    target_seconds: float = Field(default=4 * 3600.0, gt=0)
    # An accepted callback with no result by then is offered again.
    claim_seconds: float = Field(default=300.0, gt=0)


class WalkinSettings(BaseModel):
    """Walk-in attention (crm_bridge.turns)."""

    # A person received at reception and given no turn (the receptionist left
    # the page): their attention closes as cancelled after this many minutes,
    # checked every reception_sweep_interval seconds by `atiende serve`.
    reception_timeout_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    reception_sweep_interval: float = Field(default=60.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ATIENDE_",
        env_nested_delimiter="__",
        env_file=None,
        extra="ignore",
    )

    # SQLite file as the embedded default; postgresql+psycopg://... in production.
    database_url: str = "sqlite:///atiende.db"
    # With Redis, replicas of `atiende serve` share it: one bridge per Asterisk
    # holds a lease (seconds) and records; the others stand by.
    redis_url: str | None = None
    bridge_lease_seconds: float = Field(default=10.0, gt=0)
    phone_region: str = Field(default="UY", min_length=2, max_length=2)
    # Service-level threshold in seconds, default and per queue.
    service_level_seconds: int = Field(default=20, ge=1)
    service_levels: dict[str, int] = Field(default_factory=dict)
    # Asterisk's queues.conf, if readable here: wrap-up times and service levels.
    queues_conf: Path | None = None
    log_level: str = "INFO"
    # Prometheus /metrics of `atiende serve`; port 0 turns it off.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    ami: AmiSettings = Field(default_factory=AmiSettings)
    ivr: IvrSettings = Field(default_factory=IvrSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    kpi: KpiSettings = Field(default_factory=KpiSettings)
    crm: CrmSettings = Field(default_factory=CrmSettings)
    callbacks: CallbackSettings = Field(default_factory=CallbackSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    walkin: WalkinSettings = Field(default_factory=WalkinSettings)
