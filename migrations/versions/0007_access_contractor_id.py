"""access (P1): a contractor account's contractor_id as long as a contractor's id (64), so that any
registered contractor can have accounts

Revision ID: 0007_access_contractor_id
Revises: 0006_intake
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_access_contractor_id"
down_revision: str | None = "0006_intake"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.alter_column("contractor_id", type_=sa.String(64), existing_type=sa.String(32), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.alter_column("contractor_id", type_=sa.String(32), existing_type=sa.String(64), existing_nullable=True)
