"""The console's alert store: alerts, the turns of their conversations and the reviewers' audit log in a
SQL database (a SQLite file by default, PostgreSQL in production), through SQLAlchemy.

Synchronous: the web layer calls it from a thread executor. Idempotent where Kafka redelivers:
alerts on ``alert_id`` (a higher severity upgrades the row), turns on (conversation_id, turn_index).
Turn text is never logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import Connection, Engine, Insert, Table, case, delete, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from streams.console import migrate
from streams.console.db import actions, alerts, as_utc, create_store_engine, turns
from streams.console.views import (
    SEVERITY_RANK,
    ActionRecord,
    AlertFilter,
    AlertSummary,
    AlertView,
    ConversationSummary,
    SavedAlert,
    StoredTurn,
)
from streams.contracts import MAX_NOTE_CHARS, Alert, TurnEvent
from streams.vocabulary import CORRECTED_VERDICTS, REVIEW_ACTIONS, SEVERITIES, SYSTEM_ACTOR, VERDICTS

RULE_NAME = re.compile(r"[a-z][a-z_]*\.[a-z_]+")

log = logging.getLogger(__name__)

EXPORT_BATCH = 500


def utc_now() -> datetime:
    return datetime.now(UTC)


class AlertStore:
    """Alerts, turns and actions in one database; each write is one transaction."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    @classmethod
    def open(cls, url: str, *, clock: Callable[[], datetime] = utc_now) -> AlertStore:
        """Connect to ``url`` (sqlite:///path or postgresql+psycopg://...) and migrate its schema to the newest."""
        engine = create_store_engine(url)
        try:
            migrate.upgrade_engine(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, clock)

    def close(self) -> None:
        self.engine.dispose()

    # Writes from the collector

    def save_alert(self, alert: Alert) -> SavedAlert | None:
        """Store a new alert or escalate a stored one to a higher severity; None when nothing changed.

        A redelivery (same id, same or lower severity) changes nothing. An escalation replaces
        severity, summary, created_at and the alert document. If a reviewer had already handled the
        alert (acknowledged, resolved or judged it), the escalation reopens it: its new evidence has
        not been seen, so the status goes back to open, the verdict is cleared, and a ``reopen`` row
        in the audit log keeps what it was (the earlier verdict row stays, shown as stale).
        """
        now = self.clock()
        row = alert_row(alert, now)
        with self.engine.begin() as connection:
            inserted = insert_ignoring(connection, alerts, ["alert_id"]).values(row).returning(alerts.c.alert_id)
            if connection.execute(inserted).first() is not None:
                log.debug("console stored alert %s (%s)", alert.alert_id, alert.severity)
                return SavedAlert(summary_from_row(row), "new")
            before = connection.execute(
                select(alerts.c.severity_rank, alerts.c.severity, alerts.c.status, alerts.c.verdict)
                .where(alerts.c.alert_id == alert.alert_id)
                .with_for_update()
            ).one()
            if before.severity_rank >= row["severity_rank"]:
                return None
            changes = {name: row[name] for name in UPGRADED_COLUMNS}
            reopened = before.status != "open" or before.verdict is not None
            if reopened:
                changes.update(status="open", verdict=None, verdict_note="", verdict_detail=None)
            connection.execute(
                update(alerts)
                .where(alerts.c.alert_id == alert.alert_id, alerts.c.severity_rank < row["severity_rank"])
                .values(changes)
            )
            if reopened:
                connection.execute(insert(actions).values(action_row(reopen_record(alert, before, now))))
            stored = connection.execute(select(*SUMMARY_COLUMNS).where(alerts.c.alert_id == alert.alert_id)).one()
        log.debug("console %s alert %s at %s", "reopened" if reopened else "escalated", alert.alert_id, alert.severity)
        return SavedAlert(AlertSummary(**stored._asdict()), "reopened" if reopened else "escalated")

    def save_turns(self, events: Iterable[TurnEvent]) -> int:
        """Store the turns not stored yet; return how many were new."""
        now = self.clock()
        rows: dict[tuple[str, int], dict[str, Any]] = {}
        for turn in events:
            rows.setdefault((turn.conversation_id, turn.turn_index), turn_row(turn, now))
        if not rows:
            return 0
        with self.engine.begin() as connection:
            statement = insert_ignoring(connection, turns, ["conversation_id", "turn_index"])
            new = len(connection.execute(statement.returning(turns.c.turn_index), list(rows.values())).all())
        log.debug("console stored %d new turns of %d", new, len(rows))
        return new

    # Reads for the pages

    def alerts(self, filter: AlertFilter) -> list[AlertSummary]:
        """The feed: critical alerts on top, then every other alert, each part newest first.

        The order the feed page's live updates keep (feed.js): other severities are not ranked among themselves.
        """
        critical_first = case((alerts.c.severity_rank == SEVERITY_RANK["critical"], 0), else_=1)
        query = (
            select(*SUMMARY_COLUMNS)
            .order_by(critical_first, alerts.c.created_at.desc(), alerts.c.alert_id.desc())
            .limit(filter.limit)
        )
        query = with_filter(query, filter)
        with self.engine.connect() as connection:
            return [AlertSummary(**row._asdict()) for row in connection.execute(query)]

    def alert(self, alert_id: str) -> AlertView | None:
        """One alert with its review state, its conversation's stored turns and its audit log (oldest first)."""
        with self.engine.connect() as connection:
            row = connection.execute(select(alerts).where(alerts.c.alert_id == alert_id)).one_or_none()
            if row is None:
                return None
            stored = stored_turns(connection, row.conversation_id)
            log_rows = connection.execute(
                select(actions).where(actions.c.alert_id == alert_id).order_by(actions.c.at, actions.c.action_id)
            ).all()
            others = [
                AlertSummary(**other._asdict())
                for other in connection.execute(
                    select(*SUMMARY_COLUMNS)
                    .where(alerts.c.conversation_id == row.conversation_id, alerts.c.alert_id != alert_id)
                    .order_by(alerts.c.severity_rank.desc(), alerts.c.created_at.desc())
                    .limit(50)
                )
            ]
        return AlertView(
            alert=Alert.model_validate(row.alert_json),
            status=row.status,
            verdict=row.verdict,
            verdict_note=row.verdict_note,
            assignee=row.assignee,
            verdict_detail=row.verdict_detail,
            conversation_alerts=others,
            turns=stored,
            actions=mark_stale_verdicts([ActionRecord(**action._asdict()) for action in log_rows]),
        )

    def conversations(self, filter: AlertFilter) -> list[ConversationSummary]:
        """The queue: one row per conversation with alerts matching ``filter``: worst severity first, then
        the one waiting longest for a reviewer (its oldest open alert), then the newest activity."""
        query = with_filter(select(*SUMMARY_COLUMNS), filter).order_by(alerts.c.created_at.desc())
        groups: dict[str, list[AlertSummary]] = {}
        with self.engine.connect() as connection:
            for row in connection.execute(query.limit(QUEUE_ALERTS)):
                groups.setdefault(row.conversation_id, []).append(AlertSummary(**row._asdict()))
        rows = [conversation_summary(cid, items) for cid, items in groups.items()]
        rows.sort(
            key=lambda c: (
                -SEVERITY_RANK[c.worst_severity],
                c.oldest_open or datetime.max.replace(tzinfo=UTC),
                -c.newest.timestamp(),
            )
        )
        return rows[: filter.limit]

    def open_alerts_of(self, conversation_id: str) -> list[AlertSummary]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(*SUMMARY_COLUMNS).where(alerts.c.conversation_id == conversation_id, alerts.c.status == "open")
            )
            return [AlertSummary(**row._asdict()) for row in rows]

    def acknowledge_conversation(
        self, conversation_id: str, actor: str, role: str, note: str = ""
    ) -> list[ActionRecord]:
        """Acknowledge every open alert of a conversation, one audited action each."""
        return [
            self.record_action(alert.alert_id, "acknowledge", actor, role, note=note)
            for alert in self.open_alerts_of(conversation_id)
        ]

    def count_alerts(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(alerts)).scalar_one()

    # Reviewer actions

    def record_action(
        self,
        alert_id: str,
        action: str,
        actor: str,
        role: str,
        verdict: str | None = None,
        note: str = "",
        at: datetime | None = None,
        detail: str | None = None,
    ) -> ActionRecord:
        """Apply a reviewer's action to the alert and append it to the audit log, in one transaction.

        ``detail`` is who takes the alert (``assign``) or what it should have been (a ``wrong_severity``
        or ``wrong_rule`` verdict). Raises KeyError when no such alert is stored, ValueError when the
        action is malformed.
        """
        check_review_action(action, actor, role, verdict, note, at)
        check_detail(action, verdict, detail)
        record = ActionRecord(
            action_id=uuid4().hex,
            alert_id=alert_id,
            action=action,  # type: ignore[arg-type]  # checked above
            verdict=verdict,  # type: ignore[arg-type]
            note=note,
            actor=actor,
            role=role,
            at=as_utc(at or self.clock()),
            detail=detail,
        )
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(alerts).where(alerts.c.alert_id == alert_id).values(review_change(action, verdict, note, detail))
            ).rowcount
            if not changed:
                raise KeyError(alert_id)
            connection.execute(insert(actions).values(action_row(record)))
        return record

    # Retention and export

    def purge(self, older_than_days: float, now: datetime | None = None) -> int:
        """Delete alerts stored before the cutoff, their actions, and turns no alert refers to; return alerts deleted."""
        if older_than_days < 0:
            raise ValueError(f"older_than_days must not be negative, got {older_than_days}")
        cutoff = as_utc(now or self.clock()) - timedelta(days=older_than_days)
        expired = alerts.c.stored_at < cutoff
        with self.engine.begin() as connection:
            connection.execute(delete(actions).where(actions.c.alert_id.in_(select(alerts.c.alert_id).where(expired))))
            deleted = connection.execute(delete(alerts).where(expired)).rowcount
            orphaned = connection.execute(
                delete(turns).where(~exists().where(alerts.c.conversation_id == turns.c.conversation_id))
            ).rowcount
        log.debug("console purge before %s: %d alerts, %d turns", cutoff.isoformat(), deleted, orphaned)
        return deleted

    def verdict_examples(self) -> Iterator[dict[str, Any]]:
        """Every judged alert (by alert_id): its verdict, who gave it (``reviewer``) and when
        (``judged_at``, ISO 8601), the note, what it should have been (``corrected``: the severity of a
        wrong_severity verdict, the rule of a wrong_rule one, else None), the alert, and the stored
        turns of its conversation as turn events.

        What ``turnwatch verdicts export`` writes; read in batches, no transaction held between them.
        """
        after = ""
        while True:
            with self.engine.connect() as connection:
                rows = connection.execute(
                    select(alerts)
                    .where(alerts.c.verdict.is_not(None), alerts.c.alert_id > after)
                    .order_by(alerts.c.alert_id)
                    .limit(EXPORT_BATCH)
                ).all()
                given = verdict_actions(connection, [row.alert_id for row in rows])
                batch = [(row, stored_turns(connection, row.conversation_id)) for row in rows]
            for row, stored in batch:
                action = current_verdict_action(row, given.get(row.alert_id, []))
                yield {
                    "verdict": row.verdict,
                    "corrected": row.verdict_detail,
                    "reviewer": action.actor if action is not None else None,
                    "judged_at": action.at.isoformat() if action is not None else None,
                    "note": row.verdict_note,
                    "alert": row.alert_json,
                    "turns": [turn_event(turn) for turn in stored],
                }
            if len(rows) < EXPORT_BATCH:
                return
            after = rows[-1].alert_id


