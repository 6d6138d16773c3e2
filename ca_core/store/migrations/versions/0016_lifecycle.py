"""Lifecycle (issue 20): serials lost with a restore, expiry notices, issuance windows.

Revision ID: 0016_lifecycle
Revises: 0015_relying
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_lifecycle"
down_revision: str | None = "0015_relying"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lost_serials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        sa.Column("serial_hex", sa.String(40), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=False),
        sa.Column("revocation_reason", sa.Text(), nullable=True),
        sa.Column("found_in", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lost_serials"),
        sa.UniqueConstraint("issuer_id", "serial_hex", name="uq_lost_serials_issuer_id_serial_hex"),
        sa.ForeignKeyConstraint(
            ["issuer_id"],
            ["certificate_authorities.id"],
            name="fk_lost_serials_issuer_id_certificate_authorities",
        ),
    )
    op.create_table(
        "expiry_notices",
        sa.Column("certificate_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("days_before", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("certificate_id", name="pk_expiry_notices"),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name="fk_expiry_notices_certificate_id_certificates",
        ),
    )
    op.create_table(
        "issuance_windows",
        sa.Column("ca_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("issue_from", sa.DateTime(), nullable=True),
        sa.Column("issue_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("ca_id", name="pk_issuance_windows"),
        sa.ForeignKeyConstraint(
            ["ca_id"],
            ["certificate_authorities.id"],
            name="fk_issuance_windows_ca_id_certificate_authorities",
        ),
    )


def downgrade() -> None:
    op.drop_table("issuance_windows")
    op.drop_table("expiry_notices")
    op.drop_table("lost_serials")
