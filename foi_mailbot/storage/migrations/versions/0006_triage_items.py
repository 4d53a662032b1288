"""Triage items: one per message that needs a person, with the token that settles it.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "triage_item",
        sa.Column("message_pk", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("route", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_by", sa.String(length=320), nullable=True),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("undo", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["message_pk"], ["inbound_message.id"]),
        sa.PrimaryKeyConstraint("message_pk"),
        sa.UniqueConstraint("token"),
    )


def downgrade() -> None:
    op.drop_table("triage_item")
