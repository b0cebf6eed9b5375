"""Alembic environment of the console store: runs on the connection the caller hands over, or on sqlalchemy.url."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, text

from streams.console.db import metadata

# Any constant shared by every turnwatch process; serialises concurrent upgrades on PostgreSQL.
POSTGRES_MIGRATION_LOCK = 0x7475726E  # "turn"


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_MIGRATION_LOCK})
        context.run_migrations()


def run_migrations_online() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        run_on(given)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as connection:
            run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("the console store's migrations run online only (turnwatch runs them at start-up)")
run_migrations_online()
