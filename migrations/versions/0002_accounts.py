"""accounts (P1): the contractor a contractor account acts for, and the account's version (bumped by
every change, so tokens issued before a change are refused)

Revision ID: 0002_accounts
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_accounts"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("contractor_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("version")
        batch.drop_column("contractor_id")
