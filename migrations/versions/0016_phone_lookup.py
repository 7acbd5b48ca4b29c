"""owner-phone look-up: cases.customer_phone_hmac, the keyed hash (HMAC-SHA256 with
AFTERSALES_PHONE_LOOKUP_KEY) of the owner's phone, written by the projection; no phone in clear

Revision ID: 0016_phone_lookup
Revises: 0015_next_actors
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_phone_lookup"
down_revision: str | None = "0015_next_actors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("customer_phone_hmac", sa.String(40), nullable=True))
    op.create_index("ix_cases_customer_phone_hmac", "cases", ["customer_phone_hmac"])


def downgrade() -> None:
    op.drop_index("ix_cases_customer_phone_hmac", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("customer_phone_hmac")
