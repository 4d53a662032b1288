"""Seed the reference counter so concurrent first cases never race to create it.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    counter = sa.table("counter", sa.column("name", sa.String), sa.column("value", sa.BigInteger))
    op.bulk_insert(counter, [{"name": "case_reference", "value": 0}])


def downgrade() -> None:
    op.execute("DELETE FROM counter WHERE name = 'case_reference'")
