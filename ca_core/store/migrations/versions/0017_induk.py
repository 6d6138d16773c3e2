"""Slot: PSrE Induk, external CAs and the trusted list (issue 21).

Revision ID: 0017_induk
Revises: 0016_lifecycle
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_induk"
down_revision: str | None = "0016_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_CA_STATUS = "ck_certificate_authorities_status"


def upgrade() -> None:
    # "external": a CA whose key is not ours — the root above a PSrE certified by the PSrE
    # Induk, kept as the PSrE's trust anchor; nothing signs with it and no CRL is made for it.
    with op.batch_alter_table("certificate_authorities") as batch:
        batch.drop_constraint(_CA_STATUS, type_="check")
        batch.create_check_constraint(
            op.f(_CA_STATUS), "status IN ('active', 'retired', 'external')"
        )
    op.create_table(
        "recognized_cas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        sa.Column("serial_hex", sa.String(40), nullable=False),
        sa.Column("certificate_der", sa.LargeBinary(), nullable=False),
        sa.Column("fingerprint_sha256", sa.String(64), nullable=False),
        sa.Column("self_signed_der", sa.LargeBinary(), nullable=True),
        sa.Column("service_url", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_recognized_cas"),
        sa.UniqueConstraint("name", name="uq_recognized_cas_name"),
        sa.UniqueConstraint("fingerprint_sha256", name="uq_recognized_cas_fingerprint_sha256"),
        sa.CheckConstraint("kind IN ('psre', 'foreign-root')", name="ck_recognized_cas_kind"),
        sa.CheckConstraint("status IN ('granted', 'withdrawn')", name="ck_recognized_cas_status"),
        sa.ForeignKeyConstraint(
            ["issuer_id"],
            ["certificate_authorities.id"],
            name="fk_recognized_cas_issuer_id_certificate_authorities",
        ),
    )


def downgrade() -> None:
    op.drop_table("recognized_cas")
    with op.batch_alter_table("certificate_authorities") as batch:
        batch.drop_constraint(_CA_STATUS, type_="check")
        batch.create_check_constraint(op.f(_CA_STATUS), "status IN ('active', 'retired')")
