"""CRL publication: CRL numbers and published CRLs.

Revision ID: 0007_crl
Revises: 0006_web
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401 - used once the area adds its tables
from alembic import op  # noqa: F401

revision: str = "0007_crl"
down_revision: str | None = "0006_web"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
