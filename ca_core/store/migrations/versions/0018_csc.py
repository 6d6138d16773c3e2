"""Slot: CSC remote signing (issue 19): bearer tokens and SADs, both stored hashed.

Revision ID: 0018_csc
Revises: 0017_induk
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_csc"
down_revision: str | None = "0017_induk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "csc_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_csc_tokens"),
        sa.UniqueConstraint("token_sha256", name="uq_csc_tokens_token_sha256"),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client_applications.id"],
            name="fk_csc_tokens_client_id_client_applications",
        ),
    )
    op.create_table(
        "csc_sads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sad_sha256", sa.String(64), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("hash_oid", sa.String(64), nullable=False),
        sa.Column("hashes", sa.Text(), nullable=False),
        sa.Column("num_signatures", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_csc_sads"),
        sa.UniqueConstraint("sad_sha256", name="uq_csc_sads_sad_sha256"),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client_applications.id"],
            name="fk_csc_sads_client_id_client_applications",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["subscribers.id"], name="fk_csc_sads_subscriber_id_subscribers"
        ),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name="fk_csc_sads_certificate_id_certificates",
        ),
    )


def downgrade() -> None:
    op.drop_table("csc_sads")
    op.drop_table("csc_tokens")