SUMMARY_COLUMNS = (
    alerts.c.alert_id,
    alerts.c.conversation_id,
    alerts.c.detector,
    alerts.c.rule,
    alerts.c.severity,
    alerts.c.summary,
    alerts.c.created_at,
    alerts.c.status,
    alerts.c.verdict,
    alerts.c.assignee,
)
UPGRADED_COLUMNS = ("severity", "severity_rank", "summary", "created_at", "alert_json", "stored_at")


QUEUE_ALERTS = 5000  # newest alerts the queue groups (a busy shift's worth)


def glob_to_like(pattern: str) -> str:
    """A route-style glob (``therapist.*``) as a SQL LIKE pattern (``\\`` escapes)."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def with_filter(query: Any, filter: AlertFilter) -> Any:
    if filter.severities is not None:
        query = query.where(alerts.c.severity.in_(filter.severities))
    for column, wanted in (("detector", filter.detector), ("status", filter.status)):
        if wanted is not None:
            query = query.where(alerts.c[column] == wanted)
    if filter.rule is not None:
        if any(c in filter.rule for c in "*?"):
            query = query.where(alerts.c.rule.like(glob_to_like(filter.rule), escape="\\"))
        else:
            query = query.where(alerts.c.rule == filter.rule)
    return query


def conversation_summary(conversation_id: str, items: list[AlertSummary]) -> ConversationSummary:
    worst = max(items, key=lambda a: (SEVERITY_RANK[a.severity], a.created_at))
    waiting = [a.created_at for a in items if a.status == "open"]
    return ConversationSummary(
        conversation_id=conversation_id,
        worst_severity=worst.severity,
        alerts=len(items),
        open_alerts=len(waiting),
        newest=max(a.created_at for a in items),
        oldest_open=min(waiting) if waiting else None,
        rules=tuple(sorted({a.rule for a in items})),
        assignees=tuple(sorted({a.assignee for a in items if a.assignee})),
        top_alert_id=worst.alert_id,
        top_summary=worst.summary,
    )


def insert_ignoring(connection: Connection, table: Table, keys: list[str]) -> Insert:
    """INSERT ... ON CONFLICT (keys) DO NOTHING in the connection's dialect."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=keys)


