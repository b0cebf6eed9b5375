"""The console store: alerts, the stored turns of their conversations, the audit log of reviewer actions.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def json_type() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("detector", sa.String(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("severity_rank", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("stored_at", timestamp(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("verdict_note", sa.Text(), nullable=False),
        sa.Column("alert_json", json_type(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name="pk_alerts"),
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name="ck_alerts_status"),
        sa.CheckConstraint(
            "verdict IS NULL OR verdict IN ('true_positive', 'false_positive', 'unsure')", name="ck_alerts_verdict"
        ),
    )
    op.create_index("ix_alerts_feed", "alerts", [sa.text("severity_rank DESC"), sa.text("created_at DESC")])
    for column in ("status", "rule", "detector", "conversation_id", "stored_at"):
        op.create_index(f"ix_alerts_{column}", "alerts", [column])

    op.create_table(
        "turns",
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("turn_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("ts", timestamp(), nullable=False),
        sa.Column("meta", json_type(), nullable=False),
        sa.Column("stored_at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "turn_index", name="pk_turns"),
    )

    op.create_table(
        "actions",
        sa.Column("action_id", sa.String(32), nullable=False),
        sa.Column("alert_id", sa.String(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("action_id", name="pk_actions"),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.alert_id"], name="fk_actions_alert_id_alerts", ondelete="CASCADE"
        ),
        sa.CheckConstraint("action IN ('acknowledge', 'resolve', 'verdict')", name="ck_actions_action"),
    )
    op.create_index("ix_actions_alert_id", "actions", ["alert_id"])


def downgrade() -> None:
    op.drop_table("actions")
    op.drop_table("turns")
    op.drop_table("alerts")
