"""money paths: the compensation a complaint pays and whether finance paid it; the
owner-paid repair (R3) columns of the register; the versioned fee schedule (有偿服务收费标准)

Revision ID: 0012_money_paths
Revises: 0011_properties
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_money_paths"
down_revision: str | None = "0011_properties"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("compensation_fen", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("compensation_paid", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("paid_service", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("service_fee_fen", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("service_paid_fen", sa.BigInteger(), nullable=True))
    op.create_table(
        "fee_schedule_versions",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_table(
        "fee_schedule_items",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("unit_price_fen", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fee_schedule_items")
    op.drop_table("fee_schedule_versions")
    with op.batch_alter_table("cases") as batch:
        for column in ("service_paid_fen", "service_fee_fen", "paid_service", "compensation_paid", "compensation_fen"):
            batch.drop_column(column)
