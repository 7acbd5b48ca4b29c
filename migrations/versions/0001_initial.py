"""initial read model: staff, numbering, idempotency keys, cases and timelines, calendar,
notification deliveries, contractors and the deposit ledger, worker scores

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("email", sa.String(256), nullable=True),
        sa.Column("department", sa.String(64), nullable=True),
        sa.Column("password_hash", sa.String(128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_staff_role", "staff", ["role"])

    # C1: one counter per prefix and year; numbers are never reused.
    op.create_table(
        "case_counters",
        sa.Column("prefix", sa.String(8), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("last_value", sa.Integer(), nullable=False),
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(16), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("case_no", sa.String(32), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )

    op.create_table(
        "cases",
        sa.Column("case_no", sa.String(32), primary_key=True),
        sa.Column("case_type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("building", sa.String(64), nullable=True),
        sa.Column("unit", sa.String(64), nullable=True),
        sa.Column("department", sa.String(64), nullable=True),
        sa.Column("handler", sa.String(64), nullable=True),
        sa.Column("major", sa.Boolean(), nullable=False),
        sa.Column("justified", sa.Boolean(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("customer_name", sa.String(128), nullable=False),
        sa.Column("customer_phone_masked", sa.String(32), nullable=False),
        sa.Column("received_at", UTC_TIME, nullable=False),
        sa.Column("closed_at", UTC_TIME, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.Column("linked_case_no", sa.String(32), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.Column("view", sa.JSON(), nullable=False),
    )
    for column in ("case_type", "status", "project", "department", "overdue", "received_at"):
        op.create_index(f"ix_cases_{column}", "cases", [column])

    op.create_table(
        "case_timeline",
        sa.Column("case_no", sa.String(32), primary_key=True),
        sa.Column("idx", sa.Integer(), primary_key=True),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=True),
        sa.Column("role", sa.String(32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
    )

    # T4: holiday data per year (admin data), and the days themselves.
    op.create_table(
        "calendar_years",
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "calendar_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
    )

    # E3: one row per notification, channel and recipient delivered.
    op.create_table(
        "notification_deliveries",
        sa.Column("notification_id", sa.String(96), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("recipient", sa.String(512), primary_key=True),
        sa.Column("case_no", sa.String(32), nullable=False),
        sa.Column("delivered_at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_notification_deliveries_case_no", "notification_deliveries", ["case_no"])

    # A3: contractors and the quality-deposit ledger (entry_key: each deduction exactly once).
    op.create_table(
        "contractors",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("deposit_initial_fen", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "deposit_entries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("contractor_id", sa.String(64), nullable=False),
        sa.Column("entry_key", sa.String(96), nullable=False),
        sa.Column("case_no", sa.String(32), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.UniqueConstraint("entry_key"),
    )
    op.create_index("ix_deposit_entries_contractor_id", "deposit_entries", ["contractor_id"])

    # R9: quality and attitude scores per repair and worker.
    op.create_table(
        "worker_scores",
        sa.Column("case_no", sa.String(32), primary_key=True),
        sa.Column("worker", sa.String(64), primary_key=True),
        sa.Column("quarter", sa.String(8), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.Column("attitude", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_worker_scores_quarter", "worker_scores", ["quarter"])


def downgrade() -> None:
    for table in ("worker_scores", "deposit_entries", "contractors", "notification_deliveries",
                  "calendar_days", "calendar_years", "case_timeline", "cases", "idempotency_keys",
                  "case_counters", "staff"):
        op.drop_table(table)  # drops the table's indexes with it
