"""The console's alert store, each test on SQLite (a temp file) and on a real PostgreSQL 15: idempotent writes,
the feed's order and filters, reviewer actions and their audit log, retention, the verdicts export,
timezone-aware timestamps, and migrations that agree with the table definitions."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from streams.console import db, migrate
from streams.console import store as store_module
from streams.console.store import AlertStore
from streams.console.views import AlertFilter
from streams.contracts import Alert, TurnEvent
from tests.factories import ALERT_FIELDS

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HEAD = ScriptDirectory(str(migrate.MIGRATIONS)).get_current_head()
PLUS_TWO = timezone(timedelta(hours=2))


def make_alert(**changes) -> Alert:
    return Alert.model_validate(ALERT_FIELDS | changes)


def make_turn(index: int, conversation_id: str = "conv-9", role: str = "patient", **changes) -> TurnEvent:
    fields = {
        "event_id": f"e-{conversation_id}-{index}",
        "conversation_id": conversation_id,
        "turn_index": index,
        "role": role,
        "text": f"words of turn {index}",
        "ts": T0 + timedelta(minutes=index),
    }
    return TurnEvent.model_validate(fields | changes)


class Clock:
    """The store's clock, moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new database on the test PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'console.db'}"
        return
    server = make_url(request.getfixturevalue("postgres_url"))
    name = f"store_{uuid.uuid4().hex}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store(database_url: str, clock: Clock) -> Iterator[AlertStore]:
    store = AlertStore.open(database_url, clock=clock)
    yield store
    store.close()


def feed(store: AlertStore, **filters) -> list[str]:
    return [row.alert_id for row in store.alerts(AlertFilter(**filters))]


def count_rows(store: AlertStore, table) -> int:
    with store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


# Idempotency


def test_a_redelivered_alert_is_stored_once(store: AlertStore):
    assert store.save_alert(make_alert()).change == "new"
    assert store.save_alert(make_alert()) is None
    assert store.count_alerts() == 1 and feed(store) == ["abc123"]


def test_a_higher_severity_on_an_open_alert_escalates_it_in_place(store: AlertStore):
    store.save_alert(make_alert(severity="warning", summary="first sign"))
    upgraded = make_alert(severity="critical", summary="now critical", created_at="2026-01-01T00:05:00+00:00")
    saved = store.save_alert(upgraded)
    assert saved.change == "escalated" and (saved.summary.severity, saved.summary.status) == ("critical", "open")
    assert store.save_alert(upgraded) is None, "a redelivered upgrade changes nothing"
    assert store.save_alert(make_alert(severity="info", summary="late and lower")) is None

    view = store.alert("abc123")
    assert view.alert.severity == "critical" and view.alert.summary == "now critical"
    assert view.status == "open" and view.actions == []
    [row] = store.alerts(AlertFilter())
    assert (row.severity, row.summary, row.created_at) == ("critical", "now critical", T0 + timedelta(minutes=5))
    assert store.alerts(AlertFilter(severities=("critical",)))[0].alert_id == "abc123"
    assert store.count_alerts() == 1


