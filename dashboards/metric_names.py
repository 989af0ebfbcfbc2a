"""Every Prometheus metric name Atiende exports, in one place.

Names follow Prometheus conventions: base units in the name (`_seconds`,
`_ratio`), counters exposed with `_total` (prometheus-client appends it to the
names below that are declared as counters). The Grafana dashboards and the
alert rules are checked against `exposed_names()` by the tests.

Labels are bounded: `system` (one per Asterisk server), `queue` (configured
queues), `state` (agent states), `outcome`, `reason`, `window`, `prompt` (the
flows' sound names), and for the quality indicators `channel`, `organism` and
`unit` (codes), `score` (1-5), `resolution`, `type`, and for callbacks
`within_target` (true/false). No caller
numbers, call ids or agent names: agent-level series would multiply every
series by the number of agents (1,000 on a large floor), so agent figures are
per queue and per state only.
"""

from __future__ import annotations

# ---------------------------------------------------------------- bridge health
AMI_CONNECTED = "atiende_ami_connected"
AMI_LAST_EVENT_AGE = "atiende_ami_last_event_age_seconds"
AMI_RECONNECTS = "atiende_ami_reconnects"
AMI_EVENTS = "atiende_ami_events"
AMI_MALFORMED = "atiende_ami_malformed_messages"
AMI_READ_PAUSES = "atiende_ami_read_pauses"
AMI_QUEUE_DEPTH = "atiende_ami_queue_depth"
AMI_LAG = "atiende_ami_processing_lag_seconds"
TRACKER_ITEMS = "atiende_tracker_items"
TRACKER_DOMAIN_EVENTS = "atiende_tracker_domain_events"
BRIDGE_SINK_ERRORS = "atiende_bridge_sink_errors"
STORE_ROWS_WRITTEN = "atiende_store_rows_written"
STORE_WRITE_FAILURES = "atiende_store_write_failures"
STORE_PENDING = "atiende_store_pending_writes"

# ---------------------------------------------------------------- queues (live)
QUEUE_CALLS_WAITING = "atiende_queue_calls_waiting"
QUEUE_LONGEST_WAIT = "atiende_queue_longest_wait_seconds"
QUEUE_OFFERED = "atiende_queue_calls_offered"
QUEUE_ANSWERED = "atiende_queue_calls_answered"
QUEUE_ANSWERED_WITHIN_SL = "atiende_queue_calls_answered_within_sl"
QUEUE_ABANDONED = "atiende_queue_calls_abandoned"
QUEUE_ABANDONED_SHORT = "atiende_queue_calls_abandoned_short"
QUEUE_ABANDONED_WITHIN_SL = "atiende_queue_calls_abandoned_within_sl"
QUEUE_EXITED = "atiende_queue_calls_exited"
QUEUE_WAIT = "atiende_queue_wait_seconds"
QUEUE_TALK = "atiende_queue_talk_seconds"
QUEUE_SERVICE_LEVEL = "atiende_queue_service_level_ratio"
QUEUE_ABANDON_RATE = "atiende_queue_abandon_ratio"
QUEUE_ASA = "atiende_queue_asa_seconds"
QUEUE_SL_THRESHOLD = "atiende_queue_service_level_threshold_seconds"
QUEUE_SL_TARGET = "atiende_queue_service_level_target_ratio"
QUEUE_AGENTS_NEEDED = "atiende_queue_erlang_agents_needed"
QUEUE_AGENTS = "atiende_queue_agents"
AGENTS = "atiende_agents"
AGENT_STATE_SECONDS = "atiende_agent_state_seconds"

# ------------------------------------------------- follow-up (tickets and CRM)
SLA_ALERTS_OPEN = "atiende_sla_alerts_open"
CRM_OUTBOX_PENDING = "atiende_crm_outbox_pending"
CRM_OUTBOX_FAILED = "atiende_crm_outbox_failed"
CRM_OUTBOX_OLDEST = "atiende_crm_outbox_oldest_pending_seconds"
# Pending wrap-ups overdue (agent_api.pending_cases): escalated to supervisors.
FOLLOWUPS_OVERDUE = "atiende_followups_overdue"
# Notices to persons about their tickets (crm_bridge.notifications), by status.
CITIZEN_NOTICES = "atiende_citizen_notices"

# ------------------------------------ quality indicators (dashboards.indicators)
# Gauges of counts over a rolling window (label `window`, e.g. "7d"), read
# from the store by dashboards.indicator_metrics.
SURVEY_RESPONSES = "atiende_survey_responses"
SURVEY_SCORE_POINTS = "atiende_survey_score_points"
WRAPUPS_FINISHED = "atiende_wrapups_finished"
COMPLAINTS = "atiende_complaints"
TICKET_SLA_TICKETS = "atiende_ticket_sla_tickets"

# ------------------------------ attentions per channel (dashboards.channel_figures)
# Gauges over a rolling window; labels `window`, `channel` (a channel code) and
# `state` (answered_within, answered_late, abandoned, other).
CHANNEL_ATTENTIONS = "atiende_channel_attentions"
CHANNEL_SL_THRESHOLD = "atiende_channel_sl_threshold_seconds"

