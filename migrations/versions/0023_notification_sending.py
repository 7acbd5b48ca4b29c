"""deliveries under way (E3): one attempt at a time sends to a recipient, so a cut attempt whose message the
server took is not followed by a second message

Revision ID: 0023_notification_sending
Revises: 0022_owner_channel
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_notification_sending"
down_revision: str | None = "0022_owner_channel"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_sending",
        sa.Column("notification_id", sa.String(96), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("recipient", sa.String(512), primary_key=True),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notification_sending")