@pytest.mark.parametrize(
    ("handled", "was"),
    [
        ([("resolve", None)], "resolved"),
        ([("verdict", "false_positive")], "open"),
        ([("acknowledge", None), ("verdict", "true_positive"), ("resolve", None)], "resolved"),
        ([("acknowledge", None)], "acknowledged"),
    ],
)
def test_an_escalation_reopens_an_alert_a_reviewer_had_handled(store: AlertStore, clock: Clock, handled, was):
    store.save_alert(make_alert(severity="warning", summary="first sign"))
    for action, verdict in handled:
        clock.now += timedelta(minutes=1)
        store.record_action("abc123", action, "rita", "reviewer", verdict=verdict, note="seen")
    clock.now += timedelta(minutes=1)

    saved = store.save_alert(
        make_alert(severity="critical", summary="now critical", created_at="2026-01-01T00:05:00+00:00")
    )
    assert saved.change == "reopened"
    assert (saved.summary.status, saved.summary.verdict, saved.summary.severity) == ("open", None, "critical")

    view = store.alert("abc123")
    assert (view.status, view.verdict, view.verdict_note) == ("open", None, "")
    assert [r.action for r in view.actions] == [action for action, _ in handled] + ["reopen"]
    reopen = view.actions[-1]
    assert (reopen.actor, reopen.role) == ("turnwatch", "system")
    assert "from warning to critical" in reopen.note and f"it was {was}" in reopen.note
    judged = [r for r in view.actions if r.action == "verdict"]
    assert all(r.stale for r in judged) and not any(r.stale for r in view.actions if r.action != "verdict")
    if judged:
        assert "stale" in reopen.note
    # The open queue and the feed row agree with the page.
    assert [r.alert_id for r in store.alerts(AlertFilter(status="open"))] == ["abc123"]
    assert not store.alerts(AlertFilter(status="resolved"))
    # Nothing judged is exported for retraining until someone judges the new evidence.
    assert list(store.verdict_examples()) == []
    # A later verdict is current, the one before the reopen stays stale.
    clock.now += timedelta(minutes=1)
    store.record_action("abc123", "verdict", "sam", "reviewer", verdict="true_positive")
    later = store.alert("abc123")
    assert [r.stale for r in later.actions if r.action == "verdict"] == [True] * len(judged) + [False]
    assert later.verdict == "true_positive"


