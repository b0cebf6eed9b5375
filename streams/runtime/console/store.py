"""The console's alert store: alerts, the turns of their conversations and the reviewers' audit log in a
SQL database (a SQLite file by default, PostgreSQL in production), through SQLAlchemy.

Synchronous: the web layer calls it from a thread executor. Idempotent where Kafka redelivers:
alerts on ``alert_id`` (a higher severity upgrades the row), turns on (conversation_id, turn_index).
Turn text is never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import Connection, Engine, Insert, Table, case, delete, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from streams.contracts import Alert, TurnEvent, VerdictEvent
from streams.runtime.console import migrate
from streams.runtime.console.db import actions, alerts, as_utc, create_store_engine, turns
from streams.runtime.console.views import (
    SEVERITY_RANK,
    ActionRecord,
    AlertFilter,
    AlertSummary,
    AlertView,
    SavedAlert,
    StoredTurn,
)
from streams.vocabulary import REVIEW_ACTIONS, SYSTEM_ACTOR, VERDICTS

log = logging.getLogger(__name__)

MAX_NOTE_CHARS = next(
    (m.max_length for m in VerdictEvent.model_fields["note"].metadata if getattr(m, "max_length", None)), 2000
)
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
                changes.update(status="open", verdict=None, verdict_note="")
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
        if filter.severities is not None:
            query = query.where(alerts.c.severity.in_(filter.severities))
        for column, wanted in (("detector", filter.detector), ("rule", filter.rule), ("status", filter.status)):
            if wanted is not None:
                query = query.where(alerts.c[column] == wanted)
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
        return AlertView(
            alert=Alert.model_validate(row.alert_json),
            status=row.status,
            verdict=row.verdict,
            verdict_note=row.verdict_note,
            turns=stored,
            actions=mark_stale_verdicts([ActionRecord(**action._asdict()) for action in log_rows]),
        )

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
    ) -> ActionRecord:
        """Apply a reviewer's action to the alert and append it to the audit log, in one transaction.

        Raises KeyError when no such alert is stored, ValueError when the action is malformed.
        """
        check_review_action(action, actor, role, verdict, note, at)
        record = ActionRecord(
            action_id=uuid4().hex,
            alert_id=alert_id,
            action=action,  # type: ignore[arg-type]  # checked above
            verdict=verdict,  # type: ignore[arg-type]
            note=note,
            actor=actor,
            role=role,
            at=as_utc(at or self.clock()),
        )
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(alerts).where(alerts.c.alert_id == alert_id).values(review_change(action, verdict, note))
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
        """Every judged alert (by alert_id) with its verdict, note and stored turns as turn events.

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
                batch = [(row, stored_turns(connection, row.conversation_id)) for row in rows]
            for row, stored in batch:
                yield {
                    "alert": row.alert_json,
                    "verdict": row.verdict,
                    "note": row.verdict_note,
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
)
UPGRADED_COLUMNS = ("severity", "severity_rank", "summary", "created_at", "alert_json", "stored_at")


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


def review_change(action: str, verdict: str | None, note: str) -> dict[str, Any]:
    """The columns an action sets on its alert."""
    if action == "acknowledge":  # a resolved alert stays resolved
        return {"status": case((alerts.c.status == "resolved", "resolved"), else_="acknowledged")}
    if action == "resolve":
        return {"status": "resolved"}
    return {"verdict": verdict, "verdict_note": note}
