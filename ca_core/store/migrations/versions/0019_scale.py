"""Slot: national scale: OCSP lookups without memory, metrics (issue 18).

Revision ID: 0019_scale
Revises: 0018_csc
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0019_scale"
down_revision: str | None = "0018_csc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
