"""Mail that was already there when the mailbox was taken over, and cases held for a person.

`inbound_message.history`: the message was in the mailbox (or the files) before this service
started on it; it is recorded and applied, but never answered automatically.
`case.hold`: why no letter or reminder goes for the case until a person acts ("to confirm":
imported from the history; "letter held": its acknowledgement would have come too late).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inbound_message", sa.Column(
        "history", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("case", sa.Column("hold", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("case", "hold")
    op.drop_column("inbound_message", "history")
