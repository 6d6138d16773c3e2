"""CRL publication: CRL numbers and published CRLs.

Revision ID: 0007_crl
Revises: 0006_web
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_crl"
down_revision: str | None = "0006_web"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crl_numbers",
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("lease_holder", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("issuer_id", name="pk_crl_numbers"),
        sa.ForeignKeyConstraint(
            ["issuer_id"],
            ["certificate_authorities.id"],
            name="fk_crl_numbers_issuer_id_certificate_authorities",
        ),
    )
    op.create_table(
        "published_crls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("base_number", sa.Integer(), nullable=True),
        sa.Column("this_update", sa.DateTime(), nullable=False),
        sa.Column("next_update", sa.DateTime(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_published_crls"),
        sa.UniqueConstraint("issuer_id", "number", name="uq_published_crls_issuer_id_number"),
        sa.CheckConstraint("kind IN ('full', 'partition', 'delta')", name="ck_published_crls_kind"),
        sa.ForeignKeyConstraint(
            ["issuer_id"],
            ["certificate_authorities.id"],
            name="fk_published_crls_issuer_id_certificate_authorities",
        ),
    )
    op.create_index(
        "ix_published_crls_issuer_id_kind_partition_number",
        "published_crls",
        ["issuer_id", "kind", "partition", "number"],
    )


def downgrade() -> None:
    op.drop_table("published_crls")
    op.drop_table("crl_numbers")