# ------------------------------------------- callbacks (crm_bridge.callbacks)
# Read from the worklist at scrape time; labels `queue` and `within_target`.
CALLBACKS_PENDING = "atiende_callbacks_pending"
CALLBACKS_DUE = "atiende_callbacks_due"
CALLBACKS_OVERDUE = "atiende_callbacks_overdue"
CALLBACK_OLDEST_WAIT = "atiende_callback_oldest_wait_seconds"
CALLBACKS_COMPLETED = "atiende_callbacks_completed"
CALLBACKS_FAILED = "atiende_callbacks_failed"

# ------------------------------------------- email intake (crm_bridge.mail_intake)
# Label `mailbox`: the configured mailbox's short name (never an address).
MAIL_MESSAGES = "atiende_mail_messages"  # label `outcome`: nuevo, respuesta, rebote...
MAIL_READ_FAILURES = "atiende_mail_read_failures"
MAIL_LAST_READ = "atiende_mail_last_read_timestamp_seconds"

# ------------------------------------------------------------------------- IVR
IVR_PROMPTS_MISSING = "atiende_ivr_prompts_missing"

# Walk-in attention (dashboards.walkin_metrics): today's turns per service
# point and topic, counted by dashboards.walkin_kpi. Labels: point and topic
# codes only (no desk, no agent, nothing about a person).
WALKIN_WAITING = "atiende_walkin_waiting"
WALKIN_LONGEST_WAIT = "atiende_walkin_longest_wait_seconds"
WALKIN_TURNS_GIVEN = "atiende_walkin_turns_given"
WALKIN_TURNS_CALLED = "atiende_walkin_turns_called"
WALKIN_CALLED_WITHIN_TARGET = "atiende_walkin_called_within_target"
WALKIN_WAIT_SECONDS = "atiende_walkin_wait_seconds"
WALKIN_SERVED = "atiende_walkin_served"
WALKIN_ATTENTION_SECONDS = "atiende_walkin_attention_seconds"
WALKIN_NO_SHOWS = "atiende_walkin_no_shows"
WALKIN_EVALUATIONS = "atiende_walkin_evaluations"
WALKIN_SCORE_POINTS = "atiende_walkin_score_points"

COUNTERS = frozenset(
    {
        IVR_PROMPTS_MISSING,
        AMI_RECONNECTS,
        AMI_EVENTS,
        AMI_MALFORMED,
        AMI_READ_PAUSES,
        TRACKER_ITEMS,
        TRACKER_DOMAIN_EVENTS,
        BRIDGE_SINK_ERRORS,
        STORE_ROWS_WRITTEN,
        STORE_WRITE_FAILURES,
        QUEUE_OFFERED,
        QUEUE_ANSWERED,
        QUEUE_ANSWERED_WITHIN_SL,
        QUEUE_ABANDONED,
        QUEUE_ABANDONED_SHORT,
        QUEUE_ABANDONED_WITHIN_SL,
        QUEUE_EXITED,
        AGENT_STATE_SECONDS,
        CALLBACKS_COMPLETED,
        CALLBACKS_FAILED,
        MAIL_MESSAGES,
        MAIL_READ_FAILURES,
    }
)
HISTOGRAMS = frozenset({QUEUE_WAIT, QUEUE_TALK})
GAUGES = frozenset(
    {
        AMI_CONNECTED,
        AMI_LAST_EVENT_AGE,
        AMI_QUEUE_DEPTH,
        AMI_LAG,
        STORE_PENDING,
        QUEUE_CALLS_WAITING,
        QUEUE_LONGEST_WAIT,
        QUEUE_SERVICE_LEVEL,
        QUEUE_ABANDON_RATE,
        QUEUE_ASA,
        QUEUE_SL_THRESHOLD,
        QUEUE_SL_TARGET,
        QUEUE_AGENTS_NEEDED,
        QUEUE_AGENTS,
        AGENTS,
        SLA_ALERTS_OPEN,
        CRM_OUTBOX_PENDING,
        CRM_OUTBOX_FAILED,
        CRM_OUTBOX_OLDEST,
        FOLLOWUPS_OVERDUE,
        CITIZEN_NOTICES,
        SURVEY_RESPONSES,
        SURVEY_SCORE_POINTS,
        WRAPUPS_FINISHED,
        COMPLAINTS,
        TICKET_SLA_TICKETS,
        CHANNEL_ATTENTIONS,
        CHANNEL_SL_THRESHOLD,
        CALLBACKS_PENDING,
        CALLBACKS_DUE,
        CALLBACKS_OVERDUE,
        CALLBACK_OLDEST_WAIT,
        MAIL_LAST_READ,
        WALKIN_WAITING,
        WALKIN_LONGEST_WAIT,
        WALKIN_TURNS_GIVEN,
        WALKIN_TURNS_CALLED,
        WALKIN_CALLED_WITHIN_TARGET,
        WALKIN_WAIT_SECONDS,
        WALKIN_SERVED,
        WALKIN_ATTENTION_SECONDS,
        WALKIN_NO_SHOWS,
        WALKIN_EVALUATIONS,
        WALKIN_SCORE_POINTS,
    }
)


def exposed_names() -> frozenset[str]:
    """Every series name that can appear on /metrics."""
    names = set(GAUGES)
    names.update(f"{name}_total" for name in COUNTERS)
    for name in HISTOGRAMS:
        names.update((f"{name}_bucket", f"{name}_sum", f"{name}_count"))
    return frozenset(names)
