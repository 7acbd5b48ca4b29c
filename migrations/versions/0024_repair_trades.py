"""the trades list (P7, R1): a repair's trades (工种) are chosen from the organisation's list

Revision ID: 0024_repair_trades
Revises: 0023_notification_sending
Create Date: 2026-12-10

Starts as adapters.db.org.DEFAULT_TRADES (the set the workbench offered before); the administrator's to
change afterwards (python -m adapters.db.org add-trade / retire-trade).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_repair_trades"
down_revision: str | None = "0023_notification_sending"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# as in adapters.db.org.DEFAULT_TRADES when this migration was written (a migration keeps its own copy)
TRADES = ("水电", "木工", "泥工", "油漆", "防水", "门窗", "电梯", "其他")


def upgrade() -> None:
    trades = op.create_table(
        "repair_trades",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.bulk_insert(trades, [{"name": t, "position": i, "active": True} for i, t in enumerate(TRADES)])


def downgrade() -> None:
    op.drop_table("repair_trades")
