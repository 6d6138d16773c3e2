"""Slot: signer activation and per-app lockout (issue 15).

Enrolment codes (the signer sets their own passphrase), per-channel activation failures, and an
expiry on outbox messages (so that a one-time code does not outlive its use in the queue).

Revision ID: 0011_sole_control
Revises: 0010_authority
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_sole_control"
down_revision: str | None = "0010_authority"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Messages queued before this revision carry codes of unknown age: they are dropped, not
    # given an expiry (every code in them has run out long since or will be asked for again).
    op.execute("DELETE FROM outbox_messages")
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(), nullable=False))
    op.create_index("ix_outbox_messages_expires_at", "outbox_messages", ["expires_at"])
    op.create_table(
        "enrolment_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("code_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_enrolment_codes"),
        sa.UniqueConstraint("code_sha256", name="uq_enrolment_codes_code_sha256"),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_enrolment_codes_subscriber_id_subscribers",
        ),
    )
    op.create_index("ix_enrolment_codes_subscriber_id", "enrolment_codes", ["subscriber_id"])
    op.create_table(
        "activation_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_activation_failures"),
        sa.UniqueConstraint(
            "subscriber_id", "channel", name="uq_activation_failures_subscriber_id_channel"
        ),
        sa.CheckConstraint("failed_attempts >= 0", name="ck_activation_failures_failed_attempts"),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_activation_failures_subscriber_id_subscribers",
        ),
    )


def downgrade() -> None:
    op.drop_table("activation_failures")
    op.drop_index("ix_enrolment_codes_subscriber_id", "enrolment_codes")
    op.drop_table("enrolment_codes")
    op.drop_index("ix_outbox_messages_expires_at", "outbox_messages")
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("expires_at")