def alert_row(alert: Alert, now: datetime) -> dict[str, Any]:
    return {
        "alert_id": alert.alert_id,
        "conversation_id": alert.conversation_id,
        "detector": alert.detector,
        "rule": alert.rule,
        "severity": alert.severity,
        "severity_rank": SEVERITY_RANK[alert.severity],
        "summary": alert.summary,
        "created_at": alert.created_at,
        "stored_at": now,
        "status": "open",
        "verdict": None,
        "verdict_note": "",
        "alert_json": alert.model_dump(mode="json"),
        "assignee": None,
        "verdict_detail": None,
    }


def turn_row(turn: TurnEvent, now: datetime) -> dict[str, Any]:
    return {
        "conversation_id": turn.conversation_id,
        "turn_index": turn.turn_index,
        "role": turn.role,
        "text": turn.text,
        "ts": turn.ts,
        "meta": turn.model_dump(mode="json", include={"meta"})["meta"],
        "stored_at": now,
    }


def stored_turns(connection: Connection, conversation_id: str) -> list[StoredTurn]:
    rows = connection.execute(
        select(turns.c.conversation_id, turns.c.turn_index, turns.c.role, turns.c.text, turns.c.ts, turns.c.meta)
        .where(turns.c.conversation_id == conversation_id)
        .order_by(turns.c.turn_index)
    )
    return [StoredTurn(**row._asdict()) for row in rows]


