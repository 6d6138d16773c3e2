"""status_changes: the feed of certificate status changes (issue 17).

Written in the transaction of each revocation, suspension and release, so that other processes
follow status changes through it rather than by matching audit object strings.

Revision ID: 0021_status_changes
Revises: 0020_policy
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_status_changes"
down_revision: str | None = "0020_policy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "status_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        sa.Column("serial_hex", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_status_changes"),
        sa.CheckConstraint(
            "status IN ('good', 'revoked', 'hold')", name="ck_status_changes_status"
        ),
        sa.ForeignKeyConstraint(
            ["issuer_id"],
            ["certificate_authorities.id"],
            name="fk_status_changes_issuer_id_certificate_authorities",
        ),
    )
    op.create_index(
        "ix_status_changes_issuer_id_changed_at", "status_changes", ["issuer_id", "changed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_status_changes_issuer_id_changed_at", table_name="status_changes")
    op.drop_table("status_changes")
