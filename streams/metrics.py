"""Every Prometheus metric turnwatch exports, declared once.

Labels are bounded: roles, detectors, severities, reasons, sinks, outcomes. Never a
conversation id and never text.
"""

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Finer around the 250 ms turn→alert target so its p95/p99 are not interpolated across 0.25–0.5 s.
ALERT_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0)

TURNS = Counter("turnwatch_turns_total", "Turns processed by the monitor, by speaker role.", ["role"])
DUPLICATE_TURNS = Counter(
    "turnwatch_duplicate_turns_total", "Turns ignored because (conversation_id, turn_index) was already processed."
)
TURN_GAPS = Counter("turnwatch_turn_gaps_total", "Turns that arrived ahead of a missing turn index.")
UNKNOWN_FIELDS = Counter(
    "turnwatch_unknown_fields_total",
    "Top-level event fields this version does not know, ignored (a producer is ahead of the contract).",
)
STALE_STATE_RECORDS = Counter(
    "turnwatch_stale_state_records_total",
    "Changelog records skipped at recovery because a newer state of the conversation was already read "
    "(late writes of a worker that lost the partition).",
)
DEAD_LETTERS = Counter("turnwatch_dead_letters_total", "Events sent to the dead-letter topic, by reason.", ["reason"])
ALERTS = Counter("turnwatch_alerts_total", "Alerts emitted, by detector and severity.", ["detector", "severity"])
ALERTS_BY_RULE = Counter(
    "turnwatch_alerts_by_rule_total", "Alerts emitted, by rule (a fixed set of rule names).", ["rule"]
)
CONSUMER_LAG = Gauge(
    "turnwatch_consumer_lag", "Turn events on this worker's partitions not yet processed (highwater - next offset)."
)
DETECTOR_SECONDS = Histogram(
    "turnwatch_detector_seconds", "Time one detector spends on one turn.", ["detector"], buckets=LATENCY_BUCKETS
)
TURN_TO_ALERT_SECONDS = Histogram(
    "turnwatch_turn_to_alert_seconds",
    "From the turn's broker timestamp to its alert being produced.",
    buckets=ALERT_LATENCY_BUCKETS,
)
BATCH_SIZE = Histogram(
    "turnwatch_batch_size", "Turns per micro-batch in the monitor agent.", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256)
)
STATE_WRITES = Counter(
    "turnwatch_state_writes_total",
    "Conversation states written to the table (at most one per conversation per micro-batch).",
)
STATE_WRITE_SECONDS = Histogram(
    "turnwatch_state_write_seconds",
    "Writing one micro-batch's state: the wait for the broker to acknowledge its turn records, then its "
    "conversation heads.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
LAST_TURN_PROCESSED = Gauge(
    "turnwatch_last_turn_processed_timestamp_seconds",
    "Unix time this worker last finished a micro-batch of turns (state written).",
)
ACTIVE_CONVERSATIONS = Gauge("turnwatch_active_conversations", "Conversations held in this worker's state table.")
STARTUP_SECONDS = Gauge(
    "turnwatch_startup_seconds",
    "Where this worker's start went: imports (process start to the worker's code), models (encoder and "
    "heads loaded), kafka (app start to ready: group join, partitions assigned, tables recovered).",
    ["phase"],
)
DISTRESS_SCORE = Histogram(
    "turnwatch_distress_score", "Per-patient-turn distress score.", buckets=tuple(i / 10 for i in range(1, 11))
)
INGEST_REQUESTS = Counter(
    "turnwatch_ingest_requests_total", "POST /v1/turns requests, by HTTP status class.", ["status"]
)
DELIVERIES = Counter("turnwatch_deliveries_total", "Alert deliveries, by sink and outcome.", ["sink", "outcome"])
DELIVERY_DEAD_LETTERS = Counter(
    "turnwatch_delivery_dead_letters_total",
    "Alerts or delivery jobs sent to the delivery dead-letter topic, by reason.",
    ["reason"],
)
DELIVERY_SECONDS = Histogram("turnwatch_delivery_seconds", "Time one delivery attempt takes.", ["sink"])
VERDICTS = Counter(
    "turnwatch_verdicts_total",
    "Reviewer verdicts recorded in the console, by rule (a fixed set of names) and verdict.",
    ["rule", "verdict"],
)
CONSOLE_ACTIONS = Counter("turnwatch_console_actions_total", "Reviewer actions in the console, by action.", ["action"])
CONSOLE_ALERTS_STORED = Counter(
    "turnwatch_console_alerts_stored_total", "Alerts the console stored (new or upgraded), by severity.", ["severity"]
)
CONSOLE_REOPENED = Counter(
    "turnwatch_console_reopened_total",
    "Alerts a reviewer had handled that escalated with new evidence and were reopened.",
)
REVIEW_SECONDS_BUCKETS = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)
TIME_TO_ACKNOWLEDGE = Histogram(
    "turnwatch_time_to_acknowledge_seconds",
    "From an alert's creation to its first acknowledgement in the console, by severity.",
    ["severity"],
    buckets=REVIEW_SECONDS_BUCKETS,
)
TIME_TO_RESOLVE = Histogram(
    "turnwatch_time_to_resolve_seconds",
    "From an alert's creation to its resolution in the console, by severity.",
    ["severity"],
    buckets=REVIEW_SECONDS_BUCKETS,
)
SILENCE_CHANGES = Counter(
    "turnwatch_console_silences_total", "Silences created or expired in the console or with the CLI.", ["change"]
)
SESSION_QUALITY = Histogram(
    "turnwatch_session_quality",
    "Rolling counselling-quality score of a conversation after each AI turn (0 poor, 1 good; MITI-based).",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
# Delivery's on-call lifecycle (streams/delivery/oncall.py, silences.py). Silenced and
# inhibited alerts are outcomes of turnwatch_deliveries_total ("silenced", "inhibited").
ESCALATIONS = Counter(
    "turnwatch_escalations_total",
    "Escalation steps fired: an alert nobody acknowledged in time sent to the step's receivers, by step (1-based).",
    ["step"],
)
UNACKNOWLEDGED_ALERTS = Gauge(
    "turnwatch_unacknowledged_alerts",
    "Alerts under an escalation policy on this worker's partitions that nobody acknowledged or resolved yet, "
    "by severity and escalation standing (pending: no step fired; escalated; exhausted: every step fired).",
    ["severity", "escalation"],
)
PAGING_UPDATES = Counter(
    "turnwatch_paging_updates_total",
    "Reviewer acknowledgements and resolutions delivered to paging receivers, by sink and action.",
    ["sink", "action"],
)
ACTIVE_SILENCES = Gauge("turnwatch_active_silences", "Silences in force that this worker's delivery honours.")
FINDINGS_BELOW_THRESHOLD = Counter(
    "turnwatch_findings_below_threshold_total",
    "Findings not alerted because their score is under the rule's min_score (rule_thresholds), by rule.",
    ["rule"],
)
