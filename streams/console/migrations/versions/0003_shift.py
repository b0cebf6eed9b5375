"""Running a shift: assignees, verdicts that name the right severity or rule, and silences.

- alerts gain ``assignee`` and ``verdict_detail`` (the corrected severity or rule of a
  ``wrong_severity`` / ``wrong_rule`` verdict); their verdict check admits the two new verdicts;
- actions gain ``detail`` (the corrected value, or who took the alert) and the ``assign`` action;
- a ``silences`` table: the console's copy of the silences topic, kept after expiry for audit.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERDICTS_BEFORE = "'true_positive', 'false_positive', 'unsure'"
VERDICTS_AFTER = "'true_positive', 'false_positive', 'unsure', 'wrong_severity', 'wrong_rule'"
ACTIONS_BEFORE = "'acknowledge', 'resolve', 'verdict', 'reopen'"
ACTIONS_AFTER = "'acknowledge', 'resolve', 'verdict', 'assign', 'reopen'"


def json_type() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("alerts", recreate="auto") as batch:
        batch.add_column(sa.Column("assignee", sa.String(), nullable=True))
        batch.add_column(sa.Column("verdict_detail", sa.String(200), nullable=True))
        batch.drop_constraint("ck_alerts_verdict", type_="check")
        batch.create_check_constraint("ck_alerts_verdict", f"verdict IS NULL OR verdict IN ({VERDICTS_AFTER})")
    with op.batch_alter_table("actions", recreate="auto") as batch:
        batch.add_column(sa.Column("detail", sa.String(200), nullable=True))
        batch.alter_column("verdict", type_=sa.String(16), existing_nullable=True)
        batch.drop_constraint("ck_actions_action", type_="check")
        batch.create_check_constraint("ck_actions_action", f"action IN ({ACTIONS_AFTER})")
    op.create_table(
        "silences",
        sa.Column("silence_id", sa.String(), nullable=False),
        sa.Column("matchers", json_type(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expired_by", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("silence_id", name="pk_silences"),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])


def downgrade() -> None:
    op.drop_index("ix_silences_ends_at", "silences")
    op.drop_table("silences")
    op.execute("DELETE FROM actions WHERE action = 'assign'")
    with op.batch_alter_table("actions", recreate="auto") as batch:
        batch.drop_constraint("ck_actions_action", type_="check")
        batch.create_check_constraint("ck_actions_action", f"action IN ({ACTIONS_BEFORE})")
        batch.drop_column("detail")
    op.execute("UPDATE alerts SET verdict = NULL WHERE verdict IN ('wrong_severity', 'wrong_rule')")
    with op.batch_alter_table("alerts", recreate="auto") as batch:
        batch.drop_constraint("ck_alerts_verdict", type_="check")
        batch.create_check_constraint("ck_alerts_verdict", f"verdict IS NULL OR verdict IN ({VERDICTS_BEFORE})")
        batch.drop_column("verdict_detail")
        batch.drop_column("assignee")
