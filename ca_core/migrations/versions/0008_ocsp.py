"""OCSP: pre-signed responses.

Revision ID: 0008_ocsp
Revises: 0007_crl
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401 - used once the area adds its tables
from alembic import op  # noqa: F401

revision: str = "0008_ocsp"
down_revision: str | None = "0007_crl"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
