"""The audit log records ``reopen``: turnwatch reopening an alert that escalated after a reviewer
had handled it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "action IN ('acknowledge', 'resolve', 'verdict')"
AFTER = "action IN ('acknowledge', 'resolve', 'verdict', 'reopen')"


def replace_action_check(condition: str) -> None:
    # SQLite cannot alter a CHECK constraint: batch mode copies the table with the new one.
    with op.batch_alter_table("actions", recreate="auto") as batch:
        batch.drop_constraint("ck_actions_action", type_="check")
        batch.create_check_constraint("ck_actions_action", condition)


def upgrade() -> None:
    replace_action_check(AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM actions WHERE action = 'reopen'")
    replace_action_check(BEFORE)
