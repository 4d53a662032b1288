"""Raw bytes in a table of their own, so recording a decision never rewrites them.

SQLite rewrites a whole row when any column changes: with the bytes beside the decision, every
message processed wrote its bytes a second time.

Also adds, outside SQLite, the key from a case to the message that opened it, which the first
migration left out (a key that needs its own ALTER is not part of CREATE TABLE).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "raw_message",
        sa.Column("message_pk", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["message_pk"], ["inbound_message.id"]),
        sa.PrimaryKeyConstraint("message_pk"),
    )
    op.execute(
        "INSERT INTO raw_message (message_pk, raw) "
        "SELECT id, raw FROM inbound_message WHERE raw IS NOT NULL"
    )
    # SQLite has dropped columns in place since 3.35 (2021); no table rebuild is needed.
    op.execute("ALTER TABLE inbound_message DROP COLUMN raw")
    if op.get_bind().dialect.name != "sqlite":  # SQLite declared it inline
        op.create_foreign_key("fk_case_opened_by", "case", "inbound_message",
                              ["opened_by"], ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_case_opened_by", "case", type_="foreignkey")
    op.add_column("inbound_message", sa.Column("raw", sa.LargeBinary(), nullable=True))
    op.execute(
        "UPDATE inbound_message SET raw = "
        "(SELECT raw FROM raw_message WHERE raw_message.message_pk = inbound_message.id)"
    )
    op.drop_table("raw_message")
