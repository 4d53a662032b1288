"""Corrections as labelled data, and what staff mail was read as doing.

Adds the `correction` table (a person's correction of an automatic decision: the message,
what was decided, what the person said) and `inbound_message.staff_reading` (the action,
outcome and sections read from a staff message, and whether they were applied).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inbound_message", sa.Column("staff_reading", sa.JSON(), nullable=True))
    op.create_table(
        "correction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("decided", sa.JSON(), nullable=False),
        sa.Column("said", sa.JSON(), nullable=False),
        sa.Column("by", sa.String(length=320), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_pk"], ["inbound_message.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_correction_message_pk", "correction", ["message_pk"])
    op.create_index("ix_correction_at", "correction", ["at"])


def downgrade() -> None:
    op.drop_index("ix_correction_at", table_name="correction")
    op.drop_index("ix_correction_message_pk", table_name="correction")
    op.drop_table("correction")
    # In place on SQLite 3.35 and later, as in 0003: no table rebuild.
    op.execute("ALTER TABLE inbound_message DROP COLUMN staff_reading")