def test_concurrent_deliveries_of_one_alert_store_it_once(database_url: str):
    stores = [AlertStore.open(database_url) for _ in range(2)]
    outcomes: list = []
    start = threading.Barrier(8)

    def deliver(store: AlertStore) -> None:
        start.wait()
        outcomes.append(store.save_alert(make_alert()))

    threads = [threading.Thread(target=deliver, args=(stores[n % 2],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert sorted(o is not None for o in outcomes) == [False] * 7 + [True]
        assert stores[0].count_alerts() == 1
    finally:
        for store in stores:
            store.close()


def test_turns_are_stored_once(store: AlertStore):
    store.save_alert(make_alert())
    assert store.save_turns([make_turn(7, role="therapist", meta={"model": "m1"}), make_turn(6)]) == 2
    assert store.save_turns([make_turn(6, text="a redelivery"), make_turn(8), make_turn(8, text="twice")]) == 1
    assert store.save_turns([]) == 0

    turns = store.alert("abc123").turns
    assert [t.turn_index for t in turns] == [6, 7, 8]
    assert [t.text for t in turns] == ["words of turn 6", "words of turn 7", "words of turn 8"]
    assert (turns[1].role, turns[1].meta, turns[1].conversation_id) == ("therapist", {"model": "m1"}, "conv-9")
    assert count_rows(store, db.turns) == 3


# The feed


def seed_feed(store: AlertStore) -> None:
    for alert in (
        make_alert(alert_id="crit-old", created_at="2025-12-31T23:00:00+00:00"),
        make_alert(alert_id="crit-new", created_at="2026-01-01T02:00:00+00:00"),
        make_alert(
            alert_id="warn-new",
            severity="warning",
            detector="loop",
            rule="loop.repetition",
            created_at="2026-01-01T03:00:00+00:00",
        ),
        make_alert(
            alert_id="high-mid", severity="high", rule="crisis.passive_ideation", created_at="2026-01-01T01:00:00+00:00"
        ),
        make_alert(
            alert_id="info-newest",
            severity="info",
            detector="loop",
            rule="loop.repetition",
            created_at="2026-01-01T04:00:00+00:00",
        ),
    ):
        store.save_alert(alert)


def test_the_feed_puts_critical_on_top_then_newest_first(store: AlertStore):
    seed_feed(store)
    assert feed(store) == ["crit-new", "crit-old", "info-newest", "warn-new", "high-mid"]
    row = store.alerts(AlertFilter(limit=1))[0]
    assert (row.alert_id, row.detector, row.rule, row.severity) == (
        "crit-new",
        "crisis",
        "crisis.active_ideation",
        "critical",
    )
    assert (row.status, row.verdict, row.conversation_id) == ("open", None, "conv-9")


def test_the_feed_filters(store: AlertStore):
    seed_feed(store)
    store.record_action("crit-old", "acknowledge", "rita", "reviewer")
    store.record_action("high-mid", "resolve", "rita", "reviewer")

    assert feed(store, severities=("high", "warning")) == ["warn-new", "high-mid"]
    assert feed(store, severities=()) == []
    assert feed(store, detector="loop") == ["info-newest", "warn-new"]
    assert feed(store, rule="crisis.passive_ideation") == ["high-mid"]
    assert feed(store, status="acknowledged") == ["crit-old"]
    assert feed(store, status="open") == ["crit-new", "info-newest", "warn-new"]
    assert feed(store, detector="crisis", status="open") == ["crit-new"]
    assert feed(store, limit=2) == ["crit-new", "crit-old"]


# Reviewer actions


def test_actions_move_the_review_state_and_are_kept_in_the_audit_log(store: AlertStore, clock: Clock):
    store.save_alert(make_alert())
    acknowledged = store.record_action("abc123", "acknowledge", "rita", "reviewer")
    assert store.alert("abc123").status == "acknowledged"

    clock.now = T0 + timedelta(minutes=1)
    store.record_action("abc123", "verdict", "sam", "reviewer", verdict="false_positive", note="a quote from a film")
    view = store.alert("abc123")
    assert (view.status, view.verdict, view.verdict_note) == ("acknowledged", "false_positive", "a quote from a film")

    clock.now = T0 + timedelta(minutes=2)
    store.record_action("abc123", "resolve", "rita", "reviewer", note="done")
    clock.now = T0 + timedelta(minutes=3)
    store.record_action("abc123", "acknowledge", "sam", "reviewer")
    view = store.alert("abc123")
    assert view.status == "resolved", "acknowledging a resolved alert does not reopen it"
    assert view.verdict == "false_positive"

    log = view.actions
    assert [(a.action, a.actor, a.verdict, a.note) for a in log] == [
        ("acknowledge", "rita", None, ""),
        ("verdict", "sam", "false_positive", "a quote from a film"),
        ("resolve", "rita", None, "done"),
        ("acknowledge", "sam", None, ""),
    ]
    assert [a.at for a in log] == [T0 + timedelta(minutes=n) for n in range(4)]
    assert log[0] == acknowledged and all(a.role == "reviewer" and a.alert_id == "abc123" for a in log)
    assert len({a.action_id for a in log}) == 4 and all(len(a.action_id) == 32 for a in log)


def test_an_action_keeps_the_time_it_is_given(store: AlertStore):
    store.save_alert(make_alert())
    at = datetime(2026, 2, 1, 12, 0, tzinfo=PLUS_TWO)
    record = store.record_action("abc123", "resolve", "rita", "reviewer", at=at)
    [stored] = store.alert("abc123").actions
    assert record.at == stored.at == at and stored.at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("action", "verdict", "note", "actor", "message"),
    [
        ("delete", None, "", "rita", "unknown action 'delete'"),
        ("verdict", None, "", "rita", "needs a verdict"),
        ("verdict", "probably", "", "rita", "needs a verdict"),
        ("acknowledge", "true_positive", "", "rita", "verdict action only"),
        ("resolve", None, "x" * 2001, "rita", "the limit is 2000"),
        ("resolve", None, "", " ", "actor"),
    ],
)
def test_malformed_actions_are_refused_and_change_nothing(store: AlertStore, action, verdict, note, actor, message):
    store.save_alert(make_alert())
    with pytest.raises(ValueError, match=message):
        store.record_action("abc123", action, actor, "reviewer", verdict=verdict, note=note)
    view = store.alert("abc123")
    assert (view.status, view.verdict, view.actions) == ("open", None, [])


def test_an_action_needs_an_aware_time(store: AlertStore):
    store.save_alert(make_alert())
    with pytest.raises(ValueError, match="timezone-aware"):
        store.record_action("abc123", "resolve", "rita", "reviewer", at=datetime(2026, 1, 1))
    assert store.alert("abc123").status == "open"


def test_an_action_on_an_unknown_alert_is_a_key_error_and_records_nothing(store: AlertStore):
    store.save_alert(make_alert())
    with pytest.raises(KeyError):
        store.record_action("no-such-alert", "acknowledge", "rita", "reviewer")
    assert store.alert("no-such-alert") is None
    assert count_rows(store, db.actions) == 0


# Retention and export


def test_purge_deletes_expired_alerts_their_actions_and_orphaned_turns(store: AlertStore, clock: Clock):
    store.save_alert(make_alert(alert_id="old", conversation_id="conv-old"))
    store.save_alert(make_alert(alert_id="old-shared", conversation_id="conv-shared"))
    store.record_action("old", "acknowledge", "rita", "reviewer")
    store.save_turns([make_turn(1, "conv-old"), make_turn(2, "conv-old"), make_turn(1, "conv-shared")])
    clock.now = T0 + timedelta(days=20)
    store.save_alert(make_alert(alert_id="recent", conversation_id="conv-new"))
    store.save_alert(make_alert(alert_id="recent-shared", conversation_id="conv-shared"))
    store.record_action("recent", "resolve", "rita", "reviewer")
    store.save_turns([make_turn(1, "conv-new")])

    assert store.purge(30, now=T0 + timedelta(days=29)) == 0
    assert store.purge(30, now=T0 + timedelta(days=31)) == 2

    assert sorted(feed(store)) == ["recent", "recent-shared"] and store.count_alerts() == 2
    assert store.alert("old") is None
    assert [(a.alert_id, a.action) for a in store.alert("recent").actions] == [("recent", "resolve")]
    assert count_rows(store, db.actions) == 1
    assert [t.turn_index for t in store.alert("recent-shared").turns] == [1], "turns of a kept alert stay"
    assert [t.turn_index for t in store.alert("recent").turns] == [1]
    assert count_rows(store, db.turns) == 2, "conv-old's turns went with its last alert"

    clock.now = T0 + timedelta(days=60)
    assert store.purge(30) == 2 and store.count_alerts() == 0 and count_rows(store, db.turns) == 0


def test_verdict_examples_hold_judged_alerts_with_their_turns(store: AlertStore, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(store_module, "EXPORT_BATCH", 1)  # every page of the export is read
    store.save_alert(make_alert())
    store.save_alert(make_alert(alert_id="unjudged"))
    store.save_alert(make_alert(alert_id="other", conversation_id="conv-2"))
    store.save_turns([make_turn(8, meta={"locale": "en"}), make_turn(7, role="therapist")])
    store.record_action("abc123", "verdict", "rita", "reviewer", verdict="true_positive", note="clear")
    store.record_action("other", "verdict", "rita", "reviewer", verdict="unsure")
    store.record_action("unjudged", "acknowledge", "rita", "reviewer")

    examples = list(store.verdict_examples())
    assert [e["alert"]["alert_id"] for e in examples] == ["abc123", "other"]
    first = examples[0]
    assert Alert.model_validate(first["alert"]) == make_alert()
    assert (first["verdict"], first["note"]) == ("true_positive", "clear")
    assert first["turns"] == [
        {
            "event_id": "conv-9:00007",
            "conversation_id": "conv-9",
            "turn_index": 7,
            "role": "therapist",
            "text": "words of turn 7",
            "ts": "2026-01-01T00:07:00+00:00",
            "meta": {},
        },
        {
            "event_id": "conv-9:00008",
            "conversation_id": "conv-9",
            "turn_index": 8,
            "role": "patient",
            "text": "words of turn 8",
            "ts": "2026-01-01T00:08:00+00:00",
            "meta": {"locale": "en"},
        },
    ]
    assert [TurnEvent.model_validate(t).turn_index for t in first["turns"]] == [7, 8]
    assert (examples[1]["verdict"], examples[1]["note"], examples[1]["turns"]) == ("unsure", "", [])


# Time and schema


def test_timestamps_come_back_timezone_aware_in_utc(store: AlertStore, clock: Clock):
    clock.now = datetime(2026, 3, 1, 9, 30, tzinfo=PLUS_TWO)
    store.save_alert(make_alert(created_at="2026-01-01T02:00:00+02:00"))
    store.save_alert(make_alert(alert_id="naive", created_at="2026-01-01T01:00:00"))
    store.save_turns([make_turn(8, ts="2026-01-01T03:08:00+03:00")])
    store.record_action("abc123", "acknowledge", "rita", "reviewer")

    rows = {row.alert_id: row.created_at for row in store.alerts(AlertFilter())}
    assert rows == {"abc123": T0, "naive": T0 + timedelta(hours=1)}, "a naive created_at is read as UTC"
    view = store.alert("abc123")
    stamps = [*rows.values(), view.turns[0].ts, view.actions[0].at]
    assert all(stamp.utcoffset() == timedelta(0) for stamp in stamps)
    assert view.turns[0].ts == T0 + timedelta(minutes=8)
    assert view.actions[0].at == clock.now
    with store.engine.connect() as connection:
        stored_at = connection.execute(select(db.alerts.c.stored_at).where(db.alerts.c.alert_id == "abc123")).scalar()
    assert stored_at == clock.now and stored_at.tzinfo is not None


def test_opening_twice_migrates_once_and_keeps_the_data(database_url: str):
    first = AlertStore.open(database_url)
    first.save_alert(make_alert())
    first.close()
    again = AlertStore.open(database_url)
    migrate.upgrade(database_url)
    try:
        assert again.count_alerts() == 1
        with again.engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
    finally:
        again.close()


def test_a_store_from_the_first_release_upgrades_with_its_audit_log_and_can_reopen(database_url: str):
    from alembic import command

    engine = db.create_store_engine(database_url)
    config = migrate.alembic_config(database_url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    alert = make_alert(severity="warning")
    with engine.begin() as connection:  # rows as the first release wrote them
        connection.execute(
            text(
                "INSERT INTO alerts (alert_id, conversation_id, detector, rule, severity, severity_rank, summary, "
                "created_at, stored_at, status, verdict, verdict_note, alert_json) VALUES (:id, :c, 'crisis', "
                ":rule, 'warning', 2, 's', :t, :t, 'resolved', NULL, '', :doc)"
            ),
            {
                "id": alert.alert_id,
                "c": alert.conversation_id,
                "rule": alert.rule,
                "t": T0,
                "doc": alert.model_dump_json(),
            },
        )
        connection.execute(
            text(
                "INSERT INTO actions (action_id, alert_id, action, verdict, note, actor, role, at) "
                "VALUES ('a1', :id, 'resolve', NULL, 'handled', 'rita', 'reviewer', :t)"
            ),
            {"id": alert.alert_id, "t": T0},
        )
    engine.dispose()

    store = AlertStore.open(database_url)
    try:
        assert store.save_alert(make_alert(severity="critical")).change == "reopened"
        view = store.alert("abc123")
        assert [(r.action, r.actor) for r in view.actions] == [("resolve", "rita"), ("reopen", "turnwatch")]
        with store.engine.connect() as connection, pytest.raises(Exception, match=r"(?i)check"):
            connection.execute(text("UPDATE actions SET action = 'shred' WHERE actor = 'rita'"))
    finally:
        store.close()


def test_the_migrations_create_what_the_table_definitions_describe(database_url: str):
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []
            indexes = {ix["name"] for ix in inspect(connection).get_indexes("alerts")}
    finally:
        engine.dispose()
    expected = {"ix_alerts_feed", *(f"ix_alerts_{c}" for c in ("status", "rule", "detector", "conversation_id"))}
    assert expected <= indexes


def test_a_sqlite_store_makes_its_directory_and_uses_wal_and_foreign_keys(tmp_path: Path):
    path = tmp_path / "new" / "dir" / "console.db"
    store = AlertStore.open(f"sqlite:///{path}")
    try:
        assert path.is_file()
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        store.close()


def test_an_unsupported_database_url_is_refused():
    with pytest.raises(ValueError, match="sqlite or postgresql"):
        AlertStore.open("mysql://nobody@localhost/turnwatch")
