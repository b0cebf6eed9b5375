"""The console's database: its tables (SQLAlchemy Core) and the engine for a store URL.

Tables: alerts, the stored turns of their conversations, the audit log of reviewer actions. The
schema itself is created by the alembic migrations in ``migrations/``; these definitions are what
the store queries with, and a test checks that the two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from streams.vocabulary import ACTIONS, STATUSES, VERDICTS

SQLITE_BUSY_TIMEOUT_SECONDS = 30.0


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back timezone-aware on every backend.

    PostgreSQL keeps the offset (timestamptz); SQLite keeps none, so values are written as naive
    UTC there and given UTC back on read. A naive value on the way in is taken to be UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = as_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive value is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_type() -> Any:
    """JSON everywhere, JSONB on PostgreSQL."""
    return JSON().with_variant(JSONB(), "postgresql")


def one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL for a check that ``column`` holds one of ``values``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", String, primary_key=True),
    Column("conversation_id", String, nullable=False),
    Column("detector", String, nullable=False),
    Column("rule", String, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("severity_rank", Integer, nullable=False),
    Column("summary", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("stored_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("verdict", String(16), nullable=True),
    Column("verdict_note", Text, nullable=False),
    Column("alert_json", json_type(), nullable=False),
    Column("assignee", String, nullable=True),
    Column("verdict_detail", String(200), nullable=True),
    CheckConstraint(one_of("status", STATUSES), name="status"),
    CheckConstraint(f"verdict IS NULL OR {one_of('verdict', VERDICTS)}", name="verdict"),
)
Index("ix_alerts_feed", alerts.c.severity_rank.desc(), alerts.c.created_at.desc())
Index(None, alerts.c.status)
Index(None, alerts.c.rule)
Index(None, alerts.c.detector)
Index(None, alerts.c.conversation_id)
Index(None, alerts.c.stored_at)

turns = Table(
    "turns",
    metadata,
    Column("conversation_id", String, primary_key=True),
    Column("turn_index", Integer, primary_key=True, autoincrement=False),
    Column("role", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("ts", UtcDateTime, nullable=False),
    Column("meta", json_type(), nullable=False),
    Column("stored_at", UtcDateTime, nullable=False),
)

actions = Table(
    "actions",
    metadata,
    Column("action_id", String(32), primary_key=True),
    Column("alert_id", String, ForeignKey("alerts.alert_id", ondelete="CASCADE"), nullable=False),
    Column("action", String(16), nullable=False),
    Column("verdict", String(16), nullable=True),
    Column("note", Text, nullable=False),
    Column("actor", String, nullable=False),
    Column("role", String(32), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("detail", String(200), nullable=True),
    CheckConstraint(one_of("action", ACTIONS), name="action"),
)
Index(None, actions.c.alert_id)

silences = Table(
    "silences",
    metadata,
    Column("silence_id", String, primary_key=True),
    Column("matchers", json_type(), nullable=False),
    Column("created_by", String, nullable=False),
    Column("comment", Text, nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("expired_by", String, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)
Index(None, silences.c.ends_at)


def create_store_engine(url: str) -> Engine:
    """An engine for a sqlite or postgresql URL (plain postgresql:// means the psycopg 3 driver)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return sqlite_engine(parsed)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True)
    raise ValueError(f"the console store needs a sqlite or postgresql URL, not {parsed.drivername!r}")


def sqlite_engine(url: URL) -> Engine:
    """SQLite shared across threads: the file's directory created, WAL journal, foreign keys enforced."""
    in_memory = url.database in (None, "", ":memory:")
    options: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
    }
    if in_memory:
        options["poolclass"] = StaticPool  # one connection, or every connection would see its own database
    else:
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    return engine