def verdict_actions(connection: Connection, alert_ids: list[str]) -> dict[str, list[Any]]:
    """The verdict rows of the audit log for these alerts, oldest first per alert."""
    if not alert_ids:
        return {}
    rows = connection.execute(
        select(actions.c.alert_id, actions.c.verdict, actions.c.detail, actions.c.actor, actions.c.at)
        .where(actions.c.alert_id.in_(alert_ids), actions.c.action == "verdict")
        .order_by(actions.c.at)
    )
    given: dict[str, list[Any]] = {}
    for row in rows:
        given.setdefault(row.alert_id, []).append(row)
    return given


def current_verdict_action(alert: Any, given: list[Any]) -> Any | None:
    """The audit row of the alert's standing verdict: the newest verdict action that says what the alert
    row says (a reopen clears the verdict, so the standing one is always after the last reopen); None
    when the audit log has none (a verdict is never credited to someone who gave another one)."""
    matching = [row for row in given if (row.verdict, row.detail) == (alert.verdict, alert.verdict_detail)]
    return matching[-1] if matching else None


def turn_event(turn: StoredTurn) -> dict[str, Any]:
    """A stored turn as a turn event (the fields of TurnEvent, its event_id rebuilt from the key)."""
    return {
        "event_id": f"{turn.conversation_id}:{turn.turn_index:05d}",
        "conversation_id": turn.conversation_id,
        "turn_index": turn.turn_index,
        "role": turn.role,
        "text": turn.text,
        "ts": turn.ts.isoformat(),
        "meta": turn.meta,
    }


