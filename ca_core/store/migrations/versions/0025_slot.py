"""Stored serial reservations keep no DER; audit checkpoints; certificates by profile (issue 18).

A reservation kept the signed certificate and its TBS after the certificate row existed, ~2 KB
per certificate. The TBS is needed only while the serial is reserved (a crash after the HSM
signature is recovered by signing the same bytes again); a stored serial is recovered from the
certificate row. Lost-serial and restore reconciliation read only the serial.

``ix_certificates_profile``: the delegated OCSP responder and the TSA unit are found by profile
(a scan of every certificate otherwise: 12 s at 10^7 rows, at every pre-signing run).

``audit_checkpoints``: points of the audit chain found intact, with an HSM MAC, so a daily
``psre audit verify --from-checkpoint`` walks only the events appended since.

Revision ID: 0025_slot
Revises: 0024_slot
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_slot"
down_revision: str | None = "0024_slot"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_certificates_profile"), "certificates", ["profile"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("key_label", sa.Text(), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_checkpoints_seq")),
    )
    op.execute(
        "UPDATE serial_reservations SET certificate_der = NULL, tbs_der = NULL"
        " WHERE state = 'stored' AND (certificate_der IS NOT NULL OR tbs_der IS NOT NULL)"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_certificates_profile"), table_name="certificates")
    op.drop_table("audit_checkpoints")
    # The signed DER comes back from the certificate row; the TBS is not needed for a stored
    # serial by any version (recovery of a stored serial reads the certificate).
    op.execute(
        "UPDATE serial_reservations SET certificate_der = (SELECT c.der FROM certificates c"
        " WHERE c.issuer_id = serial_reservations.issuer_id"
        " AND c.serial_hex = serial_reservations.serial_hex)"
        " WHERE state = 'stored'"
    )
