"""Signing API: documents, activations, TSA serials, outbox.

Revision ID: 0009_signing
Revises: 0008_ocsp
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401 - used once the area adds its tables
from alembic import op  # noqa: F401

revision: str = "0009_signing"
down_revision: str | None = "0008_ocsp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