def check_review_action(
    action: str, actor: str, role: str, verdict: str | None, note: str, at: datetime | None
) -> None:
    """Raise ValueError naming what is wrong with a reviewer action."""
    if action not in REVIEW_ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(REVIEW_ACTIONS)}")
    if action == "verdict" and verdict not in VERDICTS:
        raise ValueError(f"a verdict action needs a verdict, one of {', '.join(VERDICTS)}; got {verdict!r}")
    if action != "verdict" and verdict is not None:
        raise ValueError(f"a verdict is recorded with the verdict action only, not with {action!r}")
    if not isinstance(actor, str) or not actor.strip():
        raise ValueError("the actor (who acted) is required")
    if not isinstance(role, str) or not role.strip():
        raise ValueError("the actor's role is required")
    if not isinstance(note, str):
        raise ValueError(f"the note must be text, got {type(note).__name__}")
    if len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"the note is {len(note)} characters; the limit is {MAX_NOTE_CHARS}")
    if at is not None and at.tzinfo is None:
        raise ValueError("the action's time (at) must be timezone-aware")


def action_row(record: ActionRecord) -> dict[str, Any]:
    """An audit record as a row (staleness is derived when read, never stored)."""
    row = asdict(record)
    del row["stale"]
    return row


def summary_from_row(row: dict[str, Any]) -> AlertSummary:
    return AlertSummary(**{column.name: row[column.name] for column in SUMMARY_COLUMNS})


def reopen_record(alert: Alert, before: Any, now: datetime) -> ActionRecord:
    """The audit row of an escalation that reopens a handled alert: what it was, what arrived."""
    turns = sorted({*alert.turns, *(item.turn_index for item in alert.evidence)})
    note = (
        f"Escalated from {before.severity} to {alert.severity} with evidence from turns "
        f"{', '.join(map(str, turns)) or '-'}; it was {before.status}"
    )
    if before.verdict is not None:
        note += f", judged {before.verdict} on the earlier evidence (that verdict is now stale)"
    return ActionRecord(
        action_id=uuid4().hex,
        alert_id=alert.alert_id,
        action="reopen",
        verdict=None,
        note=note + ".",
        actor=SYSTEM_ACTOR,
        role="system",
        at=as_utc(now),
    )


def mark_stale_verdicts(records: list[ActionRecord]) -> list[ActionRecord]:
    """Verdicts given before the latest reopen judged evidence that has since changed."""
    last_reopen = max((i for i, record in enumerate(records) if record.action == "reopen"), default=-1)
    return [
        replace(record, stale=True) if i < last_reopen and record.action == "verdict" else record
        for i, record in enumerate(records)
    ]


def check_detail(action: str, verdict: str | None, detail: str | None) -> None:
    """Raise ValueError unless ``detail`` is given exactly where it is needed, and well formed."""
    needs = action == "assign" or (action == "verdict" and verdict in CORRECTED_VERDICTS)
    if needs and not (detail or "").strip():
        what = "who takes the alert" if action == "assign" else "what it should have been"
        raise ValueError(f"{verdict or action} needs {what}")
    if not needs and detail is not None:
        raise ValueError(f"{verdict or action} takes no detail")
    if verdict == "wrong_severity" and detail not in SEVERITIES:
        raise ValueError(f"wrong_severity names the right severity, one of {', '.join(SEVERITIES)}; got {detail!r}")
    if verdict == "wrong_rule" and not RULE_NAME.fullmatch(detail or ""):
        raise ValueError(f"wrong_rule names the right rule, like crisis.possible; got {detail!r}")
    if detail is not None and len(detail) > 200:
        raise ValueError("the detail is longer than 200 characters")


def review_change(action: str, verdict: str | None, note: str, detail: str | None = None) -> dict[str, Any]:
    """The columns an action sets on its alert."""
    if action == "acknowledge":  # a resolved alert stays resolved
        return {"status": case((alerts.c.status == "resolved", "resolved"), else_="acknowledged")}
    if action == "resolve":
        return {"status": "resolved"}
    if action == "assign":
        return {"assignee": detail}
    return {"verdict": verdict, "verdict_note": note, "verdict_detail": detail}
