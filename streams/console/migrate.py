"""Brings a console store's schema up to date: ``alembic upgrade head``, run in-process, no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from streams.console.db import create_store_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An alembic configuration for the bundled migrations (found from this file, so an installed wheel works)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation: a literal % in a URL (an escaped password) must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Create or update the schema of the database at ``url`` to the newest revision."""
    engine = create_store_engine(url)
    try:
        upgrade_engine(engine)
    finally:
        engine.dispose()


def upgrade_engine(engine: Engine) -> None:
    """The same on an open engine: migrations run on its connection (its SQLite pragmas, its in-memory database).

    On SQLite, foreign keys are off while migrating: a migration that rebuilds a table (SQLite cannot
    alter a constraint) drops the old one, and with foreign keys on, dropping ``alerts`` would cascade
    into the audit log. The pragma only takes effect outside a transaction, hence before it begins.
    """
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
            connection.commit()
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys = ON")
                connection.commit()
