"""OCSP: pre-signed responses, one per (issuer, serial, CertID hash algorithm).

Revision ID: 0008_ocsp
Revises: 0007_crl
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_ocsp"
down_revision: str | None = "0007_crl"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ocsp_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        sa.Column("serial_hex", sa.String(40), nullable=False),
        sa.Column("hash_alg", sa.String(8), nullable=False),
        sa.Column("cert_status", sa.String(16), nullable=False),
        sa.Column("revocation_reason", sa.Text(), nullable=True),
        sa.Column("this_update", sa.DateTime(), nullable=False),
        sa.Column("next_update", sa.DateTime(), nullable=False),
        sa.Column("produced_at", sa.DateTime(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("signer_label", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ocsp_responses"),
        sa.ForeignKeyConstraint(
            ["issuer_id"],
            ["certificate_authorities.id"],
            name="fk_ocsp_responses_issuer_id_certificate_authorities",
        ),
        sa.UniqueConstraint(
            "issuer_id",
            "serial_hex",
            "hash_alg",
            name="uq_ocsp_responses_issuer_id_serial_hex_hash_alg",
        ),
        sa.CheckConstraint("hash_alg IN ('sha1', 'sha256')", name="ck_ocsp_responses_hash_alg"),
        sa.CheckConstraint(
            "cert_status IN ('good', 'revoked', 'hold')", name="ck_ocsp_responses_cert_status"
        ),
    )
    op.create_index("ix_ocsp_responses_next_update", "ocsp_responses", ["next_update"])
    op.create_index("ix_ocsp_responses_produced_at", "ocsp_responses", ["produced_at"])


def downgrade() -> None:
    op.drop_table("ocsp_responses")
