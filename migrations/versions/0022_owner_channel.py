"""the owner's own channel (O1, O4, O5): sign-in codes (hashed), owner sessions, one-purpose links, the SMS
outbox, the opt-out; the register's owner phone as a keyed hash (sign-in by phone); provenance of timeline entries

Revision ID: 0022_owner_channel
Revises: 0021_case_files
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_owner_channel"
down_revision: str | None = "0021_case_files"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("property_units") as batch:
        batch.add_column(sa.Column("owner_phone_hmac", sa.String(40), nullable=True))
    op.create_index("ix_property_units_owner_phone_hmac", "property_units", ["owner_phone_hmac"])
    with op.batch_alter_table("case_timeline") as batch:
        batch.add_column(sa.Column("provenance", sa.JSON(none_as_null=True), nullable=True))
    op.create_table(
        "owner_codes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("phone_hmac", sa.String(40), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_owner_codes_phone_hmac", "owner_codes", ["phone_hmac"])
    op.create_table(
        "owner_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("phone_hmac", sa.String(40), nullable=False),
        sa.Column("means", sa.String(8), nullable=False),
        sa.Column("case_no", sa.String(32), nullable=True),
        sa.Column("purpose", sa.String(16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_owner_sessions_phone_hmac", "owner_sessions", ["phone_hmac"])
    op.create_table(
        "owner_links",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("case_no", sa.String(32), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("phone_hmac", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_owner_links_case_no", "owner_links", ["case_no"])
    op.create_table(
        "owner_preferences",
        sa.Column("phone_hmac", sa.String(40), primary_key=True),
        sa.Column("sms_opt_out", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "sms_messages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("dedupe_key", sa.String(96), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("case_no", sa.String(32), nullable=True),
        sa.Column("phone_hmac", sa.String(40), nullable=False),
        sa.Column("phone_masked", sa.String(32), nullable=False),
        sa.Column("phone_sealed", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider", sa.String(16), nullable=True),
        sa.Column("provider_ref", sa.String(128), nullable=True),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_sms_messages_case_no", "sms_messages", ["case_no"])
    op.create_index("ix_sms_messages_phone_hmac", "sms_messages", ["phone_hmac"])
    op.create_index("ix_sms_messages_due", "sms_messages", ["status", "send_at"])


def downgrade() -> None:
    op.drop_table("sms_messages")
    op.drop_table("owner_preferences")
    op.drop_table("owner_links")
    op.drop_table("owner_sessions")
    op.drop_table("owner_codes")
    with op.batch_alter_table("case_timeline") as batch:
        batch.drop_column("provenance")
    op.drop_index("ix_property_units_owner_phone_hmac", table_name="property_units")
    with op.batch_alter_table("property_units") as batch:
        batch.drop_column("owner_phone_hmac")
