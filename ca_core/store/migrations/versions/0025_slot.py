"""Stored serial reservations keep no DER (issue 18): the certificate row holds it.

A reservation kept the signed certificate and its TBS after the certificate row existed, ~2 KB
per certificate. The TBS is needed only while the serial is reserved (a crash after the HSM
signature is recovered by signing the same bytes again); a stored serial is recovered from the
certificate row. Lost-serial and restore reconciliation read only the serial.

Revision ID: 0025_slot
Revises: 0024_slot
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0025_slot"
down_revision: str | None = "0024_slot"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE serial_reservations SET certificate_der = NULL, tbs_der = NULL"
        " WHERE state = 'stored' AND (certificate_der IS NOT NULL OR tbs_der IS NOT NULL)"
    )


def downgrade() -> None:
    # The signed DER comes back from the certificate row; the TBS is not needed for a stored
    # serial by any version (recovery of a stored serial reads the certificate).
    op.execute(
        "UPDATE serial_reservations SET certificate_der = (SELECT c.der FROM certificates c"
        " WHERE c.issuer_id = serial_reservations.issuer_id"
        " AND c.serial_hex = serial_reservations.serial_hex)"
        " WHERE state = 'stored'"
    )
